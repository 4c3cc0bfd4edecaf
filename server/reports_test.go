package server_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/postgres"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

// got is one response, its body decompressed.
type got struct {
	status int
	header http.Header
	body   []byte
}

// fetch gets u with header, undoing a gzip encoding itself (the
// transport's is off, to see it).
func fetch(t *testing.T, u string, header ...string) got {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	c := &http.Client{Transport: &http.Transport{DisableCompression: true}}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r io.Reader = resp.Body
	if resp.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatalf("gzip body: %v", err)
		}
		r = zr
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return got{resp.StatusCode, resp.Header, b}
}

func decodeReport(t *testing.T, g got) *report.Report {
	t.Helper()
	if g.status != http.StatusOK {
		t.Fatalf("status %d: %s", g.status, g.body)
	}
	var r report.Report
	if err := json.Unmarshal(g.body, &r); err != nil {
		t.Fatalf("report: %v", err)
	}
	return &r
}

// almaGlibc is the AlmaLinux 9 advisories of the shared data that name
// glibc, copied to a directory of the test's: enough data for the
// AlmaLinux 9.3 image to have findings, read in a moment.
func almaGlibc(t *testing.T) updater.Source {
	t.Helper()
	src := almaSource(t)
	dir := t.TempDir()
	entries, err := os.ReadDir(src.Path)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(src.Path, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte(`"glibc"`)) {
			if err := os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no advisory of %s names glibc", src.Path)
	}
	src.Path = dir
	return src
}

// cacheServer serves local over HTTP and returns its base URL.
func cacheServer(t *testing.T, local *service.Local, opts ...server.Option) string {
	t.Helper()
	images := testenv.Images(t)
	srv := server.NewWithJobs(t, local, local.Store(), nil, append([]server.Option{server.WithLocalImages([]string{images})}, opts...)...)
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	return hs.URL
}

// TestReportCache: the AlmaLinux 9.3 image is scanned before any data is
// loaded; its live report is then answered from the cache (304 to its
// tag), and after an ingest, an enrichment and a scan the next report
// shows each of them. Formats, encodings and recorded scans get bodies
// and tags of their own.
func TestReportCache(t *testing.T) {
	images := testenv.Images(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	local := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources([]updater.Source{almaGlibc(t)}))
	t.Cleanup(func() { local.Close() })
	alma := "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3"
	scanned, err := local.ScanImage(ctx, service.ScanRequest{Image: alma})
	if err != nil {
		t.Fatal(err)
	}
	metrics := server.NewMetrics(nil)
	base := cacheServer(t, local, server.WithMetrics(metrics))
	live := base + "/v1/report?" + url.Values{"image": {alma}}.Encode()

	first := fetch(t, live)
	if r := decodeReport(t, first); len(r.Vulnerabilities) != 0 {
		t.Fatalf("%d findings before any data", len(r.Vulnerabilities))
	}
	tag := first.header.Get("ETag")
	if tag == "" || first.header.Get("Cache-Control") != "private, no-cache" {
		t.Fatalf("live report: ETag %q, Cache-Control %q", tag, first.header.Get("Cache-Control"))
	}
	again := fetch(t, live)
	if !bytes.Equal(again.body, first.body) || again.header.Get("ETag") != tag {
		t.Error("the same report twice: another body or tag")
	}
	if g := fetch(t, live, "If-None-Match", tag); g.status != http.StatusNotModified || len(g.body) != 0 {
		t.Errorf("If-None-Match its tag: status %d, %d bytes", g.status, len(g.body))
	}
	if g := fetch(t, live, "If-None-Match", `"other"`); g.status != http.StatusOK {
		t.Errorf("If-None-Match another tag: status %d", g.status)
	}

	// An ingest: the next report has the findings, under another tag.
	if _, err := local.UpdateVulnDB(ctx, nil); err != nil {
		t.Fatal(err)
	}
	after := fetch(t, live, "If-None-Match", tag)
	r := decodeReport(t, after)
	if len(r.Vulnerabilities) == 0 {
		t.Fatal("the report after the ingest has no findings")
	}
	if after.header.Get("ETag") == tag {
		t.Error("the report after the ingest kept the tag")
	}
	tag = after.header.Get("ETag")

	// Enrichment (a known-exploited entry for one finding) is data too.
	id := r.Vulnerabilities[0].ID
	for _, f := range r.Vulnerabilities {
		if len(f.CVEs) > 0 {
			id = f.CVEs[0]
			break
		}
	}
	if _, err := st.PutUpdate(ctx, "kev-test", "1", []vuln.Record{{ID: id, Source: "kev-test", Ecosystem: vuln.EcosystemEnrichment, Package: id,
		Status: vuln.StatusUnfixed, KnownExploited: &vuln.KnownExploited{Catalog: "CISA KEV", DateAdded: "2024-01-01"}}}); err != nil {
		t.Fatal(err)
	}
	enriched := fetch(t, live, "If-None-Match", tag)
	if r := decodeReport(t, enriched); r.Summary.KnownExploited == 0 {
		t.Errorf("the report after the enrichment counts no known-exploited finding (%s)", id)
	}

	// gzip: the same body compressed, under its own tag.
	zipped := fetch(t, live, "Accept-Encoding", "gzip")
	plain := fetch(t, live)
	if zipped.header.Get("Content-Encoding") != "gzip" || !bytes.Equal(zipped.body, plain.body) {
		t.Errorf("gzip: Content-Encoding %q, same body %v", zipped.header.Get("Content-Encoding"), bytes.Equal(zipped.body, plain.body))
	}
	if zipped.header.Get("ETag") == plain.header.Get("ETag") || zipped.header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("gzip: ETag %q (plain %q), Vary %q", zipped.header.Get("ETag"), plain.header.Get("ETag"), zipped.header.Get("Vary"))
	}
	if g := fetch(t, live, "Accept-Encoding", "gzip;q=0"); g.header.Get("Content-Encoding") != "" {
		t.Error("gzip;q=0 got gzip")
	}
	if g := fetch(t, live, "If-None-Match", zipped.header.Get("ETag")); g.status != http.StatusNotModified {
		t.Errorf("If-None-Match the gzip tag: status %d", g.status)
	}

	// Another format: another body, another tag.
	sarif := fetch(t, live+"&format=sarif")
	if sarif.status != http.StatusOK || bytes.Equal(sarif.body, plain.body) || sarif.header.Get("ETag") == plain.header.Get("ETag") ||
		sarif.header.Get("Content-Type") != "application/sarif+json" {
		t.Errorf("sarif: status %d, Content-Type %q, same body %v, tag %q", sarif.status, sarif.header.Get("Content-Type"), bytes.Equal(sarif.body, plain.body), sarif.header.Get("ETag"))
	}

	// The manifest's report follows the data as well.
	manifest := base + "/v1/manifests/" + scanned.ManifestDigest + "/report"
	m1 := fetch(t, manifest)
	if r := decodeReport(t, m1); len(r.Vulnerabilities) == 0 {
		t.Error("the manifest report has no findings")
	}

	// A recorded scan never changes: immutable, the same body whatever
	// the data; a new scan makes it no longer the latest.
	rec := live + "&index=1"
	g1 := fetch(t, rec)
	if r := decodeReport(t, g1); r.ScanIndex != 1 || len(r.Vulnerabilities) != 0 {
		t.Errorf("scan #1: index %d, %d findings (recorded before the data)", r.ScanIndex, len(r.Vulnerabilities))
	}
	if cc := g1.header.Get("Cache-Control"); cc != "private, max-age=31536000, immutable" {
		t.Errorf("scan #1: Cache-Control %q", cc)
	}
	if _, err := local.ScanImage(ctx, service.ScanRequest{Image: alma}); err != nil {
		t.Fatal(err)
	}
	if r := decodeReport(t, fetch(t, live)); r.ScanIndex != 2 {
		t.Errorf("after a second scan the live report is of scan #%d", r.ScanIndex)
	}
	if g := fetch(t, rec); !bytes.Equal(g.body, g1.body) {
		t.Error("scan #1 changed")
	}
	if g := fetch(t, live+"&index=3"); g.status != http.StatusNotFound {
		t.Errorf("scan #3: status %d", g.status)
	}
	m := fetch(t, base+"/metrics")
	for _, want := range []string{"lapps_report_cache_hits_total ", "lapps_report_cache_misses_total ", "lapps_report_cache_bytes "} {
		if !bytes.Contains(m.body, []byte("\n"+want)) || bytes.Contains(m.body, []byte("\n"+want+"0\n")) {
			t.Errorf("metrics: %s missing or 0", want)
		}
	}
}

// TestReportCacheOff: with the cache off the reports are the same, without
// tags.
func TestReportCacheOff(t *testing.T) {
	images := testenv.Images(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	local := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources([]updater.Source{almaGlibc(t)}))
	t.Cleanup(func() { local.Close() })
	if _, err := local.UpdateVulnDB(ctx, nil); err != nil {
		t.Fatal(err)
	}
	alma := "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3"
	if _, err := local.ScanImage(ctx, service.ScanRequest{Image: alma}); err != nil {
		t.Fatal(err)
	}
	q := "/v1/report?" + url.Values{"image": {alma}}.Encode()
	on := fetch(t, cacheServer(t, local)+q)
	off := fetch(t, cacheServer(t, local, server.WithReportCache(server.ReportCacheConfig{MaxBytes: -1}))+q)
	if off.header.Get("ETag") != "" || on.header.Get("ETag") == "" {
		t.Errorf("ETag with the cache off %q, on %q", off.header.Get("ETag"), on.header.Get("ETag"))
	}
	a, b := decodeReport(t, on), decodeReport(t, off)
	if len(a.Vulnerabilities) != len(b.Vulnerabilities) || len(a.Vulnerabilities) == 0 {
		t.Errorf("findings with the cache %d, without %d", len(a.Vulnerabilities), len(b.Vulnerabilities))
	}
}

// TestReportCacheReplicas: two replicas on one PostgreSQL database each
// keep the report; an ingest through one is seen by both at their next
// request.
func TestReportCacheReplicas(t *testing.T) {
	images := testenv.Images(t)
	dsn := testenv.PostgresDSN(t)
	ctx := context.Background()
	alma := "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3"
	var locals []*service.Local
	var urls []string
	glibc := almaGlibc(t)
	for i := 0; i < 2; i++ {
		st, err := postgres.Open(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		l := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources([]updater.Source{glibc}))
		t.Cleanup(func() { l.Close() })
		locals = append(locals, l)
		urls = append(urls, cacheServer(t, l)+"/v1/report?"+url.Values{"image": {alma}}.Encode())
	}
	if _, err := locals[0].ScanImage(ctx, service.ScanRequest{Image: alma}); err != nil {
		t.Fatal(err)
	}
	var tags []string
	for _, u := range urls {
		g := fetch(t, u)
		if r := decodeReport(t, g); len(r.Vulnerabilities) != 0 {
			t.Fatalf("%d findings before any data", len(r.Vulnerabilities))
		}
		if g := fetch(t, u, "If-None-Match", g.header.Get("ETag")); g.status != http.StatusNotModified {
			t.Fatalf("not kept: status %d", g.status)
		}
		tags = append(tags, g.header.Get("ETag"))
	}
	if tags[0] != tags[1] {
		t.Errorf("the replicas tag one report %q and %q", tags[0], tags[1])
	}
	if _, err := locals[0].UpdateVulnDB(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for i, u := range urls {
		if r := decodeReport(t, fetch(t, u, "If-None-Match", tags[i])); len(r.Vulnerabilities) == 0 {
			t.Errorf("replica %d: no findings after the ingest", i+1)
		}
	}
}

// TestAppReportCache: an app report is kept until a new app scan (the
// latest), or the app is made again under its name.
func TestAppReportCache(t *testing.T) {
	images := testenv.Images(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	local := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources([]updater.Source{almaGlibc(t)}))
	t.Cleanup(func() { local.Close() })
	if _, err := local.UpdateVulnDB(ctx, nil); err != nil {
		t.Fatal(err)
	}
	base := cacheServer(t, local, server.WithApps(func(scans service.Service) apps.Service { return apps.New(st, scans) }, nil))
	c, err := client.New(base, "")
	if err != nil {
		t.Fatal(err)
	}
	alma := "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3"
	scan := func() {
		t.Helper()
		if _, err := c.ScanApp(ctx, apps.AppScanRequest{App: "shop", ImageOptions: apps.ImageOptions{Platform: "linux/arm64"}}); err != nil {
			t.Fatal(err)
		}
	}
	appReport := func(g got) *apps.AppReport {
		t.Helper()
		if g.status != http.StatusOK {
			t.Fatalf("status %d: %s", g.status, g.body)
		}
		var r apps.AppReport
		if err := json.Unmarshal(g.body, &r); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	if _, err := c.CreateApp(ctx, "shop", []string{alma}); err != nil {
		t.Fatal(err)
	}
	scan()
	latest, first := base+"/v1/apps/shop/scans/0", base+"/v1/apps/shop/scans/1"
	g := fetch(t, latest)
	if r := appReport(g); r.Index != 1 || len(r.Sections) != 1 || r.Sections[0].Report == nil {
		t.Fatalf("app scan #%d, %d sections", r.Index, len(r.Sections))
	}
	tag := g.header.Get("ETag")
	if g := fetch(t, latest, "If-None-Match", tag); g.status != http.StatusNotModified {
		t.Errorf("If-None-Match its tag: status %d", g.status)
	}
	scan()
	if r := appReport(fetch(t, latest, "If-None-Match", tag)); r.Index != 2 {
		t.Errorf("after a second app scan the latest is #%d", r.Index)
	}
	g1 := fetch(t, first)
	if r := appReport(g1); r.Index != 1 {
		t.Errorf("app scan #1 is #%d", r.Index)
	}
	// The app made again: its scan #1 is another.
	if err := c.RemoveApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if g := fetch(t, first); g.status != http.StatusNotFound {
		t.Errorf("app scan #1 of a removed app: status %d", g.status)
	}
	if _, err := c.CreateApp(ctx, "shop", []string{alma}); err != nil {
		t.Fatal(err)
	}
	scan()
	if g := fetch(t, first, "If-None-Match", g1.header.Get("ETag")); g.status != http.StatusOK || appReport(g).ScannedAt.Equal(appReport(g1).ScannedAt) {
		t.Errorf("app scan #1 of the app made again: status %d, the old scan's time", g.status)
	}
}
