package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/store"
)

// Layer returns the stored index of a layer, or store.ErrNotFound.
func (s *Store) Layer(ctx context.Context, digest string) (*indexer.LayerIndex, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM layers WHERE digest = $1`, txt(digest)).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("layer %s: %w", digest, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", digest, err)
	}
	var idx indexer.LayerIndex
	if err := json.Unmarshal(data, &idx); err != nil {
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
	_, err = s.pool.Exec(ctx, `INSERT INTO layers (digest, indexer_version, data, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (digest) DO UPDATE SET indexer_version = excluded.indexer_version, data = excluded.data,
			created_at = excluded.created_at`,
		txt(idx.Digest), txt(idx.IndexerVersion), string(data), now())
	if err != nil {
		return fmt.Errorf("put layer %s: %w", idx.Digest, err)
	}
	return nil
}

// Manifest returns the stored index of a manifest, or store.ErrNotFound.
func (s *Store) Manifest(ctx context.Context, digest string) (*indexer.ImageIndex, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM manifests WHERE digest = $1`, txt(digest)).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
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
// the inverted index from its packages' names and source names to it, in
// one transaction.
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
	var kinds, names []string
	for _, p := range idx.Packages {
		for _, n := range []string{p.Name, p.SourceName} {
			k := kindName{txt(p.Kind), txt(n)}
			if n == "" || seen[k] {
				continue
			}
			seen[k] = true
			kinds, names = append(kinds, k.kind), append(names, k.name)
		}
	}
	layers := make([]string, len(idx.Layers))
	for i, l := range idx.Layers {
		layers[i] = l.Digest
	}
	key := txt(digest)
	err = s.write(ctx, func(tx pgx.Tx) error {
		t := now()
		if _, err := tx.Exec(ctx, `INSERT INTO manifests (digest, indexer_version, data, created_at, updated_at, last_seen) VALUES ($1, $2, $3, $4, $4, $4)
			ON CONFLICT (digest) DO UPDATE SET indexer_version = excluded.indexer_version, data = excluded.data,
				updated_at = excluded.updated_at, last_seen = GREATEST(manifests.last_seen, excluded.last_seen)`,
			key, txt(idx.IndexerVersion), string(data), t); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM manifest_layers WHERE manifest = $1`, `DELETE FROM manifest_packages WHERE manifest = $1`} {
			if _, err := tx.Exec(ctx, q, key); err != nil {
				return err
			}
		}
		// Positions count from 0, as in the SQLite engine.
		if _, err := tx.Exec(ctx, `INSERT INTO manifest_layers (manifest, position, layer)
			SELECT $1, l.n - 1, l.layer FROM unnest($2::text[]) WITH ORDINALITY AS l (layer, n)`, key, txts(layers)); err != nil {
			return fmt.Errorf("layers: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO manifest_packages (manifest, kind, name)
			SELECT $1, p.kind, p.name FROM unnest($2::text[], $3::text[]) AS p (kind, name)`, key, kinds, names); err != nil {
			return fmt.Errorf("packages: %w", err)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("put manifest %s: %w", digest, err)
	}
	return nil
}

// queryManifestsWithPackages finds the manifests holding a package of a
// kind ($1) by name ($2, an array): an index-only scan of
// manifest_packages_kind_name.
// Digests are sorted byte by byte, as Go and SQLite sort them.
const queryManifestsWithPackages = `SELECT DISTINCT manifest COLLATE "C" FROM manifest_packages
	WHERE kind = $1 AND name = ANY ($2::text[])
	ORDER BY 1`

// ManifestsWithPackages returns, sorted, the digests of the manifests that
// hold a package of the given kind whose name or source name is one of
// names.
func (s *Store) ManifestsWithPackages(ctx context.Context, kind string, names []string) ([]string, error) {
	names = uniqueNonEmpty(txts(names))
	if len(names) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, queryManifestsWithPackages, txt(kind), names)
	if err != nil {
		return nil, fmt.Errorf("manifests with %s packages: %w", kind, err)
	}
	out, err := collect[string](rows)
	if err != nil {
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
