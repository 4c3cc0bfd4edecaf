package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/jobs"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
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
	srv := newServer(t, g.service(), q, jobs.WithConcurrency(1), WithApps(appsOn(st), nil))
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
	srv := newServer(t, fakeService{}, q, WithApps(appsOn(st), nil))
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
