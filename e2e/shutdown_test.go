package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/store/sqlite"
)

// TestShutdownWithStuckScan: lapps serve stops within
// server.shutdown_timeout after SIGTERM although a scan job is blocked in
// I/O that ignores cancellation (a docker-archive that is a FIFO nobody
// writes, opened where local_images allows it), and the job goes back to
// the queue for the next replica. It also warns at start that admission
// is configured without TLS.
func TestShutdownWithStuckScan(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	images := filepath.Join(dir, "images")
	if err := os.Mkdir(images, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(images, "stuck.tar")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	cfg := filepath.Join(dir, "lapps.yaml")
	if err := os.WriteFile(cfg, []byte(`vulndb:
  sources:
    - {name: none, type: osv, path: `+dir+`, enabled: false}
server:
  local_images: [`+images+`]
  shutdown_timeout: 2s
  admission: {fail_open: false}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, db: filepath.Join(dir, "lapps.db"), config: cfg}
	out, err := e.cli(t, nil, "--db", e.db, "token", "create", "ci", "--scope", "scan")
	if err != nil {
		t.Fatalf("token create: %v\n%s", err, out)
	}
	e.token = strings.TrimSpace(out)
	p := startLapps(t, e.baseEnv(), "--db", e.db, "-c", cfg, "serve", "--addr", "127.0.0.1:0")
	if !strings.Contains(p.log.String(), "server.admission is configured but the server speaks plain HTTP") {
		t.Errorf("no warning about admission without TLS:\n%s", p.log.String())
	}

	var job server.Job
	e.call(t, p, "POST", "/v1/scans", server.ScanBody{Image: "docker-archive:" + fifo}, &job)
	waitFor(t, 30*time.Second, "the scan job to run", func() (bool, string) {
		j := e.job(t, p, job.ID)
		return j.State == server.JobRunning, j.State
	})
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	sent := time.Now()
	select {
	case <-p.exited:
	case <-time.After(60 * time.Second):
		t.Fatalf("lapps serve still running 60s after SIGTERM with shutdown_timeout 2s:\n%s", p.log.String())
	}
	t.Logf("lapps serve exited %s after SIGTERM (shutdown_timeout 2s)", time.Since(sent).Round(10*time.Millisecond))
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	st, err := sqlite.Open(context.Background(), e.db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	sj, err := st.GetJob(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	if sj.State != server.JobQueued || sj.Holder != "" {
		t.Errorf("the stuck job after the shutdown: %s by %q, want queued for the next replica\n%s", sj.State, sj.Holder, p.log.String())
	}
}
