package sarif

import (
	"fmt"
	"strings"
	"testing"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// TestLimits crosses GitHub's per-run result limit with a generated
// report: the most severe findings are kept and the run says how many
// were left out.
func TestLimits(t *testing.T) {
	r := &report.Report{Image: "docker.io/library/debian:12"}
	n := MaxResults + 7
	long := strings.Repeat("https://x/", 3000)
	for i := 0; i < n; i++ {
		r.Vulnerabilities = append(r.Vulnerabilities, vuln.Finding{ID: fmt.Sprintf("CVE-2024-%d", i%300), Package: fmt.Sprintf("p%d", i), InstalledVersion: "1", PackageKind: "deb", Severity: vuln.SeverityHigh,
			Links: []string{long}})
	}
	log, err := Build([]*report.Report{r})
	if err != nil {
		t.Fatal(err)
	}
	run := log.Runs[0]
	if len(run.Results) != MaxResults || run.Properties["lapps-findings-left-out"] != 7 {
		t.Fatalf("%d results, properties %v", len(run.Results), run.Properties)
	}
	for _, rule := range run.Tool.Driver.Rules {
		if len(*rule.Help.Text) > MaxHelp || len(*rule.Help.Markdown) > MaxHelp {
			t.Fatalf("rule %s: help of %d bytes", rule.ID, len(*rule.Help.Markdown))
		}
	}
}

func TestSeverityMapping(t *testing.T) {
	cases := []struct {
		sev   vuln.Severity
		score float64
		level string
		ss    string
	}{
		{vuln.SeverityCritical, 0, "error", "9.5"},
		{vuln.SeverityHigh, 0, "error", "8.0"},
		{vuln.SeverityMedium, 0, "warning", "5.5"},
		{vuln.SeverityLow, 0, "note", "2.0"},
		{vuln.SeverityUnknown, 0, "note", ""},
		{vuln.SeverityMedium, 9.8, "warning", "9.8"},
	}
	for _, c := range cases {
		if l, s := level(c.sev), securitySeverity(c.sev, c.score); l != c.level || s != c.ss {
			t.Errorf("%s %.1f: %s %q, want %s %q", c.sev, c.score, l, s, c.level, c.ss)
		}
	}
}

func TestImagePath(t *testing.T) {
	for in, want := range map[string]string{
		"docker.io/library/debian:12": "library/debian",
		"debian:12":                   "library/debian",
		"ghcr.io/a/b@sha256:" + strings.Repeat("0", 64): "a/b",
		"127.0.0.1:5000/x/y:1":                          "x/y",
	} {
		if got := ImagePath(in); got != want {
			t.Errorf("ImagePath(%q) = %q, want %q", in, got, want)
		}
	}
	if got := ImagePath("oci:/cache/debian/oci:debian-bookworm-mid"); got != "debian-bookworm-mid" {
		t.Errorf("ImagePath of an oci layout = %q", got)
	}
	if got := ImagePath("docker-archive:/tmp/image.tar"); got != "image.tar" {
		t.Errorf("ImagePath of a docker archive = %q", got)
	}
}
