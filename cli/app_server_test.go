package cli

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// TestAppCommandsOverServer runs the app commands with --server against a
// server holding the AlmaLinux 9 advisories whose configuration fails
// prod deployments on high findings: the refusal exits 11 with its
// reasons although the client's own -c file has a lenient policy (the
// server's policy decides), and the other commands work as in-process.
func TestAppCommandsOverServer(t *testing.T) {
	images := testenv.Images(t)
	data := testenv.VulnData(t, "almalinux-osv-database", "advisories", "almalinux9")
	ctx := context.Background()
	dir := t.TempDir()
	st, err := sqlite.Open(ctx, filepath.Join(dir, "server.db"))
	if err != nil {
		t.Fatal(err)
	}
	local := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources([]updater.Source{{Name: "osv-almalinux", Type: "osv", Path: data}}))
	t.Cleanup(func() { local.Close() })
	if _, err := local.UpdateVulnDB(ctx, nil); err != nil {
		t.Fatal(err)
	}
	strict := &policy.Policy{FailOn: "high"}
	srv := server.New(local, startJobs(t, local, st, images), server.WithLocalImages([]string{images}), server.WithApps(func(scans service.Service) apps.Service { return apps.New(st, scans) }, func(_, env string) *policy.Policy {
		if env == "prod" {
			return strict
		}
		return nil
	}))
	hs := httptest.NewServer(srv.Handler())
	t.Cleanup(func() { hs.Close(); srv.Close() })

	alma := "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3"
	lenient := filepath.Join(dir, "lenient.yaml")
	if err := os.WriteFile(lenient, []byte("platform: linux/arm64\npolicy:\n  fail_on: critical\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	manifests := filepath.Join(dir, "web.yaml")
	if err := os.WriteFile(manifests, []byte("apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  template:\n    spec:\n      containers:\n        - {name: web, image: "+alma+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name   string
		args   []string
		code   int
		stdout []string
		stderr []string
	}{
		{"create", []string{"app", "create", "-a", "shop", "--image", alma}, 0, []string{"created app shop"}, nil},
		{"create again", []string{"app", "create", "-a", "shop"}, ExitUsage, nil, []string{`app "shop" already exists`}},
		{"refused by the server's policy", []string{"app", "deploy", "-a", "shop", "--env", "prod", "-c", lenient}, ExitRefused,
			[]string{"refused (verdict fail)"}, []string{"is not used over --server", "deployment of shop to prod refused (verdict fail):\n", "ALSA-2024:3339 (high) in glibc"}},
		{"accepted", []string{"app", "deploy", "-a", "shop", "--env", "staging", "-c", lenient}, 0, []string{"accepted (verdict pass)"}, nil},
		{"unknown app", []string{"app", "deploy", "-a", "nope", "-i", alma}, ExitNoScan, nil, []string{`no app "nope"`}},
		{"history", []string{"app", "history", "-a", "shop"}, 0, []string{"prod", "refused", "staging", "accepted"}, nil},
		{"list", []string{"app", "list"}, 0, []string{"shop", "staging"}, nil},
		{"scan", []string{"app", "security", "scan", "-a", "shop", "-c", lenient}, 0, []string{"Scan:     #1"}, []string{"the policy: section of " + lenient + " is not used over --server"}},
		{"scans", []string{"app", "security", "list", "-a", "shop"}, 0, []string{"SCAN"}, nil},
		{"report", []string{"app", "security", "report", "-a", "shop", "-i", "1"}, 0, []string{"glibc"}, nil},
		{"import", []string{"app", "import", "-f", manifests}, 0, []string{"web"}, nil},
		{"remove", []string{"app", "remove", "-a", "shop"}, 0, nil, nil},
		{"history of removed", []string{"app", "history", "-a", "shop"}, ExitNoScan, nil, []string{`no app "shop"`}},
	}
	for _, s := range steps {
		var out, errb bytes.Buffer
		code := Main(ctx, append([]string{"--server", hs.URL}, s.args...), &out, &errb)
		if code != s.code {
			t.Fatalf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", s.name, code, s.code, out.String(), errb.String())
		}
		for _, w := range s.stdout {
			if !strings.Contains(out.String(), w) {
				t.Errorf("%s: stdout lacks %q:\n%s", s.name, w, out.String())
			}
		}
		for _, w := range s.stderr {
			if !strings.Contains(errb.String(), w) {
				t.Errorf("%s: stderr lacks %q:\n%s", s.name, w, errb.String())
			}
		}
	}
}
