package postgres

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/storetest"
	"github.com/lapps/lapps/testenv"
)

// baseDSN returns the DSN of the test server, from LAPPS_TEST_POSTGRES_DSN
// (.ci/postgres.sh starts a server and prints it); the test skips without
// it, and fails under CI=true.
func baseDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv("LAPPS_TEST_POSTGRES_DSN")
	if dsn == "" {
		testenv.Missing(tb, "LAPPS_TEST_POSTGRES_DSN is not set (.ci/postgres.sh starts a PostgreSQL and prints it)")
	}
	return dsn
}

// openFresh opens a store on a new, empty schema.
func openFresh(tb testing.TB) *Store {
	tb.Helper()
	s, err := Open(context.Background(), testenv.PostgresDSN(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openFresh(t) }, hooks)
}

func TestIsDSN(t *testing.T) {
	for s, want := range map[string]bool{
		"postgres://u:p@db:5432/lapps":      true,
		"postgresql://db/lapps?sslmode=off": true,
		"POSTGRES://db/lapps":               true,
		"/var/lib/lapps/lapps.db":           false,
		"lapps.db":                          false,
		"host=db dbname=lapps":              false,
		"":                                  false,
	} {
		if got := IsDSN(s); got != want {
			t.Errorf("IsDSN(%q) = %v, want %v", s, got, want)
		}
	}
}

func TestOpenBadDSN(t *testing.T) {
	ctx := context.Background()
	for _, dsn := range []string{
		"",
		"lapps.db",
		"host=127.0.0.1 dbname=lapps",
		"postgres://lapps:s3cret@127.0.0.1:notaport/lapps",
		"postgres://lapps:s3cret@127.0.0.1:1/lapps?connect_timeout=5", // nothing listens on port 1
		"postgres://lapps:s3cret@127.0.0.1:1/lapps?sslmode=bogus",
	} {
		s, err := Open(ctx, dsn)
		if err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", dsn)
			continue
		}
		if strings.Contains(err.Error(), "s3cret") {
			t.Errorf("Open(%q): the error shows the password: %v", dsn, err)
		}
	}
	// A wrong password on a live server.
	u, err := url.Parse(baseDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	u.User = url.UserPassword(u.User.Username(), "s3cret-but-wrong")
	if s, err := Open(ctx, u.String()); err == nil {
		s.Close()
		t.Error("Open with a wrong password: no error")
	} else if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("Open with a wrong password: the error shows the password: %v", err)
	}
}

// schemaRows returns the rows of schema_migrations.
func schemaRows(t *testing.T, s *Store) []string {
	t.Helper()
	rows, err := s.pool.Query(context.Background(), `SELECT version::text || ' ' || name || ' ' || applied_at::text FROM schema_migrations ORDER BY version`)
	if err != nil {
		t.Fatal(err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestMigrationsFromEmpty(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresDSN(t)
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	first := schemaRows(t, s)
	if len(first) != SchemaVersion() || SchemaVersion() < 2 {
		t.Fatalf("schema_migrations %q, want %d rows", first, SchemaVersion())
	}
	for i, r := range first {
		if !strings.HasPrefix(r, fmt.Sprintf("%d %04d_", i+1, i+1)) {
			t.Errorf("schema_migrations row %d: %q", i, r)
		}
	}
	// Data survives a re-open, which applies nothing.
	layer := &model.LayerIndex{Digest: "sha256:8a1e25ce7c4f75e372e9884f8f7b1bedcfe4a7a7d452eb4b0a1c7477c9a90345", IndexerVersion: indexer.Version}
	if err := s.PutLayer(ctx, layer); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateScan(ctx, &store.Scan{Image: "docker.io/library/debian:12", ManifestDigest: "sha256:1"}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = Open(ctx, dsn)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if again := schemaRows(t, s); !slices.Equal(again, first) {
		t.Errorf("schema_migrations after reopen %q, want %q unchanged", again, first)
	}
	if _, err := s.Layer(ctx, layer.Digest); err != nil {
		t.Errorf("layer after reopen: %v", err)
	}
	if idx, err := s.CreateScan(ctx, &store.Scan{Image: "docker.io/library/debian:12", ManifestDigest: "sha256:1"}); err != nil || idx != 2 {
		t.Errorf("CreateScan after reopen = %d, %v; want 2", idx, err)
	}
}

// TestConcurrentOpen opens one new database from many stores at once, as
// replicas starting together do: each migration is applied once.
func TestConcurrentOpen(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresDSN(t)
	const n = 8
	stores := make([]*Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { stores[i], errs[i] = Open(ctx, dsn) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatalf("Open %d: %v", i, errs[i])
		}
		defer stores[i].Close()
	}
	if rows := schemaRows(t, stores[0]); len(rows) != SchemaVersion() {
		t.Errorf("schema_migrations %q, want each of %d migrations once", rows, SchemaVersion())
	}
}

func TestNewerSchema(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresDSN(t)
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	newer := SchemaVersion() + 1
	if _, err := s.pool.Exec(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, now())`,
		newer, fmt.Sprintf("%04d_future.sql", newer)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(ctx, dsn)
	if err == nil {
		t.Fatal("Open of a database with a newer schema: no error")
	}
	if !strings.Contains(err.Error(), "newer") || !strings.Contains(err.Error(), fmt.Sprint(newer)) {
		t.Errorf("error %q does not say the schema is newer", err)
	}
}

func TestMigrations(t *testing.T) {
	ms, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) == 0 || ms[0].Name != "0001_init.sql" {
		t.Fatalf("embedded migrations: %v", ms)
	}

	ctx := context.Background()
	s := openFresh(t)
	defer s.Close()

	// From the first and from the previous schema version: a database at
	// version 1 or N-1, with data, is brought to N by Open.
	for _, from := range []int{1, SchemaVersion() - 1} {
		dsn := testenv.PostgresDSN(t)
		prevStore, err := open(ctx, dsn, ms[:from])
		if err != nil {
			t.Fatalf("open at version %d: %v", from, err)
		}
		insert := `INSERT INTO manifests (digest, indexer_version, data, created_at, updated_at)
			VALUES ('sha256:1', '1', '{}', now() - interval '1 day', now() - interval '1 hour')`
		if from >= 2 { // 0002 added last_seen
			insert = `INSERT INTO manifests (digest, indexer_version, data, created_at, updated_at, last_seen)
				VALUES ('sha256:1', '1', '{}', now() - interval '1 day', now() - interval '1 hour', now() - interval '1 hour')`
		}
		if _, err := prevStore.pool.Exec(ctx, insert); err != nil {
			t.Fatal(err)
		}
		prevStore.Close()
		cur, err := Open(ctx, dsn)
		if err != nil {
			t.Fatalf("migrate from version %d: %v", from, err)
		}
		if rows := schemaRows(t, cur); len(rows) != SchemaVersion() {
			t.Errorf("after migrating from %d: schema_migrations %q", from, rows)
		}
		var seenIsUpdated bool
		if err := cur.pool.QueryRow(ctx, `SELECT last_seen = updated_at FROM manifests WHERE digest = 'sha256:1'`).Scan(&seenIsUpdated); err != nil || !seenIsUpdated {
			t.Errorf("manifest migrated from %d: last_seen = updated_at is %v, %v", from, seenIsUpdated, err)
		}
		cur.Close()
	}

	// A later migration applies on top of an existing database; a failing
	// one changes nothing and is not recorded.
	next := SchemaVersion() + 1
	extra := append(slices.Clone(ms), store.Migration{Version: next, Name: "x", SQL: `ALTER TABLE layers ADD COLUMN size integer; CREATE TABLE bogus (;`})
	if err := applyMigrations(ctx, s.pool, extra); err == nil {
		t.Fatal("failing migration: no error")
	}
	if _, err := s.pool.Exec(ctx, `SELECT size FROM layers`); err == nil {
		t.Error("failing migration left a change behind")
	}
	extra[len(extra)-1].SQL = `ALTER TABLE layers ADD COLUMN size integer`
	if err := applyMigrations(ctx, s.pool, extra); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `SELECT size FROM layers`); err != nil {
		t.Errorf("migration %d not applied: %v", next, err)
	}
}

// TestMigrateJobs opens a database at schema 5 holding a scan: after
// migration the scan is kept, numbering goes on after it, a keyed scan is
// stored once, and the job queue works.
func TestMigrateJobs(t *testing.T) {
	ctx := context.Background()
	ms, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	dsn := testenv.PostgresDSN(t)
	prev, err := open(ctx, dsn, ms[:5])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prev.pool.Exec(ctx, `INSERT INTO scans (image, idx, scanned_at, manifest_digest, packages, counts, report)
		VALUES ('reg/app:1', 1, now(), 'sha256:aa', 3, '{}', '\x7b7d')`); err != nil {
		t.Fatal(err)
	}
	prev.Close()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgradedFrom5(t, s)
}

// TestMigrate0011 opens a database at schema 10 holding an update
// operation: after migration its ecosystems and newest record time are
// known.
func TestMigrate0011(t *testing.T) {
	ctx := context.Background()
	ms, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	dsn := testenv.PostgresDSN(t)
	prev, err := open(ctx, dsn, ms[:10])
	if err != nil {
		t.Fatal(err)
	}
	var op int64
	if err := prev.pool.QueryRow(ctx, `INSERT INTO update_operations (source, fingerprint, created_at, records) VALUES ('old', 'f', now(), 3) RETURNING id`).Scan(&op); err != nil {
		t.Fatal(err)
	}
	for i, r := range storetest.Upgraded10Records {
		hash := make([]byte, 32)
		hash[0] = byte(i + 1)
		if _, err := prev.pool.Exec(ctx, `INSERT INTO records (hash, source, id, ecosystem, package, data) VALUES ($1, 'old', $2, $3, 'p', $4)`,
			hash, r.ID, r.Ecosystem, r.Data); err != nil {
			t.Fatal(err)
		}
		if _, err := prev.pool.Exec(ctx, `INSERT INTO uo_records (op, hash) VALUES ($1, $2)`, op, hash); err != nil {
			t.Fatal(err)
		}
	}
	prev.Close()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgradedFrom10(t, s)
}

// TestMigrate0012 opens a database at schema 11 holding deployments of
// two apps, numbered globally: after migration each app's are numbered 1,
// 2, 3 … in their old order.
func TestMigrate0012(t *testing.T) {
	ctx := context.Background()
	ms, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	dsn := testenv.PostgresDSN(t)
	prev, err := open(ctx, dsn, ms[:11])
	if err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"shop", "api"} {
		if _, err := prev.pool.Exec(ctx, `INSERT INTO apps (name, created_at, images) VALUES ($1, now(), '[]')`, app); err != nil {
			t.Fatal(err)
		}
	}
	for _, app := range storetest.Upgraded11Deployments {
		if _, err := prev.pool.Exec(ctx, `INSERT INTO deployments (app, env, deployed_at, images, verdict, accepted, reasons)
			VALUES ($1, 'prod', now(), '[]', 'pass', true, '[]')`, app); err != nil {
			t.Fatal(err)
		}
	}
	prev.Close()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgradedFrom11(t, s)
}

// TestMigrate0013 opens a database at schema 12 holding a manifest, and
// one whose index does not decode: after migration the first one's
// packages are found by name (their rows written when first asked for),
// and the second is passed over.
func TestMigrate0013(t *testing.T) {
	ctx := context.Background()
	ms, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	dsn := testenv.PostgresDSN(t)
	prev, err := open(ctx, dsn, ms[:12])
	if err != nil {
		t.Fatal(err)
	}
	digest, data := storetest.Upgraded12Manifest(t)
	for _, m := range [][2]string{{digest, data}, {"sha256:2222222222222222222222222222222222222222222222222222222222222222", `{"packages": "not a list"}`}} {
		if _, err := prev.pool.Exec(ctx, `INSERT INTO manifests (digest, indexer_version, data, created_at, updated_at, last_seen) VALUES ($1, $2, $3, now(), now(), now())`,
			m[0], indexer.Version, m[1]); err != nil {
			t.Fatal(err)
		}
	}
	prev.Close()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckUpgradedFrom12(t, s)
}

// TestMigrate0014 opens a database at schema 13 holding a manifest with
// its package rows (without hashes): after migration every row has the
// hash store.PackageHash gives its JSON, and its packages are found by
// name.
func TestMigrate0014(t *testing.T) {
	ctx := context.Background()
	ms, err := store.LoadMigrations(migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	dsn := testenv.PostgresDSN(t)
	prev, err := open(ctx, dsn, ms[:13])
	if err != nil {
		t.Fatal(err)
	}
	digest, data := storetest.Upgraded12Manifest(t)
	var idx model.ImageIndex
	if err := json.Unmarshal([]byte(data), &idx); err != nil {
		t.Fatal(err)
	}
	rows, dist, err := store.PackageRowsOf(&idx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prev.pool.Exec(ctx, `INSERT INTO manifests (digest, indexer_version, data, created_at, updated_at, last_seen, distribution, package_rows)
		VALUES ($1, $2, $3, now(), now(), now(), $4, true)`, digest, indexer.Version, data, string(dist)); err != nil {
		t.Fatal(err)
	}
	for i, r := range rows {
		if _, err := prev.pool.Exec(ctx, `INSERT INTO manifest_package_rows (manifest, position, kind, name, source_name, data) VALUES ($1, $2, $3, $4, $5, $6)`,
			digest, i, r.Kind, r.Name, r.SourceName, string(r.Data)); err != nil {
			t.Fatal(err)
		}
	}
	prev.Close()
	s, err := Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.pool.Query(ctx, `SELECT position, hash FROM manifest_package_rows WHERE manifest = $1 ORDER BY position`, digest)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for got.Next() {
		var (
			pos  int
			hash []byte
		)
		if err := got.Scan(&pos, &hash); err != nil {
			t.Fatal(err)
		}
		if want := rows[pos].Hash; !bytes.Equal(hash, want) {
			t.Errorf("row %d: hash %x after migration, store.PackageHash %x", pos, hash, want)
		}
		n++
	}
	if got.Err() != nil || n != len(rows) {
		t.Errorf("%d rows after migration (%v), want %d", n, got.Err(), len(rows))
	}
	storetest.CheckUpgradedFrom12(t, s)
}
