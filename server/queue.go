package server

import (
	"context"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/jobs"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/store"
)

// Jobs is the scan job queue the server hands long work to and answers
// for (package jobs runs it; the daemon starts and stops it): what the
// handlers use of it.
type Jobs interface {
	// Enqueue queues a scan under id (a new one when empty), returning
	// the job and whether it is new (false: one was queued under id).
	Enqueue(ctx context.Context, id string, req jobs.Scan) (*api.Job, bool, error)
	// Get returns a job as the API shows it, or an error wrapping
	// store.ErrNotFound.
	Get(ctx context.Context, id string) (*api.Job, error)
	// Stored returns a job as the queue stores it.
	Stored(ctx context.Context, id string) (*store.Job, error)
	// Show turns a stored job into the API's.
	Show(ctx context.Context, sj *store.Job) (*api.Job, error)
	// Await waits for a job to finish, in any replica, and returns the
	// report its scan recorded or its failure; it stops waiting when ctx
	// or stop ends.
	Await(ctx context.Context, stop <-chan struct{}, id string) (*report.Report, error)
	// Pending counts the jobs queued or running, in every replica.
	Pending(ctx context.Context) (int, error)
}

var _ Jobs = (*jobs.Runner)(nil)

// Job states, as the store keeps them.
const (
	JobQueued    = store.JobQueued
	JobRunning   = store.JobRunning
	JobSucceeded = store.JobSucceeded
	JobFailed    = store.JobFailed
)

// scanJob is the request of a scan job.
type scanJob = jobs.Scan

// enqueue queues a scan job under id (a new one when empty) and returns
// it; a job already queued under id is returned as it stands.
func (s *Server) enqueue(ctx context.Context, id string, req scanJob) (*api.Job, error) {
	job, _, err := s.jobs.Enqueue(ctx, id, req)
	return job, err
}
