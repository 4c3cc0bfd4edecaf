package server_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/all"
)

// appServer is a server with apps on a new SQLite database holding the
// AlmaLinux 9 advisories, deciding prod deployments under fail_on high
// and everything else without a policy; it returns a client of it and the
// reference of the AlmaLinux 9.3 test image.
func appServer(t *testing.T) (*client.Client, string) {
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
	policyFor := func(_, env string) *policy.Policy {
		if env == "prod" {
			return &policy.Policy{FailOn: "high"}
		}
		return nil
	}
	// The test images are local layouts: the server reads them under its
	// local_images, as lapps serve would.
	srv := server.NewWithJobs(t, local, st, nil, server.WithLocalImages([]string{images}), server.WithApps(func(scans service.Service) apps.Service { return apps.New(st, scans) }, policyFor))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })
	c, err := client.New(hs.URL, "")
	if err != nil {
		t.Fatal(err)
	}
	return c, "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3"
}

// TestAppsOverHTTP runs every app operation through the client against a
// real server: the server's policy decides (the client's is not sent), a
// refusal is a result, and errors keep their meaning.
func TestAppsOverHTTP(t *testing.T) {
	c, alma := appServer(t)
	ctx := context.Background()
	const platform = "linux/arm64"

	created, err := c.CreateApp(ctx, "shop", []string{alma})
	if err != nil {
		t.Fatal(err)
	}
	if created.Name != "shop" || !slices.Equal(created.Images, []string{alma}) {
		t.Errorf("CreateApp = %+v", created)
	}
	if _, err := c.CreateApp(ctx, "shop", nil); !errors.Is(err, service.ErrBadRequest) {
		t.Errorf("CreateApp twice: %v, want service.ErrBadRequest (conflict)", err)
	}
	if _, err := c.CreateApp(ctx, " bad ", nil); !errors.Is(err, service.ErrBadRequest) {
		t.Errorf("CreateApp with a bad name: %v, want service.ErrBadRequest", err)
	}

	// Refused in prod under the server's fail_on high, though the client
	// asks for no policy at all.
	refused, err := c.Deploy(ctx, apps.DeployRequest{App: "shop", Env: "prod", Policy: &policy.Policy{}, ImageOptions: apps.ImageOptions{Platform: platform}})
	if err != nil {
		t.Fatal(err)
	}
	if refused.Accepted || refused.Verdict != policy.Fail || len(refused.Results) != 1 ||
		!slices.ContainsFunc(refused.Reasons, func(r string) bool { return strings.Contains(r, "ALSA-2024:3339 (high) in glibc") }) {
		t.Fatalf("deploy to prod = accepted %v verdict %s reasons:\n%s", refused.Accepted, refused.Verdict, strings.Join(refused.Reasons, "\n"))
	}
	accepted, err := c.Deploy(ctx, apps.DeployRequest{App: "shop", Env: "staging", ImageOptions: apps.ImageOptions{Platform: platform}})
	if err != nil {
		t.Fatal(err)
	}
	if !accepted.Accepted || accepted.Verdict != policy.Pass || accepted.Env != "staging" {
		t.Errorf("deploy to staging = %+v, want accepted", accepted)
	}
	if _, err := c.Deploy(ctx, apps.DeployRequest{App: "nope", Images: []string{alma}}); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("deploy of an unknown app: %v, want ErrNotFound", err)
	}

	hist, err := c.AppHistory(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(hist) != 2 || hist[0].Accepted || hist[0].Env != "prod" || !hist[1].Accepted || hist[1].Env != "staging" {
		t.Errorf("history = %+v, want refused prod then accepted staging", hist)
	}
	list, err := c.ListApps(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != "shop" || len(list[0].Deployments) != 1 || list[0].Deployments[0].Env != "staging" {
		t.Errorf("ListApps = %+v, want shop deployed to staging", list)
	}

	scan, err := c.ScanApp(ctx, apps.AppScanRequest{App: "shop", ImageOptions: apps.ImageOptions{Platform: platform}})
	if err != nil {
		t.Fatal(err)
	}
	if scan.Index != 1 || len(scan.Sections) != 1 || scan.Sections[0].Report == nil || scan.Vulnerabilities["high"] == 0 {
		t.Fatalf("ScanApp = index %d, %d sections, vulnerabilities %v", scan.Index, len(scan.Sections), scan.Vulnerabilities)
	}
	scans, err := c.ListAppScans(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	if len(scans) != 1 || scans[0].Index != 1 {
		t.Errorf("ListAppScans = %+v", scans)
	}
	for _, n := range []int{0, 1} {
		rep, err := c.AppReport(ctx, "shop", n)
		if err != nil {
			t.Fatalf("AppReport %d: %v", n, err)
		}
		if rep.Index != 1 || len(rep.Sections) != 1 || rep.Sections[0].Image != alma || rep.Vulnerabilities["high"] != scan.Vulnerabilities["high"] {
			t.Errorf("AppReport %d = index %d, vulnerabilities %v", n, rep.Index, rep.Vulnerabilities)
		}
	}
	if _, err := c.AppReport(ctx, "shop", 7); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("AppReport 7: %v, want ErrNotFound", err)
	}

	manifests := "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n        - {name: web, image: " + alma + "}\n"
	imported, err := c.ImportApp(ctx, "", []byte(manifests))
	if err != nil {
		t.Fatal(err)
	}
	if imported.Name != "web" || !slices.Equal(imported.Images, []string{alma}) || len(imported.Workloads) != 1 {
		t.Errorf("ImportApp = %+v", imported)
	}
	if _, err := c.ImportApp(ctx, "x", []byte("kind: [")); !errors.Is(err, service.ErrBadRequest) {
		t.Errorf("ImportApp of bad YAML: %v, want ErrBadRequest", err)
	}

	// A name with "/", "%" and spaces travels escaped in the path.
	odd := "team/shop 100%"
	if _, err := c.CreateApp(ctx, odd, []string{alma}); err != nil {
		t.Fatal(err)
	}
	if d, err := c.Deploy(ctx, apps.DeployRequest{App: odd, ImageOptions: apps.ImageOptions{Platform: platform}}); err != nil || d.App != odd || !d.Accepted {
		t.Errorf("deploy of %q = %+v, %v", odd, d, err)
	}
	if err := c.RemoveApp(ctx, odd); err != nil {
		t.Errorf("remove %q: %v", odd, err)
	}

	if err := c.RemoveApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]func() error{
		"remove":  func() error { return c.RemoveApp(ctx, "shop") },
		"history": func() error { _, err := c.AppHistory(ctx, "shop"); return err },
		"scans":   func() error { _, err := c.ListAppScans(ctx, "shop"); return err },
		"report":  func() error { _, err := c.AppReport(ctx, "shop", 0); return err },
		"scan":    func() error { _, err := c.ScanApp(ctx, apps.AppScanRequest{App: "shop"}); return err },
	} {
		if err := f(); !errors.Is(err, service.ErrNotFound) {
			t.Errorf("%s of a removed app: %v, want ErrNotFound", name, err)
		}
	}
}

// TestAppsHTTPStatus checks the status codes and error codes of the app
// endpoints, and that they are 404 when apps are not enabled.
func TestAppsHTTPStatus(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		apps                     bool
		status                   int
		code                     string
	}{
		{"create", "POST", "/v1/apps", `{"name":"a"}`, true, 201, ""},
		{"duplicate", "POST", "/v1/apps", `{"name":"a"}`, true, 409, server.CodeConflict},
		{"unknown field", "POST", "/v1/apps", `{"name":"b","policy":{}}`, true, 400, server.CodeBadRequest},
		{"deploy sends a policy", "POST", "/v1/apps/a/deployments", `{"policy":{"fail_on":"critical"}}`, true, 400, server.CodeBadRequest},
		{"history of unknown", "GET", "/v1/apps/zz/deployments", "", true, 404, server.CodeNotFound},
		{"bad scan number", "GET", "/v1/apps/a/scans/x", "", true, 400, server.CodeBadRequest},
		{"no scan yet", "GET", "/v1/apps/a/scans/0", "", true, 404, server.CodeNotFound},
		{"remove", "DELETE", "/v1/apps/a", "", true, 204, ""},
		{"not enabled", "GET", "/v1/apps", "", false, 404, server.CodeNotFound},
	}
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	local := service.NewLocal(st, indexer.New(all.Catalogers()))
	t.Cleanup(func() { local.Close() })
	with := server.NewWithJobs(t, local, st, nil, server.WithApps(func(scans service.Service) apps.Service { return apps.New(st, scans) }, nil))
	without := server.NewWithJobs(t, local, st, nil)
	t.Cleanup(func() { with.Close(); without.Close() })
	for _, tt := range tests {
		srv := without
		if tt.apps {
			srv = with
		}
		req := httptest.NewRequest(tt.method, tt.path, strings.NewReader(tt.body))
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)
		if w.Code != tt.status || (tt.code != "" && !strings.Contains(w.Body.String(), `"code":"`+tt.code+`"`)) {
			t.Errorf("%s: %s %s = %d %s, want %d %s", tt.name, tt.method, tt.path, w.Code, w.Body.String(), tt.status, tt.code)
		}
	}
}
