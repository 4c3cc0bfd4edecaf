package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// opCoverage is what PutUpdate stores with an operation for SourceData
// (migration 0011).
type opCoverage struct {
	ecosystems string
	newest     any // NULL when no record has a date
	origin     store.Origin
}

func coverageOf(ctx context.Context, records []vuln.Record) opCoverage {
	ecos, newest := store.Summarize(records)
	c := opCoverage{ecosystems: store.EncodeEcosystems(ecos), origin: store.OriginFrom(ctx)}
	if !newest.IsZero() {
		c.newest = formatTime(newest)
	}
	return c
}

// SourceData returns what the current operation of every source holds,
// sorted by source name, from the operations' rows alone.
func (s *Store) SourceData(ctx context.Context) ([]store.SourceData, error) {
	q, err := s.readStmt(ctx, `SELECT o.source, o.id, o.created_at, o.records, o.source_type, o.origin, o.ecosystems, o.newest_record
		FROM update_operations AS o
		WHERE o.id IN (SELECT MAX(id) FROM update_operations WHERE state = 'published' GROUP BY source)
		ORDER BY o.source`)
	if err != nil {
		return nil, fmt.Errorf("source data: %w", err)
	}
	rows, err := q.QueryContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("source data: %w", err)
	}
	defer rows.Close()
	var out []store.SourceData
	for rows.Next() {
		var (
			d            store.SourceData
			created      string
			ecos, newest sql.NullString
			records      int64
		)
		if err := rows.Scan(&d.Source, &d.Operation, &created, &records, &d.Type, &d.Origin, &ecos, &newest); err != nil {
			return nil, fmt.Errorf("source data: %w", err)
		}
		d.Records = int(records)
		if d.UpdatedAt, err = parseTime(created); err != nil {
			return nil, fmt.Errorf("source data of %s: %w", d.Source, err)
		}
		if ecos.Valid {
			if d.Ecosystems, err = store.DecodeEcosystems(d.Source, []byte(ecos.String)); err != nil {
				return nil, err
			}
		}
		if newest.Valid {
			if d.NewestRecord, err = parseTime(newest.String); err != nil {
				return nil, fmt.Errorf("source data of %s: %w", d.Source, err)
			}
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
	q, err := s.readStmt(ctx, `SELECT source, MAX(id) FROM update_operations WHERE state = 'published' GROUP BY source ORDER BY source`)
	if err != nil {
		return nil, fmt.Errorf("current operations: %w", err)
	}
	rows, err := q.QueryContext(ctx)
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
