package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/jobs"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/postgres"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// sharedData are the sources of ../shared/vulndata, as local paths.
func sharedData(tb testing.TB) []updater.Source {
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

// pgSize returns the size of the tables of the schema of dsn.
func pgSize(tb testing.TB, dsn string) int64 {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int64
	err = conn.QueryRow(ctx, `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
		JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = current_schema() AND c.relkind = 'r'`).Scan(&n)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

// rps runs 32 clients, 40 report requests each, spread over targets, and
// returns the requests per second and the median and 99th percentile.
func rps(tb testing.TB, targets []string) (float64, time.Duration, time.Duration) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	all, wall, err := callRounds(1, perCaller(40), 0, func(c, j int) error {
		resp, err := client.Get(targets[(c+j)%len(targets)])
		_, err = drained(resp, err, http.StatusOK)
		return err
	})
	if err != nil {
		tb.Fatal(err)
	}
	return float64(len(all)) / wall.Seconds(), all[len(all)/2], all[len(all)*99/100]
}

// BenchmarkEngines measures, with all of ../shared/vulndata loaded, the
// ingest time and database size of SQLite and PostgreSQL, and the report
// requests per second of the Debian mid image with one SQLite server, one
// PostgreSQL server, and two servers (replicas) on one PostgreSQL, all in
// the same run. Servers and clients share this machine's cores. With
// -short (the CI smoke run) only the debian-dsa, debian-tracker and ghsa
// sources are loaded and each client makes 5 requests.
func BenchmarkEngines(b *testing.B) {
	images := testenv.Images(b)
	dsn := testenv.PostgresDSN(b)
	ctx := context.Background()
	ref := "oci:" + filepath.Join(images, "debian", "oci") + ":debian-bookworm-mid"
	dbFile := filepath.Join(b.TempDir(), "lapps.db")
	open := map[string]func() (store.Store, error){
		"sqlite":   func() (store.Store, error) { return sqlite.Open(ctx, dbFile) },
		"postgres": func() (store.Store, error) { return postgres.Open(ctx, dsn) },
	}
	targets := map[string][]string{}
	for i := 0; i < b.N; i++ {
		for _, engine := range []string{"sqlite", "postgres"} {
			st, err := open[engine]()
			if err != nil {
				b.Fatal(err)
			}
			sources := sharedData(b)
			if testing.Short() {
				// The smoke run (-short): the small sources that cover
				// the Debian image.
				sources = slices.DeleteFunc(sources, func(s updater.Source) bool {
					return s.Name != "debian-dsa" && s.Name != "debian-tracker" && s.Name != "ghsa"
				})
			}
			l := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources(sources))
			start := time.Now()
			res, err := l.UpdateVulnDB(ctx, nil)
			if err != nil {
				b.Fatal(err)
			}
			took := time.Since(start)
			records := 0
			for _, r := range res {
				if r.Error != "" {
					b.Fatalf("%s: %s", r.Source, r.Error)
				}
				records += r.Records
			}
			if _, err := l.ScanImage(ctx, service.ScanRequest{Image: ref}); err != nil {
				b.Fatal(err)
			}
			var size int64
			if engine == "sqlite" {
				for _, sfx := range []string{"", "-wal"} {
					if fi, err := os.Stat(dbFile + sfx); err == nil {
						size += fi.Size()
					}
				}
			} else {
				size = pgSize(b, dsn)
			}
			b.ReportMetric(took.Seconds(), engine+"-ingest-s")
			b.ReportMetric(float64(size)/(1<<20), engine+"-db-MiB")
			b.ReportMetric(float64(records), "records")
			l.Close()
		}
		// Servers: one on SQLite, two replicas on the PostgreSQL database.
		serve := func(st store.Store) string {
			l := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources(nil))
			runner := server.StartJobs(b, l, st)
			srv := server.New(l, runner)
			ts := httptest.NewServer(srv.Handler())
			b.Cleanup(func() { ts.Close(); srv.Close(); runner.Close(); l.Close() })
			return ts.URL + "/v1/report?" + url.Values{"image": {ref}}.Encode()
		}
		for _, engine := range []string{"sqlite", "postgres", "postgres"} {
			st, err := open[engine]()
			if err != nil {
				b.Fatal(err)
			}
			targets[engine] = append(targets[engine], serve(st))
		}
		for _, c := range []struct {
			name    string
			targets []string
		}{
			{"sqlite-1", targets["sqlite"]},
			{"postgres-1", targets["postgres"][:1]},
			{"postgres-2", targets["postgres"]},
		} {
			r, p50, p99 := rps(b, c.targets)
			b.ReportMetric(r, c.name+"-req/s")
			b.ReportMetric(float64(p50.Microseconds())/1000, c.name+"-p50-ms")
			b.ReportMetric(float64(p99.Microseconds())/1000, c.name+"-p99-ms")
		}
	}
}

// BenchmarkScanJobs measures how long one and two replicas on one
// PostgreSQL database take to index the eight test images through the
// shared scan-job queue, each replica running one job at a time, in the
// same run: the jobs are posted round-robin to the replicas (as a load
// balancer would) and the clock stops when every job has succeeded. Each
// configuration starts from an empty database, so that every layer is
// read. Replicas and PostgreSQL share this machine's cores. With -short
// (the CI smoke run) only the four small images are scanned.
func BenchmarkScanJobs(b *testing.B) {
	images := testenv.Images(b)
	ctx := context.Background()
	debian, rootfs := "oci:"+filepath.Join(images, "debian", "oci")+":", "oci:"+filepath.Join(images, "rootfs", "oci")+":"
	refs := []string{
		debian + "debian-bookworm-fat", debian + "debian-bookworm-mid", debian + "debian-bookworm-min",
		"oci:" + filepath.Join(images, "debian-bullseye", "oci") + ":debian-bullseye-min",
		rootfs + "almalinux-9.3", rootfs + "alpine-3.20.3", rootfs + "alpine-3.13.12", rootfs + "alpine-3.11.13",
	}
	if testing.Short() {
		// The smoke run (-short): the four small images.
		refs = []string{debian + "debian-bookworm-min", rootfs + "alpine-3.20.3", rootfs + "alpine-3.13.12", rootfs + "alpine-3.11.13"}
	}
	run := func(replicas int) time.Duration {
		dsn := testenv.PostgresDSN(b)
		var urls []string
		for r := range replicas {
			st, err := postgres.Open(ctx, dsn)
			if err != nil {
				b.Fatal(err)
			}
			l := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources(nil))
			runner := server.StartJobs(b, l, st, jobs.WithConcurrency(1), jobs.WithReplica(fmt.Sprintf("replica-%d", r), 10*time.Second),
				jobs.WithLocalImages([]string{images}))
			srv := server.New(l, runner, server.WithLocalImages([]string{images}))
			ts := httptest.NewServer(srv.Handler())
			defer func() { ts.Close(); srv.Close(); runner.Close(); l.Close() }()
			urls = append(urls, ts.URL)
		}
		start := time.Now()
		var ids []string
		for i, ref := range refs {
			body := strings.NewReader(`{"image":` + strconv.Quote(ref) + `}`)
			resp, err := http.Post(urls[i%len(urls)]+"/v1/scans", "application/json", body)
			if err != nil {
				b.Fatal(err)
			}
			var j api.Job
			err = json.NewDecoder(resp.Body).Decode(&j)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusAccepted {
				b.Fatalf("POST /v1/scans: %d, %v", resp.StatusCode, err)
			}
			ids = append(ids, j.ID)
		}
		ran := map[string]int{}
		for _, id := range ids {
			for {
				resp, err := http.Get(urls[0] + "/v1/jobs/" + id)
				if err != nil {
					b.Fatal(err)
				}
				var j api.Job
				err = json.NewDecoder(resp.Body).Decode(&j)
				resp.Body.Close()
				if err != nil {
					b.Fatal(err)
				}
				if j.State == api.JobFailed {
					b.Fatalf("job %s of %s: %+v", id, j.Image, j.Error)
				}
				if j.State == api.JobSucceeded {
					ran[j.Replica]++
					break
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		took := time.Since(start)
		if len(ran) != replicas {
			b.Fatalf("%d replicas ran the jobs (%v), want %d", len(ran), ran, replicas)
		}
		return took
	}
	for i := 0; i < b.N; i++ {
		one, two := run(1), run(2)
		b.ReportMetric(one.Seconds(), "1-replica-s")
		b.ReportMetric(two.Seconds(), "2-replicas-s")
		b.ReportMetric(one.Seconds()/two.Seconds(), "speedup-x")
	}
}
