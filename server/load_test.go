package server_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/all"
)

// BenchmarkReportRPS measures the report requests per second the server
// sustains with 32 concurrent clients over loopback, for the Debian mid
// image with the shared Debian, Go, PyPI and GitHub data loaded, and the
// median and 99th-percentile latency. Each iteration runs for a bounded
// number of requests.
func BenchmarkReportRPS(b *testing.B) {
	images := testenv.Images(b)
	v := testenv.VulnData(b)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "lapps.db"))
	if err != nil {
		b.Fatal(err)
	}
	local := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources([]updater.Source{
		{Name: "debian-dsa", Type: "debian-dsa", Path: filepath.Join(v, "debian-security-tracker", "data")},
		{Name: "go-vulndb", Type: "osv", Path: filepath.Join(v, "golang-vulndb", "data", "osv")},
		{Name: "pypa", Type: "osv", Path: filepath.Join(v, "pypa-advisory-database", "vulns")},
		{Name: "ghsa", Type: "osv", Path: filepath.Join(v, "github-advisory-database", "advisories")},
	}))
	defer local.Close()
	if _, err := local.UpdateVulnDB(ctx, nil); err != nil {
		b.Fatal(err)
	}
	ref := "oci:" + filepath.Join(images, "debian", "oci") + ":debian-bookworm-mid"
	if _, err := local.ScanImage(ctx, service.ScanRequest{Image: ref}); err != nil {
		b.Fatal(err)
	}
	srv := server.New(local, local.Store())
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	target := ts.URL + "/v1/report?" + url.Values{"image": {ref}}.Encode()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}

	const clients, perClient = 32, 40
	var all []time.Duration
	var wall time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		var mu sync.Mutex
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		start := time.Now()
		for c := 0; c < clients; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				lat := make([]time.Duration, 0, perClient)
				for j := 0; j < perClient; j++ {
					t0 := time.Now()
					resp, err := client.Get(target)
					if err != nil {
						errs <- err
						return
					}
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != 200 {
						errs <- fmt.Errorf("status %d", resp.StatusCode)
						return
					}
					lat = append(lat, time.Since(t0))
				}
				mu.Lock()
				all = append(all, lat...)
				mu.Unlock()
			}()
		}
		wg.Wait()
		wall += time.Since(start)
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	b.ReportMetric(float64(len(all))/wall.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds())/1000, "p99-ms")
}
