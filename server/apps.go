package server

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/appformat"
	"github.com/lapps/lapps/service"
)

// PolicyFor returns the policy that decides deployments of app into env
// (env is empty for app scans); nil passes every image.
type PolicyFor func(app, env string) *policy.Policy

// appsAPI is the state of the /v1/apps endpoints.
type appsAPI struct {
	svc       apps.Service
	policyFor PolicyFor
}

// WithApps enables the /v1/apps endpoints over the apps service newApps
// returns (apps.New on the server's store, say); without it they answer
// 404. newApps is given the service to scan images through: its
// ScanImage runs each scan as a job of the server's queue and waits for
// it, so that the scans of deployments and app scans are limited by
// server.scan_concurrency and server.scan_timeout, and visible as jobs,
// like every other scan. Deployments and app scans are decided under
// policyFor's policy — the server's configuration, never a policy sent
// by the client, so that a client cannot loosen the gate. A nil
// policyFor uses no policy (every image passes).
func WithApps(newApps func(scans service.Service) apps.Service, policyFor PolicyFor) Option {
	return func(s *Server) {
		s.newApps = newApps
		s.apps = &appsAPI{policyFor: policyFor}
	}
}

// queuedScans is the service the apps API scans images through: the
// server's service, whose ScanImage queues a scan job and waits for it.
type queuedScans struct {
	service.Service
	s *Server
}

// ScanImage queues a scan of req.Image (its platform; credentials and
// insecure access are the configuration's) and waits for the job, in
// whichever replica runs it. A local image outside server.local_images
// is refused before anything is queued.
func (q queuedScans) ScanImage(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
	if err := q.s.checkImage(req.Image); err != nil {
		return nil, err
	}
	job, err := q.s.enqueue(ctx, "", scanJob{Image: req.Image, Platform: req.Platform})
	if err != nil {
		return nil, err
	}
	q.s.log.Info("scan queued for an app", "image", req.Image, "job", job.ID)
	return q.s.jobs.Await(ctx, q.s.ctx.Done(), job.ID)
}

func (a *appsAPI) policy(app, env string) *policy.Policy {
	if a.policyFor == nil {
		return nil
	}
	return a.policyFor(app, env)
}

// appsOr answers 404 when the app endpoints are not enabled.
func (s *Server) appsOr(w http.ResponseWriter) *appsAPI {
	if s.apps == nil {
		writeError(w, http.StatusNotFound, CodeNotFound, "applications are not enabled on this server")
	}
	return s.apps
}

func (s *Server) createApp(w http.ResponseWriter, r *http.Request) {
	a := s.appsOr(w)
	if a == nil {
		return
	}
	var body api.AppBody
	if err := decode(r, &body); err != nil {
		writeErr(w, err)
		return
	}
	app, err := a.svc.CreateApp(r.Context(), body.Name, body.Images)
	if err != nil {
		writeErr(w, err) // a taken name is store.ErrExists: 409
		return
	}
	writeJSON(w, http.StatusCreated, app)
}

func (s *Server) listApps(w http.ResponseWriter, r *http.Request) {
	a := s.appsOr(w)
	if a == nil {
		return
	}
	list, err := a.svc.ListApps(r.Context())
	if err != nil {
		writeErr(w, err)
		return
	}
	if list == nil {
		list = []apps.App{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) removeApp(w http.ResponseWriter, r *http.Request) {
	a := s.appsOr(w)
	if a == nil {
		return
	}
	if err := a.svc.RemoveApp(r.Context(), r.PathValue("app")); err != nil {
		writeErr(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// importApp takes Kubernetes manifests (YAML) in the body; the name query
// parameter names the app (default: the first workload's name).
func (s *Server) importApp(w http.ResponseWriter, r *http.Request) {
	a := s.appsOr(w)
	if a == nil {
		return
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 16<<20))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, CodeBadRequest, fmt.Sprintf("manifests: %v (at most 16 MiB)", err))
		return
	}
	app, err := a.svc.ImportApp(r.Context(), r.URL.Query().Get("name"), data)
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, app)
}

// deploy decides a deployment under the server's policy. A refusal is 200
// with accepted false, as in-process it is a result, not an error.
func (s *Server) deploy(w http.ResponseWriter, r *http.Request) {
	a := s.appsOr(w)
	if a == nil {
		return
	}
	var body api.DeployBody
	if r.ContentLength != 0 {
		if err := decode(r, &body); err != nil {
			writeErr(w, err)
			return
		}
	}
	if len(body.InsecureRegistries) > 0 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, errInsecure)
		return
	}
	name := r.PathValue("app")
	env := body.Env
	if env == "" {
		env = apps.DefaultEnv
	}
	d, err := a.svc.Deploy(r.Context(), apps.DeployRequest{App: name, Env: body.Env, Images: body.Images,
		Policy:       a.policy(name, env),
		ImageOptions: apps.ImageOptions{Platform: body.Platform}})
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}

func (s *Server) appHistory(w http.ResponseWriter, r *http.Request) {
	a := s.appsOr(w)
	if a == nil {
		return
	}
	ds, err := a.svc.AppHistory(r.Context(), r.PathValue("app"))
	if err != nil {
		writeErr(w, err)
		return
	}
	if ds == nil {
		ds = []apps.Deployment{}
	}
	writeJSON(w, http.StatusOK, ds)
}

func (s *Server) scanApp(w http.ResponseWriter, r *http.Request) {
	a := s.appsOr(w)
	if a == nil {
		return
	}
	var body api.AppScanBody
	if r.ContentLength != 0 {
		if err := decode(r, &body); err != nil {
			writeErr(w, err)
			return
		}
	}
	if len(body.InsecureRegistries) > 0 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, errInsecure)
		return
	}
	name := r.PathValue("app")
	rep, err := a.svc.ScanApp(r.Context(), apps.AppScanRequest{App: name, Policy: a.policy(name, ""),
		ImageOptions: apps.ImageOptions{Platform: body.Platform}})
	if err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, rep)
}

func (s *Server) listAppScans(w http.ResponseWriter, r *http.Request) {
	a := s.appsOr(w)
	if a == nil {
		return
	}
	list, err := a.svc.ListAppScans(r.Context(), r.PathValue("app"))
	if err != nil {
		writeErr(w, err)
		return
	}
	if list == nil {
		list = []apps.AppScanSummary{}
	}
	writeJSON(w, http.StatusOK, list)
}

func (s *Server) appReport(w http.ResponseWriter, r *http.Request) {
	a := s.appsOr(w)
	if a == nil {
		return
	}
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 {
		writeError(w, http.StatusBadRequest, CodeBadRequest, "the app scan number must be 1, 2, … or 0 for the latest")
		return
	}
	neg, ok := negotiate(w, r, appformat.Formats)
	if !ok {
		return
	}
	s.appReportOf(w, r, a, neg, r.PathValue("app"), n)
}
