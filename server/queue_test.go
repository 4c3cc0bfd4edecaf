package server

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
)

// testQueue returns the job queue of a new SQLite store, closed when the
// test ends (after the servers on it, closed by cleanups registered
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
