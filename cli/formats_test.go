package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/openvex/go-vex/pkg/vex"
	gosarif "github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/testenv"
)

// TestOutputFormats writes the AlmaLinux 9.3 image's report and an app
// report of it in every format and checks -o and --template errors
// (exit code 2).
func TestOutputFormats(t *testing.T) {
	images := testenv.Images(t)
	data := testenv.VulnData(t, "almalinux-osv-database", "advisories", "almalinux9")
	dir := t.TempDir()
	db := filepath.Join(dir, "lapps.db")
	alma := "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3"
	if code, _, stderr := run(t, db, "vulndb", "import", "--type", "osv", "--name", "osv-almalinux", "--replace", data); code != 0 {
		t.Fatalf("vulndb import: exit %d: %s", code, stderr)
	}
	code, out, stderr := run(t, db, "image", "security", "scan", "--platform", "linux/arm64", alma, "-o", "json")
	if code != 0 {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Vulnerabilities) == 0 {
		t.Fatalf("scan -o json: %v, %d findings", err, len(r.Vulnerabilities))
	}
	n := len(r.Vulnerabilities)
	bad := filepath.Join(dir, "bad.tmpl")
	os.WriteFile(bad, []byte("{{ .image }}\n{{ range .vulnerabilities }}"), 0o600)
	arm := filepath.Join(dir, "arm.yaml")
	os.WriteFile(arm, []byte("platform: linux/arm64\n"), 0o600)
	good := filepath.Join(dir, "good.tmpl")
	os.WriteFile(good, []byte("{{ len .vulnerabilities }} findings in {{ .image }}"), 0o600)

	report := []string{"image", "security", "report", alma, "-i", "1"}
	cases := []struct {
		name  string
		args  []string
		code  int
		check func(t *testing.T, out, stderr string)
	}{
		{"sarif", append(report, "-o", "sarif"), 0, func(t *testing.T, out, _ string) {
			log, err := gosarif.FromBytes([]byte(out))
			// The configuration checks' findings are results too.
			if want := n + len(r.ConfigFindings) + len(r.Secrets); err != nil || len(log.Runs[0].Results) != want || log.Runs[0].Tool.Driver.Name != "lapps" {
				t.Errorf("%v, want %d results", err, want)
			}
		}},
		{"openvex", append(report, "-o", "openvex"), 0, func(t *testing.T, out, _ string) {
			doc, err := vex.Parse([]byte(out))
			if err != nil || len(doc.Statements) != n+len(r.NotAffected) {
				t.Errorf("%v, want %d statements", err, n)
			}
		}},
		{"template file", append(report, "-o", "template", "--template", good), 0, wantOut(itoa(n) + " findings in " + alma)},
		{"template shipped", append(report, "-o", "template", "--template", "@markdown"), 0, wantOut("### lapps: " + alma)},
		{"template that does not parse", append(report, "-o", "template", "--template", bad), ExitUsage, wantErr("bad.tmpl:2: unexpected EOF")},
		{"template without -o template", append(report, "-o", "json", "--template", good), ExitUsage, wantErr("--template goes with -o template, not -o json")},
		{"-o template without --template", append(report, "-o", "template"), ExitUsage, wantErr("-o template needs --template FILE (or one of @markdown, @gitlab)")},
		{"unknown shipped template", append(report, "-o", "template", "--template", "@html"), ExitUsage, wantErr("no such shipped template")},
		{"unknown format", append(report, "-o", "xml"), ExitUsage, wantErr("unknown output format \"xml\" (one of table, json")},
		{"create app", []string{"app", "create", "-a", "shop", "--image", alma}, 0, wantOut("created app shop")},
		{"app scan sarif", []string{"app", "security", "scan", "-a", "shop", "-c", arm, "-o", "sarif"}, 0, func(t *testing.T, out, _ string) {
			log, err := gosarif.FromBytes([]byte(out))
			if want := n + len(r.ConfigFindings) + len(r.Secrets); err != nil || len(log.Runs) != 1 || len(log.Runs[0].Results) != want {
				t.Errorf("%v, want one run of %d results", err, want)
			}
		}},
		{"app report openvex", []string{"app", "security", "report", "-a", "shop", "-o", "openvex"}, 0, func(t *testing.T, out, _ string) {
			doc, err := vex.Parse([]byte(out))
			if err != nil || len(doc.Statements) != n+len(r.NotAffected) {
				t.Errorf("%v, want %d statements", err, n)
			}
		}},
		{"app report gitlab", []string{"app", "security", "report", "-a", "shop", "-o", "template", "--template", "@gitlab"}, 0, func(t *testing.T, out, _ string) {
			var doc struct{ Vulnerabilities []any }
			if err := json.Unmarshal([]byte(out), &doc); err != nil || len(doc.Vulnerabilities) != n {
				t.Errorf("%v, %d vulnerabilities, want %d", err, len(doc.Vulnerabilities), n)
			}
		}},
		{"app report json", []string{"app", "security", "report", "-a", "shop", "-o", "json"}, 0, func(t *testing.T, out, _ string) {
			var ar apps.AppReport
			if err := json.Unmarshal([]byte(out), &ar); err != nil || len(ar.Sections) != 1 {
				t.Errorf("%v, %+v", err, ar)
			}
		}},
		{"app report template without -o template", []string{"app", "security", "report", "-a", "shop", "--template", "@gitlab"}, ExitUsage, wantErr("--template goes with -o template, not -o table")},
		{"app report unknown format", []string{"app", "security", "report", "-a", "shop", "-o", "xml"}, ExitUsage, wantErr("unknown output format \"xml\" for app reports")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, out, stderr := run(t, db, c.args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d: %s", code, c.code, stderr)
			}
			c.check(t, out, stderr)
		})
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

func wantOut(s string) func(*testing.T, string, string) {
	return func(t *testing.T, out, _ string) {
		if !strings.Contains(out, s) {
			t.Errorf("%q not in the output:\n%.500s", s, out)
		}
	}
}

func wantErr(s string) func(*testing.T, string, string) {
	return func(t *testing.T, _, stderr string) {
		if !strings.Contains(stderr, s) {
			t.Errorf("%q not in stderr: %s", s, stderr)
		}
	}
}
