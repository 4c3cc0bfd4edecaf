package policy

import (
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

func TestLoadErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"fail_on: severe", `fail_on: unknown severity "severe"`},
		{"warn_on: high\nfail_on: medium", "warn_on high is above fail_on medium"},
		{"ignore:\n  - {package: glibc}", "ignore[0]: id is required"},
		{"ignore:\n  - {id: CVE-1, until: next week}", `until: date "next week"`},
		{"ignore:\n  - {id: CVE-1, until: 2026-13-01}", `date "2026-13-01"`},
		{"max_report_age: a while", `max_report_age: duration "a while"`},
		{"max_report_age: -1h", "max_report_age -1h0m0s is negative"},
		{"fail_on: high\nfial_on: low", "field fial_on not found"},
		{"policy:\n  fixable_only: maybe", "cannot unmarshal"},
		{"- fail_on: high", "want a mapping"},
		{"policy: [", "parse policy"},
		{"vex: ['']", "vex[0]: empty path"},
		{"unknown_as: severe", `unknown_as: "severe" is not a severity`},
		{"unknown_as: unknown", `unknown_as: "unknown" is not a severity`},
		{"fail_on_kev: maybe", `fail_on_kev: want true or false, not "maybe"`},
		{"fail_on_kev: [true]", "fail_on_kev: want true or false"},
		{"epss_threshold: 1.5", "epss_threshold: 1.5 is not between 0 and 1"},
		{"epss_threshold: -0.1", "epss_threshold: -0.1 is not between 0 and 1"},
		{"epss_threshold: NaN", "epss_threshold: NaN is not between 0 and 1"},
		{"epss_threshold: .nan", `epss_threshold: want a number from 0 to 1`},
		{"epss_threshold: half", `epss_threshold: want a number from 0 to 1 (0.5), not "half"`},
		{"epss_threshold: 50%", `epss_threshold: want a number from 0 to 1`},
	}
	for _, tt := range tests {
		_, err := Load(strings.NewReader(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Load(%q): %v, want an error containing %q", tt.yaml, err, tt.want)
		}
	}
	p, err := Load(strings.NewReader("policy:\n  fail_on: critical\n  warn_on: high\n  fixable_only: true\n  max_report_age: 7d\n  vex: [a.json]\n  ignore:\n    - {id: CVE-2024-2961, package: glibc, until: 2026-12-31, reason: not reachable}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.FailOn != "critical" || p.WarnOn != "high" || !p.FixableOnly || time.Duration(p.MaxReportAge) != 7*24*time.Hour || len(p.VEX) != 1 ||
		len(p.Ignore) != 1 || p.Ignore[0].Until.Time != time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC) || p.Ignore[0].Reason != "not reachable" {
		t.Errorf("loaded %+v", p)
	}
	p, err = Load(strings.NewReader("unknown_as: High\nfail_on_kev: true\nepss_threshold: 0.5\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.UnknownAs != "High" || !p.FailOnKEV || p.EPSSThreshold != 0.5 {
		t.Errorf("loaded %+v", p)
	}
}

// TestExpiryOnItsDate: a rule until 2026-12-31 applies through 23:59:59
// UTC on the 30th and not from midnight on the 31st.
func TestExpiryOnItsDate(t *testing.T) {
	p, err := Load(strings.NewReader("fail_on: high\nignore:\n  - {id: CVE-2024-2961, until: 2026-12-31}"))
	if err != nil {
		t.Fatal(err)
	}
	r := &report.Report{GeneratedAt: time.Now(), Vulnerabilities: []vuln.Finding{{ID: "ALSA-2024:3339", Aliases: []string{"CVE-2024-2961"}, Package: "glibc", Severity: vuln.SeverityHigh}}}
	for _, tt := range []struct {
		now  time.Time
		want string
	}{
		{time.Date(2026, 12, 30, 23, 59, 59, 0, time.UTC), Pass},
		{time.Date(2026, 12, 31, 0, 0, 0, 0, time.UTC), Fail},
		{time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC), Fail},
	} {
		if v := Evaluate(p, r, tt.now, nil); v.Result != tt.want {
			t.Errorf("at %s: %s, want %s", tt.now, v.Result, tt.want)
		}
	}
}

func TestVEXErrorsAndMismatches(t *testing.T) {
	for _, tt := range []struct{ doc, want string }{
		{`{`, "vex bad.json"},
		{`{"@context":"https://example.com","statements":[]}`, "not an OpenVEX document"},
		{`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[]}`, "no statements"},
		{`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:oci/x"}],"status":"not_affected"}]}`, "statement 0 (CVE-1)"},
		{`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1"},"status":"fixed"}]}`, "no products"},
		{`{"@context":"https://openvex.dev/ns/v0.2.0","statements":[{"vulnerability":{"name":"CVE-1"},"products":[{"@id":"pkg:oci/x"}],"status":"gone"}]}`, "statement 0"},
	} {
		err := (&VEX{}).Add("bad.json", []byte(tt.doc))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Add(%s): %v, want %q", tt.doc, err, tt.want)
		}
	}
	if _, err := LoadVEX("testdata/missing.json"); err == nil {
		t.Error("LoadVEX of a missing file: no error")
	}

	// CVE-2021-38561 in vulnapp's golang.org/x/text, as the Debian mid
	// report has it; statements for another image, another package or
	// another vulnerability do not suppress it.
	_, deb := reports(t)
	stmt := func(vulnName, product, sub string) string {
		return `{"@context":"https://openvex.dev/ns/v0.2.0","@id":"https://lapps.example/vex/t","author":"t","timestamp":"2026-11-20T10:00:00Z","version":1,
"statements":[{"vulnerability":{"name":"` + vulnName + `"},"products":[{"@id":"` + product + `","subcomponents":[{"@id":"` + sub + `"}]}],
"status":"not_affected","justification":"component_not_present"}]}`
	}
	p := &Policy{WarnOn: "unknown"}
	for _, tt := range []struct {
		name, doc string
		want      bool
	}{
		{"matching", stmt("GO-2021-0113", "pkg:oci/debian-bookworm-mid", "pkg:golang/golang.org/x/text"), true},
		{"by digest purl", stmt("CVE-2021-38561", "pkg:oci/debian-bookworm-mid@"+deb.ManifestDigest, "pkg:golang/golang.org/x/text@v0.3.5"), true},
		{"other digest", stmt("CVE-2021-38561", "pkg:oci/debian-bookworm-mid@sha256:0000000000000000000000000000000000000000000000000000000000000000", "pkg:golang/golang.org/x/text"), false},
		{"other image", stmt("CVE-2021-38561", "pkg:oci/almalinux-9.3", "pkg:golang/golang.org/x/text"), false},
		{"other package", stmt("CVE-2021-38561", "pkg:oci/debian-bookworm-mid", "pkg:golang/gopkg.in/yaml.v2"), false},
		{"other version", stmt("CVE-2021-38561", "pkg:oci/debian-bookworm-mid", "pkg:golang/golang.org/x/text@v0.3.7"), false},
		{"other vulnerability", stmt("CVE-2021-99999", "pkg:oci/debian-bookworm-mid", "pkg:golang/golang.org/x/text"), false},
	} {
		v := &VEX{}
		if err := v.Add(tt.name, []byte(tt.doc)); err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		got := Evaluate(p, deb, time.Now(), v)
		if suppressed := len(got.Suppressed) == 1 && got.Suppressed[0].Finding.ID == "CVE-2021-38561"; suppressed != tt.want {
			t.Errorf("%s: suppressed %+v, want CVE-2021-38561 suppressed: %v", tt.name, got.Suppressed, tt.want)
		}
	}
}
