package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
)

// Layer returns the stored index of a layer, or store.ErrNotFound.
func (s *Store) Layer(ctx context.Context, digest string) (*model.LayerIndex, error) {
	var data []byte
	err := s.pool.QueryRow(ctx, `SELECT data FROM layers WHERE digest = $1`, txt(digest)).Scan(&data)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("layer %s: %w", digest, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", digest, err)
	}
	var idx model.LayerIndex
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("layer %s: decode stored index: %w", digest, err)
	}
	return &idx, nil
}

// PutLayer stores or replaces a layer's index; its storage time
// (created_at, which PruneLayers compares) becomes the current time.
func (s *Store) PutLayer(ctx context.Context, idx *model.LayerIndex) error {
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
func (s *Store) Manifest(ctx context.Context, digest string) (*model.ImageIndex, error) {
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

// manifestWrite is what PutManifest (and BulkPutManifests) writes for
// one manifest: its row, its layer list, the inverted index of its
// package names and its package rows, every text through txt.
type manifestWrite struct {
	key, version, data, dist string
	layers                   []string
	kinds, names             []string // manifest_packages, distinct (kind, name)
	rows                     []store.PackageRow
}

// manifestRows returns the rows of one manifest.
func manifestRows(idx *model.ImageIndex) (*manifestWrite, error) {
	if idx == nil || idx.ManifestDigest == "" {
		return nil, errors.New("no digest")
	}
	data, err := json.Marshal(idx)
	if err != nil {
		return nil, err
	}
	w := &manifestWrite{key: txt(idx.ManifestDigest), version: txt(idx.IndexerVersion), data: string(data)}
	type kindName struct{ kind, name string }
	seen := make(map[kindName]bool, len(idx.Packages))
	for _, p := range idx.Packages {
		for _, n := range []string{p.Name, p.SourceName} {
			k := kindName{txt(p.Kind), txt(n)}
			if n == "" || seen[k] {
				continue
			}
			seen[k] = true
			w.kinds, w.names = append(w.kinds, k.kind), append(w.names, k.name)
		}
	}
	w.layers = make([]string, len(idx.Layers))
	for i, l := range idx.Layers {
		w.layers[i] = l.Digest
	}
	w.layers = txts(w.layers)
	rows, dist, err := store.PackageRowsOf(idx)
	if err != nil {
		return nil, err
	}
	for i, r := range rows {
		rows[i] = store.PackageRow{Kind: txt(r.Kind), Name: txt(r.Name), SourceName: txt(r.SourceName), Data: []byte(txt(string(r.Data))), Hash: r.Hash}
	}
	w.rows, w.dist = rows, txt(string(dist))
	return w, nil
}

// PutManifest stores or replaces a manifest's index, its layer list and
// the inverted index from its packages' names and source names to it, in
// one transaction.
func (s *Store) PutManifest(ctx context.Context, idx *model.ImageIndex) error {
	if idx == nil || idx.ManifestDigest == "" {
		return errors.New("put manifest: no digest")
	}
	digest := idx.ManifestDigest
	w, err := manifestRows(idx)
	if err != nil {
		return fmt.Errorf("put manifest %s: %w", digest, err)
	}
	key := w.key
	err = s.write(ctx, func(tx pgx.Tx) error {
		t := now()
		if _, err := tx.Exec(ctx, `INSERT INTO manifests (digest, indexer_version, data, created_at, updated_at, last_seen) VALUES ($1, $2, $3, $4, $4, $4)
			ON CONFLICT (digest) DO UPDATE SET indexer_version = excluded.indexer_version, data = excluded.data,
				updated_at = excluded.updated_at, last_seen = GREATEST(manifests.last_seen, excluded.last_seen)`,
			key, w.version, w.data, t); err != nil {
			return err
		}
		for _, q := range []string{`DELETE FROM manifest_layers WHERE manifest = $1`, `DELETE FROM manifest_packages WHERE manifest = $1`} {
			if _, err := tx.Exec(ctx, q, key); err != nil {
				return err
			}
		}
		// Positions count from 0, as in the SQLite engine.
		if _, err := tx.Exec(ctx, `INSERT INTO manifest_layers (manifest, position, layer)
			SELECT $1, l.n - 1, l.layer FROM unnest($2::text[]) WITH ORDINALITY AS l (layer, n)`, key, w.layers); err != nil {
			return fmt.Errorf("layers: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO manifest_packages (manifest, kind, name)
			SELECT $1, p.kind, p.name FROM unnest($2::text[], $3::text[]) AS p (kind, name)`, key, w.kinds, w.names); err != nil {
			return fmt.Errorf("packages: %w", err)
		}
		return writePackageRows(ctx, tx, key, w.rows, []byte(w.dist))
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

// writePackageRows replaces the package rows of a manifest (migration
// 0013), one statement of arrays, and marks it as having them.
func writePackageRows(ctx context.Context, tx pgx.Tx, digest string, rows []store.PackageRow, dist []byte) error {
	if _, err := tx.Exec(ctx, `DELETE FROM manifest_package_rows WHERE manifest = $1`, digest); err != nil {
		return err
	}
	kinds, names, sources, data, hashes := make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)), make([]string, len(rows)), make([][]byte, len(rows))
	for i, r := range rows {
		kinds[i], names[i], sources[i], data[i], hashes[i] = txt(r.Kind), txt(r.Name), txt(r.SourceName), txt(string(r.Data)), r.Hash
	}
	if _, err := tx.Exec(ctx, `INSERT INTO manifest_package_rows (manifest, position, kind, name, source_name, data, hash)
		SELECT $1, p.n - 1, p.kind, p.name, p.source_name, p.data, p.hash
		FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bytea[]) WITH ORDINALITY AS p (kind, name, source_name, data, hash, n)`,
		digest, kinds, names, sources, data, hashes); err != nil {
		return fmt.Errorf("package rows: %w", err)
	}
	_, err := tx.Exec(ctx, `UPDATE manifests SET distribution = $1, package_rows = true WHERE digest = $2`, txt(string(dist)), digest)
	return err
}

// fillBatch is how many manifests stored before migration 0013 one
// transaction gives package rows.
const fillBatch = 100

// fillPackageRows writes the package rows of the manifests stored before
// migration 0013, a batch at a time; a manifest that cannot be decoded is
// marked without rows (and logged), never failing the caller.
func (s *Store) fillPackageRows(ctx context.Context) error {
	for {
		done := false
		err := s.write(ctx, func(tx pgx.Tx) error {
			rows, err := tx.Query(ctx, `SELECT digest, data FROM manifests WHERE NOT package_rows ORDER BY digest LIMIT $1
				FOR UPDATE SKIP LOCKED`, fillBatch)
			if err != nil {
				return err
			}
			type pending struct{ digest, data string }
			var todo []pending
			for rows.Next() {
				var p pending
				if err := rows.Scan(&p.digest, &p.data); err != nil {
					rows.Close()
					return err
				}
				todo = append(todo, p)
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return err
			}
			if len(todo) == 0 {
				done = true
				return nil
			}
			for _, p := range todo {
				var idx model.ImageIndex
				rs, dist, err := []store.PackageRow(nil), []byte(nil), json.Unmarshal([]byte(p.data), &idx)
				if err == nil {
					rs, dist, err = store.PackageRowsOf(&idx)
				}
				if err != nil {
					slog.Warn("manifest index not decodable: no package rows", "manifest", p.digest, "err", err)
					rs, dist = nil, []byte("null")
				}
				if err := writePackageRows(ctx, tx, p.digest, rs, dist); err != nil {
					return fmt.Errorf("manifest %s: %w", p.digest, err)
				}
			}
			return nil
		})
		if err != nil || done {
			return err
		}
	}
}

// queryPackagesNamed selects the package rows of a kind ($1) by name or
// source name ($2, an array), each through its index, which includes the
// row's manifest, position and hash (an index-only scan, migration
// 0014): per manifest, its indexer version and distribution (a probe of
// the primary key per manifest found: OFFSET 0 keeps the planner from
// turning it into a join that scans every manifest), and the
// positions and hashes of the rows found, in order. Digests are sorted
// byte by byte, as Go and SQLite sort them. The JSON of the packages is
// read by queryPackageData, once per distinct hash.
const queryPackagesNamed = `WITH hit AS (
		SELECT manifest, position, hash FROM manifest_package_rows WHERE kind = $1 AND name = ANY ($2::text[])
		UNION
		SELECT manifest, position, hash FROM manifest_package_rows WHERE kind = $1 AND source_name <> '' AND source_name = ANY ($2::text[])),
	grouped AS (
		SELECT manifest, array_agg(position ORDER BY position) AS positions, array_agg(hash ORDER BY position) AS hashes
		FROM hit GROUP BY manifest)
	SELECT g.manifest, m.indexer_version, COALESCE(m.distribution, 'null'), g.positions, g.hashes
	FROM grouped AS g CROSS JOIN LATERAL (SELECT indexer_version, distribution FROM manifests WHERE digest = g.manifest OFFSET 0) AS m
	ORDER BY g.manifest COLLATE "C"`

// queryPackageData reads package rows by primary key ($1, $2: manifests
// and positions, pairwise): their hash and JSON.
const queryPackageData = `SELECT p.hash, p.data FROM unnest($1::text[], $2::int[]) AS k (manifest, position)
	JOIN manifest_package_rows AS p ON p.manifest = k.manifest AND p.position = k.position`

// PackagesNamed implements store.PackageRows: one query for the rows
// found, by manifest (from the indexes alone), one for the JSON of each
// distinct package among them, read from one of its rows, in one
// read-only snapshot.
func (s *Store) PackagesNamed(ctx context.Context, kind string, names []string) ([]store.ManifestPackages, error) {
	names = uniqueNonEmpty(txts(names))
	if len(names) == 0 {
		return nil, nil
	}
	if err := s.fillPackageRows(ctx); err != nil {
		return nil, fmt.Errorf("packages named: package rows of earlier manifests: %w", err)
	}
	out, err := s.packagesNamed(ctx, kind, names)
	if err != nil {
		return nil, fmt.Errorf("%s packages named: %w", kind, err)
	}
	return out, nil
}

func (s *Store) packagesNamed(ctx context.Context, kind string, names []string) ([]store.ManifestPackages, error) {
	tx, err := s.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(ctx)
	rows, err := tx.Query(ctx, queryPackagesNamed, txt(kind), names)
	if err != nil {
		return nil, err
	}
	var (
		out    []store.ManifestPackages
		hashes [][][]byte // per manifest of out
		dists  = map[string][]byte{}
		data   = map[string][]byte{} // by hash, filled below
		ms     []string              // one row of each distinct hash
		ps     []int32
	)
	for rows.Next() {
		var (
			digest, version, dist string
			pos                   []int32
			hs                    [][]byte
		)
		if err := rows.Scan(&digest, &version, &dist, &pos, &hs); err != nil {
			rows.Close()
			return nil, err
		}
		if len(pos) != len(hs) {
			rows.Close()
			return nil, fmt.Errorf("manifest %s: %d positions, %d hashes", digest, len(pos), len(hs))
		}
		d, ok := dists[dist]
		if !ok {
			d = []byte(dist)
			dists[dist] = d
		}
		out = append(out, store.ManifestPackages{Digest: digest, IndexerVersion: version, Distribution: d})
		hashes = append(hashes, hs)
		for i, h := range hs {
			if _, ok := data[string(h)]; !ok {
				data[string(h)] = nil
				ms, ps = append(ms, digest), append(ps, pos[i])
			}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(ms) > 0 {
		rows, err := tx.Query(ctx, queryPackageData, ms, ps)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var (
				h []byte
				b string
			)
			if err := rows.Scan(&h, &b); err != nil {
				rows.Close()
				return nil, err
			}
			data[string(h)] = []byte(b)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for i := range out {
		out[i].Packages = make([][]byte, len(hashes[i]))
		for j, h := range hashes[i] {
			b := data[string(h)]
			if b == nil {
				return nil, fmt.Errorf("manifest %s: package row %x not read", out[i].Digest, h)
			}
			out[i].Packages[j] = b
		}
	}
	return out, nil
}
