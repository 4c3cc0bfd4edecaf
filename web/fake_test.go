package web

import (
	"context"
	"crypto/sha256"
	"fmt"
	"slices"
	"time"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// fake is a Backend over generated data: images with reports, apps with
// deployments, sources and jobs.
type fake struct {
	tokens  map[string][]string // secret → scopes
	revoked map[string]bool
	reports map[string][]*report.Report // image → scans, index-1
	apps    []apps.App
	history map[string][]apps.Deployment
	sources []service.SourceStatus
	jobs    map[string]*Job
	records []vuln.Record
	scanned []string
	updated [][]string
}

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

// genReport makes a report of image with n findings over n/2 packages.
func genReport(image string, index, n int, title string) *report.Report {
	r := &report.Report{Image: image, ScanIndex: index, ScannedAt: t0.Add(time.Duration(index) * time.Hour), GeneratedAt: t0,
		ManifestDigest: fmt.Sprintf("sha256:%064x", index), Distribution: &vuln.Distribution{ID: "debian", Version: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Layers: []model.LayerInfo{{Digest: "sha256:" + fmt.Sprintf("%064d", 1)}}}
	for i := 0; i < n/2+1; i++ {
		r.Packages = append(r.Packages, vuln.Package{Name: fmt.Sprintf("pkg%d", i), Version: "1.0-1", Kind: "deb", Layer: r.Layers[0].Digest})
	}
	for i := 0; i < n; i++ {
		f := vuln.Finding{ID: fmt.Sprintf("CVE-2024-%04d", i), Package: fmt.Sprintf("pkg%d", i/2), InstalledVersion: "1.0-1",
			Severity: vuln.Severity(i % 6), Ecosystem: "Debian:12", PackageKind: "deb", Source: "debian", Title: title, Status: vuln.StatusUnfixed, Layer: r.Layers[0].Digest}
		if i%3 == 0 {
			f.FixedVersion, f.Status = "1.0-2", vuln.StatusFixed
		}
		if i%50 == 0 {
			f.KnownExploited = &vuln.KnownExploited{Catalog: "CISA KEV", DateAdded: "2024-01-01"}
			f.EPSS = &vuln.EPSS{Score: 0.5, Percentile: 0.97}
		}
		r.Vulnerabilities = append(r.Vulnerabilities, f)
	}
	vuln.SortFindings(r.Vulnerabilities)
	r.Summarize()
	return r
}

func newFake(images, findings int) *fake {
	f := &fake{tokens: map[string][]string{"lapps_read": {"read"}, "lapps_scan": {"scan"}, "lapps_admin": {"admin"}},
		revoked: map[string]bool{}, reports: map[string][]*report.Report{}, history: map[string][]apps.Deployment{}, jobs: map[string]*Job{}}
	for i := 0; i < images; i++ {
		img := fmt.Sprintf("registry.example/team/app%d:1.%d", i, i)
		f.reports[img] = []*report.Report{genReport(img, 1, findings/2, "first"), genReport(img, 2, findings, "second")}
	}
	f.apps = []apps.App{{Name: "shop", Images: []string{"registry.example/team/app0:1.0"}, Deployments: []apps.Deployment{{App: "shop", Env: "staging", Verdict: "pass", Accepted: true, At: t0, Images: []string{"registry.example/team/app0:1.0"}}}}}
	f.history["shop"] = []apps.Deployment{
		{ID: 1, App: "shop", Env: "staging", Verdict: "pass", Accepted: true, At: t0, Images: []string{"registry.example/team/app0:1.0"}},
		{ID: 2, App: "shop", Env: "prod", Verdict: "fail", Accepted: false, At: t0.Add(time.Hour), Images: []string{"registry.example/team/app0:1.0"}, Reasons: []string{"registry.example/team/app0:1.0: CVE-2024-0005 (critical) in pkg2"}},
	}
	newest := t0.Add(-60 * 24 * time.Hour)
	f.sources = []service.SourceStatus{
		{Source: "debian", Type: "debian-tracker", Configured: true, Enabled: true, LastRun: t0, LastSuccess: t0, Records: 1000, NewestRecord: &newest, DataAge: "60d"},
		{Source: "broken", Type: "osv", Configured: true, Enabled: true, LastRun: t0, LastError: "fetch: 503 Service Unavailable"},
	}
	f.records = []vuln.Record{{ID: "CVE-2024-0003", Source: "debian", Ecosystem: "Debian:12", Package: "pkg1", Severity: vuln.SeverityLow, Description: "A flaw <script>alert(1)</script> in pkg1.", Aliases: []string{"DSA-1-1"},
		Ranges: []vuln.Range{{Type: "ecosystem", Fixed: "1.0-2"}}}}
	return f
}

func (f *fake) CheckToken(_ context.Context, secret string) ([]string, bool, error) {
	s, ok := f.tokens[secret]
	return s, ok && !f.revoked[secret], nil
}

func (f *fake) CheckTokenHash(_ context.Context, hash []byte) ([]string, bool, error) {
	for secret, s := range f.tokens {
		h := sha256.Sum256([]byte(secret))
		if string(h[:]) == string(hash) {
			return s, !f.revoked[secret], nil
		}
	}
	return nil, false, nil
}

func summary(r *report.Report) service.ScanSummary {
	c := map[string]int{}
	for s, n := range r.Counts() {
		c[s.String()] = n
	}
	return service.ScanSummary{Image: r.Image, Index: r.ScanIndex, ScannedAt: r.ScannedAt, ManifestDigest: r.ManifestDigest, Packages: len(r.Packages), Vulnerabilities: c}
}

func (f *fake) LatestScans(context.Context) ([]service.ScanSummary, error) {
	var out []service.ScanSummary
	for _, rs := range f.reports {
		out = append(out, summary(rs[len(rs)-1]))
	}
	slices.SortFunc(out, func(a, b service.ScanSummary) int { return cmpString(a.Image, b.Image) })
	return out, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (f *fake) ListScans(_ context.Context, image string) ([]service.ScanSummary, error) {
	var out []service.ScanSummary
	for _, r := range f.reports[image] {
		out = append(out, summary(r))
	}
	return out, nil
}

func (f *fake) Report(_ context.Context, image string, index int) (*report.Report, error) {
	rs := f.reports[image]
	if index == 0 {
		index = len(rs)
	}
	if index < 1 || index > len(rs) {
		return nil, store.ErrNotFound
	}
	return rs[index-1], nil
}

func (f *fake) ManifestReport(_ context.Context, digest string) (*report.Report, error) {
	for _, rs := range f.reports {
		if r := rs[len(rs)-1]; r.ManifestDigest == digest {
			return r, nil
		}
	}
	return nil, store.ErrNotFound
}

func (f *fake) ListApps(context.Context) ([]apps.App, error) { return f.apps, nil }
func (f *fake) AppHistory(_ context.Context, app string) ([]apps.Deployment, error) {
	return slices.Clone(f.history[app]), nil
}
func (f *fake) ListAppScans(_ context.Context, app string) ([]apps.AppScanSummary, error) {
	if app != "shop" {
		return nil, store.ErrNotFound
	}
	var out []apps.AppScanSummary
	for i, r := range f.reports["registry.example/team/app0:1.0"] {
		out = append(out, apps.AppScanSummary{App: app, Index: i + 1, ScannedAt: r.ScannedAt, Verdict: "warn",
			Images: []store.AppScanImage{{Image: r.Image, Index: r.ScanIndex}}, Vulnerabilities: summary(r).Vulnerabilities})
	}
	return out, nil
}

func (f *fake) AppReport(ctx context.Context, app string, index int) (*apps.AppReport, error) {
	scans, err := f.ListAppScans(ctx, app)
	if err != nil || len(scans) == 0 {
		return nil, store.ErrNotFound
	}
	s := scans[len(scans)-1]
	rep := f.reports["registry.example/team/app0:1.0"][len(scans)-1]
	return &apps.AppReport{AppScanSummary: s, Reasons: []string{"2 findings at or above high (warn_on)"},
		Sections: []apps.AppSection{{Image: rep.Image, ScanIndex: rep.ScanIndex, Report: rep}}}, nil
}
func (f *fake) Sources(context.Context) ([]service.SourceStatus, error) { return f.sources, nil }
func (f *fake) UpdateSources(_ context.Context, names []string) ([]service.SourceResult, error) {
	f.updated = append(f.updated, names)
	return []service.SourceResult{{Source: names[0], Records: 3}}, nil
}
func (f *fake) Scan(_ context.Context, image string) (string, error) {
	f.scanned = append(f.scanned, image)
	id := fmt.Sprintf("job%d", len(f.scanned))
	f.jobs[id] = &Job{ID: id, Image: image, State: "queued", CreatedAt: t0}
	return id, nil
}
func (f *fake) Job(_ context.Context, id string) (*Job, error) {
	if j, ok := f.jobs[id]; ok {
		return j, nil
	}
	return nil, store.ErrNotFound
}
func (f *fake) PendingJobs(context.Context) (int, error) { return len(f.jobs), nil }
func (f *fake) RecordsByID(_ context.Context, ids []string) ([]vuln.Record, error) {
	var out []vuln.Record
	for _, r := range f.records {
		if slices.Contains(ids, r.ID) {
			out = append(out, r)
		}
	}
	return out, nil
}
func (f *fake) ManifestsWithPackages(_ context.Context, kind string, names []string) ([]string, error) {
	var out []string
	for _, rs := range f.reports {
		r := rs[len(rs)-1]
		if slices.ContainsFunc(r.Packages, func(p vuln.Package) bool { return p.Kind == kind && slices.Contains(names, p.Name) }) {
			out = append(out, r.ManifestDigest)
		}
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}
func (f *fake) ImagesOfManifest(_ context.Context, digest string) ([]string, error) {
	var out []string
	for img, rs := range f.reports {
		if rs[len(rs)-1].ManifestDigest == digest {
			out = append(out, img)
		}
	}
	slices.Sort(out)
	return out, nil
}

func (f *fake) UpdateOperations(_ context.Context, source string) ([]store.UpdateOperation, error) {
	if source != "debian" {
		return nil, nil
	}
	return []store.UpdateOperation{{ID: 7, Source: source, CreatedAt: t0, Records: 1000}, {ID: 3, Source: source, CreatedAt: t0.Add(-time.Hour), Records: 990}}, nil
}
