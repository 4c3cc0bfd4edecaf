package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
)

// Layer returns the stored index of a layer, or store.ErrNotFound.
func (s *Store) Layer(ctx context.Context, digest string) (*model.LayerIndex, error) {
	var data string
	err := s.r.QueryRowContext(ctx, `SELECT data FROM layers WHERE digest = ?`, digest).Scan(&data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("layer %s: %w", digest, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", digest, err)
	}
	var idx model.LayerIndex
	if err := json.Unmarshal([]byte(data), &idx); err != nil {
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
func (s *Store) Manifest(ctx context.Context, digest string) (*model.ImageIndex, error) {
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
func (s *Store) PutManifest(ctx context.Context, idx *model.ImageIndex) error {
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
	rows, dist, err := store.PackageRowsOf(idx)
	if err != nil {
		return fmt.Errorf("put manifest %s: %w", digest, err)
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
		return writePackageRows(ctx, tx, digest, rows, dist)
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
	out, err := queryStrings(ctx, s.r, `SELECT DISTINCT manifest FROM manifest_packages
		WHERE kind = ? AND name IN (SELECT value FROM json_each(?))
		ORDER BY manifest`, kind, string(list))
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
// 0013) and marks it as having them.
func writePackageRows(ctx context.Context, tx *sql.Tx, digest string, rows []store.PackageRow, dist []byte) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM manifest_package_rows WHERE manifest = ?`, digest); err != nil {
		return err
	}
	ins, err := tx.PrepareContext(ctx, `INSERT INTO manifest_package_rows (manifest, position, kind, name, source_name, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?)`)
	if err != nil {
		return err
	}
	defer ins.Close()
	for i, r := range rows {
		if _, err := ins.ExecContext(ctx, digest, i, r.Kind, r.Name, r.SourceName, string(r.Data), r.Hash); err != nil {
			return fmt.Errorf("package row %d: %w", i, err)
		}
	}
	_, err = tx.ExecContext(ctx, `UPDATE manifests SET distribution = ?, package_rows = 1 WHERE digest = ?`, string(dist), digest)
	return err
}

// fillBatch is how many manifests stored before migration 0013 one
// transaction gives package rows.
const fillBatch = 100

// fillPackageRows writes the package rows of the manifests stored before
// migration 0013, a batch at a time; a manifest that cannot be decoded is
// left without rows (and logged), never failing the caller.
func (s *Store) fillPackageRows(ctx context.Context) error {
	for {
		digests, err := queryStrings(ctx, s.r, `SELECT digest FROM manifests WHERE package_rows = 0 ORDER BY digest LIMIT ?`, fillBatch)
		if err != nil {
			return err
		}
		if len(digests) == 0 {
			return nil
		}
		err = s.write(ctx, func(tx *sql.Tx) error {
			for _, d := range digests {
				var data string
				if err := tx.QueryRowContext(ctx, `SELECT data FROM manifests WHERE digest = ? AND package_rows = 0`, d).Scan(&data); errors.Is(err, sql.ErrNoRows) {
					continue // written meanwhile, or removed
				} else if err != nil {
					return err
				}
				var idx model.ImageIndex
				rs, dist, err := []store.PackageRow(nil), []byte(nil), json.Unmarshal([]byte(data), &idx)
				if err == nil {
					rs, dist, err = store.PackageRowsOf(&idx)
				}
				if err != nil {
					// Marked, without rows, so that it is not tried again: a
					// manifest lapps cannot decode is matched by nothing.
					slog.Warn("manifest index not decodable: no package rows", "manifest", d, "err", err)
					rs, dist = nil, []byte("null")
				}
				if err := writePackageRows(ctx, tx, d, rs, dist); err != nil {
					return fmt.Errorf("manifest %s: %w", d, err)
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
}

// queryPackagesNamed selects the package rows of a kind (?1) by name or
// source name (?2, a JSON array), each through its index, which covers
// the row's manifest, position and hash (migration 0014). The JSON of
// the packages is read by queryPackageData, once per distinct hash, and
// the manifests' indexer version and distribution by queryManifestMeta,
// once per manifest (not once per row found: an update that concerns
// every manifest finds about a hundred rows in each).
const queryPackagesNamed = `SELECT manifest, position, hash FROM manifest_package_rows WHERE kind = ?1 AND name IN (SELECT value FROM json_each(?2))
	UNION
	SELECT manifest, position, hash FROM manifest_package_rows WHERE kind = ?1 AND source_name <> '' AND source_name IN (SELECT value FROM json_each(?2))`

// queryManifestMeta reads the indexer version and distribution of
// manifests (a JSON array of digests) from the index of migration 0015,
// without their rows.
const queryManifestMeta = `SELECT digest, indexer_version, COALESCE(distribution, 'null') FROM manifests INDEXED BY manifests_package_meta
	WHERE digest IN (SELECT value FROM json_each(?))`

// manifestMetaBatch is how many manifests one queryManifestMeta reads.
const manifestMetaBatch = 5000

// queryPackageData reads one package row by primary key.
const queryPackageData = `SELECT data FROM manifest_package_rows WHERE manifest = ? AND position = ?`

// PackagesNamed implements store.PackageRows: one query for the rows
// found (from the indexes alone), then the JSON of each distinct package
// among them, read from one of its rows, in one read transaction.
func (s *Store) PackagesNamed(ctx context.Context, kind string, names []string) ([]store.ManifestPackages, error) {
	names = uniqueNonEmpty(names)
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
	list, err := json.Marshal(names)
	if err != nil {
		return nil, err
	}
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, queryPackagesNamed, kind, string(list))
	if err != nil {
		return nil, err
	}
	// Sorted here rather than by SQLite: rows grouped by manifest, then
	// manifests by digest and packages by position. The digests and
	// hashes are read into reused buffers (RawBytes) and kept once each:
	// a row found allocates nothing but its place in its manifest's list.
	type found struct {
		pos  int64
		hash *[]byte // the package's JSON, once read
	}
	type where struct {
		manifest string
		pos      int64
	}
	type manifest struct {
		digest string
		found  []found
	}
	var (
		byDigest = map[string]*manifest{}
		data     = map[string]*[]byte{} // by hash
		first    = map[*[]byte]where{}  // one row of each distinct hash
		digest   sql.RawBytes
		hash     sql.RawBytes
		at       int64
	)
	for rows.Next() {
		if err := rows.Scan(&digest, &at, &hash); err != nil {
			rows.Close()
			return nil, err
		}
		m := byDigest[string(digest)]
		if m == nil {
			m = &manifest{digest: string(digest)}
			byDigest[m.digest] = m
		}
		d := data[string(hash)]
		if d == nil {
			d = new([]byte)
			data[string(hash)] = d
			first[d] = where{m.digest, at}
		}
		m.found = append(m.found, found{at, d})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(first) > 0 {
		get, err := tx.PrepareContext(ctx, queryPackageData)
		if err != nil {
			return nil, err
		}
		defer get.Close()
		for d, w := range first {
			if err := get.QueryRowContext(ctx, w.manifest, w.pos).Scan(d); err != nil {
				return nil, fmt.Errorf("manifest %s, package row %d: %w", w.manifest, w.pos, err)
			}
		}
	}
	digests := make([]string, 0, len(byDigest))
	for d := range byDigest {
		digests = append(digests, d)
	}
	slices.Sort(digests)
	out := make([]store.ManifestPackages, len(digests))
	at0 := map[string]int{} // index in out, by digest
	for i, d := range digests {
		m := byDigest[d]
		slices.SortFunc(m.found, func(a, b found) int { return cmp.Compare(a.pos, b.pos) })
		ps := make([][]byte, len(m.found))
		for j, f := range m.found {
			ps[j] = *f.hash
		}
		out[i] = store.ManifestPackages{Digest: d, Packages: ps}
		at0[d] = i
	}
	dists := map[string][]byte{}
	for batch := range slices.Chunk(digests, manifestMetaBatch) {
		list, err := json.Marshal(batch)
		if err != nil {
			return nil, err
		}
		rows, err := tx.QueryContext(ctx, queryManifestMeta, string(list))
		if err != nil {
			return nil, fmt.Errorf("manifests' distributions: %w", err)
		}
		for rows.Next() {
			var digest, version string
			var dist sql.RawBytes
			if err := rows.Scan(&digest, &version, &dist); err != nil {
				rows.Close()
				return nil, fmt.Errorf("manifests' distributions: %w", err)
			}
			d, ok := dists[string(dist)]
			if !ok {
				d = []byte(string(dist))
				dists[string(dist)] = d
			}
			i, ok := at0[digest]
			if !ok {
				continue
			}
			out[i].IndexerVersion, out[i].Distribution = version, d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("manifests' distributions: %w", err)
		}
	}
	for i := range out {
		if out[i].Distribution == nil {
			// Removed since its rows were read, in the same read
			// transaction: cannot happen (the rows reference it).
			return nil, fmt.Errorf("manifest %s of package rows not found", out[i].Digest)
		}
	}
	return out, nil
}
