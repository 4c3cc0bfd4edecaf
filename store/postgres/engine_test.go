package postgres

import (
	"context"
	"fmt"
	"github.com/lapps/lapps/testenv"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// TestPutUpdateRollback fails an update half-way through its inserts and
// checks that nothing of it stays.
func TestPutUpdateRollback(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	defer s.Close()
	first := genRecords("debian-tracker", 500, 0)
	if _, err := s.PutUpdate(ctx, "debian-tracker", "fp1", first); err != nil {
		t.Fatal(err)
	}
	before := counts(t, s)
	// A trigger that fails the insert of links once the newest operation
	// has 8000: in the second batch of the update.
	if _, err := s.pool.Exec(ctx, `CREATE FUNCTION fail_late() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF (SELECT COUNT(*) FROM uo_records WHERE op = (SELECT MAX(op) FROM uo_records)) >= 8000 THEN
				RAISE EXCEPTION 'injected failure';
			END IF;
			RETURN NULL;
		END $$`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `CREATE TRIGGER fail_late AFTER INSERT ON uo_records FOR EACH STATEMENT EXECUTE FUNCTION fail_late()`); err != nil {
		t.Fatal(err)
	}
	second := genRecords("debian-tracker", 12000, 1)
	if _, err := s.PutUpdate(ctx, "debian-tracker", "fp2", second); err == nil || !strings.Contains(err.Error(), "injected failure") {
		t.Fatalf("PutUpdate with a failing insert: err = %v", err)
	}
	if after := counts(t, s); after != before {
		t.Errorf("rows after a failed update %v, before %v", after, before)
	}
	if _, err := s.pool.Exec(ctx, `DROP TRIGGER fail_late ON uo_records`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PutUpdate(ctx, "debian-tracker", "fp2", second); err != nil {
		t.Fatal(err)
	}
	if c := counts(t, s); c != [3]int{2, 500 + 12000, 500 + 12000} {
		t.Errorf("operations, records, links = %v, want [2 12500 12500]", c)
	}
}

// TestPruneRemovesOrphans checks that pruning deletes the records no
// operation refers to and keeps shared ones.
func TestPruneRemovesOrphans(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
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
	// Keeping none removes every record of the source.
	if n, err := s.PruneUpdates(ctx, "debian-tracker", 0); err != nil || n != 1 {
		t.Fatalf("PruneUpdates(keep 0) = %d, %v", n, err)
	}
	if c := counts(t, s); c != [3]int{1, 50, 50} {
		t.Errorf("after prune: operations, records, links = %v, want [1 50 50]", c)
	}
}

// counts returns the number of operations, records and links.
func counts(t *testing.T, s *Store) (c [3]int) {
	t.Helper()
	for i, table := range []string{"update_operations", "records", "uo_records"} {
		if err := s.pool.QueryRow(context.Background(), `SELECT COUNT(*) FROM `+table).Scan(&c[i]); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

// TestReplicas runs two stores on one database, as two replicas: updates,
// prunes and reads of a source at once never show half an update or lose
// a record, scans of one image are numbered without gaps or repeats
// across both, and no notification is claimed by both.
func TestReplicas(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresDSN(t)
	var replicas [2]*Store
	for i := range replicas {
		s, err := Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		replicas[i] = s
	}
	names := make([]string, 50)
	for i := range names {
		names[i] = fmt.Sprintf("pkg%05d", i)
	}
	const gens = 8
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		idxs []int
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	done := make(chan struct{})
	// Each replica stores updates of one source and prunes it, the
	// generations alternating between them.
	wg.Go(func() {
		defer close(done)
		for gen := range gens {
			s := replicas[gen%2]
			if _, err := s.PutUpdate(ctx, "debian-tracker", "", genRecords("debian-tracker", 2000, gen)); err != nil {
				fail(err)
				return
			}
			if _, err := replicas[(gen+1)%2].PruneUpdates(ctx, "debian-tracker", 1); err != nil {
				fail(err)
				return
			}
		}
	})
	for r := range 4 {
		s := replicas[r%2]
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
				}
				rs, err := s.Records(ctx, "Debian:12", names)
				if err != nil {
					fail(err)
					return
				}
				// One generation only, and all of it (4 per name) once
				// the first update is in.
				for _, rec := range rs {
					if rec.Modified != rs[0].Modified {
						fail(fmt.Errorf("records of two operations at once: %v and %v", rec.Modified, rs[0].Modified))
						return
					}
				}
				if len(rs) != 0 && len(rs) != 4*len(names) {
					fail(fmt.Errorf("Records: %d records, want %d", len(rs), 4*len(names)))
					return
				}
				idx, err := s.CreateScan(ctx, &store.Scan{Image: "registry.example/app:1", ManifestDigest: "sha256:1"})
				if err != nil {
					fail(err)
					return
				}
				mu.Lock()
				idxs = append(idxs, idx)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	slices.Sort(idxs)
	for i, v := range idxs {
		if v != i+1 {
			t.Fatalf("scan indexes from two replicas: %v…, want 1…%d", idxs[:i+1], len(idxs))
		}
	}
	rs, err := replicas[0].Records(ctx, "Debian:12", names)
	if err != nil || len(rs) != 4*len(names) || !rs[0].Modified.Equal(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, gens-1)) {
		t.Errorf("final Records: %d records, %v; want %d of the last generation", len(rs), err, 4*len(names))
	}
	if c := counts(t, replicas[1]); c != [3]int{1, 2000, 2000} {
		t.Errorf("after updates and prunes: operations, records, links = %v, want [1 2000 2000]", c)
	}

	// Claims: every notification is claimed by exactly one of many
	// claimers on both replicas.
	const total = 300
	ns := make([]store.Notification, total)
	base := time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC)
	for i := range ns {
		ns[i] = store.Notification{ID: fmt.Sprintf("n-%04d", i), Webhook: "ops", Kind: store.KindVulnerability,
			Payload: []byte(`{}`), CreatedAt: base.Add(time.Duration(i) * time.Second)}
	}
	if err := replicas[0].EnqueueNotifications(ctx, "debian-tracker", 7, ns); err != nil {
		t.Fatal(err)
	}
	claimed := map[string]int{}
	at := base.Add(time.Hour)
	for c := range 8 {
		s := replicas[c%2]
		wg.Go(func() {
			for {
				got, err := s.ClaimNotifications(ctx, at, time.Hour, 7)
				if err != nil {
					fail(err)
					return
				}
				if len(got) == 0 {
					return
				}
				mu.Lock()
				for _, n := range got {
					claimed[n.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if len(claimed) != total {
		t.Errorf("%d notifications claimed, want %d", len(claimed), total)
	}
	for id, n := range claimed {
		if n != 1 {
			t.Errorf("notification %s claimed %d times", id, n)
		}
	}
}

// TestMalformedText stores names holding NUL bytes and invalid UTF-8,
// which PostgreSQL's text refuses and SQLite's accepts: they are stored,
// and found again by the same names.
func TestMalformedText(t *testing.T) {
	ctx := context.Background()
	s := openFresh(t)
	defer s.Close()
	const digest = "sha256:4444444444444444444444444444444444444444444444444444444444444444"
	odd := []string{"lib\x00nul", "caf\xe9", "\xff\xfe"}
	m := &model.ImageIndex{ManifestDigest: digest, IndexerVersion: indexer.Version}
	for _, n := range odd {
		m.Packages = append(m.Packages, vuln.Package{Kind: vuln.KindDeb, Name: n, Version: "1.0"})
	}
	if err := s.PutManifest(ctx, m); err != nil {
		t.Fatal(err)
	}
	for _, n := range odd {
		got, err := s.ManifestsWithPackages(ctx, vuln.KindDeb, []string{n})
		if err != nil || !slices.Equal(got, []string{digest}) {
			t.Errorf("ManifestsWithPackages(%q) = %q, %v", n, got, err)
		}
	}
	var rs []vuln.Record
	for i, n := range odd {
		rs = append(rs, vuln.Record{ID: fmt.Sprintf("CVE-2024-%04d", i), Ecosystem: "Debian:12", Package: n, Status: vuln.StatusFixed})
	}
	if _, err := s.PutUpdate(ctx, "debian-tracker", "fp\x00", rs); err != nil {
		t.Fatal(err)
	}
	for i, n := range odd {
		got, err := s.Records(ctx, "Debian:12", []string{n})
		if err != nil || len(got) != 1 || got[0].ID != rs[i].ID {
			t.Errorf("Records(%q) = %+v, %v", n, got, err)
		}
	}
	image := "dir:/srv/rootfs-\xff"
	if _, err := s.CreateScan(ctx, &store.Scan{Image: image, ManifestDigest: digest}); err != nil {
		t.Fatal(err)
	}
	if sc, err := s.GetScan(ctx, image, 0); err != nil || sc.Image != image || sc.Index != 1 {
		t.Errorf("GetScan(%q) = %+v, %v", image, sc, err)
	}
}

// genRecords makes n Debian-like records spread over n/4 package names
// (pkg00000…), as the Debian tracker has several advisories per source
// package; gen varies their content. (The SQLite engine's tests and
// benchmarks use the same.)
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
