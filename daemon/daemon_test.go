package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/config"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
)

// testConfig loads a configuration of one disabled source (no ingest at
// start) followed by extra YAML for the server section.
func testConfig(t *testing.T, server string) *config.Config {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "lapps.yaml")
	yaml := fmt.Sprintf("vulndb:\n  sources:\n    - name: off\n      type: osv\n      path: %s\n      enabled: false\nserver:\n  shutdown_timeout: 5s\n%s", dir, server)
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

var servingRE = regexp.MustCompile(`lapps: serving on (127\.0\.0\.1:[0-9]+) \(([0-9]+) scheduled jobs\)`)

// TestRun: the daemon serves the API on its address, says where, runs
// the scheduled work, and when its context ends stops, logs it and closes
// the store.
func TestRun(t *testing.T) {
	cfg := testConfig(t, "")
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	var out, logs testenv.SyncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, cfg, st, WithAddr("127.0.0.1:0"), WithOutput(&out), WithVersion("test"),
			WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	}()
	var m []string
	for deadline := time.Now().Add(30 * time.Second); m == nil; time.Sleep(10 * time.Millisecond) {
		m = servingRE.FindStringSubmatch(out.String())
		if time.Now().After(deadline) {
			t.Fatalf("no serving line:\n%s\n%s", out.String(), logs.String())
		}
	}
	// scrub, alerts, notify, deliver, gc: the disabled source has no
	// ingest job.
	if m[2] != "5" {
		t.Errorf("%s scheduled jobs, want 5", m[2])
	}
	resp, err := http.Get("http://" + m[1] + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz: %d", resp.StatusCode)
	}
	// The API queues scans on the runner: a local image outside
	// server.local_images is refused before anything is queued.
	resp, err = http.Post("http://"+m[1]+"/v1/scans", "application/json", strings.NewReader(`{"image":"oci:/etc:x"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden && resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("POST /v1/scans of a local image: %d, want 403 (or 401 with tokens required)", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run still running 30s after its context ended (shutdown_timeout 5s)")
	}
	for _, want := range []string{"msg=replica", "msg=stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, logs.String())
		}
	}
	if _, err := st.PendingJobs(context.Background()); err == nil {
		t.Error("the store is still open after Run returned")
	}
}

// TestRunConfigError: an error in the configuration is a ConfigError,
// with the message naming the key, and the store is closed all the same.
func TestRunConfigError(t *testing.T) {
	cfg := testConfig(t, "  console:\n    session_key: short\n")
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	err = Run(context.Background(), cfg, st, WithAddr("127.0.0.1:0"), WithOutput(&testenv.SyncBuffer{}))
	var ce ConfigError
	if !errors.As(err, &ce) || err.Error() != "server.console.session_key: at least 16 bytes" {
		t.Errorf("Run = %v (%T), want the ConfigError naming server.console.session_key", err, err)
	}
	if _, err := st.PendingJobs(context.Background()); err == nil {
		t.Error("the store is still open after Run returned")
	}
}
