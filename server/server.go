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
	"time"

	"github.com/lapps/lapps/scheduler"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

//go:embed openapi.json
var openAPI []byte

// TokenChecker decides whether a bearer token is valid.
type TokenChecker interface {
	CheckToken(ctx context.Context, token string) (bool, error)
}

// Server serves the API.
type Server struct {
	svc     service.Service
	jobs    *jobs
	tokens  TokenChecker
	log     *slog.Logger
	ctx     context.Context
	cancel  context.CancelFunc
	mux     *http.ServeMux
	metrics *Metrics
	admit   *admitter
	apps    *appsAPI

	// Settings of the scan jobs, which New starts.
	scanConcurrency int
	holder          string
	leaseTTL        time.Duration
}

// Option configures a Server.
type Option func(*Server)

// WithTokens requires a valid bearer token on every /v1 request.
func WithTokens(t TokenChecker) Option { return func(s *Server) { s.tokens = t } }

// WithScanConcurrency sets how many scan jobs this replica runs at once
// (default 2); more wait in the queue, for this replica or another.
func WithScanConcurrency(n int) Option {
	return func(s *Server) {
		if n > 0 {
			s.scanConcurrency = n
		}
	}
}

// WithReplica names this replica among those sharing the database (the
// holder of the scan jobs it claims; default scheduler.HolderID) and sets
// the lease of its claims (default scheduler.DefaultLeaseTTL): a job
// whose replica dies is claimed again once its lease has expired.
func WithReplica(holder string, leaseTTL time.Duration) Option {
	return func(s *Server) {
		if holder != "" {
			s.holder = holder
		}
		if leaseTTL > 0 {
			s.leaseTTL = leaseTTL
		}
	}
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
	public       bool
}

var routes = []route{
	{"GET", "/healthz", (*Server).healthz, true},
	{"GET", "/readyz", (*Server).readyz, true},
	{"GET", "/v1/openapi.json", (*Server).openapi, true},
	{"POST", "/v1/scans", (*Server).createScan, false},
	{"GET", "/v1/scans", (*Server).listScans, false},
	{"GET", "/v1/jobs/{id}", (*Server).getJob, false},
	{"GET", "/v1/report", (*Server).getReport, false},
	{"GET", "/v1/manifests/{digest}/report", (*Server).manifestReport, false},
	{"GET", "/v1/sources", (*Server).sources, false},
	{"POST", "/v1/sources/update", (*Server).updateSources, false},
	{"POST", "/v1/sources/import", (*Server).importSource, false},
	{"POST", "/v1/registry/events", (*Server).registryEvents, false},
	// Public: the API server calls webhooks without a bearer token (see
	// AdmissionConfig).
	{"POST", "/v1/admission", (*Server).admission, true},
	{"POST", "/v1/apps", (*Server).createApp, false},
	{"GET", "/v1/apps", (*Server).listApps, false},
	{"POST", "/v1/apps/import", (*Server).importApp, false},
	{"DELETE", "/v1/apps/{app}", (*Server).removeApp, false},
	{"POST", "/v1/apps/{app}/deployments", (*Server).deploy, false},
	{"GET", "/v1/apps/{app}/deployments", (*Server).appHistory, false},
	{"POST", "/v1/apps/{app}/scans", (*Server).scanApp, false},
	{"GET", "/v1/apps/{app}/scans", (*Server).listAppScans, false},
	{"GET", "/v1/apps/{app}/scans/{n}", (*Server).appReport, false},
}

// New returns a server over svc whose scan jobs go through queue, which
// the replicas on one database share (the store); it starts running them
// at once, until Close.
func New(svc service.Service, queue store.Jobs, opts ...Option) *Server {
	s := &Server{svc: svc, log: slog.Default(), mux: http.NewServeMux(),
		scanConcurrency: 2, holder: scheduler.HolderID(), leaseTTL: scheduler.DefaultLeaseTTL}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	for _, o := range opts {
		o(s)
	}
	s.jobs = newJobs(queue, svc, s.holder, s.leaseTTL, s.scanConcurrency, s.log)
	if s.metrics != nil {
		s.jobs.observe = func(d time.Duration) { s.metrics.index.Observe(d.Seconds()) }
		s.metrics.gauge("lapps_scan_jobs_pending", "Scan jobs queued or running, in every replica.", queue.PendingJobs)
	}
	s.jobs.start(s.ctx)
	for _, rt := range routes {
		h := rt.handler
		handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(s, w, r) })
		var hh http.Handler = handler
		if !rt.public {
			hh = s.authenticate(handler)
		}
		s.mux.Handle(rt.method+" "+rt.path, s.metrics.instrument(rt.method+" "+rt.path, hh))
	}
	if s.metrics != nil {
		s.mux.Handle("GET /metrics", s.metrics.Handler())
	}
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeNotFound, fmt.Sprintf("no such endpoint: %s %s (see /v1/openapi.json)", r.Method, r.URL.Path))
	})
	return s
}

// Handler returns the HTTP handler.
func (s *Server) Handler() http.Handler { return s.mux }

// Close stops the jobs and waits for them.
func (s *Server) Close() {
	s.cancel()
	if s.admit != nil {
		s.admit.wg.Wait()
	}
	s.jobs.wait()
}

func (s *Server) authenticate(next http.Handler) http.Handler {
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
		valid, err := s.tokens.CheckToken(r.Context(), tok)
		if err != nil {
			writeErr(w, err)
			return
		}
		if !valid {
			writeError(w, http.StatusUnauthorized, CodeUnauthorized, "invalid or revoked token")
			return
		}
		next.ServeHTTP(w, r)
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

// ScanBody is the body of POST /v1/scans.
type ScanBody struct {
	Image    string `json:"image"`
	Platform string `json:"platform,omitempty"`
	Insecure bool   `json:"insecure,omitempty"`
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
	var body ScanBody
	if err := decode(r, &body); err != nil {
		writeErr(w, err)
		return
	}
	if body.Image == "" {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "image is required")
		return
	}
	job, err := s.jobs.enqueue(r.Context(), "", scanJob{Image: body.Image, Platform: body.Platform, Insecure: body.Insecure})
	if err != nil {
		writeErr(w, err)
		return
	}
	w.Header().Set("Location", "/v1/jobs/"+job.ID)
	writeJSON(w, http.StatusAccepted, job)
}

func (s *Server) getJob(w http.ResponseWriter, r *http.Request) {
	job, err := s.jobs.get(r.Context(), r.PathValue("id"))
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
	rep, err := s.svc.Report(r.Context(), img, index)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) manifestReport(w http.ResponseWriter, r *http.Request) {
	digest := r.PathValue("digest")
	if !strings.HasPrefix(digest, "sha256:") {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the digest must be sha256:…")
		return
	}
	rep, err := s.svc.ManifestReport(r.Context(), digest)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) sources(w http.ResponseWriter, r *http.Request) {
	st, err := s.svc.VulnDBStatus(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, st)
}

// UpdateBody is the body of POST /v1/sources/update.
type UpdateBody struct {
	Sources []string `json:"sources,omitempty"`
}

func (s *Server) updateSources(w http.ResponseWriter, r *http.Request) {
	var body UpdateBody
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
	writeJSON(w, http.StatusOK, res)
}

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
	res, err := s.svc.ImportVulnDB(r.Context(), typ, path, name, replace)
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
