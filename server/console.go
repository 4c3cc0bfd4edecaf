package server

import (
	"context"
	"errors"
	"net/http"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/redact"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/web"
)

// ConsoleStore is what the console reads from the store besides the
// services: tokens by hash (sessions), the latest scan of every image,
// records by id and the inverted package index (where a vulnerability
// affects).
type ConsoleStore interface {
	TokenByHash(ctx context.Context, hash []byte) (*store.Token, error)
	LatestScans(ctx context.Context) ([]store.Scan, error)
	RecordsByID(ctx context.Context, ids []string) ([]vuln.Record, error)
	ManifestsWithPackages(ctx context.Context, kind string, names []string) ([]string, error)
	ImagesOfManifest(ctx context.Context, digest string) ([]string, error)
	UpdateOperations(ctx context.Context, source string) ([]store.UpdateOperation, error)
}

// WithConsole serves the web console (package web) at / over the
// server's services, jobs and st; the JSON API stays under /v1 and
// Harbor's under /harbor. Without WithTokens the console signs in
// without a token, with every scope, as the API then serves everyone.
func WithConsole(st ConsoleStore, o web.Options) Option {
	return func(s *Server) {
		s.consoleStore = st
		s.consoleOpts = &o
	}
}

// mountConsole builds the console and mounts it at /; unknown /v1 paths
// keep their JSON 404.
func (s *Server) mountConsole(notFound http.HandlerFunc) {
	if s.consoleOpts == nil {
		s.mux.HandleFunc("/", notFound)
		return
	}
	o := *s.consoleOpts
	o.Anonymous = s.tokens == nil
	o.Allows = allows
	if o.Logger == nil {
		o.Logger = s.log
	}
	c, err := web.New(consoleBackend{s: s, st: s.consoleStore}, o)
	if err != nil {
		s.log.Error("console not served", "err", err)
		s.mux.HandleFunc("/", notFound)
		return
	}
	s.mux.HandleFunc("/v1/", notFound)
	s.mux.HandleFunc("/harbor/", notFound)
	s.mux.Handle("/", c)
}

// consoleBackend is web.Backend over the server.
type consoleBackend struct {
	s  *Server
	st ConsoleStore
}

func (b consoleBackend) CheckToken(ctx context.Context, secret string) ([]string, bool, error) {
	if b.s.tokens == nil {
		return []string{ScopeAdmin}, true, nil
	}
	return b.s.tokens.CheckToken(ctx, secret)
}

func (b consoleBackend) CheckTokenHash(ctx context.Context, hash []byte) ([]string, bool, error) {
	if b.s.tokens == nil {
		return []string{ScopeAdmin}, true, nil
	}
	t, err := b.st.TokenByHash(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	return t.Scopes, t.RevokedAt.IsZero(), nil
}

func (b consoleBackend) LatestScans(ctx context.Context) ([]service.ScanSummary, error) {
	scans, err := b.st.LatestScans(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]service.ScanSummary, len(scans))
	for i, sc := range scans {
		counts := make(map[string]int, len(sc.Counts))
		for sev, n := range sc.Counts {
			counts[sev.String()] += n
		}
		out[i] = service.ScanSummary{Image: sc.Image, Index: sc.Index, ScannedAt: sc.ScannedAt, ManifestDigest: sc.ManifestDigest, Packages: sc.Packages, Vulnerabilities: counts}
	}
	return out, nil
}

func (b consoleBackend) ListScans(ctx context.Context, image string) ([]service.ScanSummary, error) {
	return b.s.svc.ListScans(ctx, image)
}

func (b consoleBackend) Report(ctx context.Context, image string, index int) (*report.Report, error) {
	return b.s.svc.Report(ctx, image, index)
}

func (b consoleBackend) ManifestReport(ctx context.Context, digest string) (*report.Report, error) {
	return b.s.svc.ManifestReport(ctx, digest)
}

func (b consoleBackend) appsSvc() apps.Service {
	if b.s.apps == nil {
		return nil
	}
	return b.s.apps.svc
}

func (b consoleBackend) ListApps(ctx context.Context) ([]apps.App, error) {
	if a := b.appsSvc(); a != nil {
		return a.ListApps(ctx)
	}
	return nil, nil
}

func (b consoleBackend) AppHistory(ctx context.Context, app string) ([]apps.Deployment, error) {
	if a := b.appsSvc(); a != nil {
		return a.AppHistory(ctx, app)
	}
	return nil, store.ErrNotFound
}

func (b consoleBackend) ListAppScans(ctx context.Context, app string) ([]apps.AppScanSummary, error) {
	if a := b.appsSvc(); a != nil {
		return a.ListAppScans(ctx, app)
	}
	return nil, store.ErrNotFound
}

func (b consoleBackend) AppReport(ctx context.Context, app string, index int) (*apps.AppReport, error) {
	if a := b.appsSvc(); a != nil {
		return a.AppReport(ctx, app, index)
	}
	return nil, store.ErrNotFound
}

func (b consoleBackend) Sources(ctx context.Context) ([]service.SourceStatus, error) {
	st, err := b.s.svc.VulnDBStatus(ctx)
	for i := range st {
		st[i].LastError = redact.Text(st[i].LastError)
	}
	return st, err
}

func (b consoleBackend) UpdateSources(ctx context.Context, names []string) ([]service.SourceResult, error) {
	res, err := b.s.svc.UpdateVulnDB(ctx, names)
	for i := range res {
		res[i].Error = redact.Text(res[i].Error)
	}
	return res, err
}

func (b consoleBackend) Scan(ctx context.Context, image string) (string, error) {
	if err := b.s.checkImage(image); err != nil {
		return "", err
	}
	job, err := b.s.enqueue(ctx, "", scanJob{Image: image})
	if err != nil {
		return "", err
	}
	return job.ID, nil
}

func (b consoleBackend) Job(ctx context.Context, id string) (*web.Job, error) {
	j, err := b.s.jobs.Get(ctx, id)
	if err != nil {
		return nil, err
	}
	out := &web.Job{ID: j.ID, Image: j.Image, State: j.State, CreatedAt: j.CreatedAt, StartedAt: j.StartedAt, FinishedAt: j.FinishedAt}
	if j.Progress != nil {
		out.Stage = j.Progress.Stage
	}
	if j.Error != nil {
		out.Error = redact.Text(j.Error.Message)
	}
	if j.Result != nil {
		out.ScanIndex = j.Result.ScanIndex
		if out.Image == "" {
			out.Image = j.Result.Image
		}
	}
	return out, nil
}

func (b consoleBackend) PendingJobs(ctx context.Context) (int, error) {
	return b.s.jobs.Pending(ctx)
}

func (b consoleBackend) RecordsByID(ctx context.Context, ids []string) ([]vuln.Record, error) {
	return b.st.RecordsByID(ctx, ids)
}

func (b consoleBackend) ManifestsWithPackages(ctx context.Context, kind string, names []string) ([]string, error) {
	return b.st.ManifestsWithPackages(ctx, kind, names)
}

func (b consoleBackend) ImagesOfManifest(ctx context.Context, digest string) ([]string, error) {
	return b.st.ImagesOfManifest(ctx, digest)
}

func (b consoleBackend) UpdateOperations(ctx context.Context, source string) ([]store.UpdateOperation, error) {
	return b.st.UpdateOperations(ctx, source)
}
