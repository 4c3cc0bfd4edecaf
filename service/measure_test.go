package service

import (
	"context"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/matcher"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/postgres"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// resetPeakRSS resets the process's peak resident set size (VmHWM).
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM in bytes.
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n << 10
		}
	}
	return 0
}

// sharedSources are the distribution sources of the shared data, as local
// paths (the import path: the HTTP path is exercised by the end-to-end test).
// With -short (the CI smoke run of the benchmarks) only the small ones.
func sharedSources(tb testing.TB) []updater.Source {
	all := allSharedSources(tb)
	if !testing.Short() {
		return all
	}
	var small []updater.Source
	for _, s := range all {
		if s.Name == "debian-dsa" || s.Name == "debian-tracker" || s.Name == "osv-ubuntu" || s.Name == "osv-rocky" || s.Name == "ghsa" {
			small = append(small, s)
		}
	}
	return small
}

func allSharedSources(tb testing.TB) []updater.Source {
	v := testenv.VulnData(tb)
	samples := filepath.Join(v, "vunnel-format-samples", "tests", "unit", "providers")
	return []updater.Source{
		{Name: "debian-dsa", Type: "debian-dsa", Path: filepath.Join(v, "debian-security-tracker", "data")},
		{Name: "debian-tracker", Type: "debian-tracker", Path: filepath.Join(samples, "debian", "test-fixtures", "input", "debian.json")},
		{Name: "alpine-secdb", Type: "alpine-secdb", Path: filepath.Join(v, "alpine-secdb")},
		{Name: "ubuntu-uct", Type: "ubuntu-uct", Path: filepath.Join(v, "ubuntu-cve-tracker", "active")},
		{Name: "osv-ubuntu", Type: "osv", Path: filepath.Join(samples, "ubuntu", "test-fixtures", "osv")},
		{Name: "osv-almalinux", Type: "osv", Path: filepath.Join(v, "almalinux-osv-database", "advisories")},
		{Name: "osv-rocky", Type: "osv", Path: filepath.Join(samples, "rocky")},
		{Name: "go-vulndb", Type: "osv", Path: filepath.Join(v, "golang-vulndb", "data", "osv")},
		{Name: "pypa", Type: "osv", Path: filepath.Join(v, "pypa-advisory-database", "vulns")},
		{Name: "ghsa", Type: "osv", Path: filepath.Join(v, "github-advisory-database", "advisories")},
		{Name: "rustsec", Type: "rustsec", Path: filepath.Join(v, "rustsec-advisory-db", "crates")},
	}
}

// BenchmarkIngestSharedData ingests every source of ../shared/vulndata into
// a new database and reports the time, the peak resident memory and the
// database size.
func BenchmarkIngestSharedData(b *testing.B) {
	srcs := sharedSources(b)
	var records int
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		l, _ := newBenchLocal(b)
		l.sources = srcs
		resetPeakRSS()
		b.StartTimer()
		res, err := l.UpdateVulnDB(context.Background(), nil)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		records = 0
		for _, r := range res {
			if r.Error != "" {
				b.Fatalf("%s: %s", r.Source, r.Error)
			}
			records += r.Records
		}
		b.ReportMetric(float64(peakRSS())/(1<<20), "peak-rss-MiB")
		path := l.st.(interface{ Path() string }).Path()
		l.Close()
		var size int64
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if fi, err := os.Stat(path + suffix); err == nil {
				size += fi.Size()
			}
		}
		b.ReportMetric(float64(size)/(1<<20), "db-MiB")
	}
	b.ReportMetric(float64(records), "records")
}

// BenchmarkReportLatency measures reports of the Debian mid and the
// AlmaLinux images with all the shared data loaded: the median and 99th
// percentile of `report` (the stored index matched against current data)
// over many requests, against computing the same report by reading the
// image again, in the same run.
func BenchmarkReportLatency(b *testing.B) {
	images := testenv.Images(b)
	l, _ := newBenchLocal(b)
	l.sources = sharedSources(b)
	ctx := context.Background()
	if _, err := l.UpdateVulnDB(ctx, nil); err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct{ name, ref, platform string }{
		{"debian-mid", "oci:" + filepath.Join(images, "debian", "oci") + ":debian-bookworm-mid", ""},
		{"almalinux", "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3", "linux/arm64"},
	} {
		b.Run(c.name, func(b *testing.B) {
			if _, err := l.ScanImage(ctx, ScanRequest{Image: c.ref, Platform: c.platform}); err != nil {
				b.Fatal(err)
			}
			n := 300
			if testing.Short() {
				n = 20
			}
			lat := make([]time.Duration, 0, n*b.N)
			var reread time.Duration
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := 0; j < n; j++ {
					start := time.Now()
					r, err := l.Report(ctx, c.ref, 0)
					if err != nil {
						b.Fatal(err)
					}
					lat = append(lat, time.Since(start))
					if len(r.Packages) == 0 {
						b.Fatal("empty report")
					}
				}
				start := time.Now()
				if err := rereadReport(ctx, l, c.ref, c.platform); err != nil {
					b.Fatal(err)
				}
				reread += time.Since(start)
			}
			sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
			p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
			b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms")
			b.ReportMetric(reread.Seconds()*1000/float64(b.N), "reread-ms")
			b.ReportMetric(reread.Seconds()/float64(b.N)/p50.Seconds(), "reread/p50")
		})
	}
}

// rereadReport computes a report the way a scanner without a stored
// index does: read and index every layer, fold, match.
func rereadReport(ctx context.Context, l *Local, ref, platform string) error {
	img, err := image.Open(ctx, ref, image.WithPlatform(platform))
	if err != nil {
		return err
	}
	defer img.Close()
	var infos []model.LayerInfo
	var idxs []*model.LayerIndex
	for _, ly := range img.Layers() {
		rc, err := ly.Open(ctx)
		if err != nil {
			return err
		}
		li, err := l.ix.IndexLayer(ctx, ly.DiffID(), rc)
		rc.Close()
		if err != nil {
			return err
		}
		infos = append(infos, model.LayerInfo{Digest: ly.Digest(), DiffID: ly.DiffID()})
		idxs = append(idxs, li)
	}
	idx, err := indexer.Fold(img.ManifestDigest(), infos, idxs)
	if err != nil {
		return err
	}
	_, _, err = matcher.Match(ctx, l.st, idx)
	return err
}

// BenchmarkIngestPeak ingests each shared source on its own into a new
// SQLite database and a new PostgreSQL schema (LAPPS_TEST_POSTGRES_DSN;
// SQLite only without it outside CI), the CIQ CSAF archive included, and
// reports each one's time and peak resident memory (VmHWM, reset before
// each, after the heap of the one before was returned to the system):
// one sub-benchmark per engine and source (peak-rss-MiB, s). With -short
// (the CI smoke run) only the small sources.
//
//	go test ./service -run '^$' -bench IngestPeak -benchtime 1x
func BenchmarkIngestPeak(b *testing.B) {
	srcs := sharedSources(b)
	if !testing.Short() {
		srcs = append(srcs, updater.Source{Name: "csaf-ciq", Type: "csaf",
			Path: testenv.VulnData(b, "ctrliq-advisories", "ctrliq-advisories-csaf-full.tar.zst")})
	}
	ctx := context.Background()
	engines := []string{"sqlite"}
	if os.Getenv("LAPPS_TEST_POSTGRES_DSN") != "" || testenv.CI() {
		engines = append(engines, "postgres")
	}
	for _, engine := range engines {
		for _, src := range srcs {
			b.Run(engine+"/"+src.Name, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					var st store.Store
					var err error
					if engine == "sqlite" {
						st, err = sqlite.Open(ctx, filepath.Join(b.TempDir(), "lapps.db"))
					} else {
						st, err = postgres.Open(ctx, testenv.PostgresDSN(b))
					}
					if err != nil {
						b.Fatal(err)
					}
					l := NewLocal(st, indexer.New(all.Catalogers()), WithSources([]updater.Source{src}))
					runtime.GC()
					debug.FreeOSMemory()
					resetPeakRSS()
					start := time.Now()
					res, err := l.UpdateVulnDB(ctx, nil)
					took := time.Since(start)
					peak := peakRSS()
					l.Close()
					if err != nil {
						b.Fatal(err)
					}
					if len(res) != 1 || res[0].Error != "" {
						b.Fatalf("%s: %+v", src.Name, res)
					}
					b.ReportMetric(float64(peak)/(1<<20), "peak-rss-MiB")
					b.ReportMetric(took.Seconds(), "s")
				}
			})
		}
	}
}
