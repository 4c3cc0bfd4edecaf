package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/store"
)

// Layer returns the stored index of a layer, or store.ErrNotFound.
func (s *Store) Layer(ctx context.Context, digest string) (*indexer.LayerIndex, error) {
	var data string
	err := s.r.QueryRowContext(ctx, `SELECT data FROM layers WHERE digest = ?`, digest).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("layer %s: %w", digest, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", digest, err)
	}
	var idx indexer.LayerIndex
	if err := json.Unmarshal([]byte(data), &idx); err != nil {
		return nil, fmt.Errorf("layer %s: decode stored index: %w", digest, err)
	}
	return &idx, nil
}

// PutLayer stores or replaces a layer's index; its storage time
// (created_at, which PruneLayers compares) becomes the current time.
func (s *Store) PutLayer(ctx context.Context, idx *indexer.LayerIndex) error {
	if idx == nil || idx.Digest == "" {
		return errors.New("put layer: no digest")
	}
	data, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("put layer %s: %w", idx.Digest, err)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO layers (digest, indexer_version, data, created_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (digest) DO UPDATE SET indexer_version = excluded.indexer_version, data = excluded.data,
			created_at = excluded.created_at`,
		idx.Digest, idx.IndexerVersion, string(data), formatTime(now()))
	if err != nil {
		return fmt.Errorf("put layer %s: %w", idx.Digest, err)
	}
	return nil
}

// Manifest returns the stored index of a manifest, or store.ErrNotFound.
func (s *Store) Manifest(ctx context.Context, digest string) (*indexer.ImageIndex, error) {
	var data []byte
	err := s.r.QueryRowContext(ctx, `SELECT data FROM manifests WHERE digest = ?`, digest).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("manifest %s: %w", digest, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest, err)
	}
	idx, err := s.indexes.Decode(data)
	if err != nil {
		return nil, fmt.Errorf("manifest %s: decode stored index: %w", digest, err)
	}
	return idx, nil
}

// PutManifest stores or replaces a manifest's index, its layer list and
// the inverted index from its packages' names and source names to it.
func (s *Store) PutManifest(ctx context.Context, idx *indexer.ImageIndex) error {
	if idx == nil || idx.ManifestDigest == "" {
		return errors.New("put manifest: no digest")
	}
	digest := idx.ManifestDigest
	data, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("put manifest %s: %w", digest, err)
	}
	type kindName struct{ kind, name string }
	seen := make(map[kindName]bool, len(idx.Packages))
	var pkgs []kindName
	for _, p := range idx.Packages {
		for _, n := range []string{p.Name, p.SourceName} {
			k := kindName{p.Kind, n}
			if n == "" || seen[k] {
				continue
			}
			seen[k] = true
			pkgs = append(pkgs, k)
		}
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		t := formatTime(now())
		if _, err := tx.ExecContext(ctx, `INSERT INTO manifests (digest, indexer_version, data, created_at, updated_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (digest) DO UPDATE SET indexer_version = excluded.indexer_version, data = excluded.data,
				updated_at = excluded.updated_at,
				last_seen = CASE WHEN manifests.last_seen < excluded.last_seen THEN excluded.last_seen ELSE manifests.last_seen END`,
			digest, idx.IndexerVersion, string(data), t, t, t); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM manifest_layers WHERE manifest = ?`, `DELETE FROM manifest_packages WHERE manifest = ?`} {
			if _, err := tx.ExecContext(ctx, q, digest); err != nil {
				return err
			}
		}
		insLayer, err := tx.PrepareContext(ctx, `INSERT INTO manifest_layers (manifest, position, layer) VALUES (?, ?, ?)`)
		if err != nil {
			return err
		}
		defer insLayer.Close()
		for i, l := range idx.Layers {
			if _, err := insLayer.ExecContext(ctx, digest, i, l.Digest); err != nil {
				return fmt.Errorf("layer %d: %w", i, err)
			}
		}
		insPkg, err := tx.PrepareContext(ctx, `INSERT INTO manifest_packages (manifest, kind, name) VALUES (?, ?, ?)`)
		if err != nil {
			return err
		}
		defer insPkg.Close()
		for _, p := range pkgs {
			if _, err := insPkg.ExecContext(ctx, digest, p.kind, p.name); err != nil {
				return fmt.Errorf("package %s %s: %w", p.kind, p.name, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put manifest %s: %w", digest, err)
	}
	return nil
}

// ManifestsWithPackages returns, sorted, the digests of the manifests that
// hold a package of the given kind whose name or source name is one of
// names.
func (s *Store) ManifestsWithPackages(ctx context.Context, kind string, names []string) ([]string, error) {
	names = uniqueNonEmpty(names)
	if len(names) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(names)
	if err != nil {
		return nil, fmt.Errorf("manifests with packages: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT manifest FROM manifest_packages
		WHERE kind = ? AND name IN (SELECT value FROM json_each(?))
		ORDER BY manifest`, kind, string(list))
	if err != nil {
		return nil, fmt.Errorf("manifests with %s packages: %w", kind, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			return nil, fmt.Errorf("manifests with %s packages: %w", kind, err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("manifests with %s packages: %w", kind, err)
	}
	return out, nil
}

// uniqueNonEmpty returns the distinct non-empty strings of names, sorted.
func uniqueNonEmpty(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if n != "" {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
