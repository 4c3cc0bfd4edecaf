package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
)

// waitJob polls job id in q until it is finished (or until cond, when
// given, holds) and returns it.
func waitJob(t *testing.T, q store.Jobs, id string, cond func(*store.Job) bool) *store.Job {
	t.Helper()
	if cond == nil {
		cond = func(j *store.Job) bool { return j.State == JobSucceeded || j.State == JobFailed }
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := q.GetJob(context.Background(), id)
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
	q := testQueue(t)
	ctx := context.Background()
	if _, err := q.EnqueueJob(ctx, &store.Job{ID: "j1", Kind: kindScan, Request: []byte(`{"image":"reg/app:1"}`)}); err != nil {
		t.Fatal(err)
	}
	// The dead replica's claim, which it never renews.
	if j, err := q.ClaimJob(ctx, "dead-replica", 50*time.Millisecond); err != nil || j == nil {
		t.Fatalf("claim: %v, %v", j, err)
	}
	keys := make(chan string, 1)
	srv := New(okScanner(keys), q, WithReplica("live-replica", 3*time.Second))
	defer srv.Close()
	j := waitJob(t, q, "j1", nil)
	if j.State != JobSucceeded || j.Holder != "live-replica" || j.Attempts != 2 {
		t.Errorf("job taken over: %s by %q at attempt %d, want succeeded by live-replica at attempt 2", j.State, j.Holder, j.Attempts)
	}
	if k := <-keys; k != "j1" {
		t.Errorf("scan key %q, want the job id", k)
	}
}

// TestJobAbandoned: a job whose replicas keep dying is failed after
// maxJobAttempts claims, not run again.
func TestJobAbandoned(t *testing.T) {
	q := testQueue(t)
	ctx := context.Background()
	if _, err := q.EnqueueJob(ctx, &store.Job{ID: "j1", Kind: kindScan, Request: []byte(`{"image":"reg/huge:1"}`)}); err != nil {
		t.Fatal(err)
	}
	for i := range maxJobAttempts {
		if j, err := q.ClaimJob(ctx, fmt.Sprintf("dead-%d", i), time.Millisecond); err != nil || j == nil {
			t.Fatalf("claim %d: %v, %v", i, j, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	var scans atomic.Int64
	srv := New(fakeService{scan: func(context.Context, service.ScanRequest) (*report.Report, error) {
		scans.Add(1)
		return &report.Report{}, nil
	}}, q)
	defer srv.Close()
	j, err := srv.jobs.get(ctx, waitJob(t, q, "j1", nil).ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != JobFailed || j.Error == nil || !strings.Contains(j.Error.Message, "abandoned after 3 attempts") || j.Attempts != maxJobAttempts+1 {
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
	q := testQueue(t)
	started := make(chan struct{})
	srv := New(fakeService{scan: func(ctx context.Context, _ service.ScanRequest) (*report.Report, error) {
		close(started)
		<-ctx.Done()
		return nil, ctx.Err()
	}}, q, WithReplica("stopping", time.Minute))
	job, err := srv.jobs.enqueue(context.Background(), "", scanJob{Image: "reg/app:1"})
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
	if j.State != JobQueued || j.Holder != "" || j.Attempts != 1 {
		t.Fatalf("job after shutdown: %s by %q at attempt %d, want queued, unheld, keeping its attempt 1", j.State, j.Holder, j.Attempts)
	}
	const released = 1
	next := New(okScanner(nil), q, WithReplica("next", time.Minute))
	defer next.Close()
	if j := waitJob(t, q, job.ID, nil); j.State != JobSucceeded || j.Holder != "next" || j.Attempts != released+1 {
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
	q := testQueue(t)
	stopped := make(chan error, 1)
	srv := New(fakeService{scan: func(ctx context.Context, _ service.ScanRequest) (*report.Report, error) {
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return nil, ctx.Err()
	}}, stealingQueue{q}, WithReplica("slow", 300*time.Millisecond))
	defer srv.Close()
	job, err := srv.jobs.enqueue(context.Background(), "", scanJob{Image: "reg/app:1"})
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
	if j, err := q.GetJob(context.Background(), job.ID); err != nil || j.State != JobRunning || j.Result != nil || j.Error != nil {
		t.Errorf("lost job: %+v, %v; want running, no outcome", j, err)
	}
}

// TestJobBadRequest: a stored job this replica cannot run (an unknown
// kind, a request that does not parse) fails with bad_request instead of
// being retried.
func TestJobBadRequest(t *testing.T) {
	q := testQueue(t)
	ctx := context.Background()
	for id, j := range map[string]store.Job{
		"kind":    {Kind: "rebuild", Request: []byte(`{"image":"reg/app:1"}`)},
		"request": {Kind: kindScan, Request: []byte(`{"image":`)},
		"image":   {Kind: kindScan, Request: []byte(`{}`)},
	} {
		j.ID = id
		if _, err := q.EnqueueJob(ctx, &j); err != nil {
			t.Fatal(err)
		}
	}
	srv := New(okScanner(nil), q)
	defer srv.Close()
	for _, id := range []string{"kind", "request", "image"} {
		waitJob(t, q, id, nil)
		j, err := srv.jobs.get(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != JobFailed || j.Error == nil || j.Error.Code != CodeBadRequest || j.Attempts != 1 {
			t.Errorf("job %s: %s at attempt %d, error %+v; want failed with %s", id, j.State, j.Attempts, j.Error, CodeBadRequest)
		}
	}
}

// TestJobResultIsTheScan: a succeeded job stores which scan it recorded,
// not a second copy of the report: the report shown is the scan's, and a
// job whose scan retention removed says so.
func TestJobResultIsTheScan(t *testing.T) {
	q := testQueue(t)
	kept := true
	srv := New(fakeService{
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
	job, err := srv.jobs.enqueue(ctx, "", scanJob{Image: "reg/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	if sj := waitJob(t, q, job.ID, nil); string(sj.Result) != `{"image":"reg/app:1","scan_index":4}` {
		t.Errorf("stored result %s, want the scan's image and index", sj.Result)
	}
	j, err := srv.jobs.get(ctx, job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if j.State != JobSucceeded || j.Result == nil || j.Result.ScanIndex != 4 || j.Result.ManifestDigest != "sha256:recorded" || j.Error != nil {
		t.Errorf("job: %+v, result %+v", j, j.Result)
	}
	kept = false
	if j, err := srv.jobs.get(ctx, job.ID); err != nil || j.State != JobSucceeded || j.Result != nil || j.Error == nil || j.Error.Code != CodeNotFound {
		t.Errorf("job whose scan was pruned: %+v, %v; want succeeded with a not_found error", j, err)
	}
}

// TestJobFinishedAtShutdown: a scan that ends while the server stops is
// recorded as the job's outcome, not put back in the queue to run again.
func TestJobFinishedAtShutdown(t *testing.T) {
	q := testQueue(t)
	started := make(chan struct{})
	srv := New(fakeService{scan: func(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
		close(started)
		<-ctx.Done() // the server stops; the scan completes all the same
		return &report.Report{Image: req.Image, ScanIndex: 1}, nil
	}}, q)
	job, err := srv.jobs.enqueue(context.Background(), "", scanJob{Image: "reg/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	srv.Close()
	if j, err := q.GetJob(context.Background(), job.ID); err != nil || j.State != JobSucceeded || j.Attempts != 1 {
		t.Errorf("job after shutdown: %+v, %v; want succeeded at attempt 1", j, err)
	}
}

// TestPushDeliveredTwice: the registry delivers an envelope again when
// lapps did not answer it; each pushed image is queued once all the same.
func TestPushDeliveredTwice(t *testing.T) {
	q := &countingQueue{Jobs: testQueue(t)}
	release := make(chan struct{})
	srv := New(fakeService{scan: func(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
		<-release
		return &report.Report{Image: req.Image, ScanIndex: 1}, nil
	}}, q)
	defer srv.Close()
	defer close(release)
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	const envelope = `{"events":[
		{"id":"ev-1","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"app","tag":"1","digest":"sha256:aa"},"request":{"host":"reg:5000"}},
		{"id":"ev-2","action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"app","tag":"2","digest":"sha256:bb"},"request":{"host":"reg:5000"}},
		{"action":"push","target":{"mediaType":"application/vnd.oci.image.manifest.v1+json","repository":"app","tag":"3","digest":"sha256:cc"},"request":{"host":"reg:5000"}}]}`
	post := func() []api.Job {
		resp, err := http.Post(ts.URL+"/v1/registry/events", "application/vnd.docker.distribution.events.v1+json", strings.NewReader(envelope))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var jobs []api.Job
		if err := json.NewDecoder(resp.Body).Decode(&jobs); err != nil || resp.StatusCode != http.StatusAccepted {
			t.Fatalf("POST /v1/registry/events: %d, %v", resp.StatusCode, err)
		}
		return jobs
	}
	first, again := post(), post()
	if len(first) != 3 || len(again) != 3 {
		t.Fatalf("%d jobs, then %d; want 3 each", len(first), len(again))
	}
	for i := range 2 {
		if first[i].ID != again[i].ID || first[i].Image != again[i].Image {
			t.Errorf("event %d delivered again: job %s (%s), first %s (%s)", i+1, again[i].ID, again[i].Image, first[i].ID, first[i].Image)
		}
	}
	// The event without an id cannot be recognised: a second job.
	if first[2].ID == again[2].ID {
		t.Errorf("event without an id: one job %s for both deliveries", first[2].ID)
	}
	if n := q.enqueued.Load(); n != 6 {
		t.Errorf("%d enqueue calls, want 6", n)
	}
	if n, err := q.PendingJobs(context.Background()); err != nil || n != 4 {
		t.Errorf("%d jobs pending (%v), want 4: ev-1's, ev-2's and two of the event without an id", n, err)
	}
}
