package server

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapps/lapps/jobs"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
)

// testQueue returns the job queue of a new SQLite store, closed when the
// test ends (after the runners on it, closed by cleanups registered
// later).
func testQueue(t testing.TB) store.Jobs {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

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

// storedJobs reads jobs as stored: a store.Jobs (GetJob) or the server's
// runner (Stored).
type storedJobs func(ctx context.Context, id string) (*store.Job, error)

// waitJob polls job id until it is finished (or until cond, when given,
// holds) and returns it.
func waitJob(t *testing.T, get storedJobs, id string, cond func(*store.Job) bool) *store.Job {
	t.Helper()
	if cond == nil {
		cond = func(j *store.Job) bool { return j.State == JobSucceeded || j.State == JobFailed }
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s: still %s (holder %q, attempt %d)", id, j.State, j.Holder, j.Attempts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
