package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/lapps/lapps/model"
)

// BulkPutManifests stores the indexes of manifests that are not stored
// yet, in one transaction, with COPY: the rows PutManifest writes for each
// (the manifest with its distribution, its layer list, the inverted index
// of its package names, its package rows), built by the same code, all
// with one storage time. A manifest already stored, or two with one
// digest, fail the whole call (a primary key violation): it is a loader
// for measurements at scale (notifier's TestMeasureScale), where storing
// 100,000 manifests one transaction at a time takes hours, not a way to
// replace indexes.
func (s *Store) BulkPutManifests(ctx context.Context, idxs []*model.ImageIndex) error {
	ws := make([]*manifestWrite, len(idxs))
	for i, idx := range idxs {
		w, err := manifestRows(idx)
		if err != nil {
			d := ""
			if idx != nil {
				d = idx.ManifestDigest
			}
			return fmt.Errorf("bulk put manifests: %s: %w", d, err)
		}
		ws[i] = w
	}
	t := now()
	err := s.write(ctx, func(tx pgx.Tx) error {
		copyRows := func(table string, cols []string, each func(w *manifestWrite, add func(...any))) error {
			var rows [][]any
			for _, w := range ws {
				each(w, func(v ...any) { rows = append(rows, v) })
			}
			if _, err := tx.CopyFrom(ctx, pgx.Identifier{table}, cols, pgx.CopyFromRows(rows)); err != nil {
				return fmt.Errorf("%s: %w", table, err)
			}
			return nil
		}
		if err := copyRows("manifests", []string{"digest", "indexer_version", "data", "created_at", "updated_at", "last_seen", "distribution", "package_rows"},
			func(w *manifestWrite, add func(...any)) {
				add(w.key, w.version, w.data, t, t, t, w.dist, true)
			}); err != nil {
			return err
		}
		// Positions count from 0, as PutManifest's.
		if err := copyRows("manifest_layers", []string{"manifest", "position", "layer"}, func(w *manifestWrite, add func(...any)) {
			for i, l := range w.layers {
				add(w.key, int32(i), l)
			}
		}); err != nil {
			return err
		}
		if err := copyRows("manifest_packages", []string{"manifest", "kind", "name"}, func(w *manifestWrite, add func(...any)) {
			for i := range w.kinds {
				add(w.key, w.kinds[i], w.names[i])
			}
		}); err != nil {
			return err
		}
		return copyRows("manifest_package_rows", []string{"manifest", "position", "kind", "name", "source_name", "data", "hash"},
			func(w *manifestWrite, add func(...any)) {
				for i, r := range w.rows {
					add(w.key, int32(i), r.Kind, r.Name, r.SourceName, string(r.Data), r.Hash)
				}
			})
	})
	if err != nil {
		return fmt.Errorf("bulk put manifests: %w", err)
	}
	return nil
}
