// Package apps is lapps' applications: named sets of images, deployed into
// environments under a policy (refused when the verdict is fail, every
// attempt recorded), and scanned as a whole into numbered app scans. It
// works on the store and on the image scans of package service.
//
// It is a package of its own, rather than part of service, because the
// policy package's tests import service: service importing policy would
// make an import cycle.
package apps

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/workload"
)

// Service is what the app commands call: implemented in-process by Local
// and over HTTP by package client.
type Service interface {
	// CreateApp creates app name made of images (possibly none).
	CreateApp(ctx context.Context, name string, images []string) (*App, error)
	// ImportApp creates app name from Kubernetes manifests (every
	// container, init container and ephemeral container image of their
	// workloads), or replaces the images of app name when it exists. An
	// empty name is the first workload's name.
	ImportApp(ctx context.Context, name string, manifests []byte) (*App, error)
	// Deploy decides a deployment of images into an environment under a
	// policy and records it, accepted or refused (refused when any image's
	// verdict is fail). A refusal is not an error: see Deployment.Accepted.
	Deploy(ctx context.Context, req DeployRequest) (*Deployment, error)
	// ListApps lists the apps with their current deployments.
	ListApps(ctx context.Context) ([]App, error)
	// RemoveApp removes an app, its deployments and its app scans.
	RemoveApp(ctx context.Context, name string) error
	// AppHistory returns every deployment attempt of an app, oldest
	// first.
	AppHistory(ctx context.Context, name string) ([]Deployment, error)
	// ScanApp scans every image of the app's current deployments (the
	// images of the latest accepted deployment of each environment; the
	// app's own images when it was never deployed), evaluates them under
	// the policy and records app scan N.
	ScanApp(ctx context.Context, req AppScanRequest) (*AppReport, error)
	// ListAppScans lists the numbered scans of an app, oldest first.
	ListAppScans(ctx context.Context, name string) ([]AppScanSummary, error)
	// AppReport returns app scan index (the latest when 0): each image's
	// report as recorded by that scan, the totals and the verdict.
	AppReport(ctx context.Context, name string, index int) (*AppReport, error)
}

// DefaultEnv is the environment of a deployment that names none.
const DefaultEnv = "default"

// App is an application and its current deployments.
type App struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	Images    []string  `json:"images"`
	// Deployments are the latest accepted deployment of each environment.
	Deployments []Deployment `json:"deployments,omitempty"`
	// Workloads are the workloads an import read (ImportApp only).
	Workloads []workload.Workload `json:"workloads,omitempty"`
}

// ImageOptions say how the images of an app are read when they must be
// scanned.
type ImageOptions struct {
	// Platform is os/arch[/variant]; empty means the host's.
	Platform string `json:"platform,omitempty"`
	// InsecureRegistries are hosts (host[:port]) read over plain HTTP.
	InsecureRegistries []string `json:"insecure_registries,omitempty"`
	// Credentials are registry credentials by host.
	Credentials map[string]image.Credential `json:"-"`
}

func (o ImageOptions) request(ref string) service.ScanRequest {
	req := service.ScanRequest{Image: ref, Platform: o.Platform, Credentials: o.Credentials}
	for _, h := range o.InsecureRegistries {
		if strings.HasPrefix(ref, h+"/") {
			req.Insecure = true
		}
	}
	return req
}

// DeployRequest asks to deploy images of an app into an environment.
type DeployRequest struct {
	App string `json:"app"`
	// Env is the environment; empty is DefaultEnv.
	Env string `json:"env,omitempty"`
	// Images are the images deployed; empty means the app's images.
	Images []string `json:"images,omitempty"`
	// Policy decides; nil passes every image.
	Policy *policy.Policy `json:"policy,omitempty"`
	ImageOptions
}

// AppScanRequest asks for a scan of an app.
type AppScanRequest struct {
	App string `json:"app"`
	// Policy decides the verdict; nil passes every image.
	Policy *policy.Policy `json:"policy,omitempty"`
	ImageOptions
}

// ImageVerdict is the decision of a policy on one image.
type ImageVerdict struct {
	Image string `json:"image"`
	// ScanIndex is the image scan decided on.
	ScanIndex int            `json:"scan_index"`
	Counts    map[string]int `json:"vulnerabilities"`
	Verdict   policy.Verdict `json:"verdict"`
}

// Deployment is one deployment attempt.
type Deployment struct {
	// ID is the deployment's number within its app: 1, 2, 3 … per app.
	ID       int64     `json:"id"`
	App      string    `json:"app"`
	Env      string    `json:"env"`
	At       time.Time `json:"at"`
	Images   []string  `json:"images"`
	Verdict  string    `json:"verdict"`
	Accepted bool      `json:"accepted"`
	// Reasons say why, one line each ("IMAGE: CVE-… (high) in glibc …").
	Reasons []string `json:"reasons,omitempty"`
	// Results are the verdicts of each image (Deploy only; not stored).
	Results []ImageVerdict `json:"results,omitempty"`
}

// AppScanSummary is one line of `lapps app security list`.
type AppScanSummary struct {
	App       string               `json:"app"`
	Index     int                  `json:"scan_index"`
	ScannedAt time.Time            `json:"scanned_at"`
	Images    []store.AppScanImage `json:"images"`
	// Vulnerabilities are the findings of every image, by severity.
	Vulnerabilities map[string]int `json:"vulnerabilities"`
	Verdict         string         `json:"verdict"`
}

// AppReport is one app scan in full.
type AppReport struct {
	AppScanSummary
	// Reasons say why the verdict is what it is, one line each.
	Reasons []string `json:"reasons,omitempty"`
	// Sections are the images, in the scan's order.
	Sections []AppSection `json:"sections"`
}

// AppSection is one image of an app report.
type AppSection struct {
	Image     string         `json:"image"`
	ScanIndex int            `json:"scan_index"`
	Verdict   policy.Verdict `json:"verdict"`
	Report    *report.Report `json:"report,omitempty"`
	// Error says why the report is missing (its image scan was pruned).
	Error string `json:"error,omitempty"`
}

// appScanSummary is what an app scan stores as its summary.
type appScanSummary struct {
	Counts   map[string]int `json:"counts"`
	Reasons  []string       `json:"reasons,omitempty"`
	Verdicts []ImageVerdict `json:"verdicts"`
}

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), service.ErrBadRequest)
}

// cleanImages trims, drops empty and repeated images, keeping the order,
// and checks that each is a valid reference.
func cleanImages(images []string, imageOpts ...image.Option) ([]string, error) {
	var out []string
	for _, im := range images {
		im = strings.TrimSpace(im)
		if im == "" || slices.Contains(out, im) {
			continue
		}
		if _, err := image.NormalizeName(im, imageOpts...); err != nil {
			return nil, err
		}
		out = append(out, im)
	}
	return out, nil
}

func checkAppName(name string) error {
	if strings.TrimSpace(name) == "" || name != strings.TrimSpace(name) || strings.ContainsAny(name, "\x00\n\r\t") || len(name) > 253 {
		return badRequest("app name %q: want a non-empty name without surrounding spaces or control characters, at most 253 bytes", name)
	}
	return nil
}

// appErr turns the store's not-found and exists errors into messages.
func appErr(name string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return fmt.Errorf("no app %q (create it with `lapps app create -a %s`): %w", name, name, service.ErrNotFound)
	case errors.Is(err, store.ErrExists):
		return existsError{name}
	}
	return err
}

// existsError is an app name already taken: a bad request for the command
// line, and a conflict (store.ErrExists) for the API, which answers 409.
type existsError struct{ name string }

func (e existsError) Error() string { return fmt.Sprintf("app %q already exists", e.name) }

// Is matches service.ErrBadRequest and store.ErrExists.
func (e existsError) Is(target error) bool {
	return target == service.ErrBadRequest || target == store.ErrExists
}

func fromStoreApp(a *store.App) *App {
	return &App{Name: a.Name, CreatedAt: a.CreatedAt, Images: a.Images}
}

func fromStoreDeployment(d store.Deployment) Deployment {
	return Deployment{ID: d.ID, App: d.App, Env: d.Env, At: d.At, Images: d.Images, Verdict: d.Verdict, Accepted: d.Accepted, Reasons: d.Reasons}
}

// CreateApp creates an app.
func (l *Local) CreateApp(ctx context.Context, name string, images []string) (*App, error) {
	if err := checkAppName(name); err != nil {
		return nil, err
	}
	imgs, err := cleanImages(images, l.imageOpts...)
	if err != nil {
		return nil, err
	}
	a, err := l.st.CreateApp(ctx, name, imgs)
	if err != nil {
		return nil, appErr(name, err)
	}
	return fromStoreApp(a), nil
}

// ImportApp creates or updates an app from Kubernetes manifests.
func (l *Local) ImportApp(ctx context.Context, name string, manifests []byte) (*App, error) {
	ws, err := workload.Images(strings.NewReader(string(manifests)))
	if err != nil {
		return nil, fmt.Errorf("manifests: %w: %w", err, service.ErrBadRequest)
	}
	var images []string
	var kept []workload.Workload
	for _, w := range ws {
		if w.Skipped {
			continue
		}
		kept = append(kept, w)
		images = append(images, w.Images()...)
	}
	if len(kept) == 0 {
		return nil, badRequest("manifests: no workload (Deployment, StatefulSet, DaemonSet, ReplicaSet, Job, CronJob or Pod)")
	}
	if name == "" {
		name = kept[0].Name
	}
	if err := checkAppName(name); err != nil {
		return nil, err
	}
	images, err = cleanImages(images, l.imageOpts...)
	if err != nil {
		return nil, fmt.Errorf("manifests: %w", err)
	}
	a, err := l.st.CreateApp(ctx, name, images)
	if errors.Is(err, store.ErrExists) {
		if err := l.st.SetAppImages(ctx, name, images); err != nil {
			return nil, appErr(name, err)
		}
		a, err = l.st.GetApp(ctx, name)
	}
	if err != nil {
		return nil, appErr(name, err)
	}
	out := fromStoreApp(a)
	out.Workloads = kept
	return out, nil
}

// ListApps lists the apps with their current deployments.
func (l *Local) ListApps(ctx context.Context) ([]App, error) {
	apps, err := l.st.ListApps(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]App, len(apps))
	for i := range apps {
		out[i] = *fromStoreApp(&apps[i])
		cur, err := l.st.CurrentDeployments(ctx, apps[i].Name)
		if err != nil {
			return nil, err
		}
		for _, d := range cur {
			out[i].Deployments = append(out[i].Deployments, fromStoreDeployment(d))
		}
	}
	return out, nil
}

// RemoveApp removes an app.
func (l *Local) RemoveApp(ctx context.Context, name string) error {
	return appErr(name, l.st.RemoveApp(ctx, name))
}

// AppHistory returns the deployments of an app, oldest first.
func (l *Local) AppHistory(ctx context.Context, name string) ([]Deployment, error) {
	if _, err := l.st.GetApp(ctx, name); err != nil {
		return nil, appErr(name, err)
	}
	ds, err := l.st.Deployments(ctx, name)
	if err != nil {
		return nil, err
	}
	out := make([]Deployment, len(ds))
	for i, d := range ds {
		out[i] = fromStoreDeployment(d)
	}
	return out, nil
}

// loadVEX loads the policy's VEX documents.
func loadVEX(p *policy.Policy) (*policy.VEX, error) {
	if p == nil || len(p.VEX) == 0 {
		return nil, nil
	}
	v, err := policy.LoadVEX(p.VEX...)
	if err != nil {
		return nil, fmt.Errorf("policy: %w: %w", err, service.ErrBadRequest)
	}
	return v, nil
}

// decide evaluates p on the report of ref: a new scan when rescan is set
// or the image was never scanned, else its latest scan matched against the
// current data.
func (l *Local) decide(ctx context.Context, ref string, rescan bool, p *policy.Policy, vex *policy.VEX, opts ImageOptions) (ImageVerdict, *report.Report, error) {
	var r *report.Report
	var err error
	if !rescan {
		r, err = l.svc.Report(ctx, ref, 0)
		if errors.Is(err, store.ErrNotFound) {
			r, err = nil, nil // never scanned, or its index was pruned
		}
	}
	if r == nil && err == nil {
		r, err = l.svc.ScanImage(ctx, opts.request(ref))
	}
	if err != nil {
		return ImageVerdict{}, nil, err
	}
	v := policy.Evaluate(p, r, l.now().UTC(), vex)
	return ImageVerdict{Image: r.Image, ScanIndex: r.ScanIndex, Counts: countsOf(r.Counts()), Verdict: v}, r, nil
}

func countsOf(c map[vuln.Severity]int) map[string]int {
	out := map[string]int{}
	for sev := vuln.SeverityUnknown; sev <= vuln.SeverityCritical; sev++ {
		out[sev.String()] = c[sev]
	}
	return out
}

// worst is the worst of the image verdicts, with the reasons: a line per
// reason of each image that warns or fails, then a line per cause.
func worst(vs []ImageVerdict) (string, []string) {
	rank := map[string]int{policy.Pass: 0, policy.Warn: 1, policy.Fail: 2}
	result := policy.Pass
	var reasons []string
	for _, v := range vs {
		if rank[v.Verdict.Result] > rank[result] {
			result = v.Verdict.Result
		}
		if v.Verdict.Result == policy.Pass {
			continue
		}
		for _, r := range v.Verdict.Reasons {
			reasons = append(reasons, fmt.Sprintf("%s: %s: %s", v.Image, v.Verdict.Result, r))
		}
		for _, c := range v.Verdict.Causes {
			reasons = append(reasons, fmt.Sprintf("%s: %s", v.Image, c))
		}
	}
	return result, reasons
}

// Deploy decides and records a deployment.
func (l *Local) Deploy(ctx context.Context, req DeployRequest) (*Deployment, error) {
	a, err := l.st.GetApp(ctx, req.App)
	if err != nil {
		return nil, appErr(req.App, err)
	}
	env := strings.TrimSpace(req.Env)
	if env == "" {
		env = DefaultEnv
	}
	if strings.ContainsAny(env, "\x00\n\r\t") {
		return nil, badRequest("environment %q: control characters", env)
	}
	images, err := cleanImages(req.Images, l.imageOpts...)
	if err != nil {
		return nil, err
	}
	if len(images) == 0 {
		images = a.Images
	}
	if len(images) == 0 {
		return nil, badRequest("app %s has no images: name them with -i", req.App)
	}
	if req.Policy != nil {
		if err := req.Policy.Validate(); err != nil {
			return nil, fmt.Errorf("policy: %w: %w", err, service.ErrBadRequest)
		}
	}
	vex, err := loadVEX(req.Policy)
	if err != nil {
		return nil, err
	}
	var results []ImageVerdict
	for _, im := range images {
		v, _, err := l.decide(ctx, im, false, req.Policy, vex, req.ImageOptions)
		if err != nil {
			return nil, fmt.Errorf("deploy %s: %w", req.App, err)
		}
		results = append(results, v)
	}
	verdict, reasons := worst(results)
	d := store.Deployment{App: a.Name, Env: env, At: l.now().UTC(), Images: images,
		Verdict: verdict, Accepted: verdict != policy.Fail, Reasons: reasons}
	id, err := l.st.RecordDeployment(ctx, &d)
	if err != nil {
		return nil, appErr(req.App, err)
	}
	d.ID = id
	out := fromStoreDeployment(d)
	out.Results = results
	l.log.Info("deployment", "app", d.App, "env", env, "verdict", verdict, "accepted", d.Accepted)
	return &out, nil
}

// appImages are the images ScanApp scans: those of the latest accepted
// deployment of each environment, in order of environment then position,
// without repeats; the app's images when it was never deployed.
func (l *Local) appImages(ctx context.Context, a *store.App) ([]string, error) {
	cur, err := l.st.CurrentDeployments(ctx, a.Name)
	if err != nil {
		return nil, err
	}
	if len(cur) == 0 {
		return a.Images, nil
	}
	var out []string
	for _, d := range cur {
		for _, im := range d.Images {
			if !slices.Contains(out, im) {
				out = append(out, im)
			}
		}
	}
	return out, nil
}

// ScanApp scans the images of an app's current deployments and records an
// app scan.
func (l *Local) ScanApp(ctx context.Context, req AppScanRequest) (*AppReport, error) {
	a, err := l.st.GetApp(ctx, req.App)
	if err != nil {
		return nil, appErr(req.App, err)
	}
	images, err := l.appImages(ctx, a)
	if err != nil {
		return nil, err
	}
	if len(images) == 0 {
		return nil, badRequest("app %s has no images and no deployment", a.Name)
	}
	if req.Policy != nil {
		if err := req.Policy.Validate(); err != nil {
			return nil, fmt.Errorf("policy: %w: %w", err, service.ErrBadRequest)
		}
	}
	vex, err := loadVEX(req.Policy)
	if err != nil {
		return nil, err
	}
	out := &AppReport{}
	sum := appScanSummary{Counts: countsOf(nil)}
	var refs []store.AppScanImage
	for _, im := range images {
		v, r, err := l.decide(ctx, im, true, req.Policy, vex, req.ImageOptions)
		if err != nil {
			return nil, fmt.Errorf("scan app %s: %w", a.Name, err)
		}
		sum.Verdicts = append(sum.Verdicts, v)
		for k, n := range v.Counts {
			sum.Counts[k] += n
		}
		refs = append(refs, store.AppScanImage{Image: v.Image, Index: v.ScanIndex})
		out.Sections = append(out.Sections, AppSection{Image: v.Image, ScanIndex: v.ScanIndex, Verdict: v.Verdict, Report: r})
	}
	verdict, reasons := worst(sum.Verdicts)
	sum.Reasons = reasons
	body, err := json.Marshal(sum)
	if err != nil {
		return nil, err
	}
	at := l.now().UTC()
	n, err := l.st.CreateAppScan(ctx, &store.AppScan{App: a.Name, ScannedAt: at, Images: refs, Verdict: verdict, Summary: body})
	if err != nil {
		return nil, appErr(a.Name, err)
	}
	out.AppScanSummary = AppScanSummary{App: a.Name, Index: n, ScannedAt: at, Images: refs, Vulnerabilities: sum.Counts, Verdict: verdict}
	out.Reasons = reasons
	return out, nil
}

func summaryOf(sc *store.AppScan) (AppScanSummary, appScanSummary, error) {
	var sum appScanSummary
	if len(sc.Summary) > 0 {
		if err := json.Unmarshal(sc.Summary, &sum); err != nil {
			return AppScanSummary{}, sum, fmt.Errorf("app %s scan #%d: stored summary: %w", sc.App, sc.Index, err)
		}
	}
	if sum.Counts == nil {
		sum.Counts = countsOf(nil)
	}
	return AppScanSummary{App: sc.App, Index: sc.Index, ScannedAt: sc.ScannedAt, Images: sc.Images,
		Vulnerabilities: sum.Counts, Verdict: sc.Verdict}, sum, nil
}

// ListAppScans lists the scans of an app.
func (l *Local) ListAppScans(ctx context.Context, name string) ([]AppScanSummary, error) {
	if _, err := l.st.GetApp(ctx, name); err != nil {
		return nil, appErr(name, err)
	}
	scans, err := l.st.ListAppScans(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(scans) == 0 {
		return nil, fmt.Errorf("no scans of app %s (run `lapps app security scan -a %s`): %w", name, name, service.ErrNotFound)
	}
	out := make([]AppScanSummary, len(scans))
	for i := range scans {
		if out[i], _, err = summaryOf(&scans[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// AppReport returns an app scan with the reports its image scans recorded.
func (l *Local) AppReport(ctx context.Context, name string, index int) (*AppReport, error) {
	if index < 0 {
		return nil, badRequest("app scan index %d: want 1, 2, 3… or 0 for the latest", index)
	}
	if _, err := l.st.GetApp(ctx, name); err != nil {
		return nil, appErr(name, err)
	}
	sc, err := l.st.GetAppScan(ctx, name, index)
	if errors.Is(err, store.ErrNotFound) {
		if index > 0 {
			return nil, fmt.Errorf("app %s has no scan #%d: %w", name, index, service.ErrNotFound)
		}
		return nil, fmt.Errorf("no scans of app %s (run `lapps app security scan -a %s`): %w", name, name, service.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	head, sum, err := summaryOf(sc)
	if err != nil {
		return nil, err
	}
	out := &AppReport{AppScanSummary: head, Reasons: sum.Reasons}
	for i, im := range sc.Images {
		sec := AppSection{Image: im.Image, ScanIndex: im.Index}
		if i < len(sum.Verdicts) && sum.Verdicts[i].Image == im.Image {
			sec.Verdict = sum.Verdicts[i].Verdict
		}
		r, err := l.svc.Report(ctx, im.Image, im.Index)
		switch {
		case errors.Is(err, store.ErrNotFound):
			sec.Error = fmt.Sprintf("image scan #%d is no longer stored", im.Index)
		case err != nil:
			return nil, err
		default:
			sec.Report = r
		}
		out.Sections = append(out.Sections, sec)
	}
	return out, nil
}

var _ Service = (*Local)(nil)

// Local is the in-process Service, on the store and the image scans of a
// service.Service.
type Local struct {
	st  Store
	svc service.Service
	log *slog.Logger
	now func() time.Time
	// webhooks are the webhooks CheckVerdicts enqueues alerts for.
	webhooks []string
	// imageOpts name images (see New).
	imageOpts []image.Option
}

// New returns the in-process Service on st (which it does not close),
// scanning and reporting images with svc (a service.Local on st).
//
// imageOpts are the image options of the service's opens that bear on
// names (image.WithLocalRoots on a server), so that an app's images are
// named as its scans are, and a server never looks a name up in its
// working directory.
func New(st Store, svc service.Service, imageOpts ...image.Option) *Local {
	return &Local{st: st, svc: svc, log: slog.Default(), now: time.Now, imageOpts: imageOpts}
}
