package e2e

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/testenv"
)

// feed serves the data set's main.yaml over HTTP, counting the requests
// and those in flight at once; while held, requests wait until released
// or their client goes away.
type feed struct {
	dir       string
	mu        sync.Mutex
	held      chan struct{} // closed to release; nil when not held
	requests  int
	inFlight  int
	maxAtOnce int
	arrived   chan struct{}
}

func (f *feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	f.inFlight++
	f.maxAtOnce = max(f.maxAtOnce, f.inFlight)
	held := f.held
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	select {
	case f.arrived <- struct{}{}:
	default:
	}
	if held != nil {
		select {
		case <-held:
		case <-r.Context().Done():
			return
		}
	}
	http.ServeFile(w, r, filepath.Join(f.dir, "main.yaml"))
}

// hold makes the next requests wait; the function returned releases them.
func (f *feed) hold() (release func()) {
	ch := make(chan struct{})
	f.mu.Lock()
	f.held = ch
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			f.held = nil
			f.mu.Unlock()
			close(ch)
		})
	}
}

func (f *feed) counts() (requests, inFlight, maxAtOnce int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests, f.inFlight, f.maxAtOnce
}

// jobRuns is the number of successful runs of job a replica counted.
func jobRuns(t *testing.T, p *lappsProc, job string) float64 {
	t.Helper()
	v, err := scrape(p.url, `lapps_job_runs_total{job="`+job+`",result="ok"}`)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// singletons are the singleton jobs of `lapps serve` besides the
// ingests: one replica runs each.
var singletons = []string{"notify", "deliver", "scrub", "gc", "alerts"}

// replicaEnv writes the configuration of `lapps serve` replicas on the
// PostgreSQL database dsn, with data the data set's directory, one
// source of the given type and location (YAML under "- name: SOURCE"),
// the given server settings (YAML under "server:", beside require_token)
// and, when webhook is true, the environment's receiver as webhook e2e;
// it creates the token the test calls with. serve starts one more
// replica and returns once it serves.
func replicaEnv(t *testing.T, dsn, data, sourceYAML, serverYAML string, webhook bool) (e *env, serve func() *lappsProc) {
	t.Helper()
	dir := t.TempDir()
	e = &env{t: t, data: data, db: filepath.Join(dir, "unused.db"), config: filepath.Join(dir, "lapps.yaml"), recv: startReceiver(t, webhookSecret)}
	cfg := fmt.Sprintf(`vulndb:
  sources:
    - name: %s
      %s
      interval: 24h
server:
  require_token: true
  registries:
    allow: [127.0.0.1]
  local_images: [%s]
  %s
`, source, sourceYAML, testenv.Images(t), serverYAML)
	if webhook {
		cfg += fmt.Sprintf(`  webhooks:
    - name: e2e
      url: %s
      secret: %s
      timeout: 2s
`, e.recv.url(), webhookSecret)
	}
	if err := os.WriteFile(e.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := e.cli(t, nil, "--db", dsn, "token", "create", "e2e", "--scope", "admin")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	e.token = strings.TrimSpace(out)
	return e, func() *lappsProc {
		return startLapps(t, e.baseEnv(), "--db", dsn, "-c", e.config, "--debug", "serve", "--addr", "127.0.0.1:0")
	}
}

// TestReplicas runs `lapps serve` twice on one PostgreSQL database: the
// singleton jobs run in one replica, the leader of each; the other one
// only tries their leases. The leader is killed with SIGKILL in the
// middle of an ingest (its feed request held open): the other replica
// takes the jobs over once the leases expire and ingests the data; a
// third replica started afterwards follows, scans an image pushed to it,
// ingests new data through its API, and the leader's notifier and
// deliverer send the one notification it means, once, under one id.
func TestReplicas(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	testenv.Images(t)
	f := &feed{dir: t.TempDir(), arrived: make(chan struct{}, 1)}
	writeSecdb(t, f.dir, false)
	ts := httptest.NewServer(f)
	t.Cleanup(ts.Close)
	release := f.hold()
	t.Cleanup(release)
	const leaseTTL = 3 * time.Second
	e, serve := replicaEnv(t, dsn, f.dir, fmt.Sprintf(`type: alpine-secdb
      urls: [%s/v3.11/main.yaml]`, ts.URL), fmt.Sprintf(`lease_ttl: %s
  delivery_interval: 250ms`, leaseTTL), true)
	ingest := "ingest/" + source

	// Replica a starts first and leads every singleton job: its ingest at
	// start is in flight, held by the feed. Replica b starts and follows.
	a := serve()
	select {
	case <-f.arrived:
	case <-time.After(30 * time.Second):
		t.Fatal("replica a did not fetch the feed")
	}
	b := serve()
	following := `msg="another replica leads the job" job=` + ingest
	waitFor(t, 30*time.Second, "replica b to try the ingest lease and follow", func() (bool, string) {
		n := strings.Count(b.log.String(), following)
		return n >= 3, fmt.Sprintf("%d attempts", n)
	})
	if req, inFlight, _ := f.counts(); req != 1 || inFlight != 1 {
		t.Fatalf("feed: %d requests, %d in flight; want a's one", req, inFlight)
	}
	for _, job := range append(singletons, ingest) {
		if n := jobRuns(t, b, job); n != 0 {
			t.Errorf("replica b ran %s %v times while a leads it", job, n)
		}
	}

	// a dies in the middle of its ingest; b takes over once the lease has
	// expired, and ingests the data (the notifier's baseline follows).
	a.kill()
	killedAt := time.Now()
	release()
	waitFor(t, 30*time.Second, "replica b to take the ingest over", func() (bool, string) {
		n := jobRuns(t, b, ingest)
		return n >= 1, fmt.Sprintf("b: %v ingests", n)
	})
	t.Logf("b ingested %s after a's SIGKILL (lease_ttl %s)", time.Since(killedAt).Round(100*time.Millisecond), leaseTTL)
	if !strings.Contains(b.log.String(), `msg="leading singleton job" job=`+ingest) {
		t.Error("b's log does not say it leads the ingest")
	}
	// a's other leases expire on their own clocks (each renewed on its
	// own ticker): b takes each at its next retry. c must start only when
	// b leads them all, or c's first tries could take one.
	waitFor(t, 30*time.Second, "replica b to lead every singleton job", func() (bool, string) {
		log := b.log.String()
		var missing []string
		for _, job := range singletons {
			if !strings.Contains(log, `msg="leading singleton job" job=`+job) {
				missing = append(missing, job)
			}
		}
		return len(missing) == 0, fmt.Sprintf("not leading %v", missing)
	})
	bAPI, err := client.New(b.url, e.token)
	if err != nil {
		t.Fatal(err)
	}
	status, err := bAPI.VulnDBStatus(e.ctx())
	if err != nil {
		t.Fatal(err)
	}
	if len(status) != 1 || status[0].Records == 0 || status[0].LastError != "" {
		t.Errorf("status after the takeover: %+v, want the source's data", status)
	}

	// A new replica c follows; an image pushed to it is scanned there
	// (scans are not singleton work), and new data ingested through its
	// API is notified by b, the notifier's leader, once.
	c := serve()
	e.srv = c
	e.api, err = client.New(c.url, e.token)
	if err != nil {
		t.Fatal(err)
	}
	reg := testenv.StartRegistryNotifying(t, c.url+"/v1/registry/events", map[string][]string{"Authorization": {"Bearer " + e.token}})
	digest := reg.Push(t, "oci:"+alpine(t)+":alpine-3.11.13", "e2e/alpine:3.11", "")
	e.waitScans(reg.Addr+"/e2e/alpine:3.11", 1)
	writeSecdb(t, f.dir, true)
	e.update()
	e.waitNotification(key{digest, inventedID, notifier.ActionAdded})
	waitFor(t, 30*time.Second, "outbox drained", func() (bool, string) {
		v, err := scrape(b.url, "lapps_notification_queue_depth")
		return err == nil && v == 0, fmt.Sprintf("queue depth %v, %v", v, err)
	})
	got := e.recv.notifications(t)
	if len(got) != 1 {
		t.Errorf("%d notifications, want 1: %+v", len(got), got)
	}
	checkUnique(t, got)
	for _, job := range append(singletons, ingest) {
		if n := jobRuns(t, c, job); n != 0 {
			t.Errorf("replica c ran %s %v times while b leads it", job, n)
		}
	}
	if n := jobRuns(t, b, "deliver"); n < 1 {
		t.Errorf("b delivered %v times", n)
	}
	if req, _, maxAtOnce := f.counts(); maxAtOnce != 1 {
		t.Errorf("feed: %d requests, up to %d at once; the ingests overlapped", req, maxAtOnce)
	}
}

// TestReplicaKilledDuringDelivery runs two `lapps serve` replicas on one
// PostgreSQL database. The leader, a, is killed with SIGKILL while its
// delivery of a notification is in flight (the receiver holds the
// request): the follower, b, takes the deliverer's lease over, claims
// the notification once a's claim has expired and delivers it under the
// same delivery id. Nothing is lost, and nothing is sent under two ids.
func TestReplicaKilledDuringDelivery(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	testenv.Images(t)
	data := t.TempDir()
	writeSecdb(t, data, false)
	e, serve := replicaEnv(t, dsn, data, "type: alpine-secdb\n      path: "+data, `lease_ttl: 3s
  delivery_interval: 250ms
  delivery_lease: 4s
  delivery_backoff:
    base: 300ms
    max: 1s
    jitter: 0`, true)
	ingest := "ingest/" + source

	// a leads everything: its ingest at start is the notifier's baseline.
	a := serve()
	waitFor(t, 30*time.Second, "a's first ingest", func() (bool, string) {
		n := jobRuns(t, a, ingest)
		return n >= 1, fmt.Sprintf("%v ingests", n)
	})
	b := serve()
	waitFor(t, 30*time.Second, "replica b to follow the deliverer", func() (bool, string) {
		n := strings.Count(b.log.String(), `msg="another replica leads the job" job=deliver`)
		return n >= 1, fmt.Sprintf("%d attempts", n)
	})
	var err error
	e.srv = a
	if e.api, err = client.New(a.url, e.token); err != nil {
		t.Fatal(err)
	}
	ref, digest := e.scanAlpine()

	// New data: a's notifier enqueues the notification, a's deliverer
	// sends it, and the receiver holds the request.
	inFlight := e.newDataHeld()
	if n := jobRuns(t, b, "deliver"); n != 0 {
		t.Fatalf("b ran deliver %v times while a leads it", n)
	}
	a.kill()
	killedAt := time.Now()
	e.recv.setMode(answerOK)

	e.srv = b
	e.waitNotification(key{digest, inventedID, notifier.ActionAdded})
	t.Logf("b delivered %s %s after a's SIGKILL (lease_ttl 3s, delivery_lease 4s)", inFlight, time.Since(killedAt).Round(100*time.Millisecond))
	e.waitDrained()
	if n := jobRuns(t, b, "deliver"); n < 1 {
		t.Errorf("b delivered %v times", n)
	}
	e.checkRedelivered(inFlight, digest, ref)
}
