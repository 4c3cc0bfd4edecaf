package report

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/vuln"
)

func sample() *Report {
	r := &Report{
		Image: "index.docker.io/library/debian:12", ManifestDigest: "sha256:abcdef0123456789", ScanIndex: 2,
		ScannedAt:       time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC),
		Distribution:    &vuln.Distribution{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"},
		Packages:        []vuln.Package{{Name: "gzip", Version: "1.12-1", Kind: vuln.KindDeb, Layer: "sha256:0123456789abcdef0123"}},
		OSOwnedPackages: []vuln.Package{{Name: "requests", Version: "2.28.1", Kind: vuln.KindPyPI, OwnedBy: "deb python3-requests"}},
		Vulnerabilities: []vuln.Finding{
			{ID: "CVE-2022-1271", Package: "gzip", InstalledVersion: "1.12-1", FixedVersion: "1.12-1+deb12u1", Status: vuln.StatusFixed, Severity: vuln.SeverityHigh, Title: "zgrep arbitrary file write"},
			{ID: "CVE-2023-0001", Package: "gzip", InstalledVersion: "1.12-1", Status: vuln.StatusUnfixed, Severity: vuln.SeverityLow},
		},
		Warnings: []string{"layer sha256:x: var/lib/dpkg/status: dpkg: bad stanza"},
	}
	r.Summarize()
	return r
}

func TestTable(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sample(), "table"); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Scan:         #2", "Debian GNU/Linux 12 (bookworm)", "Findings:     2 (high 1, low 1)",
		"1 more (pypi 1) installed by the distribution's package manager", "Warning:      layer sha256:x",
		"CVE-2022-1271", "1.12-1+deb12u1", "unfixed", "no vulnerability data covers this image",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
}

func TestJSONAndCounts(t *testing.T) {
	r := sample()
	var b bytes.Buffer
	if err := Write(&b, r, "json"); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.ScanIndex != 2 || len(back.Vulnerabilities) != 2 || back.Vulnerabilities[0].Severity != vuln.SeverityHigh || back.Summary.BySeverity["high"] != 1 || back.Summary.BySeverity["critical"] != 0 {
		t.Errorf("round trip: %+v", back)
	}
	if r.AtOrAbove(vuln.SeverityHigh) != 1 || r.AtOrAbove(vuln.SeverityLow) != 2 || r.AtOrAbove(vuln.SeverityCritical) != 0 {
		t.Error("AtOrAbove")
	}
	if err := Write(&b, r, "xml"); err == nil || !strings.Contains(err.Error(), "table, json") {
		t.Errorf("unknown format: %v", err)
	}
}

func TestAgeAndDataLines(t *testing.T) {
	at := time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		newest time.Time
		want   string
	}{
		{time.Time{}, AgeUnknown},
		{at.Add(-412*24*time.Hour - time.Hour), "412d"},
		{at.Add(-5*time.Hour - time.Minute), "5h"},
		{at.Add(-time.Minute), "<1h"},
		{at.Add(time.Hour), "<1h"},
	} {
		if got := Age(tc.newest, at); got != tc.want {
			t.Errorf("Age(%v) = %q; want %q", tc.newest, got, tc.want)
		}
	}
	newest := at.Add(-48 * time.Hour)
	r := sample()
	r.DataSources = []DataSource{
		{Name: "a", UpdatedAt: at, NewestRecord: &newest, Age: "2d"},
		{Name: "b", UpdatedAt: at, Age: AgeUnknown},
		{Name: "c", UpdatedAt: at}, // recorded before ages were known
	}
	var b bytes.Buffer
	if err := WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Data:         a: newest record 2026-03-01 (2d old), stored 2026-03-03 12:00Z\n",
		"Data:         b: newest record unknown (its records carry no dates), stored 2026-03-03 12:00Z\n",
		"Data:         c: stored 2026-03-03 12:00Z\n",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	if strings.Contains(b.String(), "no vulnerability data covers") {
		t.Errorf("table says no data covers the image although sources do:\n%s", b.String())
	}
}

// TestSummaryCountsExploitedAndFixable: the summary counts the findings a
// known-exploited catalogue lists and those with a fix.
func TestSummaryCountsExploitedAndFixable(t *testing.T) {
	r := &Report{Vulnerabilities: []vuln.Finding{
		{ID: "CVE-1", Severity: vuln.SeverityHigh, FixedVersion: "1.1", KnownExploited: &vuln.KnownExploited{Catalog: "CISA KEV", DateAdded: "2024-01-01"}},
		{ID: "CVE-2", Severity: vuln.SeverityLow},
		{ID: "CVE-3", FixedVersion: "2.0"},
	}}
	r.Summarize()
	if r.Summary.KnownExploited != 1 || r.Summary.Fixable != 2 || r.Summary.BySeverity["unknown"] != 1 {
		t.Errorf("summary %+v", r.Summary)
	}
}

func TestChecksAtOrAbove(t *testing.T) {
	r := &Report{
		ConfigFindings: []checks.Finding{{ID: "config-root-user", Severity: vuln.SeverityLow}, {ID: "config-eol-base", Severity: vuln.SeverityHigh}},
		Secrets:        []checks.Secret{{Rule: "private-key", Severity: vuln.SeverityHigh}},
	}
	for _, tc := range []struct {
		min             vuln.Severity
		config, secrets int
	}{
		{vuln.SeverityCritical, 0, 0},
		{vuln.SeverityHigh, 1, 1},
		{vuln.SeverityLow, 2, 1},
	} {
		if c, s := r.ChecksAtOrAbove(tc.min); c != tc.config || s != tc.secrets {
			t.Errorf("ChecksAtOrAbove(%s) = %d, %d; want %d, %d", tc.min, c, s, tc.config, tc.secrets)
		}
	}
}
