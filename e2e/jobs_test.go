package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/testenv"
)

// blobGate is a proxy in front of a registry that can hold the blob
// requests (layers, configs) until released or until their client goes
// away, telling each arrival: a scan job held there is in the middle of
// indexing.
type blobGate struct {
	proxy   *httputil.ReverseProxy
	mu      sync.Mutex
	held    chan struct{}
	arrived chan string
}

func newBlobGate(t *testing.T, registry string) *httptest.Server {
	t.Helper()
	u, err := url.Parse("http://" + registry)
	if err != nil {
		t.Fatal(err)
	}
	g := &blobGate{proxy: httputil.NewSingleHostReverseProxy(u), arrived: make(chan string, 64)}
	ts := httptest.NewServer(g)
	t.Cleanup(ts.Close)
	gates[ts] = g
	return ts
}

// gates finds the gate behind a test server.
var gates = map[*httptest.Server]*blobGate{}

func (g *blobGate) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.Contains(r.URL.Path, "/blobs/") {
		g.mu.Lock()
		held := g.held
		g.mu.Unlock()
		if held != nil {
			select {
			case g.arrived <- r.URL.Path:
			default:
			}
			select {
			case <-held:
			case <-r.Context().Done():
				return
			}
		}
	}
	g.proxy.ServeHTTP(w, r)
}

// waitArrival waits until a held blob request arrives.
func (g *blobGate) waitArrival(t *testing.T, what string) {
	t.Helper()
	select {
	case <-g.arrived:
	case <-time.After(30 * time.Second):
		t.Fatalf("timed out after 30 s waiting for %s", what)
	}
}

// hold holds the blob requests from now on; the function returned lets
// them go.
func (g *blobGate) hold() (release func()) {
	ch := make(chan struct{})
	g.mu.Lock()
	g.held = ch
	g.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			g.mu.Lock()
			g.held = nil
			g.mu.Unlock()
			close(ch)
		})
	}
}

// api calls the /v1 API of a replica with the environment's token.
func (e *env) call(t *testing.T, p *lappsProc, method, path string, body any, out any) {
	t.Helper()
	var rd bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&rd).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequestWithContext(e.ctx(), method, p.url+path, &rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+e.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: HTTP %d", method, path, resp.StatusCode)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
}

func (e *env) job(t *testing.T, p *lappsProc, id string) api.Job {
	t.Helper()
	var j api.Job
	e.call(t, p, "GET", "/v1/jobs/"+id, nil, &j)
	return j
}

var holderRE = regexp.MustCompile(`msg=replica holder=(\S+)`)

// holder is the name a replica claims jobs and leases as.
func holder(t *testing.T, p *lappsProc) string {
	t.Helper()
	m := holderRE.FindStringSubmatch(p.log.String())
	if m == nil {
		t.Fatal("the replica's log does not name its holder")
	}
	return strings.Trim(m[1], `"`)
}

// TestReplicasShareScanJobs runs two `lapps serve` replicas on one
// PostgreSQL database, each running one scan job at a time: two scans
// queued at once run at once, one in each replica, and any replica
// answers for either. The replica running the first is killed with
// SIGKILL in the middle of reading the image's blobs: the other claims
// the job once its lease has expired and finishes it, and the image has
// exactly one scan.
func TestReplicasShareScanJobs(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	reg := testenv.StartRegistry(t)
	gateSrv := newBlobGate(t, reg.Addr)
	gate := gates[gateSrv]
	host := strings.TrimPrefix(gateSrv.URL, "http://")
	reg.Push(t, "oci:"+alpine(t)+":alpine-3.11.13", "e2e/alpine:3.11", "")
	reg.Push(t, "oci:"+alpine(t)+":alpine-3.20.3", "e2e/alpine:3.20", "")
	img1, img2 := host+"/e2e/alpine:3.11", host+"/e2e/alpine:3.20"

	data := t.TempDir()
	writeSecdb(t, data, false)
	const leaseTTL = 3 * time.Second
	e, serve := replicaEnv(t, dsn, data, "type: alpine-secdb\n      path: "+data, fmt.Sprintf("lease_ttl: %s\n  scan_concurrency: 1", leaseTTL), false)
	release := gate.hold()
	t.Cleanup(release)

	// a runs the first scan, held in the middle of its blobs.
	a := serve()
	var job1 api.Job
	e.call(t, a, "POST", "/v1/scans", api.ScanBody{Image: img1}, &job1)
	gate.waitArrival(t, "replica a to read the first image's blobs")
	// b starts; the second scan, queued through a whose one slot is
	// taken, runs in b: two replicas index two images at once.
	b := serve()
	var job2 api.Job
	e.call(t, a, "POST", "/v1/scans", api.ScanBody{Image: img2}, &job2)
	gate.waitArrival(t, "a replica to read the second image's blobs")
	ha, hb := holder(t, a), holder(t, b)
	for _, c := range []struct {
		id, replica string
	}{{job1.ID, ha}, {job2.ID, hb}} {
		// Either replica answers for either job.
		for _, p := range []*lappsProc{a, b} {
			if j := e.job(t, p, c.id); j.State != api.JobRunning || j.Replica != c.replica || j.Attempts != 1 {
				t.Errorf("job %s: %s on %q, attempt %d; want running on %q, attempt 1", c.id, j.State, j.Replica, j.Attempts, c.replica)
			}
		}
	}

	// a dies in the middle of reading the blobs; b finishes its own scan,
	// then claims a's once its lease has expired, and finishes it.
	a.kill()
	killedAt := time.Now()
	release()
	var done api.Job
	waitFor(t, 30*time.Second, "b to finish a's scan", func() (bool, string) {
		done = e.job(t, b, job1.ID)
		return done.State == api.JobSucceeded || done.State == api.JobFailed, fmt.Sprintf("%s on %q, attempt %d", done.State, done.Replica, done.Attempts)
	})
	t.Logf("b finished a's scan %s after a's SIGKILL (lease_ttl %s)", time.Since(killedAt).Round(100*time.Millisecond), leaseTTL)
	if done.State != api.JobSucceeded || done.Replica != hb || done.Attempts != 2 || done.Result == nil || done.Result.ScanIndex != 1 {
		t.Fatalf("job 1 after the kill: %s on %q, attempt %d, error %+v; want succeeded on %q at attempt 2 as scan 1", done.State, done.Replica, done.Attempts, done.Error, hb)
	}
	if j := e.job(t, b, job2.ID); j.State != api.JobSucceeded || j.Attempts != 1 {
		t.Errorf("job 2: %s, attempt %d, error %+v; want succeeded at attempt 1", j.State, j.Attempts, j.Error)
	}
	bAPI, err := client.New(b.url, e.token)
	if err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{img1, img2} {
		scans, err := bAPI.ListScans(e.ctx(), img)
		if err != nil || len(scans) != 1 {
			t.Errorf("scans of %s: %d (%v), want 1", img, len(scans), err)
		}
	}
	if !strings.Contains(b.log.String(), "scan job claimed again after its replica stopped") {
		t.Error("b's log does not say it took the job over")
	}
}
