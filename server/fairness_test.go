package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/api/errcode"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
)

// gate is a fake scanner whose scans wait to be let through one by one,
// counting how many run at once.
type gate struct {
	pass    chan struct{}
	running atomic.Int64
	peak    atomic.Int64
	mu      sync.Mutex
	keys    []string
}

func newGate() *gate { return &gate{pass: make(chan struct{})} }

func (g *gate) service() fakeService {
	return fakeService{
		scan: func(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
			n := g.running.Add(1)
			defer g.running.Add(-1)
			for {
				p := g.peak.Load()
				if n <= p || g.peak.CompareAndSwap(p, n) {
					break
				}
			}
			g.mu.Lock()
			g.keys = append(g.keys, req.Key)
			g.mu.Unlock()
			select {
			case <-g.pass:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			return &report.Report{Image: req.Image, ScanIndex: 1}, nil
		},
		recorded: func(image string, index int) (*report.Report, error) {
			return &report.Report{Image: image, ScanIndex: index}, nil
		},
	}
}

// TestDeployAndAppScanThroughQueue: the image scans of a deployment and
// of an app scan run as jobs of the queue (each scan's key is its job's
// id), under scan_concurrency with the other scans, not inside the
// request.
func TestDeployAndAppScanThroughQueue(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := &countingQueue{Jobs: st}
	g := newGate()
	srv := New(g.service(), q, WithScanConcurrency(1), WithApps(appsOn(st), nil))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	imgs := []string{"registry.example.com/a:1", "registry.example.com/b:1", "registry.example.com/c:1"}
	b, _ := json.Marshal(api.AppBody{Name: "shop", Images: imgs})
	if s, _, body := call(t, http.DefaultClient, "POST", ts.URL+"/v1/apps", "", string(b)); s != 201 {
		t.Fatalf("create app: %d %s", s, body)
	}
	var wg sync.WaitGroup
	results := make(chan string, 3)
	for _, path := range []string{"/v1/apps/shop/deployments", "/v1/apps/shop/scans"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, _, body := call(t, http.DefaultClient, "POST", ts.URL+path, "", "")
			results <- fmt.Sprintf("%s: %d %s", path, s, body)
		}()
	}
	// A scan asked for directly waits in the same queue.
	wg.Add(1)
	go func() {
		defer wg.Done()
		s, _, body := call(t, http.DefaultClient, "POST", ts.URL+"/v1/scans", "", `{"image":"registry.example.com/d:1"}`)
		results <- fmt.Sprintf("/v1/scans: %d %s", s, body)
	}()
	// Let every scan through, one at a time; the deployment scans its
	// three images (never scanned) and the app scan scans them again:
	// seven scans in all.
	for range 7 {
		g.pass <- struct{}{}
	}
	wg.Wait()
	close(results)
	for r := range results {
		if !strings.Contains(r, ": 200 ") && !strings.Contains(r, ": 202 ") {
			t.Errorf("%s", r)
		}
	}
	if p := g.peak.Load(); p != 1 {
		t.Errorf("%d scans ran at once under scan_concurrency 1", p)
	}
	if n := q.enqueued.Load(); n != 7 {
		t.Errorf("%d jobs queued, want 7 (3 for the deployment, 3 for the app scan, 1 asked for)", n)
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, k := range g.keys {
		if _, err := st.GetJob(context.Background(), k); err != nil {
			t.Errorf("scan key %q is not a job: %v", k, err)
		}
	}
}

// TestQueuedScanRefusesLocalImages: an app naming a local image outside
// local_images cannot be deployed: 403, nothing queued.
func TestQueuedScanRefusesLocalImages(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := &countingQueue{Jobs: st}
	srv := New(fakeService{}, q, WithApps(appsOn(st), nil))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	if s, _, body := call(t, http.DefaultClient, "POST", ts.URL+"/v1/apps", "", `{"name":"x","images":["docker-archive:/etc/passwd"]}`); s != 201 {
		t.Fatalf("create: %d %s", s, body)
	}
	for _, path := range []string{"/v1/apps/x/deployments", "/v1/apps/x/scans"} {
		if s, code, body := call(t, http.DefaultClient, "POST", ts.URL+path, "", ""); s != 403 || code != CodeForbidden {
			t.Errorf("%s: %d %s, want 403 forbidden", path, s, body)
		}
	}
	if n := q.enqueued.Load(); n != 0 {
		t.Errorf("%d jobs queued", n)
	}
}

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
func withGrace(d time.Duration) Option { return func(s *Server) { s.scanGrace = d } }

// TestShutdownWithStuckScan: a shutdown ends when its context does even
// with a scan that ignores cancellation, and the job is released to the
// queue, not left running under a dead replica's lease.
func TestShutdownWithStuckScan(t *testing.T) {
	q := testQueue(t)
	started := make(chan string, 1)
	srv := New(stuckScanner(t, started), q, WithReplica("stuck", time.Hour), withGrace(time.Hour))
	job, err := srv.jobs.enqueue(context.Background(), "", scanJob{Image: "reg.example.com/fifo:1"})
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
	if j.State != JobQueued || j.Holder != "" {
		t.Errorf("job after shutdown: %s by %q, want queued for another replica", j.State, j.Holder)
	}
}

// TestStuckScanGivenUp: a cancelled scan that does not stop is given up
// after the grace period: at shutdown its job is released and the
// shutdown completes; its slot is not held.
func TestStuckScanGivenUp(t *testing.T) {
	q := testQueue(t)
	started := make(chan string, 1)
	srv := New(stuckScanner(t, started), q, WithReplica("stuck", time.Hour), withGrace(10*time.Millisecond))
	job, err := srv.jobs.enqueue(context.Background(), "", scanJob{Image: "reg.example.com/fifo:1"})
	if err != nil {
		t.Fatal(err)
	}
	<-started
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if j, _ := q.GetJob(context.Background(), job.ID); j == nil || j.State != JobQueued {
		t.Errorf("job after shutdown: %+v, want queued", j)
	}
}

// TestScanTimeout: a scan longer than scan_timeout fails its job with
// limit_exceeded naming server.scan_timeout, whether it stops when
// cancelled or not (then after the grace period), and frees its slot for
// the next job.
func TestScanTimeout(t *testing.T) {
	q := testQueue(t)
	started := make(chan string, 2)
	end := make(chan struct{})
	defer close(end)
	srv := New(fakeService{scan: func(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
		started <- req.Image
		if req.Image == "reg.example.com/stuck:1" {
			<-end // ignores ctx
			return nil, errors.New("unreachable")
		}
		<-ctx.Done()
		return nil, fmt.Errorf("read layer: %w", ctx.Err())
	}}, q, WithScanConcurrency(1), WithScanTimeout(50*time.Millisecond), withGrace(10*time.Millisecond))
	defer srv.Close()
	var ids []string
	for _, im := range []string{"reg.example.com/slow:1", "reg.example.com/stuck:1"} {
		job, err := srv.jobs.enqueue(context.Background(), "", scanJob{Image: im})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, job.ID)
	}
	for _, id := range ids {
		waitJob(t, q, id, nil)
		j, err := srv.jobs.get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != JobFailed || j.Error == nil || j.Error.Code != CodeLimitExceeded ||
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
	q := testQueue(t)
	if _, err := q.EnqueueJob(context.Background(), &store.Job{ID: "j1", Kind: kindScan, Request: []byte(`{"image":"reg.example.com/big:1"}`)}); err != nil {
		t.Fatal(err)
	}
	for i := range maxJobAttempts {
		started := make(chan struct{}, 1)
		srv := New(fakeService{scan: func(ctx context.Context, _ service.ScanRequest) (*report.Report, error) {
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
		if j.State != JobQueued || j.Attempts != i+1 {
			t.Fatalf("after shutdown %d: %s at attempt %d, want queued at %d", i+1, j.State, j.Attempts, i+1)
		}
	}
	scans := atomic.Int64{}
	srv := New(fakeService{scan: func(context.Context, service.ScanRequest) (*report.Report, error) {
		scans.Add(1)
		return &report.Report{}, nil
	}}, q, WithReplica("last", time.Hour))
	defer srv.Close()
	j := waitJob(t, q, "j1", nil)
	if j.State != JobFailed || !strings.Contains(string(j.Error), "abandoned after 3 attempts") || scans.Load() != 0 {
		t.Errorf("after three releases: %s %s, %d scans; want failed, abandoned, not scanned", j.State, j.Error, scans.Load())
	}
}

// TestJobErrorSentinels: a job's failure read back from the queue (a
// deployment waiting for its scans) matches the sentinel of its code, so
// that it is answered with the same status as the scan's own error.
func TestJobErrorSentinels(t *testing.T) {
	for _, err := range []error{image.ErrForbidden, image.ErrNotFound, image.ErrUnauthorized, image.ErrCorrupt, image.ErrInvalidReference, service.ErrBadRequest} {
		code, status := classify(fmt.Errorf("x: %w", err))
		back := errcode.Err(api.Error{Code: code, Message: "x"})
		if c2, s2 := classify(back); c2 != code || s2 != status {
			t.Errorf("%v: %s %d read back as %s %d", err, code, status, c2, s2)
		}
	}
	if c, _ := classify(scanTimeoutError(time.Second)); c != CodeLimitExceeded {
		t.Errorf("scan timeout: %s", c)
	}
}
