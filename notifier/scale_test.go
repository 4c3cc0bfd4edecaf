package notifier_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/matcher"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/postgres"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// TestMeasureScale measures, on PostgreSQL, what grows with the number of
// indexed manifests: the p50 of a report's store work (a manifest's
// index loaded and matched, matcher.Match over the store), Affected for
// an update of a few packages, and a GC batch (PruneManifests of 100
// manifests), at a small size (1,000 manifests) and at
// LAPPS_SCALE_MANIFESTS manifests generated from the real package sets
// of the Debian test images (as BenchmarkAffected generates them; about
// 100 to 400 packages each). It is not a test of the default run: set
// LAPPS_SCALE_MANIFESTS (100000 for the 10 million package rows of issue
// 17) and LAPPS_TEST_POSTGRES_DSN. Figures are logged (docs/scale.md).
func TestMeasureScale(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("LAPPS_SCALE_MANIFESTS"))
	if n <= 0 {
		t.Skip("LAPPS_SCALE_MANIFESTS is not set: a measurement, not a test of the default run")
	}
	images := testenv.Images(t)
	ctx := context.Background()
	local, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	svc := service.NewLocal(local, indexer.New(all.Catalogers()), service.WithSources(nil))
	var bases []*model.ImageIndex
	for _, ref := range []string{
		"debian/oci:debian-bookworm-min", "debian/oci:debian-bookworm-mid", "debian/oci:debian-bookworm-fat",
		"debian-bullseye/oci:debian-bullseye-min",
	} {
		dir, tag, _ := strings.Cut(ref, ":")
		res, err := svc.ScanImage(ctx, service.ScanRequest{Image: "oci:" + filepath.Join(images, dir) + ":" + tag})
		if err != nil {
			t.Fatal(err)
		}
		_ = res
	}
	scans, err := local.LatestScans(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, sc := range scans {
		idx, err := local.Manifest(ctx, sc.ManifestDigest)
		if err != nil {
			t.Fatal(err)
		}
		bases = append(bases, idx)
	}

	st, err := postgres.Open(ctx, testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	full, err := os.ReadFile(testenv.VulnData(t, "debian-security-tracker", "data", "DSA", "list"))
	if err != nil {
		t.Fatal(err)
	}
	feed := filepath.Join(t.TempDir(), "DSA")
	if err := os.MkdirAll(feed, 0o755); err != nil {
		t.Fatal(err)
	}
	var ops []int64
	for _, data := range []string{dropNewest(t, string(full), fewDSAs), string(full)} {
		if err := os.WriteFile(filepath.Join(feed, "list"), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		run, err := updater.Run(ctx, st, updater.Source{Name: "debian-dsa", Type: "debian-dsa", Path: feed})
		if err != nil || run.Operation == 0 {
			t.Fatalf("ingest: %+v, %v", run, err)
		}
		ops = append(ops, run.Operation)
	}

	rng := rand.New(rand.NewPCG(1, 2))
	var digests []string
	rows := 0
	grow := func(to int) {
		started := time.Now()
		for i := len(digests); i < to; i++ {
			idx := generate(bases[rng.IntN(len(bases))], i, rng)
			if err := st.PutManifest(ctx, idx); err != nil {
				t.Fatal(err)
			}
			rows += len(idx.Packages)
			digests = append(digests, idx.ManifestDigest)
		}
		t.Logf("grown to %d manifests, %d package rows, in %s", len(digests), rows, time.Since(started).Round(time.Second))
	}
	p50 := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	measure := func() {
		var report []time.Duration
		for range 200 {
			d := digests[rng.IntN(len(digests))]
			t0 := time.Now()
			idx, err := st.Manifest(ctx, d)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := matcher.Match(ctx, st, idx); err != nil {
				t.Fatal(err)
			}
			report = append(report, time.Since(t0))
		}
		var affected []time.Duration
		changes := 0
		for range 5 {
			t0 := time.Now()
			cs, err := notifier.Affected(ctx, st, ops[0], ops[1])
			if err != nil {
				t.Fatal(err)
			}
			affected = append(affected, time.Since(t0))
			changes = len(cs)
		}
		// GC: one PruneManifests batch of 100, three times; it takes the
		// manifests last seen first, the oldest generated.
		var gc []time.Duration
		for range 3 {
			t0 := time.Now()
			k, err := st.PruneManifests(ctx, time.Now().Add(time.Hour), 100)
			if err != nil {
				t.Fatal(err)
			}
			gc = append(gc, time.Since(t0))
			digests = digests[k:]
		}
		t.Logf("%d manifests, %d package rows: report store work p50 %s; Affected (few packages, %d changes) p50 %s; GC batch of 100 p50 %s",
			len(digests), rows, p50(report), changes, p50(affected), p50(gc))
	}
	small := min(1000, n)
	grow(small)
	measure()
	if n > small {
		grow(n)
		measure()
	}
}
