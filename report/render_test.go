package report

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/lapps/lapps/vuln"
)

// exploitSample is a report whose findings carry exploitation data, as
// the matcher sorts them (vuln.SortFindings).
func exploitSample() *Report {
	r := sample()
	r.Vulnerabilities = []vuln.Finding{
		{ID: "CVE-2023-4911", Package: "libc6", InstalledVersion: "2.36-9", Status: vuln.StatusFixed, FixedVersion: "2.36-9+deb12u3", Severity: vuln.SeverityHigh,
			SeveritySource: "cve5", CVSS: []vuln.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", Score: 7.8}},
			KnownExploited: &vuln.KnownExploited{Catalog: "CISA KEV", DateAdded: "2023-11-21", DueDate: "2023-12-12", RansomwareUse: true},
			EPSS:           &vuln.EPSS{Score: 0.71, Percentile: 0.978, Date: "2026-11-22"}},
		{ID: "ALSA-2024:3339", CVEs: []string{"CVE-2024-2961"}, Related: []string{"CVE-2022-30635"}, Package: "glibc", InstalledVersion: "2.34-83", Status: vuln.StatusFixed, Severity: vuln.SeverityHigh,
			EPSS: &vuln.EPSS{Score: 0.02, Percentile: 0.5}},
		{ID: "GO-2099-0001", Package: "example.com/m", InstalledVersion: "v1.0.0", Status: vuln.StatusUnfixed},
	}
	r.Summarize()
	return r
}

func TestTableExploitation(t *testing.T) {
	var b bytes.Buffer
	if err := WriteTable(&b, exploitSample()); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, re := range []string{
		`Findings:     3 \(high 2, unknown 1, known exploited 1\)`,
		`\nSEVERITY +EXPLOIT +ID +PACKAGE`,
		`\nhigh +KEV\+ransomware p97 +CVE-2023-4911 +libc6`,
		`\nhigh +p50 +ALSA-2024:3339 +glibc`,
		// Nothing rates it: said so.
		`\nunknown +- +GO-2099-0001 +example.com/m`,
	} {
		if !regexp.MustCompile(re).MatchString(out) {
			t.Errorf("table lacks %s:\n%s", re, out)
		}
	}
	// Without exploitation data, no EXPLOIT column.
	b.Reset()
	if err := WriteTable(&b, sample()); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "EXPLOIT") || strings.Contains(b.String(), "known exploited") {
		t.Errorf("EXPLOIT column without data:\n%s", b.String())
	}
}

func TestJSONIdentityAndExploitation(t *testing.T) {
	var b bytes.Buffer
	if err := WriteJSON(&b, exploitSample()); err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Vulnerabilities []map[string]json.RawMessage `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"severity_source": `"cve5"`,
		"known_exploited": `{"catalog":"CISA KEV","date_added":"2023-11-21","due_date":"2023-12-12","ransomware_use":true}`,
		"epss":            `{"score":0.71,"percentile":0.978,"date":"2026-11-22"}`,
		"cvss":            `[{"version":"3.1","vector":"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H","score":7.8}]`,
	}
	for k, w := range want {
		var got bytes.Buffer
		if err := json.Compact(&got, raw.Vulnerabilities[0][k]); err != nil || got.String() != w {
			t.Errorf("%s: %s, want %s", k, got.String(), w)
		}
	}
	if c, r := string(raw.Vulnerabilities[1]["cves"]), string(raw.Vulnerabilities[1]["related"]); !strings.Contains(c, "CVE-2024-2961") || !strings.Contains(r, "CVE-2022-30635") {
		t.Errorf("cves %s related %s", c, r)
	}
	// Unscored: severity unknown, no severity_source.
	if s, ok := raw.Vulnerabilities[2]["severity_source"]; string(raw.Vulnerabilities[2]["severity"]) != `"unknown"` || ok {
		t.Errorf("unscored finding: severity %s, severity_source %s", raw.Vulnerabilities[2]["severity"], s)
	}
}
