package server_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openvex/go-vex/pkg/vex"
	gosarif "github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// formatServer is appServer without policies, also returning the
// server's URL.
func formatServer(t *testing.T) (*client.Client, string, string) {
	t.Helper()
	images := testenv.Images(t)
	data := testenv.VulnData(t, "almalinux-osv-database", "advisories", "almalinux9")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	local := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources([]updater.Source{{Name: "osv-almalinux", Type: "osv", Path: data}}))
	t.Cleanup(func() { local.Close() })
	if _, err := local.UpdateVulnDB(ctx, nil); err != nil {
		t.Fatal(err)
	}
	srv := server.NewWithJobs(t, local, st, nil, server.WithLocalImages([]string{images}), server.WithApps(func(scans service.Service) apps.Service { return apps.New(st, scans) }, nil))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c, err := client.New(hs.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return c, "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3", hs.URL
}

// TestReportFormats asks the image and app report endpoints for every
// output format by ?format= and by Accept, over the AlmaLinux 9.3 image
// scanned against the AlmaLinux advisories, and for formats they do not
// serve (406, with the list).
func TestReportFormats(t *testing.T) {
	c, alma, base := formatServer(t)
	ctx := context.Background()
	const platform = "linux/arm64"
	if _, err := c.CreateApp(ctx, "shop", []string{alma}); err != nil {
		t.Fatal(err)
	}
	scan, err := c.ScanApp(ctx, apps.AppScanRequest{App: "shop", ImageOptions: apps.ImageOptions{Platform: platform}})
	if err != nil {
		t.Fatal(err)
	}
	if len(scan.Sections) != 1 || scan.Sections[0].Report == nil || len(scan.Sections[0].Report.Vulnerabilities) == 0 {
		t.Fatalf("app scan: %+v", scan)
	}
	want := scan.Sections[0].Report
	imagePath := "/v1/report?" + url.Values{"image": {want.Image}, "index": {"1"}}.Encode()
	appPath := "/v1/apps/shop/scans/1"

	get := func(path, accept string) (int, string, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", base+path, nil)
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), b
	}
	cases := []struct {
		name, path, accept string
		status             int
		ctype              string
		check              func(t *testing.T, b []byte)
	}{
		{"image json by default", imagePath, "", 200, "application/json", countJSON(len(want.Vulnerabilities))},
		{"image json by */*", imagePath, "text/html, */*;q=0.1", 200, "application/json", countJSON(len(want.Vulnerabilities))},
		{"image sarif by format", imagePath + "&format=sarif", "", 200, "application/sarif+json", countSARIF(len(want.Vulnerabilities) + len(want.ConfigFindings) + len(want.Secrets))},
		{"image sarif by Accept", imagePath, "application/sarif+json", 200, "application/sarif+json", countSARIF(len(want.Vulnerabilities) + len(want.ConfigFindings) + len(want.Secrets))},
		{"image openvex by Accept q", imagePath, "application/json;q=0.5, application/openvex+json", 200, "application/openvex+json", countVEX(len(want.Vulnerabilities) + len(want.NotAffected))},
		{"image table", imagePath + "&format=table", "", 200, "text/plain; charset=utf-8", contains("Findings:")},
		{"image template", imagePath + "&format=template&template=@markdown", "", 200, "text/plain; charset=utf-8", contains("### lapps: " + want.Image)},
		{"image template without template", imagePath + "&format=template", "", 400, "application/json", contains(server.CodeBadRequest)},
		{"image template from a file", imagePath + "&format=template&template=/etc/passwd", "", 400, "application/json", contains("shipped template")},
		{"image unknown format", imagePath + "&format=xml", "", 406, "application/json", contains("sarif (application/sarif+json)")},
		{"image unknown Accept", imagePath, "application/xml", 406, "application/json", contains(server.CodeNotAcceptable)},
		{"app json", appPath, "", 200, "application/json", contains(`"sections"`)},
		{"app sarif", appPath + "?format=sarif", "", 200, "application/sarif+json", countSARIF(len(want.Vulnerabilities) + len(want.ConfigFindings) + len(want.Secrets))},
		{"app openvex by Accept", appPath, "application/openvex+json", 200, "application/openvex+json", countVEX(len(want.Vulnerabilities) + len(want.NotAffected))},
		{"app template", appPath + "?format=template&template=@markdown", "", 200, "text/plain; charset=utf-8", contains("## lapps: app shop (app scan #1)")},
		{"app gitlab", appPath + "?format=template&template=@gitlab", "", 200, "text/plain; charset=utf-8", countGitLab(len(want.Vulnerabilities))},
		{"app table", appPath + "?format=table", "", 406, "application/json", contains("openvex (application/openvex+json)")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			status, ctype, b := get(tc.path, tc.accept)
			if status != tc.status || ctype != tc.ctype {
				t.Fatalf("%d %s, want %d %s: %.300s", status, ctype, tc.status, tc.ctype, b)
			}
			tc.check(t, b)
		})
	}
}

func contains(s string) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		if !strings.Contains(string(b), s) {
			t.Errorf("%q not in %.400s", s, b)
		}
	}
}

func countJSON(n int) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		var r report.Report
		if err := json.Unmarshal(b, &r); err != nil || len(r.Vulnerabilities) != n {
			t.Errorf("%v, %d findings, want %d", err, len(r.Vulnerabilities), n)
		}
	}
}

func countSARIF(n int) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		log, err := gosarif.FromBytes(b)
		if err != nil || len(log.Runs) != 1 || len(log.Runs[0].Results) != n {
			t.Errorf("%v, want one run of %d results", err, n)
		}
	}
}

func countVEX(n int) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		doc, err := vex.Parse(b)
		if err != nil || len(doc.Statements) != n {
			t.Errorf("%v, want %d statements", err, n)
		}
	}
}

func countGitLab(n int) func(*testing.T, []byte) {
	return func(t *testing.T, b []byte) {
		var doc struct{ Vulnerabilities []any }
		if err := json.Unmarshal(b, &doc); err != nil || len(doc.Vulnerabilities) != n {
			t.Errorf("%v, %d vulnerabilities, want %d", err, len(doc.Vulnerabilities), n)
		}
	}
}
