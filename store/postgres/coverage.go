package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/lapps/lapps/store"
)

// SourceData returns what the current operation of every source holds,
// sorted by source name, from the operations' rows alone.
func (s *Store) SourceData(ctx context.Context) ([]store.SourceData, error) {
	rows, err := s.pool.Query(ctx, `SELECT o.source, o.id, o.created_at, o.records, o.source_type, o.origin, o.ecosystems::text, o.newest_record
		FROM update_operations AS o
		WHERE o.id IN (SELECT max(id) FROM update_operations GROUP BY source)
		ORDER BY o.source COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("source data: %w", err)
	}
	defer rows.Close()
	var out []store.SourceData
	for rows.Next() {
		var (
			d       store.SourceData
			ecos    *string
			newest  *time.Time
			created time.Time
		)
		if err := rows.Scan(&d.Source, &d.Operation, &created, &d.Records, &d.Type, &d.Origin, &ecos, &newest); err != nil {
			return nil, fmt.Errorf("source data: %w", err)
		}
		d.UpdatedAt = created.UTC()
		if ecos != nil {
			if d.Ecosystems, err = store.DecodeEcosystems(d.Source, []byte(*ecos)); err != nil {
				return nil, err
			}
		}
		if newest != nil {
			d.NewestRecord = newest.UTC()
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("source data: %w", err)
	}
	return out, nil
}

// CurrentOperations implements store.CurrentOperations: SourceData's
// sources and operations alone.
func (s *Store) CurrentOperations(ctx context.Context) ([]store.SourceOperation, error) {
	rows, err := s.pool.Query(ctx, `SELECT source, max(id) FROM update_operations GROUP BY source ORDER BY source COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("current operations: %w", err)
	}
	defer rows.Close()
	out, err := store.CollectRows(rows, store.ScanSourceOperation)
	if err != nil {
		return nil, fmt.Errorf("current operations: %w", err)
	}
	return out, nil
}
