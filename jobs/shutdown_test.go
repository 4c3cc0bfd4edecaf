package jobs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/api/errcode"
	"github.com/lapps/lapps/jobs/jobstest"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

// stuckScanner is a scan blocked in I/O that ignores cancellation (a
// FIFO): it returns only when the test ends.
func stuckScanner(t *testing.T, started chan<- string) fakeService {
	end := make(chan struct{})
	t.Cleanup(func() { close(end) })
	return fakeService{scan: func(_ context.Context, req service.ScanRequest) (*report.Report, error) {
		started <- req.Key
		<-end
		return nil, errors.New("unreachable")
	}}
}

// withGrace sets how long a cancelled scan is waited for.
func withGrace(d time.Duration) Option { return func(j *Runner) { j.grace = d } }

// TestShutdownWithStuckScan: a shutdown ends when its context does even
// with a scan that ignores cancellation, and the job is released to the
// queue, not left running under a dead replica's lease.
func TestShutdownWithStuckScan(t *testing.T) {
	q := jobstest.Queue(t)
	started := make(chan string, 1)
	srv := run(stuckScanner(t, started), q, WithReplica("stuck", time.Hour), withGrace(time.Hour))
	job, err := srv.enqueue(context.Background(), "", Scan{Image: "reg.example.com/fifo:1"})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err = srv.Shutdown(ctx)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "1 scan jobs did not stop") {
		t.Errorf("Shutdown = %v, want the deadline naming the stuck job", err)
	}
	j, err := q.GetJob(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.JobQueued || j.Holder != "" {
		t.Errorf("job after shutdown: %s by %q, want queued for another replica", j.State, j.Holder)
	}
}

// TestStuckScanGivenUp: a cancelled scan that does not stop is given up
// after the grace period: at shutdown its job is released and the
// shutdown completes; its slot is not held.
func TestStuckScanGivenUp(t *testing.T) {
	q := jobstest.Queue(t)
	started := make(chan string, 1)
	srv := run(stuckScanner(t, started), q, WithReplica("stuck", time.Hour), withGrace(10*time.Millisecond))
	job, err := srv.enqueue(context.Background(), "", Scan{Image: "reg.example.com/fifo:1"})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if j, _ := q.GetJob(context.Background(), job.ID); j == nil || j.State != store.JobQueued {
		t.Errorf("job after shutdown: %+v, want queued", j)
	}
}

// TestScanTimeout: a scan longer than scan_timeout fails its job with
// limit_exceeded naming server.scan_timeout, whether it stops when
// cancelled or not (then after the grace period), and frees its slot for
// the next job.
func TestScanTimeout(t *testing.T) {
	q := jobstest.Queue(t)
	started := make(chan string, 2)
	end := make(chan struct{})
	defer close(end)
	srv := run(fakeService{scan: func(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
		started <- req.Image
		if req.Image == "reg.example.com/stuck:1" {
			<-end // ignores ctx
			return nil, errors.New("unreachable")
		}
		<-ctx.Done()
		return nil, fmt.Errorf("read layer: %w", ctx.Err())
	}}, q, WithConcurrency(1), WithScanTimeout(50*time.Millisecond), withGrace(10*time.Millisecond))
	defer srv.Close()
	var ids []string
	for _, im := range []string{"reg.example.com/slow:1", "reg.example.com/stuck:1"} {
		job, err := srv.enqueue(context.Background(), "", Scan{Image: im})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, job.ID)
	}
	for _, id := range ids {
		jobstest.Wait(t, q.GetJob, id, nil)
		j, err := srv.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != store.JobFailed || j.Error == nil || j.Error.Code != api.CodeLimitExceeded ||
			!strings.Contains(j.Error.Message, "server.scan_timeout") || !strings.Contains(j.Error.Message, j.Image) {
			t.Errorf("job of %s: %s %+v, want failed limit_exceeded naming server.scan_timeout", j.Image, j.State, j.Error)
		}
	}
}

// TestReleasedThreeTimesFails: a job released at three shutdowns in a
// row (a scan that never finishes before the replica stops) ends failed
// at the next claim, not retried forever: releases count the attempt,
// and the server does not undo it.
func TestReleasedThreeTimesFails(t *testing.T) {
	q := jobstest.Queue(t)
	if _, err := q.EnqueueJob(context.Background(), &store.Job{ID: "j1", Kind: KindScan, Request: []byte(`{"image":"reg.example.com/big:1"}`)}); err != nil {
		t.Fatal(err)
	}
	for i := range maxJobAttempts {
		started := make(chan struct{}, 1)
		srv := run(fakeService{scan: func(ctx context.Context, _ service.ScanRequest) (*report.Report, error) {
			started <- struct{}{}
			<-ctx.Done()
			return nil, ctx.Err()
		}}, q, WithReplica(fmt.Sprintf("replica-%d", i), time.Hour))
		<-started
		srv.Close()
		j, err := q.GetJob(context.Background(), "j1")
		if err != nil {
			t.Fatal(err)
		}
		if j.State != store.JobQueued || j.Attempts != i+1 {
			t.Fatalf("after shutdown %d: %s at attempt %d, want queued at %d", i+1, j.State, j.Attempts, i+1)
		}
	}
	scans := atomic.Int64{}
	srv := run(fakeService{scan: func(context.Context, service.ScanRequest) (*report.Report, error) {
		scans.Add(1)
		return &report.Report{}, nil
	}}, q, WithReplica("last", time.Hour))
	defer srv.Close()
	j := jobstest.Wait(t, q.GetJob, "j1", nil)
	if j.State != store.JobFailed || !strings.Contains(string(j.Error), "abandoned after 3 attempts") || scans.Load() != 0 {
		t.Errorf("after three releases: %s %s, %d scans; want failed, abandoned, not scanned", j.State, j.Error, scans.Load())
	}
}

// TestScanTimeoutError: a scan's timeout is classified limit_exceeded.
func TestScanTimeoutError(t *testing.T) {
	if c, _ := errcode.Classify(scanTimeoutError(time.Second)); c != api.CodeLimitExceeded {
		t.Errorf("scan timeout: %s", c)
	}
	if c, _ := errcode.Classify(scanTimeoutError(1500 * time.Millisecond)); c != api.CodeLimitExceeded {
		t.Errorf("scan timeout in milliseconds: %s", c)
	}
}
