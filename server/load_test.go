package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"syscall"
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
// median and 99th-percentile latency: the plain JSON body, the gzip one,
// and revalidations (If-None-Match, 304). Each iteration runs 32×40
// requests (32×5 with -short).
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
	srv := server.NewWithJobs(b, local, local.Store(), nil)
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	target := ts.URL + "/v1/report?" + url.Values{"image": {ref}}.Encode()
	// The server's throughput: the client never decompresses (a real
	// client does that on its own machine). identity asks for the plain
	// body, gzip for the compressed one, revalidate sends the entity
	// tag it was given and gets 304 Not Modified.
	for _, bc := range []struct {
		name   string
		header http.Header
	}{
		{"identity", http.Header{}},
		{"gzip", http.Header{"Accept-Encoding": {"gzip"}}},
		{"revalidate", nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64, DisableCompression: true}}
			header := bc.header
			want := http.StatusOK
			if header == nil {
				resp, err := client.Get(target)
				if err != nil {
					b.Fatal(err)
				}
				resp.Body.Close()
				if resp.Header.Get("ETag") == "" {
					b.Skip("the server sends no ETag")
				}
				header = http.Header{"If-None-Match": {resp.Header.Get("ETag")}}
				want = http.StatusNotModified
			}
			loadReports(b, client, target, header, want)
		})
	}
}

// loadReports gets target with header from 32 concurrent clients, 40
// requests each per iteration, wants status want, and reports the
// requests per second, the latency percentiles and the body size.
func loadReports(b *testing.B, client *http.Client, target string, header http.Header, want int) {
	var bodyBytes atomic.Int64
	cpu0 := processCPU()
	b.ResetTimer()
	all, wall, err := callRounds(b.N, perCaller(40), 0, func(int, int) error {
		req, err := http.NewRequest("GET", target, nil)
		if err != nil {
			return err
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := client.Do(req)
		n, err := drained(resp, err, want)
		bodyBytes.Store(n)
		return err
	})
	if err != nil {
		b.Fatal(err)
	}
	reportLoad(b, all, wall, processCPU()-cpu0)
	b.ReportMetric(float64(bodyBytes.Load()), "body-bytes")
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
