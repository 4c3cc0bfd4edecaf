package testenv

import (
	"bytes"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// StartRegistryNotifying starts a real distribution registry on loopback,
// like StartRegistry, whose configuration has a notifications endpoint
// named "lapps": every push is announced to endpointURL (with headers,
// such as an Authorization bearer token), with a 2 s timeout, a threshold
// of 3 failures and a 1 s backoff. The registry is stopped, and its
// storage removed, when the test ends; its log is shown when the test
// fails.
//
// It starts docker-registry itself rather than through
// start-registry.sh, which writes a configuration without notifications.
func StartRegistryNotifying(tb testing.TB, endpointURL string, headers map[string][]string) *Registry {
	tb.Helper()
	shared := Shared(tb)
	bin := Tool(tb, "docker-registry")
	dir := tb.TempDir()
	if headers == nil {
		headers = map[string][]string{}
	}
	cfg := map[string]any{
		"version": 0.1,
		"log": map[string]any{
			"level": "info", "formatter": "text",
			"accesslog": map[string]any{"disabled": true},
		},
		"storage": map[string]any{
			"filesystem":  map[string]any{"rootdirectory": filepath.Join(dir, "data")},
			"delete":      map[string]any{"enabled": true},
			"maintenance": map[string]any{"uploadpurging": map[string]any{"enabled": false}},
		},
		"http": map[string]any{
			"addr":    "127.0.0.1:0",
			"secret":  "testimages-not-a-secret",
			"headers": map[string]any{"X-Content-Type-Options": []string{"nosniff"}},
		},
		"notifications": map[string]any{
			"events": map[string]any{"includereferences": true},
			"endpoints": []map[string]any{{
				"name": "lapps", "url": endpointURL, "headers": headers,
				"timeout": "2s", "threshold": 3, "backoff": "1s",
			}},
		},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		tb.Fatalf("registry config: %v", err)
	}
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, b, 0o600); err != nil {
		tb.Fatalf("registry config: %v", err)
	}

	logBuf := &SyncBuffer{}
	cmd := exec.Command(bin, "serve", cfgPath)
	cmd.Stdout, cmd.Stderr = logBuf, logBuf
	if err := cmd.Start(); err != nil {
		tb.Fatalf("start registry: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if tb.Failed() {
			tb.Logf("registry log (last lines):\n%s", tail(logBuf.String(), 30))
		}
	})

	addr := waitListening(tb, logBuf, exited)
	return &Registry{Addr: addr, shared: shared}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

var listeningRE = regexp.MustCompile(`msg="listening on ([0-9.]+:[0-9]+)"`)

// waitListening reads the registry's address from its "listening on" log
// line and waits until /v2/ answers, for at most 10 s.
func waitListening(tb testing.TB, log *SyncBuffer, exited <-chan struct{}) string {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			tb.Fatalf("registry exited:\n%s", log.String())
		default:
		}
		if m := listeningRE.FindStringSubmatch(log.String()); m != nil {
			resp, err := client.Get("http://" + m[1] + "/v2/")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return m[1]
				}
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	tb.Fatalf("registry did not come up in 10 s:\n%s", log.String())
	return ""
}

// SyncBuffer is a bytes.Buffer safe for a process (or a goroutine)
// writing it while a test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
