package notifier_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/debian"
	"github.com/lapps/lapps/vuln"
)

// benchManifests is how many manifests BenchmarkAffected indexes:
// 10,000, or LAPPS_BENCH_MANIFESTS.
func benchManifests() int {
	if n, err := strconv.Atoi(os.Getenv("LAPPS_BENCH_MANIFESTS")); err == nil && n > 0 {
		return n
	}
	return 10000
}

// olderDSAs is how many of the newest DSAs the first version of the
// Debian DSA list lacks: the second version, the real list, adds them
// in one update operation.
const olderDSAs = 400

// BenchmarkAffected measures Affected for a large update operation (the
// 397 DSAs of the real Debian DSA list before its newest 3, added at
// once: "many") and a small one (the newest 3: "few") over 10,000
// indexed Debian 11 manifests generated from the real indexes of the
// Debian test images (bookworm min, mid, fat and bullseye min, their
// packages thinned and a third of their versions made older), against
// re-matching every manifest in full with matcher.Match on the same data,
// and against Affected on a store without package rows (the code before
// migration 0013), and reports the ratios. Run it with -benchtime=1x: the setup takes a
// while.
func BenchmarkAffected(b *testing.B) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "lapps.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()

	// The real indexes of the Debian images.
	bases := realIndexes(b, st, "debian/oci:debian-bookworm-min", "debian/oci:debian-bookworm-mid", "debian/oci:debian-bookworm-fat",
		"debian-bullseye/oci:debian-bullseye-min")

	// The DSA list as it was olderDSAs advisories ago, then fewDSAs ago,
	// then as it is: the first operation after the first adds many
	// advisories at once, the second only a few.
	full, err := os.ReadFile(testenv.VulnData(b, "debian-security-tracker", "data", "DSA", "list"))
	if err != nil {
		b.Fatal(err)
	}
	feed := filepath.Join(b.TempDir(), "DSA")
	if err := os.MkdirAll(feed, 0o755); err != nil {
		b.Fatal(err)
	}
	src := updater.Source{Name: "debian-dsa", Type: "debian-dsa", Path: feed}
	var ops []int64
	for _, data := range []string{dropNewest(b, string(full), olderDSAs), dropNewest(b, string(full), fewDSAs), string(full)} {
		if err := os.WriteFile(filepath.Join(feed, "list"), []byte(data), 0o644); err != nil {
			b.Fatal(err)
		}
		run, err := updater.Run(ctx, st, src)
		if err != nil || run.Operation == 0 {
			b.Fatalf("ingest: %+v, %v", run, err)
		}
		ops = append(ops, run.Operation)
	}

	// 10,000 manifests of Debian 11.
	started := time.Now()
	rng := rand.New(rand.NewPCG(1, 2))
	nManifests := benchManifests()
	digests := make([]string, nManifests)
	for i := range nManifests {
		idx := generate(bases[rng.IntN(len(bases))], i, rng)
		if err := st.PutManifest(ctx, idx); err != nil {
			b.Fatal(err)
		}
		if _, err := st.CreateScan(ctx, &store.Scan{Image: fmt.Sprintf("registry.example/team%d/app%d:1", i%50, i),
			ManifestDigest: idx.ManifestDigest, Packages: len(idx.Packages), Counts: store.SeverityCounts{}}); err != nil {
			b.Fatal(err)
		}
		digests[i] = idx.ManifestDigest
	}
	b.Logf("setup: %d manifests stored in %s", nManifests, time.Since(started).Round(time.Millisecond))

	// Warm the page cache for every contender alike: read every manifest
	// once.
	for _, d := range digests {
		if _, err := st.Manifest(ctx, d); err != nil {
			b.Fatal(err)
		}
	}

	for _, tc := range []struct {
		name     string
		from, to int64
	}{
		{"many", ops[0], ops[1]}, // olderDSAs-fewDSAs advisories: nearly every manifest affected
		{"few", ops[1], ops[2]},  // fewDSAs advisories: a few packages
	} {
		b.Run(tc.name, func(b *testing.B) {
			diff, err := st.DiffUpdates(ctx, tc.from, tc.to)
			if err != nil {
				b.Fatal(err)
			}
			var affectedTime, rowlessTime, fullTime time.Duration
			var changes, manifests, rowlessChanges, fullFindings int
			for b.Loop() {
				t0 := time.Now()
				cs, err := notifier.Affected(ctx, st, tc.from, tc.to)
				if err != nil {
					b.Fatal(err)
				}
				affectedTime += time.Since(t0)
				changes = len(cs)
				seen := map[string]bool{}
				for _, c := range cs {
					seen[c.ManifestDigest] = true
				}
				manifests = len(seen)

				// Today's code: the inverted index of names, and every
				// candidate's index decoded (a store without package rows).
				t0 = time.Now()
				old, err := notifier.Affected(ctx, rowless{st}, tc.from, tc.to)
				if err != nil {
					b.Fatal(err)
				}
				rowlessTime += time.Since(t0)
				rowlessChanges = len(old)

				t0 = time.Now()
				fullFindings = 0
				for _, d := range digests {
					idx, err := st.Manifest(ctx, d)
					if err != nil {
						b.Fatal(err)
					}
					fs, _, err := matcher.Match(ctx, st, idx)
					if err != nil {
						b.Fatal(err)
					}
					fullFindings += len(fs)
				}
				fullTime += time.Since(t0)
			}
			if rowlessChanges != changes {
				b.Errorf("Affected found %d changes, the code without package rows %d", changes, rowlessChanges)
			}
			n := time.Duration(b.N)
			b.ReportMetric(float64(affectedTime/n)/1e6, "affected-ms")
			b.ReportMetric(float64(rowlessTime/n)/1e6, "before-ms")
			b.ReportMetric(float64(fullTime/n)/1e6, "full-rematch-ms")
			b.ReportMetric(float64(fullTime)/float64(affectedTime), "speedup")
			b.ReportMetric(float64(rowlessTime)/float64(affectedTime), "vs-before")
			b.ReportMetric(float64(changes), "changes")
			b.Logf("%d records added, %d removed, %d changed; Affected: %s, %d changes in %d manifests; without package rows (today's code): %s; full re-match of %d manifests: %s, %d findings; %.1f× faster than a full re-match, %.1f× faster than before",
				len(diff.Added), len(diff.Removed), len(diff.Changed), affectedTime/n, changes, manifests, rowlessTime/n,
				nManifests, fullTime/n, fullFindings, float64(fullTime)/float64(affectedTime), float64(rowlessTime)/float64(affectedTime))
		})
	}
}

// fewDSAs is how many of the newest DSAs the second version of the list
// lacks: the update to the real list touches a few packages.
const fewDSAs = 3

// rowless hides the store's package rows (store.PackageRows), so that
// Affected runs as it did before them: ManifestsWithPackages, then every
// candidate's index decoded.
type rowless struct{ store.Store }

// dropNewest returns the DSA list without its newest n advisories (the
// list is newest first; an advisory starts with a "[date]" line).
func dropNewest(tb testing.TB, list string, n int) string {
	lines := strings.SplitAfter(list, "\n")
	seen := 0
	for i, l := range lines {
		if strings.HasPrefix(l, "[") {
			if seen == n {
				return strings.Join(lines[i:], "")
			}
			seen++
		}
	}
	tb.Fatalf("the DSA list has fewer than %d advisories", n)
	return ""
}

// generate returns a variant of a real index as a Debian 11 image: about
// one package in ten dropped, and a third of the rest made older than
// installed (their upstream version prefixed with "0~", which dpkg sorts
// before any release), so that the advisories apply to them.
func generate(base *model.ImageIndex, i int, rng *rand.Rand) *model.ImageIndex {
	sum := sha256.Sum256(fmt.Appendf(nil, "lapps-bench-%d", i))
	idx := &model.ImageIndex{
		ManifestDigest: "sha256:" + hex.EncodeToString(sum[:]),
		IndexerVersion: base.IndexerVersion,
		Distribution:   &vuln.Distribution{ID: "debian", VersionID: "11", VersionCodename: "bullseye", Name: "Debian GNU/Linux"},
		Layers:         base.Layers,
	}
	for _, p := range base.Packages {
		if rng.IntN(10) == 0 {
			continue
		}
		if rng.IntN(3) == 0 {
			p.Version = older(p.Version)
			if p.SourceVersion != "" {
				p.SourceVersion = older(p.SourceVersion)
			}
		}
		idx.Packages = append(idx.Packages, p)
	}
	return idx
}

// older returns a dpkg version sorting before v.
func older(v string) string {
	if epoch, rest, ok := strings.Cut(v, ":"); ok {
		return epoch + ":0~" + rest
	}
	return "0~" + v
}

// realIndexes scans the test images refs ("dir/oci:tag" under the test
// images) into st and returns their indexes as st stored them: the real
// package sets the affected tests and measurements generate manifests
// from.
func realIndexes(tb testing.TB, st store.Store, refs ...string) []*model.ImageIndex {
	tb.Helper()
	images := testenv.Images(tb)
	ctx := context.Background()
	svc := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources(nil))
	for _, ref := range refs {
		dir, tag, _ := strings.Cut(ref, ":")
		if _, err := svc.ScanImage(ctx, service.ScanRequest{Image: "oci:" + filepath.Join(images, dir) + ":" + tag}); err != nil {
			tb.Fatal(err)
		}
	}
	scans, err := st.LatestScans(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	var out []*model.ImageIndex
	for _, sc := range scans {
		idx, err := st.Manifest(ctx, sc.ManifestDigest)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, idx)
	}
	return out
}
