// Package jobstest holds what the tests of the job runner and of the
// server that takes it share: a queue on a new SQLite store, and a wait
// for a job's state.
package jobstest

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
)

// Queue returns the job queue of a new SQLite store, closed when the
// test ends (after the runners on it, closed by cleanups registered
// later).
func Queue(tb testing.TB) store.Jobs {
	tb.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(tb.TempDir(), "jobs.db"))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// Get reads a job as stored: a store.Jobs's GetJob, or a runner's
// Stored.
type Get func(ctx context.Context, id string) (*store.Job, error)

// Wait polls job id through get until it is finished (or until cond,
// when given, holds), for at most 10 s, and returns it.
func Wait(tb testing.TB, get Get, id string, cond func(*store.Job) bool) *store.Job {
	tb.Helper()
	if cond == nil {
		cond = func(j *store.Job) bool { return j.State == store.JobSucceeded || j.State == store.JobFailed }
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := get(context.Background(), id)
		if err != nil {
			tb.Fatal(err)
		}
		if cond(j) {
			return j
		}
		if time.Now().After(deadline) {
			tb.Fatalf("job %s: still %s (holder %q, attempt %d)", id, j.State, j.Holder, j.Attempts)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
