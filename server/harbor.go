package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/lapps/lapps/jobs"
	"github.com/lapps/lapps/server/harbor"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

// Harbor's scanner adapter is served under /harbor (Harbor registers the
// scanner as http://HOST:6060/harbor): package server/harbor speaks the
// API, this file gives it the job queue.

// WithVersion sets the version the server reports as a scanner (Harbor's
// metadata; default "dev").
func WithVersion(v string) Option { return func(s *Server) { s.version = v } }

// harborBackend is the server's job queue as Harbor's adapter needs it.
type harborBackend struct{ s *Server }

// Enqueue implements harbor.Backend.
func (b harborBackend) Enqueue(ctx context.Context, sc harbor.Scan) (string, error) {
	if err := b.s.checkImage(sc.Image); err != nil {
		return "", err
	}
	job, err := b.s.enqueue(ctx, "", scanJob{Image: sc.Image, Meta: sc.Meta, Credentials: sc.Credentials})
	if err != nil {
		return "", err
	}
	return job.ID, nil
}

// Status implements harbor.Backend.
func (b harborBackend) Status(ctx context.Context, id string) (*harbor.Status, error) {
	if store.CheckJobID(id) != nil {
		return nil, harbor.ErrNotFound
	}
	sj, err := b.s.jobs.Stored(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, harbor.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	var req scanJob
	if err := json.Unmarshal(sj.Request, &req); err != nil || sj.Kind != jobs.KindScan || len(req.Meta) == 0 {
		// Not a job Harbor queued.
		return nil, harbor.ErrNotFound
	}
	job, err := b.s.jobs.Show(ctx, sj)
	if err != nil {
		return nil, err
	}
	st := &harbor.Status{State: job.State, Meta: req.Meta, Report: job.Result}
	if job.Error != nil {
		st.Code, st.Message = job.Error.Code, job.Error.Message
	}
	return st, nil
}

// VulnDBStatus implements harbor.Backend.
func (b harborBackend) VulnDBStatus(ctx context.Context) ([]service.SourceStatus, error) {
	return b.s.svc.VulnDBStatus(ctx)
}

func (s *Server) harborMetadata(w http.ResponseWriter, r *http.Request) {
	s.harbor.Metadata(w, r)
}

func (s *Server) harborScan(w http.ResponseWriter, r *http.Request) {
	s.harbor.AcceptScan(w, r)
}

func (s *Server) harborReport(w http.ResponseWriter, r *http.Request) {
	s.harbor.Report(w, r, r.PathValue("id"))
}
