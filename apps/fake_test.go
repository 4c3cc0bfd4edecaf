package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/memstore"
	"github.com/lapps/lapps/vuln"
)

// The unit tests of the apps' logic on fakes: the in-memory store of
// store/memstore and a fake image service whose reports the test writes.
// No image, no database: each runs in milliseconds. The tests on the
// AlmaLinux test image are the integration tests.

var _ Store = (*memstore.Store)(nil)

// fakeService is a service.Service whose images have the findings the
// test gives them. ScanImage records a numbered scan in the store, as the
// real one does; Report(…, 0) is the latest scan with the image's current
// findings, Report(…, N) scan N as recorded. Other methods are not used by
// apps (calling one panics).
type fakeService struct {
	service.Service
	st       *memstore.Store
	mu       sync.Mutex
	findings map[string][]vuln.Finding // by normalised image name
	scans    int                       // ScanImage calls
	fail     error                     // when set, ScanImage and Report fail with it
}

func (f *fakeService) set(ref string, fs ...vuln.Finding) {
	name, _ := image.NormalizeName(ref)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.findings[name] = fs
}

func (f *fakeService) report(name string) *report.Report {
	r := &report.Report{Image: name, ManifestDigest: "sha256:" + fmt.Sprintf("%064x", len(name)),
		Packages: []vuln.Package{}, Vulnerabilities: slices.Clone(f.findings[name])}
	if r.Vulnerabilities == nil {
		r.Vulnerabilities = []vuln.Finding{}
	}
	r.Summarize()
	return r
}

func (f *fakeService) ScanImage(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
	name, err := image.NormalizeName(req.Image)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	f.scans++
	r := f.report(name)
	body, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	n, err := f.st.CreateScan(ctx, &store.Scan{Image: name, ManifestDigest: r.ManifestDigest, Counts: r.Counts(), Report: body})
	if err != nil {
		return nil, err
	}
	r.ScanIndex = n
	return r, nil
}

func (f *fakeService) Report(ctx context.Context, ref string, index int) (*report.Report, error) {
	name, err := image.NormalizeName(ref)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	sc, err := f.st.GetScan(ctx, name, index)
	if err != nil {
		return nil, err
	}
	if index > 0 {
		var r report.Report
		if err := json.Unmarshal(sc.Report, &r); err != nil {
			return nil, err
		}
		r.ScanIndex = sc.Index
		return &r, nil
	}
	r := f.report(name)
	r.Live, r.ScanIndex = true, sc.Index
	return r, nil
}

func newFakeApps(t *testing.T) (*Local, *fakeService, *memstore.Store) {
	t.Helper()
	st := memstore.New()
	svc := &fakeService{st: st, findings: map[string][]vuln.Finding{}}
	l := New(st, svc)
	l.log = slog.New(slog.DiscardHandler)
	return l, svc, st
}

const (
	apiImage = "reg.example/shop/api:1"
	webImage = "reg.example/shop/web:1"
)

func highFinding() vuln.Finding {
	return vuln.Finding{ID: "CVE-2024-0001", Package: "openssl", PackageKind: vuln.KindDeb, InstalledVersion: "3.0.11-1",
		FixedVersion: "3.0.13-1", Status: vuln.StatusFixed, Severity: vuln.SeverityHigh, Ecosystem: "Debian:12"}
}

// TestDeployFake deploys an app of two images, one with a high finding:
// refused under fail_on high (recorded, not current), accepted under
// fail_on critical, deciding on the recorded scan rather than scanning
// again; the history keeps both attempts, numbered.
func TestDeployFake(t *testing.T) {
	ctx := context.Background()
	l, svc, _ := newFakeApps(t)
	svc.set(apiImage, highFinding())
	svc.set(webImage)
	if _, err := l.CreateApp(ctx, "shop", []string{apiImage, webImage}); err != nil {
		t.Fatal(err)
	}
	d, err := l.Deploy(ctx, DeployRequest{App: "shop", Env: "prod", Policy: &policy.Policy{FailOn: "high"}})
	if err != nil {
		t.Fatal(err)
	}
	if d.Accepted || d.Verdict != policy.Fail || d.ID != 1 || len(d.Results) != 2 {
		t.Fatalf("deployment under fail_on high: %+v", d)
	}
	if d.Results[0].Verdict.Result != policy.Fail || d.Results[1].Verdict.Result != policy.Pass || d.Results[0].Counts["high"] != 1 {
		t.Errorf("results %+v", d.Results)
	}
	if svc.scans != 2 {
		t.Errorf("%d scans, want one per image never scanned", svc.scans)
	}
	d, err = l.Deploy(ctx, DeployRequest{App: "shop", Env: "prod", Policy: &policy.Policy{FailOn: "critical", WarnOn: "high"}})
	if err != nil {
		t.Fatal(err)
	}
	if !d.Accepted || d.Verdict != policy.Warn || d.ID != 2 {
		t.Fatalf("deployment under fail_on critical: %+v", d)
	}
	if svc.scans != 2 {
		t.Errorf("%d scans after the second deployment, want 2: it decides on the recorded scans", svc.scans)
	}
	hist, err := l.AppHistory(ctx, "shop")
	if err != nil || len(hist) != 2 || hist[0].Accepted || !hist[1].Accepted {
		t.Fatalf("history %+v, %v", hist, err)
	}
	apps, err := l.ListApps(ctx)
	if err != nil || len(apps) != 1 || len(apps[0].Deployments) != 1 || apps[0].Deployments[0].ID != 2 {
		t.Fatalf("ListApps = %+v, %v; want the accepted deployment as current", apps, err)
	}
	if _, err := l.Deploy(ctx, DeployRequest{App: "nope"}); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("deploying an unknown app: %v, want ErrNotFound", err)
	}
	svc.fail = errors.New("registry down")
	if _, err := l.Deploy(ctx, DeployRequest{App: "shop", Env: "dev"}); !errors.Is(err, svc.fail) {
		t.Errorf("deploy with the service failing: %v", err)
	}
	if hist, _ := l.AppHistory(ctx, "shop"); len(hist) != 2 {
		t.Errorf("a failed deployment was recorded: %d deployments", len(hist))
	}
}

// TestScanAppFake scans an app: its current deployment's images are
// scanned again, the app scan is numbered and recorded with its verdict,
// and AppReport gives each image's report as that scan recorded it, even
// after the image's findings changed.
func TestScanAppFake(t *testing.T) {
	ctx := context.Background()
	l, svc, _ := newFakeApps(t)
	svc.set(apiImage)
	svc.set(webImage)
	if _, err := l.CreateApp(ctx, "shop", []string{apiImage, webImage}); err != nil {
		t.Fatal(err)
	}
	if d, err := l.Deploy(ctx, DeployRequest{App: "shop", Env: "prod", Images: []string{apiImage}}); err != nil || !d.Accepted {
		t.Fatalf("deploy: %+v, %v", d, err)
	}
	svc.set(apiImage, highFinding())
	strict := &policy.Policy{FailOn: "high"}
	r, err := l.ScanApp(ctx, AppScanRequest{App: "shop", Policy: strict})
	if err != nil {
		t.Fatal(err)
	}
	if r.Index != 1 || r.Verdict != policy.Fail || len(r.Sections) != 1 || r.Sections[0].ScanIndex != 2 || r.Vulnerabilities["high"] != 1 {
		t.Fatalf("app scan: %+v", r.AppScanSummary)
	}
	svc.set(apiImage) // fixed since
	r2, err := l.ScanApp(ctx, AppScanRequest{App: "shop", Policy: strict})
	if err != nil || r2.Index != 2 || r2.Verdict != policy.Pass {
		t.Fatalf("second app scan: %+v, %v", r2, err)
	}
	old, err := l.AppReport(ctx, "shop", 1)
	if err != nil {
		t.Fatal(err)
	}
	if old.Verdict != policy.Fail || len(old.Sections) != 1 || old.Sections[0].Report == nil || len(old.Sections[0].Report.Vulnerabilities) != 1 {
		t.Errorf("app scan #1 as recorded: %+v", old)
	}
	list, err := l.ListAppScans(ctx, "shop")
	if err != nil || len(list) != 2 || list[0].Verdict != policy.Fail || list[1].Verdict != policy.Pass {
		t.Errorf("ListAppScans = %+v, %v", list, err)
	}
	if _, err := l.AppReport(ctx, "shop", 3); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("AppReport #3: %v, want ErrNotFound", err)
	}
}

// TestCheckVerdictsFake checks the verdict alerts: the first check
// records the verdict without an alert, a tightened policy alerts fail to
// each webhook through the outbox, a repeat says nothing, loosening
// resolves, and an image never scanned is named as such.
func TestCheckVerdictsFake(t *testing.T) {
	ctx := context.Background()
	l, svc, st := newFakeApps(t)
	svc.set(apiImage, highFinding())
	if _, err := l.CreateApp(ctx, "shop", []string{apiImage}); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Deploy(ctx, DeployRequest{App: "shop", Env: "prod"}); err != nil {
		t.Fatal(err)
	}
	l.SetAlertWebhooks([]string{"team", "ops"})
	var p policy.Policy
	policyFor := func(app, env string) *policy.Policy { return &p }
	now := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	steps := []struct {
		name              string
		failOn            string
		verdict, previous string
		outbox            int
	}{
		{"first check: recorded, no alert", "", "", "", 0},
		{"tightened: fail", "high", policy.Fail, policy.Pass, 2},
		{"again: nothing new", "high", "", "", 2},
		{"loosened: resolved", "critical", policy.Pass, policy.Fail, 4},
	}
	for i, s := range steps {
		p = policy.Policy{FailOn: s.failOn}
		alerts, err := l.CheckVerdicts(ctx, policyFor, now.Add(time.Duration(i)*time.Hour))
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		switch {
		case s.verdict == "" && len(alerts) != 0:
			t.Errorf("%s: alerts %+v, want none", s.name, alerts)
		case s.verdict != "" && (len(alerts) != 1 || alerts[0].Verdict != s.verdict || alerts[0].Previous != s.previous):
			t.Errorf("%s: alerts %+v, want %s after %s", s.name, alerts, s.verdict, s.previous)
		}
		ns, err := st.Notifications(ctx)
		if err != nil || len(ns) != s.outbox {
			t.Errorf("%s: %d notifications, %v; want %d", s.name, len(ns), err, s.outbox)
		}
		for _, n := range ns {
			if n.Kind != store.KindVerdict || (n.Webhook != "team" && n.Webhook != "ops") {
				t.Errorf("%s: notification %+v", s.name, n)
			}
		}
	}
}
