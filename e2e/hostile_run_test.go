package e2e

// The process harness of hostile_test.go: runs a lapps binary on a fresh
// database with its peak memory and time accounted, kills it when it
// crosses a memory cap or a deadline, and runs `lapps serve` for the
// cases that need a server.

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/lapps/lapps/testenv"
	_ "modernc.org/sqlite" // reading the server's database after it stopped
)

// outcome is what one run of lapps did.
type outcome struct {
	exit   int // -1 when killed
	stdout string
	stderr string
	rss    int64 // peak resident set, bytes
	wall   time.Duration
	// killed says why the harness killed it: "", "memory", "timeout".
	killed string
}

// runner runs one binary on a database of its own.
type runner struct {
	t       *testing.T
	bin     string
	dir     string
	current bool // the build under test; false for the baseline
	memCap  int64
	timeout time.Duration
}

func newRunner(t *testing.T, bin string, current bool, memCap int64) *runner {
	return &runner{t: t, bin: bin, dir: t.TempDir(), current: current, memCap: memCap, timeout: 3 * time.Minute}
}

func (r *runner) db() string { return filepath.Join(r.dir, "lapps.db") }

// environ is a clean environment: no lapps variables of the user, homes
// under the runner's directory.
func (r *runner) environ(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LAPPS_") || strings.HasPrefix(k, "XDG_") || k == "HOME" || k == "DOCKER_CONFIG" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+r.dir, "XDG_DATA_HOME="+filepath.Join(r.dir, "data"),
		"XDG_CACHE_HOME="+filepath.Join(r.dir, "cache"), "LAPPS_DB="+r.db())
	return append(env, extra...)
}

// run runs lapps with args until it exits, the deadline passes or it
// crosses the memory cap.
func (r *runner) run(args ...string) outcome {
	r.t.Helper()
	p := r.start(nil, args...)
	return p.wait(r.timeout)
}

// proc is a running lapps.
type proc struct {
	r      *runner
	cmd    *exec.Cmd
	out    *testenv.SyncBuffer
	err    *testenv.SyncBuffer
	start  time.Time
	done   chan struct{}
	killed string
	peak   atomic.Int64 // VmHWM, bytes
}

func (r *runner) start(extraEnv []string, args ...string) *proc {
	r.t.Helper()
	return r.startDir("", extraEnv, args...)
}

// startDir is start in the working directory dir ("": the test's).
func (r *runner) startDir(dir string, extraEnv []string, args ...string) *proc {
	r.t.Helper()
	p := &proc{r: r, out: &testenv.SyncBuffer{}, err: &testenv.SyncBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(r.bin, args...)
	p.cmd.Dir = dir
	p.cmd.Env = r.environ(extraEnv...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.err
	p.start = time.Now()
	if err := p.cmd.Start(); err != nil {
		r.t.Fatalf("start %s: %v", r.bin, err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	go p.watch()
	r.t.Cleanup(func() { p.kill("") })
	return p
}

// watch samples the process's peak resident set every few milliseconds
// and kills it when its resident set crosses the cap.
//
// The peak is read from /proc (VmHWM, the high-water mark of the process
// since it executed lapps, which only grows, so a sample misses only what
// happens in the last milliseconds), not from the rusage of wait4: Go
// starts children with vfork, and the kernel counts the test process's own
// resident set, at the time of the fork, in the child's ru_maxrss.
func (p *proc) watch() {
	t := time.NewTicker(5 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-p.done:
			return
		case <-t.C:
		}
		rss, hwm := memStatus(p.cmd.Process.Pid)
		if hwm > p.peak.Load() {
			p.peak.Store(hwm)
		}
		if p.r.memCap > 0 && rss > p.r.memCap {
			p.kill("memory")
			return
		}
	}
}

func (p *proc) kill(why string) {
	select {
	case <-p.done:
		return
	default:
	}
	if p.killed == "" {
		p.killed = why
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// wait waits for the process to exit, killing it after timeout.
func (p *proc) wait(timeout time.Duration) outcome {
	select {
	case <-p.done:
	case <-time.After(timeout):
		p.kill("timeout")
	}
	o := outcome{exit: p.cmd.ProcessState.ExitCode(), stdout: p.out.String(), stderr: p.err.String(),
		wall: time.Since(p.start), killed: p.killed}
	o.rss = p.peak.Load()
	return o
}

// memStatus reads VmRSS and VmHWM of a process, 0 when it is gone.
func memStatus(pid int) (rss, hwm int64) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, 0
	}
	kb := func(v string) int64 {
		n, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		return n * 1024
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			rss = kb(v)
		}
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			hwm = kb(v)
		}
	}
	return rss, hwm
}

// lappsServer is a `lapps serve` run by a runner.
type lappsServer struct {
	p   *proc
	url string
}

// serve starts lapps serve with the configuration text cfg and waits
// until it answers.
func (r *runner) serve(cfg string, extraEnv ...string) *lappsServer {
	r.t.Helper()
	path := filepath.Join(r.dir, "lapps.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		r.t.Fatal(err)
	}
	p := r.start(extraEnv, "-c", path, "--debug", "serve", "--addr", "127.0.0.1:0")
	s := &lappsServer{p: p}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			r.t.Fatalf("lapps serve exited: %s", p.err.String())
		default:
		}
		if m := servingRE.FindStringSubmatch(p.err.String()); m != nil {
			s.url = "http://" + m[1]
			if resp, err := http.Get(s.url + "/healthz"); err == nil {
				resp.Body.Close()
				return s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	r.t.Fatalf("lapps serve did not start: %s", p.err.String())
	return nil
}

// stop sends SIGTERM and waits for the exit, at most timeout.
func (s *lappsServer) stop(timeout time.Duration) outcome {
	_ = s.p.cmd.Process.Signal(syscall.SIGTERM)
	return s.p.wait(timeout)
}

// do sends a request to the server and returns the status and body.
func (s *lappsServer) do(method, path, token, contentType string, body []byte) (int, string) {
	req, err := http.NewRequest(method, s.url+path, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

// logLines counts the lines of the server's log holding s.
func (s *lappsServer) logLines(sub string) int {
	n := 0
	sc := bufio.NewScanner(strings.NewReader(s.p.err.String()))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			n++
		}
	}
	return n
}

// query runs a counting query on the runner's SQLite database.
func (r *runner) query(q string, args ...any) int {
	r.t.Helper()
	db, err := sql.Open("sqlite", "file:"+r.db()+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		r.t.Fatal(err)
	}
	defer db.Close()
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		r.t.Fatalf("%s: %v", q, err)
	}
	return n
}

// token creates a token on the runner's database with the given scopes
// (ignored by a baseline, which has none).
func (r *runner) token(scopes string) string {
	r.t.Helper()
	args := []string{"token", "create", "hostile"}
	if r.current && scopes != "" {
		args = append(args, "--scope", scopes)
	}
	o := r.run(args...)
	if o.exit != 0 {
		r.t.Fatalf("token create: exit %d: %s", o.exit, o.stderr)
	}
	return strings.TrimSpace(o.stdout)
}

func mib(n int64) string { return fmt.Sprintf("%.0f MiB", float64(n)/(1<<20)) }
