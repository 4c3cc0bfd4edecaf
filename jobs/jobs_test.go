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
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/jobs/jobstest"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

// fakeService is a Scanner whose scans and recorded reports the tests
// choose.
type fakeService struct {
	scan func(ctx context.Context, req service.ScanRequest) (*report.Report, error)
	// recorded, if set, answers Report for recorded scans (index > 0).
	recorded func(image string, index int) (*report.Report, error)
}

func (f fakeService) ScanImage(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
	if f.scan != nil {
		return f.scan(ctx, req)
	}
	return nil, fmt.Errorf("%s: %w", req.Image, image.ErrNotFound)
}

func (f fakeService) Report(_ context.Context, image string, index int) (*report.Report, error) {
	if f.recorded != nil && index > 0 {
		return f.recorded(image, index)
	}
	return nil, fmt.Errorf("no scans: %w", service.ErrNotFound)
}

// run returns a runner of q's jobs over svc, started.
func run(svc Scanner, q store.Jobs, opts ...Option) *Runner {
	r := New(q, svc, opts...)
	r.Start(context.Background())
	return r
}

// enqueue is Enqueue without saying whether the job is new.
func (j *Runner) enqueue(ctx context.Context, id string, req Scan) (*api.Job, error) {
	job, _, err := j.Enqueue(ctx, id, req)
	return job, err
}

// okScanner succeeds at once, telling each scan's key.
func okScanner(keys chan<- string) fakeService {
	return fakeService{scan: func(_ context.Context, req service.ScanRequest) (*report.Report, error) {
		if keys != nil {
			keys <- req.Key
		}
		return &report.Report{Image: req.Image, ScanIndex: 1}, nil
	}}
}

// TestJobTakenOver: a job whose replica died (its claim expired
// unrenewed) is claimed by another and run again, under the same key, so
// that the scan it may have recorded already is not recorded twice.
func TestJobTakenOver(t *testing.T) {
	q := jobstest.Queue(t)
	ctx := context.Background()
	if _, err := q.EnqueueJob(ctx, &store.Job{ID: "j1", Kind: KindScan, Request: []byte(`{"image":"reg/app:1"}`)}); err != nil {
		t.Fatal(err)
	}
	// The dead replica's claim, which it never renews.
	if j, err := q.ClaimJob(ctx, "dead-replica", 50*time.Millisecond); err != nil || j == nil {
		t.Fatalf("claim: %v, %v", j, err)
	}
	keys := make(chan string, 1)
	srv := run(okScanner(keys), q, WithReplica("live-replica", 3*time.Second))
	defer srv.Close()
	j := jobstest.Wait(t, q.GetJob, "j1", nil)
	if j.State != store.JobSucceeded || j.Holder != "live-replica" || j.Attempts != 2 {
		t.Errorf("job taken over: %s by %q at attempt %d, want succeeded by live-replica at attempt 2", j.State, j.Holder, j.Attempts)
	}
	if k := <-keys; k != "j1" {
		t.Errorf("scan key %q, want the job id", k)
	}
}

// TestJobAbandoned: a job whose replicas keep dying is failed after
// maxJobAttempts claims, not run again.
func TestJobAbandoned(t *testing.T) {
	q := jobstest.Queue(t)
	ctx := context.Background()
	if _, err := q.EnqueueJob(ctx, &store.Job{ID: "j1", Kind: KindScan, Request: []byte(`{"image":"reg/huge:1"}`)}); err != nil {
		t.Fatal(err)
	}
	for i := range maxJobAttempts {
		if j, err := q.ClaimJob(ctx, fmt.Sprintf("dead-%d", i), time.Millisecond); err != nil || j == nil {
			t.Fatalf("claim %d: %v, %v", i, j, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var scans atomic.Int64
	srv := run(fakeService{scan: func(context.Context, service.ScanRequest) (*report.Report, error) {
		scans.Add(1)
		return &report.Report{}, nil
	}}, q)
	defer srv.Close()
	j, err := srv.Get(ctx, jobstest.Wait(t, q.GetJob, "j1", nil).ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.JobFailed || j.Error == nil || !strings.Contains(j.Error.Message, "abandoned after 3 attempts") || j.Attempts != maxJobAttempts+1 {
		t.Errorf("job: %s at attempt %d, error %+v; want failed, abandoned after 3 attempts", j.State, j.Attempts, j.Error)
	}
	if n := scans.Load(); n != 0 {
		t.Errorf("the abandoned job was scanned %d times", n)
	}
}

// TestJobReleasedAtShutdown: a replica that stops while running a job
// puts it back in the queue, as it was, for the next replica, which runs
// it to the end.
func TestJobReleasedAtShutdown(t *testing.T) {
	q := jobstest.Queue(t)
	started := make(chan struct{})
	srv := run(fakeService{scan: func(ctx context.Context, _ service.ScanRequest) (*report.Report, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}}, q, WithReplica("stopping", time.Minute))
	job, err := srv.enqueue(context.Background(), "", Scan{Image: "reg/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	srv.Close()
	j, err := q.GetJob(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	// A released job keeps the attempt it used, so that a job stuck at
	// every shutdown ends failed instead of running forever.
	if j.State != store.JobQueued || j.Holder != "" || j.Attempts != 1 {
		t.Fatalf("job after shutdown: %s by %q at attempt %d, want queued, unheld, keeping its attempt 1", j.State, j.Holder, j.Attempts)
	}
	const released = 1
	next := run(okScanner(nil), q, WithReplica("next", time.Minute))
	defer next.Close()
	if j := jobstest.Wait(t, q.GetJob, job.ID, nil); j.State != store.JobSucceeded || j.Holder != "next" || j.Attempts != released+1 {
		t.Errorf("job after restart: %s by %q at attempt %d, want %d", j.State, j.Holder, j.Attempts, released+1)
	}
}

// stealingQueue answers every lease renewal with store.ErrJobLost, as
// the queue does once another replica took an expired claim over.
type stealingQueue struct{ store.Jobs }

func (stealingQueue) RenewJob(context.Context, string, string, time.Duration, []byte) error {
	return fmt.Errorf("renew: %w", store.ErrJobLost)
}

// TestJobLost: a replica that finds its claim lost stops the scan and
// leaves the job, and its outcome, to the replica that took it.
func TestJobLost(t *testing.T) {
	q := jobstest.Queue(t)
	stopped := make(chan error, 1)
	srv := run(fakeService{scan: func(ctx context.Context, _ service.ScanRequest) (*report.Report, error) {
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return nil, ctx.Err()
	}}, stealingQueue{q}, WithReplica("slow", 300*time.Millisecond))
	defer srv.Close()
	job, err := srv.enqueue(context.Background(), "", Scan{Image: "reg/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case cause := <-stopped:
		if !errors.Is(cause, errLost) {
			t.Errorf("scan stopped by %v, want errLost", cause)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the scan went on after its claim was lost")
	}
	// Nothing recorded: the job is still running under the lost claim,
	// for the next claimer once it expires.
	time.Sleep(50 * time.Millisecond)
	if j, err := q.GetJob(context.Background(), job.ID); err != nil || j.State != store.JobRunning || j.Result != nil || j.Error != nil {
		t.Errorf("lost job: %+v, %v; want running, no outcome", j, err)
	}
}

// TestJobBadRequest: a stored job this replica cannot run (an unknown
// kind, a request that does not parse) fails with bad_request instead of
// being retried.
func TestJobBadRequest(t *testing.T) {
	q := jobstest.Queue(t)
	ctx := context.Background()
	for id, j := range map[string]store.Job{
		"kind":    {Kind: "rebuild", Request: []byte(`{"image":"reg/app:1"}`)},
		"request": {Kind: KindScan, Request: []byte(`{"image":`)},
		"image":   {Kind: KindScan, Request: []byte(`{}`)},
	} {
		j.ID = id
		if _, err := q.EnqueueJob(ctx, &j); err != nil {
			t.Fatal(err)
		}
	}
	srv := run(okScanner(nil), q)
	defer srv.Close()
	for _, id := range []string{"kind", "request", "image"} {
		jobstest.Wait(t, q.GetJob, id, nil)
		j, err := srv.Get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != store.JobFailed || j.Error == nil || j.Error.Code != api.CodeBadRequest || j.Attempts != 1 {
			t.Errorf("job %s: %s at attempt %d, error %+v; want failed with %s", id, j.State, j.Attempts, j.Error, api.CodeBadRequest)
		}
	}
}

// TestJobResultIsTheScan: a succeeded job stores which scan it recorded,
// not a second copy of the report: the report shown is the scan's, and a
// job whose scan retention removed says so.
func TestJobResultIsTheScan(t *testing.T) {
	q := jobstest.Queue(t)
	kept := true
	srv := run(fakeService{
		scan: func(_ context.Context, req service.ScanRequest) (*report.Report, error) {
			return &report.Report{Image: req.Image, ScanIndex: 4}, nil
		},
		recorded: func(image string, index int) (*report.Report, error) {
			if !kept {
				return nil, fmt.Errorf("scan %d of %s: %w", index, image, service.ErrNotFound)
			}
			return &report.Report{Image: image, ScanIndex: index, ManifestDigest: "sha256:recorded"}, nil
		},
	}, q)
	defer srv.Close()
	ctx := context.Background()
	job, err := srv.enqueue(ctx, "", Scan{Image: "reg/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	if sj := jobstest.Wait(t, q.GetJob, job.ID, nil); string(sj.Result) != `{"image":"reg/app:1","scan_index":4}` {
		t.Errorf("stored result %s, want the scan's image and index", sj.Result)
	}
	j, err := srv.Get(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != store.JobSucceeded || j.Result == nil || j.Result.ScanIndex != 4 || j.Result.ManifestDigest != "sha256:recorded" || j.Error != nil {
		t.Errorf("job: %+v, result %+v", j, j.Result)
	}
	kept = false
	if j, err := srv.Get(ctx, job.ID); err != nil || j.State != store.JobSucceeded || j.Result != nil || j.Error == nil || j.Error.Code != api.CodeNotFound {
		t.Errorf("job whose scan was pruned: %+v, %v; want succeeded with a not_found error", j, err)
	}
}

// TestJobFinishedAtShutdown: a scan that ends while the server stops is
// recorded as the job's outcome, not put back in the queue to run again.
func TestJobFinishedAtShutdown(t *testing.T) {
	q := jobstest.Queue(t)
	started := make(chan struct{})
	srv := run(fakeService{scan: func(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
		close(started)
		<-ctx.Done() // the server stops; the scan completes all the same
		return &report.Report{Image: req.Image, ScanIndex: 1}, nil
	}}, q)
	job, err := srv.enqueue(context.Background(), "", Scan{Image: "reg/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	srv.Close()
	if j, err := q.GetJob(context.Background(), job.ID); err != nil || j.State != store.JobSucceeded || j.Attempts != 1 {
		t.Errorf("job after shutdown: %+v, %v; want succeeded at attempt 1", j, err)
	}
}
