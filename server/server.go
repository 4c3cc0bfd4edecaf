// Package server is lapps' HTTP API: a versioned JSON API under /v1 over
// the same service interface the command line uses, described by the
// OpenAPI document served at /v1/openapi.json.
package server

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/redact"
	"github.com/lapps/lapps/server/harbor"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/web"
)

//go:embed openapi.json
var openAPI []byte

// TokenChecker decides whether a bearer token is valid, and what it may
// do.
type TokenChecker interface {
	// CheckToken returns the scopes of token (see Scopes), or ok false
	// when it is unknown or revoked.
	CheckToken(ctx context.Context, token string) (scopes []string, ok bool, err error)
}

// Server serves the API.
type Server struct {
	svc     service.Service
	jobs    Jobs
	tokens  TokenChecker
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	mux     *http.ServeMux
	metrics *Metrics
	admit   *admitter
	apps    *appsAPI
	newApps func(scans service.Service) apps.Service
	// tokenAdmin serves /v1/tokens (WithTokenAdmin).
	tokenAdmin store.Tokens
	// localRoots are the directories local images may be named under
	// through the API (WithLocalImages); empty: none.
	localRoots []string

	// harbor serves Harbor's scanner adapter API under /harbor; version
	// is the scanner version it reports (WithVersion).
	harbor  *harbor.Adapter
	version string

	// The web console at / (WithConsole); nil: not served.
	consoleStore ConsoleStore
	consoleOpts  *web.Options
	// reports caches encoded reports (WithReportCache); nil when off.
	reportCfg ReportCacheConfig
	reports   *reports
}

// Option configures a Server.
type Option func(*Server)

// WithTokens requires a valid bearer token on every /v1 request, with the
// scope the route needs: read for every GET (any scope reads), scan to
// queue scans, deploy to create apps and decide deployments, admin for
// the vulnerability data, tokens and app removal (admin may do
// everything). A token lacking the scope is refused with 403 forbidden.
func WithTokens(t TokenChecker) Option { return func(s *Server) { s.tokens = t } }

// WithLocalImages lets callers name images by a local transport (oci:,
// oci-archive:, docker-archive:, dir:) under dirs
// (server.local_images); without it every local transport is refused
// through the API (403 forbidden). The server checks the reference when
// the request comes; the job runner checks again before a job runs
// (jobs.WithLocalImages, the same roots), and the service the server runs
// on must enforce them where it opens images (service.WithImageOptions
// with image.WithLocalRoots), where symbolic links are resolved.
func WithLocalImages(dirs []string) Option {
	return func(s *Server) { s.localRoots = append([]string{}, dirs...) }
}

// WithMetrics exports metrics at /metrics and records request, scan and
// report durations in them.
func WithMetrics(m *Metrics) Option { return func(s *Server) { s.metrics = m } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// route is one operation of the API; the OpenAPI test checks the table
// against the document.
type route struct {
	method, path string
	handler      func(s *Server, w http.ResponseWriter, r *http.Request)
	// scope is what a token needs for the route; public routes need no
	// token.
	scope string
}

// public marks a route that needs no token.
const public = ""

var routes = []route{
	{"GET", "/healthz", (*Server).healthz, public},
	{"GET", "/readyz", (*Server).readyz, public},
	{"GET", "/v1/openapi.json", (*Server).openapi, public},
	{"POST", "/v1/scans", (*Server).createScan, ScopeScan},
	{"POST", "/v1/sboms/scans", (*Server).scanSBOM, ScopeScan},
	{"GET", "/v1/scans", (*Server).listScans, ScopeRead},
	{"GET", "/v1/jobs/{id}", (*Server).getJob, ScopeRead},
	{"GET", "/v1/report", (*Server).getReport, ScopeRead},
	{"GET", "/v1/manifests/{digest}/report", (*Server).manifestReport, ScopeRead},
	{"GET", "/v1/sources", (*Server).sources, ScopeRead},
	{"POST", "/v1/sources/update", (*Server).updateSources, ScopeAdmin},
	{"POST", "/v1/sources/import", (*Server).importSource, ScopeAdmin},
	{"POST", "/v1/registry/events", (*Server).registryEvents, ScopeScan},
	// Authenticated by the handler: a lapps token with the scan scope,
	// the static admission token or a client certificate (see
	// AdmissionConfig).
	{"POST", "/v1/admission", (*Server).admission, public},
	{"POST", "/v1/apps", (*Server).createApp, ScopeDeploy},
	{"GET", "/v1/apps", (*Server).listApps, ScopeRead},
	{"POST", "/v1/apps/import", (*Server).importApp, ScopeDeploy},
	{"DELETE", "/v1/apps/{app}", (*Server).removeApp, ScopeAdmin},
	{"POST", "/v1/apps/{app}/deployments", (*Server).deploy, ScopeDeploy},
	{"GET", "/v1/apps/{app}/deployments", (*Server).appHistory, ScopeRead},
	{"POST", "/v1/apps/{app}/scans", (*Server).scanApp, ScopeScan},
	{"GET", "/v1/apps/{app}/scans", (*Server).listAppScans, ScopeRead},
	{"GET", "/v1/apps/{app}/scans/{n}", (*Server).appReport, ScopeRead},
	{"GET", "/v1/tokens", (*Server).listTokens, ScopeAdmin},
	{"POST", "/v1/tokens", (*Server).createToken, ScopeAdmin},
	{"DELETE", "/v1/tokens/{id}", (*Server).revokeToken, ScopeAdmin},
	// Harbor's pluggable scanner adapter (package server/harbor).
	{"GET", "/harbor/api/v1/metadata", (*Server).harborMetadata, ScopeRead},
	{"POST", "/harbor/api/v1/scan", (*Server).harborScan, ScopeScan},
	{"GET", "/harbor/api/v1/scan/{id}/report", (*Server).harborReport, ScopeRead},
}

// New returns a server over svc whose scan jobs go through queue (a
// jobs.Runner on the queue the replicas on one database share, which the
// caller starts and stops). It starts nothing: the server only answers
// requests, until Close.
func New(svc service.Service, queue Jobs, opts ...Option) *Server {
	s := &Server{svc: svc, jobs: queue, log: slog.Default(), mux: http.NewServeMux(), localRoots: []string{}}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(s)
	}
	s.reports = newReports(s.reportCfg, svc)
	if s.reports != nil {
		s.metrics.exportReportCache(s.reports.cache)
	}
	s.harbor = harbor.New(harborBackend{s}, harbor.WithVersion(s.version), harbor.WithLogger(s.log))
	if s.newApps != nil {
		s.apps.svc = s.newApps(queuedScans{Service: svc, s: s})
	}
	if s.metrics != nil {
		s.metrics.gauge("lapps_scan_jobs_pending", "Scan jobs queued or running, in every replica.", queue.Pending)
	}
	for _, rt := range routes {
		h := rt.handler
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(s, w, r) })
		var hh http.Handler = handler
		if rt.scope != public {
			hh = s.authenticate(handler, rt.scope)
		}
		s.mux.Handle(rt.method+" "+rt.path, s.metrics.instrument(rt.method+" "+rt.path, hh))
	}
	if s.metrics != nil {
		s.mux.Handle("GET /metrics", s.metrics.Handler())
	}
	s.mountConsole(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no such endpoint: %s %s (see /v1/openapi.json)", r.Method, r.URL.Path))
	})
	return s
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Close stops the server's own work and waits for it, however long it
// takes; see Shutdown for a bounded stop.
func (s *Server) Close() { _ = s.Shutdown(context.Background()) }

// Shutdown stops the server's own work: callers waiting for a job are
// answered (the job goes on) and the admission scans it is queueing are
// waited for, until ctx ends. The scan jobs are the runner's to stop
// (jobs.Runner.Shutdown), the HTTP server is the caller's to shut down.
func (s *Server) Shutdown(ctx context.Context) error {
	s.cancel()
	done := make(chan struct{})
	go func() {
		if s.admit != nil {
			s.admit.wg.Wait()
		}
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("shutdown: admission work did not stop: %w", ctx.Err())
	}
}

// scopesKey is the context key of the scopes of the request's token.
type scopesKey struct{}

func (s *Server) authenticate(next http.Handler, scope string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.tokens == nil {
			next.ServeHTTP(w, r)
			return
		}
		tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || tok == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lapps"`)
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "a bearer token is required (LAPPS_TOKEN)")
			return
		}
		scopes, valid, err := s.tokens.CheckToken(r.Context(), tok)
		if err != nil {
			writeErr(w, err)
			return
		}
		if !valid {
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "invalid or revoked token")
			return
		}
		if !allows(scopes, scope) {
			writeError(w, http.StatusForbidden, CodeForbidden, fmt.Sprintf("this token lacks the %s scope that %s %s needs (it has %s; `lapps token create NAME --scope %s` makes one that has it)",
				scope, r.Method, r.Pattern, strings.Join(scopes, ", "), scope))
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), scopesKey{}, scopes)))
	})
}

func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if _, err := s.svc.VulnDBStatus(r.Context()); err != nil {
		writeError(w, http.StatusServiceUnavailable, CodeInternal, "store not ready: "+err.Error())
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) openapi(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPI)
}

// errInsecure answers a caller that asks for insecure registry access.
const errInsecure = "insecure registry access is not a request's choice: the server's configuration decides it per registry (registries: HOST: insecure: true)"

// checkImage refuses, before anything is queued, an image the server
// will not open for a caller: a local transport outside
// server.local_images (image.CheckLocal; the open checks again with
// symbolic links resolved).
func (s *Server) checkImage(ref string) error {
	return image.CheckLocal(ref, s.localRoots)
}

func decode(r *http.Request, v any) error {
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("request body: %v: %w", err, service.ErrBadRequest)
	}
	return nil
}

func (s *Server) createScan(w http.ResponseWriter, r *http.Request) {
	var body api.ScanBody
	if err := decode(r, &body); err != nil {
		writeErr(w, err)
		return
	}
	if body.Image == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "image is required")
		return
	}
	if body.Insecure {
		writeError(w, http.StatusBadRequest, CodeBadRequest, errInsecure)
		return
	}
	if err := s.checkImage(body.Image); err != nil {
		writeErr(w, err)
		return
	}
	job, err := s.enqueue(r.Context(), "", scanJob{Image: body.Image, Platform: body.Platform})
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+job.ID)
	writeJSON(w, http.StatusAccepted, job)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	job, err := s.jobs.Get(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) {
		writeError(w, http.StatusNotFound, CodeNotFound, "no such job (finished jobs are kept for server.gc.job_ttl, 24h by default)")
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, job)
}

func imageParam(w http.ResponseWriter, r *http.Request) (string, bool) {
	img := r.URL.Query().Get("image")
	if img == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the image query parameter is required")
		return "", false
	}
	return img, true
}

func (s *Server) listScans(w http.ResponseWriter, r *http.Request) {
	img, ok := imageParam(w, r)
	if !ok {
		return
	}
	scans, err := s.svc.ListScans(r.Context(), img)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, scans)
}

func (s *Server) getReport(w http.ResponseWriter, r *http.Request) {
	img, ok := imageParam(w, r)
	if !ok {
		return
	}
	index := 0
	if v := r.URL.Query().Get("index"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "index must be a scan number (1, 2, …) or 0 for the latest")
			return
		}
		index = n
	}
	n, ok := negotiate(w, r, imageFormats())
	if !ok {
		return
	}
	s.imageReport(w, r, n, img, index)
}

func (s *Server) manifestReport(w http.ResponseWriter, r *http.Request) {
	digest := r.PathValue("digest")
	if !strings.HasPrefix(digest, "sha256:") {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the digest must be sha256:…")
		return
	}
	n, ok := negotiate(w, r, imageFormats())
	if !ok {
		return
	}
	s.manifestReportOf(w, r, n, digest)
}

func (s *Server) sources(w http.ResponseWriter, r *http.Request) {
	st, err := s.svc.VulnDBStatus(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	for i := range st {
		st[i].LastError = redact.Text(st[i].LastError)
	}
	writeJSON(w, http.StatusOK, st)
}

func (s *Server) updateSources(w http.ResponseWriter, r *http.Request) {
	var body api.UpdateBody
	if r.ContentLength != 0 {
		if err := decode(r, &body); err != nil {
			writeErr(w, err)
			return
		}
	}
	res, err := s.svc.UpdateVulnDB(r.Context(), body.Sources)
	if err != nil {
		writeErr(w, err)
		return
	}
	for i := range res {
		res[i].Error = redact.Text(res[i].Error)
	}
	writeJSON(w, http.StatusOK, res)
}

// maxOrigin bounds the origin query parameter of an import.
const maxOrigin = 4096

// importSource takes the data in the request body (a zip, or one JSON or
// YAML file) and imports it as the given type.
func (s *Server) importSource(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	typ, name, filename := q.Get("type"), q.Get("name"), q.Get("filename")
	if typ == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the type query parameter is required")
		return
	}
	var replace bool
	if v := q.Get("replace"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, "replace must be true or false")
			return
		}
		replace = b
	}
	if filename == "" || strings.ContainsAny(filename, `/\`) {
		filename = "feed"
	}
	dir, err := os.MkdirTemp("", "lapps-import-")
	if err != nil {
		writeErr(w, err)
		return
	}
	defer os.RemoveAll(dir)
	path := dir + "/" + filename
	f, err := os.Create(path)
	if err != nil {
		writeErr(w, err)
		return
	}
	_, err = io.Copy(f, http.MaxBytesReader(w, r.Body, 2<<30))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, "import larger than 2 GiB")
			return
		}
		writeErr(w, fmt.Errorf("read import: %w", err))
		return
	}
	ctx := r.Context()
	if origin := q.Get("origin"); origin != "" {
		// Where the caller's data came from: recorded with the source, and
		// what tells an update of the same import from a replacement.
		if len(origin) > maxOrigin {
			writeError(w, http.StatusBadRequest, CodeBadRequest, fmt.Sprintf("origin longer than %d bytes", maxOrigin))
			return
		}
		ctx = service.WithImportOrigin(ctx, origin)
	} else {
		// Named after the uploaded file's name, not the temporary copy;
		// uploads of the same name are the same import.
		if name == "" {
			name = service.ImportName(typ, filename)
		}
		ctx = service.WithImportOrigin(ctx, "upload:"+filename)
	}
	res, err := s.svc.ImportVulnDB(ctx, typ, path, name, replace)
	if err != nil {
		code, status := classify(err)
		if code == CodeInternal {
			code, status = CodeBadRequest, http.StatusUnprocessableEntity
		}
		writeError(w, status, code, err.Error())
		return
	}
	writeJSON(w, http.StatusOK, res)
}
