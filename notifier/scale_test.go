package notifier_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/matcher"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/postgres"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// TestMeasureScale measures, on PostgreSQL, what grows with the number of
// indexed manifests: the p50 of a report's store work (a manifest's
// index loaded and matched, matcher.Match over the store), Affected for
// an update of a few packages (the newest fewDSAs DSAs) and for one that
// affects nearly every manifest (the olderDSAs before them, the worst
// case), and a GC batch (PruneManifests of 100 manifests), at a small
// size (1,000 manifests) and at LAPPS_SCALE_MANIFESTS manifests generated
// from the real package sets of the Debian test images (as
// BenchmarkAffected generates them, each from a generator seeded by its
// number; about 100 to 400 packages each). The manifests are loaded with
// postgres.BulkPutManifests (COPY of the rows PutManifest writes), in
// digest order, a batch at a time, then the tables analyzed. It is not a
// test of the default run: set LAPPS_SCALE_MANIFESTS (100000 for the
// 10 million package rows of issue 17) and LAPPS_TEST_POSTGRES_DSN; the
// worst case is measured up to LAPPS_SCALE_WORST manifests (default
// 200,000: its changes are held in memory, about a dozen a manifest).
// Figures are logged (docs/scale.md), with the machine's load.
func TestMeasureScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LAPPS_SCALE_MANIFESTS"))
	if n <= 0 {
		t.Skip("LAPPS_SCALE_MANIFESTS is not set: a measurement, not a test of the default run")
	}
	worstUpTo := 200000
	if w, err := strconv.Atoi(os.Getenv("LAPPS_SCALE_WORST")); err == nil {
		worstUpTo = w
	}
	ctx := context.Background()
	local, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	bases := realIndexes(t, local, "debian/oci:debian-bookworm-min", "debian/oci:debian-bookworm-mid", "debian/oci:debian-bookworm-fat",
		"debian-bullseye/oci:debian-bullseye-min")

	// LAPPS_SCALE_DSN: a database of the caller's, kept after the test, so
	// that a database loaded once is measured again (by code changed
	// since) without loading it again.
	dsn := os.Getenv("LAPPS_SCALE_DSN")
	if dsn == "" {
		dsn = testenv.PostgresDSN(t)
	}
	st, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	full, err := os.ReadFile(testenv.VulnData(t, "debian-security-tracker", "data", "DSA", "list"))
	if err != nil {
		t.Fatal(err)
	}
	feed := filepath.Join(t.TempDir(), "DSA")
	if err := os.MkdirAll(feed, 0o755); err != nil {
		t.Fatal(err)
	}
	var ops []int64
	for _, data := range []string{dropNewest(t, string(full), olderDSAs), dropNewest(t, string(full), fewDSAs), string(full)} {
		if err := os.WriteFile(filepath.Join(feed, "list"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		run, err := updater.Run(ctx, st, updater.Source{Name: "debian-dsa", Type: "debian-dsa", Path: feed})
		if err != nil || run.Operation == 0 {
			t.Fatalf("ingest: %+v, %v", run, err)
		}
		ops = append(ops, run.Operation)
	}

	var digests []string
	stored, rows := 0, 0
	grow := func(to int) {
		started := time.Now()
		// In digest order, so that the primary keys grow at their right
		// edge: the load, not the measurement, is what this spares.
		todo := make([]int, 0, to-stored)
		for i := stored; i < to; i++ {
			todo = append(todo, i)
		}
		slices.SortFunc(todo, func(a, b int) int { return strings.Compare(scaleDigest(a), scaleDigest(b)) })
		for len(todo) > 0 {
			batch := todo[:min(500, len(todo))]
			todo = todo[len(batch):]
			idxs := make([]*model.ImageIndex, len(batch))
			for k, i := range batch {
				idxs[k] = generateAt(bases, i)
				rows += len(idxs[k].Packages)
				digests = append(digests, idxs[k].ManifestDigest)
			}
			if err := st.BulkPutManifests(ctx, idxs); err != nil {
				t.Fatal(err)
			}
		}
		stored = to
		if _, err := conn.Exec(ctx, `ANALYZE`); err != nil {
			t.Fatal(err)
		}
		var size string
		if err := conn.QueryRow(ctx, `SELECT pg_size_pretty(pg_database_size(current_database()))`).Scan(&size); err != nil {
			t.Fatal(err)
		}
		t.Logf("grown to %d manifests, %d package rows, in %s; database %s", to, rows, time.Since(started).Round(time.Second), size)
	}
	p50 := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	rng := rand.New(rand.NewPCG(3, 4))
	measure := func() {
		var report []time.Duration
		for range 200 {
			d := digests[rng.IntN(len(digests))]
			t0 := time.Now()
			idx, err := st.Manifest(ctx, d)
			if errors.Is(err, store.ErrNotFound) {
				continue // removed by a GC batch
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := matcher.Match(ctx, st, idx); err != nil {
				t.Fatal(err)
			}
			report = append(report, time.Since(t0))
		}
		affected := func(from, to int64, times int) (time.Duration, int, int) {
			var ds []time.Duration
			changes, manifests := 0, 0
			for range times {
				t0 := time.Now()
				cs, err := notifier.Affected(ctx, st, from, to)
				if err != nil {
					t.Fatal(err)
				}
				ds = append(ds, time.Since(t0))
				changes = len(cs)
				seen := map[string]bool{}
				for _, c := range cs {
					seen[c.ManifestDigest] = true
				}
				manifests = len(seen)
			}
			return p50(ds), changes, manifests
		}
		fewTime, few, fewManifests := affected(ops[1], ops[2], 5)
		worst := "not measured (LAPPS_SCALE_WORST)"
		if len(digests) <= worstUpTo {
			d, c, m := affected(ops[0], ops[1], 3)
			worst = fmt.Sprintf("p50 %s (%d changes in %d manifests)", d.Round(time.Millisecond), c, m)
		}
		// GC: one PruneManifests batch of 100, three times; it takes the
		// manifests last seen first, the oldest loaded.
		var gc []time.Duration
		for range 3 {
			t0 := time.Now()
			k, err := st.PruneManifests(ctx, time.Now().Add(time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			gc = append(gc, time.Since(t0))
			if k != 100 {
				t.Errorf("PruneManifests removed %d manifests, want 100", k)
			}
		}
		load, _ := os.ReadFile("/proc/loadavg")
		t.Logf("%d manifests, %d package rows: report store work p50 %s; Affected few packages p50 %s (%d changes in %d manifests); Affected worst case %s; GC batch of 100 p50 %s; load average %s",
			len(digests), rows, p50(report), fewTime.Round(100*time.Microsecond), few, fewManifests, worst, p50(gc).Round(time.Millisecond), strings.TrimSpace(string(load)))
	}
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM manifests`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored > 0 {
		// Loaded by an earlier run (LAPPS_SCALE_DSN): measured as it is.
		r, err := conn.Query(ctx, `SELECT digest FROM manifests`)
		if err != nil {
			t.Fatal(err)
		}
		if digests, err = pgx.CollectRows(r, pgx.RowTo[string]); err != nil {
			t.Fatal(err)
		}
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM manifest_package_rows`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		t.Logf("measuring the %d manifests stored before", stored)
		measure()
		return
	}
	small := min(1000, n)
	grow(small)
	measure()
	if n > small {
		grow(n)
		measure()
	}
}

// scaleDigest is the digest of generated manifest i (as generate names
// it).
func scaleDigest(i int) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "lapps-bench-%d", i))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// generateAt returns generated manifest i: generate over one of bases,
// from a generator seeded by i, so that any manifest is made without
// the ones before it.
func generateAt(bases []*model.ImageIndex, i int) *model.ImageIndex {
	rng := rand.New(rand.NewPCG(1, uint64(i)))
	return generate(bases[rng.IntN(len(bases))], i, rng)
}
