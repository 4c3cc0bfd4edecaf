package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/storetest"
	"github.com/lapps/lapps/vuln"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return openTemp(t) }, hooks)
}

func TestOpenCreatesDatabase(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "data", "lapps")
	path := filepath.Join(dir, "lapps.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("directory mode %v, want 0700", fi.Mode().Perm())
	}
	for pragma, want := range map[string]string{"journal_mode": "wal", "foreign_keys": "1", "synchronous": "1", "busy_timeout": "10000"} {
		for name, db := range map[string]*sql.DB{"write": s.w, "read": s.r} {
			var got string
			if err := db.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
				t.Fatal(err)
			}
			if got != want {
				t.Errorf("%s pool: PRAGMA %s = %s, want %s", name, pragma, got, want)
			}
		}
	}
	var v int
	if err := s.r.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != SchemaVersion() || v < 1 {
		t.Errorf("schema version %d, want %d", v, SchemaVersion())
	}
	// The read pool cannot write.
	if _, err := s.r.ExecContext(ctx, `DELETE FROM layers`); err == nil {
		t.Error("read pool wrote")
	}
}

func TestOpenBadPath(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 500)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"", dir, notDB} {
		if s, err := Open(ctx, path); err == nil {
			s.Close()
			t.Errorf("Open(%q): no error", path)
		}
	}
	// Characters a URI would take for its own.
	odd := filepath.Join(dir, "a?b#c%20d", "lapps.db")
	s, err := Open(ctx, odd)
	if err != nil {
		t.Fatalf("Open(%q): %v", odd, err)
	}
	s.Close()
	if _, err := os.Stat(odd); err != nil {
		t.Errorf("database not at %s: %v", odd, err)
	}
}

func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lapps.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	layer := &model.LayerIndex{Digest: "sha256:8a1e25ce7c4f75e372e9884f8f7b1bedcfe4a7a7d452eb4b0a1c7477c9a90345", IndexerVersion: indexer.Version}
	if err := s.PutLayer(ctx, layer); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateScan(ctx, &store.Scan{Image: "docker.io/library/debian:12", ManifestDigest: "sha256:1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s.Close()
	if _, err := s.Layer(ctx, layer.Digest); err != nil {
		t.Errorf("layer after reopen: %v", err)
	}
	idx, err := s.CreateScan(ctx, &store.Scan{Image: "docker.io/library/debian:12", ManifestDigest: "sha256:1"})
	if err != nil || idx != 2 {
		t.Errorf("CreateScan after reopen = %d, %v; want 2", idx, err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations`).Scan(&n); err != nil || n != SchemaVersion() {
		t.Errorf("schema_migrations rows = %d, %v; want %d (each migration once)", n, err, SchemaVersion())
	}
}

func TestNewerSchema(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lapps.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	newer := SchemaVersion() + 1
	if _, err := s.w.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`,
		newer, fmt.Sprintf("%04d_future.sql", newer), formatTime(now())); err != nil {
		t.Fatal(err)
	}
	s.Close()
	_, err = Open(ctx, path)
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

	// A later migration applies on top of an existing database; a failing
	// one changes nothing and is not recorded.
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	next := SchemaVersion() + 1
	extra := append(ms, store.Migration{Version: next, Name: "x", SQL: `ALTER TABLE layers ADD COLUMN size INTEGER; CREATE TABLE bogus (; `})
	if err := applyMigrations(ctx, s.w, extra); err == nil {
		t.Fatal("failing migration: no error")
	}
	if _, err := s.w.ExecContext(ctx, `SELECT size FROM layers`); err == nil {
		t.Error("failing migration left a change behind")
	}
	extra[len(extra)-1].SQL = `ALTER TABLE layers ADD COLUMN size INTEGER`
	if err := applyMigrations(ctx, s.w, extra); err != nil {
		t.Fatal(err)
	}
	if _, err := s.w.ExecContext(ctx, `SELECT size FROM layers`); err != nil {
		t.Errorf("migration %d not applied: %v", next, err)
	}
}

func TestDefaultPath(t *testing.T) {
	t.Setenv("XDG_DATA_HOME", "/srv/data")
	if p, err := DefaultPath(); err != nil || p != "/srv/data/lapps/lapps.db" {
		t.Errorf("DefaultPath with XDG_DATA_HOME = %q, %v", p, err)
	}
	t.Setenv("HOME", "/home/ada")
	for _, xdg := range []string{"", "relative/dir"} {
		t.Setenv("XDG_DATA_HOME", xdg)
		if p, err := DefaultPath(); err != nil || p != "/home/ada/.local/share/lapps/lapps.db" {
			t.Errorf("DefaultPath with XDG_DATA_HOME=%q = %q, %v", xdg, p, err)
		}
	}
}

// TestPutUpdateRollback fails an update half-way through its inserts and
// checks that nothing of it stays.
func TestPutUpdateRollback(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	first := genRecords("debian-tracker", 500, 0)
	if _, err := s.PutUpdate(ctx, "debian-tracker", "fp1", first); err != nil {
		t.Fatal(err)
	}
	before := counts(t, s)
	// The write pool has one connection, so this temporary trigger is on
	// the connection PutUpdate uses.
	if _, err := s.w.ExecContext(ctx, `CREATE TEMP TRIGGER fail_late BEFORE INSERT ON uo_records
		WHEN (SELECT COUNT(*) FROM uo_records) >= 800 BEGIN SELECT RAISE(ABORT, 'injected failure'); END`); err != nil {
		t.Fatal(err)
	}
	second := genRecords("debian-tracker", 1000, 1)
	if _, err := s.PutUpdate(ctx, "debian-tracker", "fp2", second); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("PutUpdate with a failing insert: err = %v", err)
	}
	if after := counts(t, s); after != before {
		t.Errorf("rows after a failed update %v, before %v", after, before)
	}
	if _, err := s.w.ExecContext(ctx, `DROP TRIGGER fail_late`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutUpdate(ctx, "debian-tracker", "fp2", second); err != nil {
		t.Fatal(err)
	}
}

// TestPruneRemovesOrphans checks that pruning deletes the records no
// operation refers to and keeps shared ones.
func TestPruneRemovesOrphans(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	a := genRecords("debian-tracker", 300, 0)
	b := genRecords("debian-tracker", 300, 0)
	for i := range 100 { // 100 changed, 200 shared with a
		b[i].Title = "a changed title"
	}
	for _, rs := range [][]vuln.Record{a, b} {
		if _, err := s.PutUpdate(ctx, "debian-tracker", "", rs); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.PutUpdate(ctx, "osv-debian", "", genRecords("osv-debian", 50, 0)); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, s); c != [3]int{3, 400 + 50, 600 + 50} {
		t.Fatalf("operations, records, links = %v, want [3 450 650]", c)
	}
	if n, err := s.PruneUpdates(ctx, "debian-tracker", 1); err != nil || n != 1 {
		t.Fatalf("PruneUpdates = %d, %v", n, err)
	}
	if c := counts(t, s); c != [3]int{2, 300 + 50, 300 + 50} {
		t.Errorf("after prune: operations, records, links = %v, want [2 350 350]", c)
	}
}

// counts returns the number of operations, records and links.
func counts(t *testing.T, s *Store) (c [3]int) {
	t.Helper()
	for i, table := range []string{"update_operations", "records", "uo_records"} {
		if err := s.r.QueryRow(`SELECT COUNT(*) FROM ` + table).Scan(&c[i]); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestConcurrentReadWrite runs readers beside writers: nothing fails with
// SQLITE_BUSY and readers see whole operations only.
func TestConcurrentReadWrite(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	defer s.Close()
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprintf("pkg%05d", i)
	}
	errs := make(chan error, 100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		gens := 10
		if raceEnabled {
			gens = 3
		}
		for gen := range gens {
			if _, err := s.PutUpdate(ctx, "debian-tracker", "", genRecords("debian-tracker", 2000, gen)); err != nil {
				errs <- err
				return
			}
		}
	}()
	for range 4 {
		go func() {
			for {
				select {
				case <-done:
					errs <- nil
					return
				default:
				}
				rs, err := s.Records(ctx, "Debian:12", names)
				if err != nil {
					errs <- err
					return
				}
				// One generation only: all records of a name agree.
				for _, r := range rs {
					if r.Modified != rs[0].Modified {
						errs <- fmt.Errorf("records of two operations at once: %v and %v", r.Modified, rs[0].Modified)
						return
					}
				}
				if _, err := s.CreateScan(ctx, &store.Scan{Image: "img", ManifestDigest: "sha256:1"}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	<-done
}

// genRecords makes n Debian-like records spread over n/4 package names
// (pkg00000…), as the Debian tracker has several advisories per source
// package; gen varies their content.
func genRecords(source string, n, gen int) []vuln.Record {
	rs := make([]vuln.Record, n)
	modified := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, gen)
	for i := range rs {
		rs[i] = vuln.Record{
			ID:        fmt.Sprintf("CVE-%d-%05d", 2015+i%10, i),
			Aliases:   []string{fmt.Sprintf("DSA-%d-1", 3000+i)},
			Source:    source,
			Ecosystem: "Debian:12",
			Package:   fmt.Sprintf("pkg%05d", i/4),
			Ranges:    []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "0", Fixed: fmt.Sprintf("1.%d.%d-1+deb12u%d", i%7, i%13, gen+1)}},
			Status:    vuln.StatusFixed,
			Severity:  vuln.Severity(i % 6),
			CVSS:      []vuln.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Score: 9.8}},
			Title:     "buffer overflow in a parser of untrusted input",
			Description: "A heap-based buffer overflow in the parser allows a remote attacker to execute " +
				"arbitrary code or cause a denial of service through a crafted file.",
			Links:     []string{fmt.Sprintf("https://security-tracker.debian.org/tracker/CVE-%d-%05d", 2015+i%10, i)},
			Published: time.Date(2015+i%10, 3, 1, 0, 0, 0, 0, time.UTC),
			Modified:  modified,
		}
	}
	return rs
}

func BenchmarkPutUpdate(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	defer s.Close()
	b.ReportAllocs()
	gen := 0
	for b.Loop() {
		// Every operation changes every record: the worst case, 50k new
		// rows in records and 50k links.
		if _, err := s.PutUpdate(ctx, "debian-tracker", "", genRecords("debian-tracker", 50_000, gen)); err != nil {
			b.Fatal(err)
		}
		gen++
	}
}

func BenchmarkRecords(b *testing.B) {
	ctx := context.Background()
	s := openTemp(b)
	defer s.Close()
	// 50k records of the current operation, 10k of an older one, and a
	// second source.
	if _, err := s.PutUpdate(ctx, "debian-tracker", "", genRecords("debian-tracker", 10_000, 0)); err != nil {
		b.Fatal(err)
	}
	if _, err := s.PutUpdate(ctx, "debian-tracker", "", genRecords("debian-tracker", 50_000, 1)); err != nil {
		b.Fatal(err)
	}
	if _, err := s.PutUpdate(ctx, "osv-debian", "", genRecords("osv-debian", 2_000, 0)); err != nil {
		b.Fatal(err)
	}
	// 150 names, as a report on a Debian image asks: one in three has
	// records.
	names := make([]string, 150)
	for i := range names {
		if i%3 == 0 {
			names[i] = fmt.Sprintf("pkg%05d", i*80)
		} else {
			names[i] = fmt.Sprintf("lib%d-unaffected", i)
		}
	}
	rs, err := s.Records(ctx, "Debian:12", names)
	if err != nil {
		b.Fatal(err)
	}
	if len(rs) == 0 {
		b.Fatal("no records")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Records(ctx, "Debian:12", names); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rs)), "records/op")
}
