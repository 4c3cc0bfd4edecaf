package e2e

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapps/lapps/client"
	"github.com/lapps/lapps/testenv"
)

// lappsBin is the binary TestMain builds.
var lappsBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lapps-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	lappsBin = filepath.Join(dir, "lapps")
	build := exec.Command("go", "build", "-o", lappsBin, "./cmd/lapps")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e: build lapps: %v\n", err)
		return 1
	}
	return m.Run()
}

// The data set: the real Alpine v3.11 secdb, and the same with one
// invented musl fix newer than the musl 1.1.24-r3 of the alpine-3.11.13
// image (musl and musl-utils are both built from musl).
const (
	source     = "alpine-secdb"
	inventedID = "CVE-2099-0001"
	fixedMusl  = "1.1.24-r9"
)

// writeSecdb writes the data set's main.yaml into dir, with the invented
// musl advisory when withMusl is set.
func writeSecdb(t *testing.T, dir string, withMusl bool) {
	t.Helper()
	b, err := os.ReadFile(testenv.VulnData(t, "alpine-secdb", "v3.11", "main.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	if withMusl {
		const at = "      name: musl\n      secfixes:\n"
		if !strings.Contains(s, at) {
			t.Fatal("musl entry not found in the v3.11 secdb")
		}
		s = strings.Replace(s, at, at+"        "+fixedMusl+":\n          - "+inventedID+"\n", 1)
	}
	// Write and rename, so that an ingest never reads half a file.
	tmp := filepath.Join(dir, ".main.yaml")
	if err := os.WriteFile(tmp, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "main.yaml")); err != nil {
		t.Fatal(err)
	}
}

// options are what a test changes in the server's configuration.
type options struct {
	webhookTimeout time.Duration // default 2s
	lease          time.Duration // server.delivery_lease; 0: not set
	scrub          time.Duration // server.scrub_interval; 0: not set
	gcInterval     time.Duration // server.gc.interval; 0: not set
	keepScans      int           // server.gc.keep_scans; 0: not set
}

// env is one lapps server with its database, data set, token and webhook
// receiver.
type env struct {
	t      *testing.T
	data   string // the data set directory
	db     string
	config string
	token  string
	recv   *receiver
	srv    *lappsProc
	api    *client.Client
}

const webhookSecret = "e2e-webhook-secret"

// newEnv writes version 1 of the data set and the configuration, creates
// a token, and starts lapps serve; it returns once the first ingest (and
// the notifier's baseline after it) is done.
func newEnv(t *testing.T, o options) *env {
	t.Helper()
	images := testenv.Images(t)
	e := &env{t: t, data: t.TempDir(), recv: startReceiver(t, webhookSecret)}
	dir := t.TempDir()
	e.db = filepath.Join(dir, "lapps.db")
	e.config = filepath.Join(dir, "lapps.yaml")
	writeSecdb(t, e.data, false)
	// lease_ttl is short: a server restarted after SIGKILL takes its own
	// singleton jobs over once the dead one's leases expire.
	if o.webhookTimeout == 0 {
		o.webhookTimeout = 2 * time.Second
	}
	var cfg strings.Builder
	fmt.Fprintf(&cfg, `vulndb:
  sources:
    - name: %s
      type: alpine-secdb
      path: %s
      interval: 24h
server:
  require_token: true
  registries:
    allow: [127.0.0.1]
  local_images: [%s]
  lease_ttl: 2s
  delivery_interval: 250ms
  delivery_backoff:
    base: 300ms
    max: 1s
    jitter: 0
  webhooks:
    - name: e2e
      url: %s
      secret: %s
      timeout: %s
`, source, e.data, images, e.recv.url(), webhookSecret, o.webhookTimeout)
	if o.lease > 0 {
		fmt.Fprintf(&cfg, "  delivery_lease: %s\n", o.lease)
	}
	if o.scrub > 0 {
		fmt.Fprintf(&cfg, "  scrub_interval: %s\n", o.scrub)
	}
	if o.gcInterval > 0 || o.keepScans > 0 {
		cfg.WriteString("  gc:\n")
		if o.gcInterval > 0 {
			fmt.Fprintf(&cfg, "    interval: %s\n", o.gcInterval)
		}
		if o.keepScans > 0 {
			fmt.Fprintf(&cfg, "    keep_scans: %d\n", o.keepScans)
		}
	}
	if err := os.WriteFile(e.config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := e.cli(t, nil, "--db", e.db, "token", "create", "e2e", "--scope", "admin")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	e.token = strings.TrimSpace(out)
	if e.token == "" || strings.Contains(e.token, "\n") {
		t.Fatalf("token create printed %q", out)
	}
	e.start()
	// The ingest at start (RunAtStart) runs the source and then the
	// notifier, whose first run is the baseline: wait for both, so that
	// what the test changes next is news.
	e.waitMetric("ingest done", `lapps_job_runs_total{job="ingest/`+source+`",result="ok"}`, 1)
	return e
}

// cli runs the lapps binary with a clean environment plus extra, and
// returns its standard output (standard error too on failure).
func (e *env) cli(t *testing.T, extra []string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, lappsBin, args...)
	cmd.Env = append(e.baseEnv(), extra...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String() + stderr.String(), err
	}
	return stdout.String(), nil
}

// baseEnv keeps the lapps processes off the user's data and servers.
func (e *env) baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LAPPS_SERVER=") || strings.HasPrefix(kv, "LAPPS_TOKEN=") || strings.HasPrefix(kv, "LAPPS_DB=") ||
			strings.HasPrefix(kv, "XDG_DATA_HOME=") || strings.HasPrefix(kv, "XDG_CACHE_HOME=") {
			continue
		}
		env = append(env, kv)
	}
	home := filepath.Dir(e.db)
	return append(env, "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CACHE_HOME="+filepath.Join(home, "cache"))
}

// start starts lapps serve on the environment's database and
// configuration, on a port of the kernel's choosing, and waits until it
// answers /readyz.
func (e *env) start() {
	e.t.Helper()
	e.srv = startLapps(e.t, e.baseEnv(), "--db", e.db, "-c", e.config, "--debug", "serve", "--addr", "127.0.0.1:0")
	c, err := client.New(e.srv.url, e.token)
	if err != nil {
		e.t.Fatal(err)
	}
	e.api = c
}

// update ingests the current data set through the API and checks that
// the data changed.
func (e *env) update() {
	e.t.Helper()
	res, err := e.api.UpdateVulnDB(e.ctx(), []string{source})
	if err != nil {
		e.t.Fatalf("update: %v", err)
	}
	if len(res) != 1 || res[0].Error != "" || !res[0].Changed {
		e.t.Fatalf("update: %+v, want one changed source", res)
	}
}

func (e *env) ctx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	e.t.Cleanup(cancel)
	return ctx
}

// metric returns the value of one sample of the server's /metrics, 0 when
// it is absent.
func (e *env) metric(sample string) float64 {
	e.t.Helper()
	v, err := scrape(e.srv.url, sample)
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

// waitMetric waits until a sample of /metrics reaches at least min.
func (e *env) waitMetric(what, sample string, min float64) {
	e.t.Helper()
	waitFor(e.t, 30*time.Second, what, func() (bool, string) {
		v, err := scrape(e.srv.url, sample)
		if err != nil {
			return false, err.Error()
		}
		return v >= min, fmt.Sprintf("%s = %v, want ≥ %v", sample, v, min)
	})
}

// waitDrained waits until the outbox holds nothing undelivered.
func (e *env) waitDrained() {
	e.t.Helper()
	waitFor(e.t, 30*time.Second, "outbox drained", func() (bool, string) {
		v, err := scrape(e.srv.url, "lapps_notification_queue_depth")
		if err != nil {
			return false, err.Error()
		}
		return v == 0, fmt.Sprintf("queue depth %v", v)
	})
}

// scrape reads one sample, written as in the exposition format with its
// labels in name order (`name{a="x",b="y"}`), from base/metrics.
func scrape(base, sample string) (float64, error) {
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		return 0, fmt.Errorf("metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("metrics: HTTP %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if ok && name == sample {
			return strconv.ParseFloat(strings.TrimSpace(value), 64)
		}
	}
	return 0, sc.Err()
}

// waitFor polls cond every 100 ms until it holds, failing the test after
// timeout with cond's last explanation.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, why := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s: %s", timeout, what, why)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// lappsProc is a running lapps serve.
type lappsProc struct {
	cmd    *exec.Cmd
	url    string
	log    *testenv.SyncBuffer
	exited chan struct{}
}

var servingRE = regexp.MustCompile(`lapps: serving on (127\.0\.0\.1:[0-9]+)`)

// startLapps starts lapps with args and waits until it serves; it is
// killed when the test ends, and its log is shown if the test failed.
func startLapps(t *testing.T, environ []string, args ...string) *lappsProc {
	t.Helper()
	p := &lappsProc{log: &testenv.SyncBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.Command(lappsBin, args...)
	p.cmd.Env = environ
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start lapps serve: %v", err)
	}
	go func() { _ = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("lapps serve (pid %d) log:\n%s", p.cmd.Process.Pid, p.log.String())
		}
	})
	waitFor(t, 30*time.Second, "lapps serve to listen", func() (bool, string) {
		select {
		case <-p.exited:
			t.Fatalf("lapps serve exited: %v\n%s", p.cmd.ProcessState, p.log.String())
		default:
		}
		m := servingRE.FindStringSubmatch(p.log.String())
		if m == nil {
			return false, "no \"serving on\" line yet"
		}
		p.url = "http://" + m[1]
		resp, err := http.Get(p.url + "/readyz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, fmt.Sprintf("/readyz: HTTP %d", resp.StatusCode)
	})
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *lappsProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL) // fails only when it has exited already
	<-p.exited
}
