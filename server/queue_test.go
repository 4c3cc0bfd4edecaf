package server

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/lapps/lapps/jobs"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

// countingQueue counts the jobs enqueued through it.
type countingQueue struct {
	store.Jobs
	enqueued atomic.Int64
}

func (q *countingQueue) EnqueueJob(ctx context.Context, j *store.Job) (*store.Job, error) {
	q.enqueued.Add(1)
	return q.Jobs.EnqueueJob(ctx, j)
}

// StartJobs returns a runner of q's scan jobs over svc, started, and
// stopped when the test ends (before the stores closed by cleanups
// registered earlier). The tests of package server_test use it too.
func StartJobs(t testing.TB, svc jobs.Scanner, q store.Jobs, opts ...jobs.Option) *jobs.Runner {
	t.Helper()
	r := jobs.New(q, svc, opts...)
	r.Start(context.Background())
	t.Cleanup(r.Close)
	return r
}

// newServer returns a server over svc whose scan jobs a runner on q runs,
// started and stopped when the test ends: opts are the server's Options
// and the runner's jobs.Options.
func newServer(t testing.TB, svc service.Service, q store.Jobs, opts ...any) *Server {
	t.Helper()
	var so []Option
	var jo []jobs.Option
	for _, o := range opts {
		switch o := o.(type) {
		case Option:
			so = append(so, o)
		case jobs.Option:
			jo = append(jo, o)
		default:
			t.Fatalf("newServer: %T is not an option", o)
		}
	}
	return NewWithJobs(t, svc, q, jo, so...)
}

// NewWithJobs returns a server over svc whose scan jobs a runner on q
// runs (with jobOpts, and the local images the server allows), started
// and stopped when the test ends. The tests of package server_test use
// it too.
func NewWithJobs(t testing.TB, svc service.Service, q store.Jobs, jobOpts []jobs.Option, opts ...Option) *Server {
	t.Helper()
	probe := &Server{}
	for _, o := range opts {
		o(probe)
	}
	if probe.localRoots != nil {
		jobOpts = append([]jobs.Option{jobs.WithLocalImages(probe.localRoots)}, jobOpts...)
	}
	return New(svc, StartJobs(t, svc, q, jobOpts...), opts...)
}
