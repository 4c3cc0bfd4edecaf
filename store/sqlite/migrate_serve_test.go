package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/storetest"
)

// atSchema creates a database brought to schema version only, and
// returns its path and its write pool, which the caller fills and closes.
func atSchema(t *testing.T, version int) (string, *sql.DB) {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lapps.db")
	db, err := openPool(ctx, path, false)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if err := applyMigrations(ctx, db, ms[:version]); err != nil {
		t.Fatal(err)
	}
	return path, db
}

// TestMigrate0002 opens a database written at schema 1 holding a
// manifest: after migration the manifest has a last-seen time, so that
// garbage collection neither removes it at once nor keeps it forever.
func TestMigrate0002(t *testing.T) {
	ctx := context.Background()
	path, db := atSchema(t, 1)
	const digest = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	stored := time.Date(2024, time.January, 2, 3, 4, 5, 0, time.UTC)
	if _, err := db.ExecContext(ctx, `INSERT INTO manifests (digest, indexer_version, data, created_at, updated_at) VALUES (?, ?, ?, ?, ?)`,
		digest, indexer.Version, `{"manifest_digest":"`+digest+`"}`, formatTime(stored), formatTime(stored)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var lastSeen string
	if err := s.r.QueryRowContext(ctx, `SELECT last_seen FROM manifests WHERE digest = ?`, digest).Scan(&lastSeen); err != nil {
		t.Fatal(err)
	}
	if lastSeen != formatTime(stored) {
		t.Errorf("last_seen after migration = %q, want %q", lastSeen, formatTime(stored))
	}
	if n, err := s.PruneManifests(ctx, stored, 10); err != nil || n != 0 {
		t.Errorf("PruneManifests(at the time it was stored) = %d, %v; want 0", n, err)
	}
	if n, err := s.PruneManifests(ctx, stored.Add(time.Second), 10); err != nil || n != 1 {
		t.Errorf("PruneManifests(after) = %d, %v; want 1", n, err)
	}
}

// TestMigrate0006 opens a database written at schema 5 holding a scan:
// after migration the scan is kept, numbering goes on after it, a keyed
// scan is stored once, and the job queue works.
func TestMigrate0006(t *testing.T) {
	ctx := context.Background()
	path, db := atSchema(t, 5)
	if _, err := db.ExecContext(ctx, `INSERT INTO scans (image, idx, scanned_at, manifest_digest, packages, counts, report)
		VALUES ('reg/app:1', 1, ?, 'sha256:aa', 3, '{}', '{}')`, formatTime(now())); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgradedFrom5(t, s)
}

// TestMigrate0011 opens a database written at schema 10 holding an update
// operation: after migration its ecosystems and newest record time are
// known.
func TestMigrate0011(t *testing.T) {
	ctx := context.Background()
	path, db := atSchema(t, 10)
	if _, err := db.ExecContext(ctx, `INSERT INTO update_operations (id, source, fingerprint, created_at, records) VALUES (1, 'old', 'f', ?, 3)`,
		formatTime(now())); err != nil {
		t.Fatal(err)
	}
	for i, r := range storetest.Upgraded10Records {
		hash := make([]byte, 32)
		hash[0] = byte(i + 1)
		if _, err := db.ExecContext(ctx, `INSERT INTO records (hash, source, id, ecosystem, package, data) VALUES (?, 'old', ?, ?, 'p', ?)`,
			hash, r.ID, r.Ecosystem, r.Data); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ExecContext(ctx, `INSERT INTO uo_records (op, hash) VALUES (1, ?)`, hash); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgradedFrom10(t, s)
}

// TestMigrate0012 opens a database written at schema 11 holding
// deployments of two apps, numbered globally: after migration each app's
// are numbered 1, 2, 3 … in their old order.
func TestMigrate0012(t *testing.T) {
	ctx := context.Background()
	path, db := atSchema(t, 11)
	for _, app := range []string{"shop", "api"} {
		if _, err := db.ExecContext(ctx, `INSERT INTO apps (name, created_at, images) VALUES (?, ?, '[]')`, app, formatTime(now())); err != nil {
			t.Fatal(err)
		}
	}
	for i, app := range storetest.Upgraded11Deployments {
		if _, err := db.ExecContext(ctx, `INSERT INTO deployments (id, app, env, deployed_at, images, verdict, accepted, reasons)
			VALUES (?, ?, 'prod', ?, '[]', 'pass', 1, '[]')`, i+1, app, formatTime(now())); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgradedFrom11(t, s)
}

// TestMigrate0013 opens a database written at schema 12 holding a
// manifest, and one whose index does not decode: after migration the
// first one's packages are found by name (their rows written when first
// asked for), and the second is passed over.
func TestMigrate0013(t *testing.T) {
	ctx := context.Background()
	path, db := atSchema(t, 12)
	digest, data := storetest.Upgraded12Manifest(t)
	at := formatTime(now())
	for _, m := range [][2]string{{digest, data}, {"sha256:2222222222222222222222222222222222222222222222222222222222222222", "{not json"}} {
		if _, err := db.ExecContext(ctx, `INSERT INTO manifests (digest, indexer_version, data, created_at, updated_at, last_seen) VALUES (?, ?, ?, ?, ?, ?)`,
			m[0], indexer.Version, m[1], at, at, at); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgradedFrom12(t, s)
}

// TestMigrate0014 opens a database written at schema 13 holding a
// manifest with its package rows (without hashes): after migration its
// packages are found by name (the rows written again, with hashes, when
// first asked for), and GC selects its batch by the new index.
func TestMigrate0014(t *testing.T) {
	ctx := context.Background()
	path, db := atSchema(t, 13)
	digest, data := storetest.Upgraded12Manifest(t)
	var idx model.ImageIndex
	if err := json.Unmarshal([]byte(data), &idx); err != nil {
		t.Fatal(err)
	}
	rows, dist, err := store.PackageRowsOf(&idx)
	if err != nil {
		t.Fatal(err)
	}
	at := formatTime(now())
	if _, err := db.ExecContext(ctx, `INSERT INTO manifests (digest, indexer_version, data, created_at, updated_at, last_seen, distribution, package_rows)
		VALUES (?, ?, ?, ?, ?, ?, ?, 1)`, digest, indexer.Version, data, at, at, at, string(dist)); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if _, err := db.ExecContext(ctx, `INSERT INTO manifest_package_rows (manifest, position, kind, name, source_name, data) VALUES (?, ?, ?, ?, ?, ?)`,
			digest, i, r.Kind, r.Name, r.SourceName, string(r.Data)); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgradedFrom12(t, s)
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM manifest_package_rows WHERE length(hash) = 16`).Scan(&n); err != nil || n != len(rows) {
		t.Errorf("package rows with a hash after migration: %d, %v; want %d", n, err, len(rows))
	}
	if plan := queryPlan(t, s, queryPruneManifests, at, 100); !strings.Contains(plan, "manifests_last_seen") || strings.Contains(plan, "TEMP B-TREE") {
		t.Errorf("GC batch selection plan: %s; want a range scan of manifests_last_seen, no sort", plan)
	}
}

// queryPlan returns the details of EXPLAIN QUERY PLAN for query.
func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rs, err := s.r.QueryContext(context.Background(), `EXPLAIN QUERY PLAN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rs.Close()
	plan := ""
	for rs.Next() {
		var id, parent, unused int
		var detail string
		if err := rs.Scan(&id, &parent, &unused, &detail); err != nil {
			t.Fatal(err)
		}
		plan += detail + "; "
	}
	if err := rs.Err(); err != nil {
		t.Fatal(err)
	}
	return plan
}

// TestPackagesNamedPlan checks that PackagesNamed reads the package rows
// found from the name indexes alone, and the manifests' indexer version
// and distribution from the index of migration 0015, never from the
// manifests' rows (whose distribution comes after the index JSON).
func TestPackagesNamedPlan(t *testing.T) {
	s := openTemp(t)
	plan := queryPlan(t, s, queryPackagesNamed, "deb", `["openssl"]`)
	for _, want := range []string{"COVERING INDEX manifest_package_rows_name", "COVERING INDEX manifest_package_rows_source"} {
		if !strings.Contains(plan, want) {
			t.Errorf("package rows plan: %s; want %s", plan, want)
		}
	}
	if plan := queryPlan(t, s, queryManifestMeta, `["sha256:00"]`); !strings.Contains(plan, "COVERING INDEX manifests_package_meta") {
		t.Errorf("manifests' distributions plan: %s; want a search of the covering index manifests_package_meta", plan)
	}
}
