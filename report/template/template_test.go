package template

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

func sample() *report.Report {
	r := &report.Report{Image: "docker.io/library/debian:12", ScanIndex: 2,
		Vulnerabilities: []vuln.Finding{{ID: "CVE-1", Package: "a|b", InstalledVersion: "1", Severity: vuln.SeverityHigh}}}
	r.Summarize()
	return r
}

// TestErrors: a template that does not parse or fails names its line and
// column; the output and the file are bounded.
func TestErrors(t *testing.T) {
	cases := []struct{ name, text, want string }{
		{"unclosed action", "ok\n{{ .image ", "t.tmpl:2: unclosed action"},
		{"unknown function", "{{ env \"HOME\" }}", `t.tmpl:1: function "env" not defined`},
		{"no file access", "{{ readFile \"/etc/passwd\" }}", `function "readFile" not defined`},
		{"execution", "line\n  {{ index .vulnerabilities 5 }}", "t.tmpl:2:5: executing"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tm, err := Parse("t.tmpl", c.text)
			if err == nil {
				err = tm.Execute(&bytes.Buffer{}, sample())
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
	tm, _ := Parse("big", `{{ range .vulnerabilities }}{{ .id }}{{ end }}{{ range .vulnerabilities }}{{ .id }}{{ end }}`)
	if err := tm.ExecuteLimit(&bytes.Buffer{}, sample(), 9); err == nil || !strings.Contains(err.Error(), "output larger than 9 bytes") {
		t.Errorf("over the output bound: %v", err)
	}
	if err := tm.ExecuteLimit(&bytes.Buffer{}, sample(), 10); err != nil {
		t.Errorf("at the output bound: %v", err)
	}
	p := filepath.Join(t.TempDir(), "big.tmpl")
	os.WriteFile(p, bytes.Repeat([]byte("x"), MaxTemplate+1), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("a template over MaxTemplate: %v", err)
	}
	if _, err := Load("@nope"); err == nil || !strings.Contains(err.Error(), "@markdown") {
		t.Errorf("an unknown shipped template: %v", err)
	}
}

// TestSeesJSON: the template sees the JSON report's field names.
func TestSeesJSON(t *testing.T) {
	tm, err := Parse("t", `{{ .image }} #{{ .scan_index }}{{ range .vulnerabilities }} {{ .id }} {{ .package | mdEscape }} {{ .severity | title }} {{ .fixed_version | default "none" }}{{ end }} {{ .summary.by_severity.high }}`)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := tm.Execute(&b, sample()); err != nil {
		t.Fatal(err)
	}
	if want := `docker.io/library/debian:12 #2 CVE-1 a\|b High none 1`; b.String() != want {
		t.Errorf("%q, want %q", b.String(), want)
	}
}

// FuzzTemplate parses and runs arbitrary templates over a report: errors
// are fine, panics and unbounded output are not.
func FuzzTemplate(f *testing.F) {
	for _, n := range Shipped {
		b, _ := shipped.ReadFile("templates/" + n + ".tmpl")
		f.Add(string(b))
	}
	f.Add("{{ range .vulnerabilities }}{{ toJson . }}{{ end }}")
	f.Add("{{ truncate -1 .image }}{{ first -3 .vulnerabilities }}{{ date \"x\" .scanned_at }}")
	r := sample()
	f.Fuzz(func(t *testing.T, text string) {
		tm, err := Parse("fuzz", text)
		if err != nil {
			return
		}
		var b bytes.Buffer
		_ = tm.ExecuteLimit(&b, r, 1<<16)
		if b.Len() > 1<<16 {
			t.Fatalf("%d bytes written over the bound", b.Len())
		}
	})
}
