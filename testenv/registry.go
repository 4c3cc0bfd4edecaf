package testenv

import (
	"bufio"
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Registry is a real distribution registry on loopback, started by
// ../shared/testimages/start-registry.sh for one test.
type Registry struct {
	// Addr is host:port, such as 127.0.0.1:41234.
	Addr   string
	shared string
}

// StartRegistry starts a registry with storage in a temporary directory and
// stops it when the test ends.
func StartRegistry(tb testing.TB) *Registry {
	tb.Helper()
	shared := Shared(tb)
	Tool(tb, "docker-registry")
	dir := tb.TempDir()
	out, err := exec.Command(filepath.Join(shared, "testimages", "start-registry.sh"), dir).Output()
	if err != nil {
		tb.Fatalf("start registry: %v", err)
	}
	vars := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			vars[k] = v
		}
	}
	r := &Registry{Addr: vars["REGISTRY"], shared: shared}
	if r.Addr == "" {
		tb.Fatalf("start registry: no address in %q", out)
	}
	tb.Cleanup(func() {
		_ = exec.Command(filepath.Join(shared, "testimages", "stop-registry.sh"), dir, "--purge").Run()
	})
	return r
}

// Push copies src (oci:DIR:TAG, docker-archive:FILE) to repoTag in the
// registry and returns the pushed manifest digest. format may be "" (keep
// the source's), "oci" or "v2s2".
func (r *Registry) Push(tb testing.TB, src, repoTag, format string) string {
	tb.Helper()
	cmd := exec.Command(filepath.Join(r.shared, "testimages", "push.sh"), src, r.Addr, repoTag)
	if format != "" {
		cmd.Env = append(cmd.Environ(), "FORMAT="+format)
	}
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		tb.Fatalf("push %s: %v\n%s", src, err, stderr)
	}
	return strings.TrimSpace(string(out))
}
