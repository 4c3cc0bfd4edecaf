package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/testenv"
)

// TestAppCommands drives the app commands over AlmaLinux 9.3 and the
// AlmaLinux 9 advisories: a refused deployment exits 11 with its reasons
// on stderr, one per line; an accepted one exits 0; both are in the
// history; app scans are numbered and reported.
func TestAppCommands(t *testing.T) {
	images := testenv.Images(t)
	data := testenv.VulnData(t, "almalinux-osv-database", "advisories", "almalinux9")
	dir := t.TempDir()
	db := filepath.Join(dir, "lapps.db")
	alma := "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3"
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	strict := write("strict.yaml", "platform: linux/arm64\npolicy:\n  fail_on: high\n  warn_on: medium\n")
	lenient := write("lenient.yaml", "platform: linux/arm64\npolicy:\n  fail_on: critical\n  warn_on: high\n")
	badPolicy := write("bad.yaml", "policy:\n  fail_on: severe\n")

	if code, _, stderr := run(t, db, "vulndb", "import", "--type", "osv", "--name", "osv-almalinux", "--replace", data); code != 0 {
		t.Fatalf("vulndb import: exit %d: %s", code, stderr)
	}
	steps := []struct {
		name    string
		args    []string
		code    int
		stdout  []string // each must appear
		stderr  []string
		nothing bool // stderr must be empty
	}{
		{"create", []string{"app", "create", "-a", "shop", "--image", alma}, 0, []string{"created app shop with 1 image(s)"}, nil, true},
		{"create again", []string{"app", "create", "-a", "shop"}, ExitUsage, nil, []string{`app "shop" already exists`}, false},
		{"deploy without app", []string{"app", "deploy", "-i", alma}, ExitUsage, nil, []string{"-a APP is required"}, false},
		{"deploy unknown app", []string{"app", "deploy", "-a", "nope", "-i", alma}, ExitNoScan, nil, []string{`no app "nope"`}, false},
		{"bad policy", []string{"app", "deploy", "-a", "shop", "-c", badPolicy}, ExitUsage, nil, []string{"policy", "severe"}, false},
		{"refused", []string{"app", "deploy", "-a", "shop", "-i", alma, "--env", "prod", "-c", strict}, ExitRefused,
			[]string{"refused (verdict fail)"},
			[]string{"deployment of shop to prod refused (verdict fail):\n"}, false},
		{"accepted", []string{"app", "deploy", "-a", "shop", "--env", "prod", "-c", lenient}, 0,
			[]string{"accepted (verdict warn)"}, nil, true},
		{"history", []string{"app", "history", "-a", "shop"}, 0,
			[]string{"prod  fail     refused", "prod  warn     accepted", "#1 refused:", "ALSA-2024:3339 (high) in glibc"}, nil, true},
		{"list", []string{"app", "list"}, 0, []string{"shop", "prod (#2, warn)"}, nil, true},
		// A failing verdict exits 10, so that CI can gate on an app.
		{"scan", []string{"app", "security", "scan", "-a", "shop", "-c", strict}, ExitFindings, []string{"Scan:     #1", "(image scan #2)", "Verdict:  fail"}, []string{"app shop scan #1: verdict fail"}, false},
		{"scan, the only app", []string{"app", "security", "scan", "-c", lenient}, 0, []string{"Scan:     #2", "(image scan #3)", "Verdict:  warn"}, nil, true},
		{"report --fail-on high", []string{"app", "security", "report", "-a", "shop", "--fail-on", "high"}, ExitFindings, []string{"Verdict:  warn"}, []string{"at or above high"}, false},
		{"report --fail-on critical", []string{"app", "security", "report", "-a", "shop", "--fail-on", "critical"}, 0, []string{"Verdict:  warn"}, nil, true},
		{"report --fail-on severe", []string{"app", "security", "report", "-a", "shop", "--fail-on", "severe"}, ExitUsage, nil, []string{"not a severity"}, false},
		{"scans", []string{"app", "security", "list", "-a", "shop"}, 0, []string{"SCAN", "fail", "warn"}, nil, true},
		{"report", []string{"app", "security", "report", "-a", "shop", "-i", "1"}, 0,
			[]string{"(image scan #2): fail ==", "ALSA-2024:3339", "Totals:", "Verdict:  fail"}, nil, true},
		{"report missing", []string{"app", "security", "report", "-a", "shop", "-i", "7"}, ExitNoScan, nil, []string{"no scan #7"}, false},
		{"import", []string{"app", "import", "-f", filepath.Join("..", "apps", "testdata", "workload.yaml")}, 0,
			[]string{"app shop: 4 image(s) from 2 workload(s)", "CronJob prod/shop-cleanup", "initContainer", "docker.io/library/busybox:1.36"}, nil, true},
		{"import without -f", []string{"app", "import"}, ExitUsage, nil, []string{"-f WORKLOAD.yaml is required"}, false},
		{"list, the only app", []string{"app", "security", "list"}, 0, []string{"SCAN"}, nil, true},
		{"remove", []string{"app", "remove", "-a", "shop"}, 0, []string{"removed app shop"}, nil, true},
		{"history after removal", []string{"app", "history", "-a", "shop"}, ExitNoScan, nil, []string{`no app "shop"`}, false},
	}
	for _, s := range steps {
		code, stdout, stderr := run(t, db, s.args...)
		if code != s.code {
			t.Errorf("%s: exit %d, want %d\nstdout:\n%s\nstderr:\n%s", s.name, code, s.code, stdout, stderr)
			continue
		}
		for _, w := range s.stdout {
			if !strings.Contains(stdout, w) {
				t.Errorf("%s: stdout lacks %q:\n%s", s.name, w, stdout)
			}
		}
		for _, w := range s.stderr {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", s.name, w, stderr)
			}
		}
		if s.nothing && stderr != "" {
			t.Errorf("%s: stderr:\n%s", s.name, stderr)
		}
		if s.name == "refused" {
			// One reason a line: each line after the first names the image.
			lines := strings.Split(strings.TrimSpace(stderr), "\n")
			if len(lines) < 3 {
				t.Errorf("refused: want the reasons one per line:\n%s", stderr)
			}
			for _, l := range lines[1:] {
				if !strings.HasPrefix(l, "oci:") {
					t.Errorf("refused: reason line %q does not name the image", l)
				}
			}
		}
	}

	// JSON outputs parse.
	if code, _, stderr := run(t, db, "app", "create", "-a", "api", "--image", alma); code != 0 {
		t.Fatalf("create api: %d %s", code, stderr)
	}
	code, out, _ := run(t, db, "app", "deploy", "-a", "api", "-c", strict, "-o", "json")
	var d struct {
		ID       int64 `json:"id"`
		Accepted bool
		Verdict  string
		Reasons  []string
	}
	// api's first deployment is #1, whatever shop's were (numbers are per app).
	if err := json.Unmarshal([]byte(out), &d); err != nil || code != ExitRefused || d.ID != 1 || d.Accepted || d.Verdict != "fail" || len(d.Reasons) == 0 {
		t.Errorf("deploy -o json: exit %d, %+v, %v:\n%s", code, d, err, out)
	}
}
