package apps

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/all"
)

// newTestLocal is the app service on a new SQLite database, with the
// given vulnerability sources loaded.
func newTestLocal(t testing.TB, sources ...updater.Source) *Local {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	svc := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources(sources))
	t.Cleanup(func() { svc.Close() })
	if len(sources) > 0 {
		res, err := svc.UpdateVulnDB(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range res {
			if r.Error != "" || r.Records == 0 {
				t.Fatalf("load %s: %+v", r.Source, r)
			}
		}
	}
	return New(st, svc)
}

// almaLocal is a service with the AlmaLinux 9 advisories loaded, and the
// reference of the AlmaLinux 9.3 test image.
func almaLocal(t *testing.T) (*Local, string, ImageOptions) {
	t.Helper()
	images := testenv.Images(t)
	data := testenv.VulnData(t, "almalinux-osv-database", "advisories", "almalinux9")
	l := newTestLocal(t, updater.Source{Name: "osv-almalinux", Type: "osv", Path: data})
	return l, "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3", ImageOptions{Platform: "linux/arm64"}
}

// TestAppDeploy deploys AlmaLinux 9.3 under policies over its real
// findings: refused under fail_on high (ALSA-2024:3339 on glibc is high),
// accepted when every high finding is ignored or only critical fails,
// refused again once the ignore rules have expired.
func TestAppDeploy(t *testing.T) {
	l, alma, opts := almaLocal(t)
	ctx := context.Background()
	if _, err := l.CreateApp(ctx, "shop", []string{alma, " ", alma}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.CreateApp(ctx, "shop", nil); !errors.Is(err, service.ErrBadRequest) {
		t.Errorf("CreateApp twice: %v, want service.ErrBadRequest", err)
	}
	if _, err := l.Deploy(ctx, DeployRequest{App: "nope", Images: []string{alma}}); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("Deploy of unknown app: %v, want ErrNotFound", err)
	}
	failHigh := &policy.Policy{FailOn: "high", WarnOn: "medium"}

	refused, err := l.Deploy(ctx, DeployRequest{App: "shop", Env: "prod", Images: []string{alma}, Policy: failHigh, ImageOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	if refused.Accepted || refused.Verdict != policy.Fail || len(refused.Results) != 1 || refused.Results[0].ScanIndex != 1 {
		t.Fatalf("deploy under fail_on high = %+v, want refused on scan 1", refused)
	}
	if !slices.ContainsFunc(refused.Reasons, func(r string) bool {
		return strings.Contains(r, "ALSA-2024:3339 (high) in glibc 2.34-83.el9_3.7")
	}) {
		t.Errorf("reasons do not name ALSA-2024:3339 on glibc:\n%s", strings.Join(refused.Reasons, "\n"))
	}

	// An OpenVEX statement (written for this image's glibc finding) marks
	// ALSA-2024:3339 fixed in glibc: the other high findings still refuse.
	withVEX := &policy.Policy{FailOn: "high", VEX: []string{filepath.Join("..", "policy", "testdata", "almalinux-glibc.openvex.json")}}
	vexed, err := l.Deploy(ctx, DeployRequest{App: "shop", Env: "prod", Policy: withVEX, ImageOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	if vexed.Accepted || slices.ContainsFunc(vexed.Reasons, func(r string) bool { return strings.Contains(r, "ALSA-2024:3339 (high) in glibc 2.34") }) ||
		!slices.ContainsFunc(vexed.Results[0].Verdict.Suppressed, func(s policy.Suppression) bool {
			return s.Finding.Package == "glibc" && strings.HasPrefix(s.Rule, "vex ")
		}) {
		t.Errorf("deploy with VEX: accepted %v, reasons:\n%s\nsuppressed: %+v", vexed.Accepted, strings.Join(vexed.Reasons, "\n"), vexed.Results[0].Verdict.Suppressed)
	}
	if _, err := l.Deploy(ctx, DeployRequest{App: "shop", Policy: &policy.Policy{VEX: []string{"/nonexistent.json"}}, ImageOptions: opts}); !errors.Is(err, service.ErrBadRequest) {
		t.Errorf("deploy with a missing VEX file: %v, want service.ErrBadRequest", err)
	}

	// Ignore every high finding (ALSA-2024:3339 among them) until 2099.
	ignoreAll := &policy.Policy{FailOn: "high", WarnOn: "medium"}
	until, _ := policy.ParseDate("2099-01-01")
	seen := map[string]bool{}
	for _, c := range refused.Results[0].Verdict.Causes {
		if !seen[c.ID+c.Package] {
			seen[c.ID+c.Package] = true
			ignoreAll.Ignore = append(ignoreAll.Ignore, policy.IgnoreRule{ID: c.ID, Package: c.Package, Until: until, Reason: "patched at runtime"})
		}
	}
	if !seen["ALSA-2024:3339glibc"] {
		t.Errorf("ALSA-2024:3339 on glibc is not a cause of the failure: %v", refused.Results[0].Verdict.Causes)
	}
	expired := &policy.Policy{FailOn: "high", Ignore: slices.Clone(ignoreAll.Ignore)}
	past, _ := policy.ParseDate("2024-01-01")
	for i := range expired.Ignore {
		expired.Ignore[i].Until = past
	}
	steps := []struct {
		name     string
		p        *policy.Policy
		env      string
		accepted bool
		verdict  string
	}{
		{"fail_on critical", &policy.Policy{FailOn: "critical", WarnOn: "high"}, "staging", true, policy.Warn},
		{"high findings ignored", ignoreAll, "prod", true, policy.Warn},
		{"ignore rules expired", expired, "prod", false, policy.Fail},
		{"no policy", nil, "", true, policy.Pass},
	}
	for _, s := range steps {
		d, err := l.Deploy(ctx, DeployRequest{App: "shop", Env: s.env, Policy: s.p, ImageOptions: opts})
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if d.Accepted != s.accepted || d.Verdict != s.verdict {
			t.Errorf("%s: accepted %v verdict %s, want %v %s; reasons:\n%s", s.name, d.Accepted, d.Verdict, s.accepted, s.verdict, strings.Join(d.Reasons, "\n"))
		}
		// The image was scanned once, by the first deployment; the others
		// match that scan against the current data.
		if d.Results[0].ScanIndex != 1 {
			t.Errorf("%s: decided on scan %d, want 1", s.name, d.Results[0].ScanIndex)
		}
	}
	if n := len(refused.Results[0].Verdict.Causes); n == 0 {
		t.Fatal("no causes")
	}

	hist, err := l.AppHistory(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, d := range hist {
		got = append(got, d.Env+" "+d.Verdict+" "+map[bool]string{true: "accepted", false: "refused"}[d.Accepted])
	}
	want := []string{"prod fail refused", "prod fail refused", "staging warn accepted", "prod warn accepted", "prod fail refused", "default pass accepted"}
	if !slices.Equal(got, want) {
		t.Errorf("history = %q, want %q", got, want)
	}
	if len(hist[0].Reasons) == 0 || hist[0].Reasons[0] != refused.Reasons[0] {
		t.Errorf("stored reasons %q, want %q", hist[0].Reasons, refused.Reasons)
	}
	apps, err := l.ListApps(ctx)
	if err != nil || len(apps) != 1 {
		t.Fatalf("ListApps = %+v, %v", apps, err)
	}
	var cur []string
	for _, d := range apps[0].Deployments {
		cur = append(cur, d.Env+" "+d.Verdict)
	}
	if want := []string{"default pass", "prod warn", "staging warn"}; !slices.Equal(cur, want) {
		t.Errorf("current deployments %q, want %q", cur, want)
	}
}

// TestAppScans scans an app twice: app scans are numbered per app, each
// refers to the image scans it made, and its report holds them.
func TestAppScans(t *testing.T) {
	l, alma, opts := almaLocal(t)
	ctx := context.Background()
	for _, name := range []string{"shop", "other"} {
		if _, err := l.CreateApp(ctx, name, []string{alma}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.ListAppScans(ctx, "shop"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("ListAppScans before any scan: %v, want ErrNotFound", err)
	}
	p := &policy.Policy{FailOn: "high"}
	// Never deployed: the app's own images are scanned.
	first, err := l.ScanApp(ctx, AppScanRequest{App: "shop", Policy: p, ImageOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	if first.Index != 1 || first.Verdict != policy.Fail || len(first.Sections) != 1 || first.Sections[0].ScanIndex != 1 {
		t.Fatalf("first app scan = %+v", first.AppScanSummary)
	}
	if first.Vulnerabilities["high"] == 0 || first.Vulnerabilities["high"] != first.Sections[0].Report.Summary.BySeverity["high"] {
		t.Errorf("totals %v, report %v", first.Vulnerabilities, first.Sections[0].Report.Summary.BySeverity)
	}
	other, err := l.ScanApp(ctx, AppScanRequest{App: "other", ImageOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	if other.Index != 1 || other.Verdict != policy.Pass || other.Sections[0].ScanIndex != 2 {
		t.Errorf("other's app scan = %+v, want #1 on image scan 2, pass (no policy)", other.AppScanSummary)
	}
	second, err := l.ScanApp(ctx, AppScanRequest{App: "shop", Policy: p, ImageOptions: opts})
	if err != nil {
		t.Fatal(err)
	}
	if second.Index != 2 || second.Sections[0].ScanIndex != 3 {
		t.Errorf("second app scan = %+v, want #2 on image scan 3", second.AppScanSummary)
	}
	list, err := l.ListAppScans(ctx, "shop")
	if err != nil || len(list) != 2 || list[0].Index != 1 || list[1].Index != 2 || list[0].Images[0].Index != 1 {
		t.Fatalf("ListAppScans = %+v, %v", list, err)
	}
	rep, err := l.AppReport(ctx, "shop", 1)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Verdict != policy.Fail || len(rep.Sections) != 1 || rep.Sections[0].Report == nil ||
		rep.Sections[0].Report.ScanIndex != 1 || rep.Sections[0].Verdict.Result != policy.Fail || len(rep.Reasons) == 0 {
		t.Errorf("AppReport 1 = %+v", rep)
	}
	latest, err := l.AppReport(ctx, "shop", 0)
	if err != nil || latest.Index != 2 {
		t.Errorf("AppReport latest = %+v, %v", latest, err)
	}
	if _, err := l.AppReport(ctx, "shop", 3); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("AppReport 3: %v, want ErrNotFound", err)
	}

	// Once deployed, the deployment's images are what is scanned.
	if _, err := l.CreateApp(ctx, "empty", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ScanApp(ctx, AppScanRequest{App: "empty"}); !errors.Is(err, service.ErrBadRequest) {
		t.Errorf("ScanApp of an app without images: %v, want service.ErrBadRequest", err)
	}
	if _, err := l.Deploy(ctx, DeployRequest{App: "empty", Images: []string{alma}, ImageOptions: opts}); err != nil {
		t.Fatal(err)
	}
	sc, err := l.ScanApp(ctx, AppScanRequest{App: "empty", ImageOptions: opts})
	if err != nil || len(sc.Images) != 1 || sc.Images[0].Index != 4 {
		t.Errorf("ScanApp after deploy = %+v, %v", sc, err)
	}

	if err := l.RemoveApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ListAppScans(ctx, "shop"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("ListAppScans after removal: %v, want ErrNotFound", err)
	}
	if err := l.RemoveApp(ctx, "shop"); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("RemoveApp twice: %v, want ErrNotFound", err)
	}
}

// TestImportApp imports a real-world multi-document manifest: a Service,
// a ConfigMap, a Deployment with an init container and a CronJob.
func TestImportApp(t *testing.T) {
	l := newTestLocal(t)
	ctx := context.Background()
	manifest, err := os.ReadFile(filepath.Join("testdata", "workload.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := l.ImportApp(ctx, "", manifest)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"docker.io/library/busybox:1.36", "ghcr.io/example/shop-web:2.4.1", "quay.io/prometheus/statsd-exporter:v0.26.0", "docker.io/library/postgres:16-alpine"}
	if a.Name != "shop" || !slices.Equal(a.Images, want) || len(a.Workloads) != 2 {
		t.Errorf("ImportApp = %s %q (%d workloads), want shop %q", a.Name, a.Images, len(a.Workloads), want)
	}
	// Importing again replaces the images; another name makes another app.
	if _, err := l.ImportApp(ctx, "shop", []byte("apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: 'alpine:3.20'}\n")); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ImportApp(ctx, "shop-copy", manifest); err != nil {
		t.Fatal(err)
	}
	apps, err := l.ListApps(ctx)
	if err != nil || len(apps) != 2 || !slices.Equal(apps[0].Images, []string{"alpine:3.20"}) || apps[1].Name != "shop-copy" {
		t.Errorf("ListApps = %+v, %v", apps, err)
	}
	bad := []struct{ name, doc string }{
		{"no workload", "apiVersion: v1\nkind: Service\nmetadata: {name: s}\n"},
		{"not YAML", "kind: [Deployment\n"},
		{"empty", ""},
		{"container without image", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c}\n"},
		{"bad image reference", "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - {name: c, image: 'UPPER CASE::'}\n"},
	}
	for _, b := range bad {
		if _, err := l.ImportApp(ctx, "", []byte(b.doc)); err == nil {
			t.Errorf("%s: no error", b.name)
		}
	}
}
