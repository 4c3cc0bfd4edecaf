package policy

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// keys returns "ID package" for each finding reference.
func keys(fs []FindingRef) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID+" "+f.Package)
	}
	slices.Sort(out)
	return out
}

func suppressedKeys(ss []Suppression) []string {
	var out []string
	for _, s := range ss {
		out = append(out, s.Finding.ID+" "+s.Finding.Package)
	}
	slices.Sort(out)
	return out
}

func TestEvaluateRealFindings(t *testing.T) {
	alma, deb := reports(t)
	now := time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)
	yesterday, tomorrow := now.AddDate(0, 0, -1).Format(time.DateOnly), now.AddDate(0, 0, 1).Format(time.DateOnly)
	vex, err := LoadVEX(filepath.Join("testdata", "vulnapp-x-text.openvex.json"), filepath.Join("testdata", "almalinux-glibc.openvex.json"))
	if err != nil {
		t.Fatal(err)
	}
	// The report's own counts, so that the thresholds are checked against
	// the findings rather than against numbers copied here.
	almaHigh := alma.AtOrAbove(vuln.SeverityHigh)
	almaMedium := alma.AtOrAbove(vuln.SeverityMedium)
	if almaHigh != 5 || almaMedium != len(alma.Vulnerabilities) || len(alma.Vulnerabilities) != 28 {
		t.Fatalf("AlmaLinux findings: %d high, %d medium+, %d in all; want 5, 28, 28 (service/vulndb_test.go's oracle: 29 pairs, libcap's two advisories are one finding)", almaHigh, almaMedium, len(alma.Vulnerabilities))
	}
	glibcHigh := []string{"ALSA-2024:3339 glibc", "ALSA-2024:3339 glibc-common", "ALSA-2024:3339 glibc-minimal-langpack"}
	almaHighs := []string{"ALSA-2024:3339 glibc", "ALSA-2024:3339 glibc-common", "ALSA-2024:3339 glibc-minimal-langpack", "ALSA-2026:42736 libacl", "CVE-2026-4878 libcap"}

	tests := []struct {
		name           string
		yaml           string
		r              *report.Report
		vex            *VEX
		result         string
		causes         []string // nil: not checked; empty: none
		ncauses        int      // checked when causes is nil and ncauses > 0
		suppressed     []string
		rule, reason   string // of the first suppression, when set
		reasonContains string
	}{
		{name: "no policy passes", yaml: ``, r: alma, result: Pass, causes: []string{}},
		{name: "fail on critical: none", yaml: "fail_on: critical", r: alma, result: Pass, causes: []string{}},
		{name: "fail on high", yaml: "fail_on: high\nwarn_on: medium", r: alma, result: Fail, causes: almaHighs, reasonContains: "5 findings at or above high (fail_on)"},
		{name: "warn on medium", yaml: "fail_on: critical\nwarn_on: medium", r: alma, result: Warn, ncauses: almaMedium},
		{name: "in the policy section", yaml: "server:\n  listen: :8080\npolicy:\n  fail_on: high", r: alma, result: Fail, causes: almaHighs},
		{name: "ignore by id", yaml: `
fail_on: high
ignore:
  - {id: ALSA-2026:42736, reason: acl not used}
  - {id: CVE-2026-4878}
`, r: alma, result: Fail, causes: glibcHigh, suppressed: []string{"ALSA-2026:42736 libacl", "CVE-2026-4878 libcap"}, rule: "ignore[0] id=ALSA-2026:42736", reason: "acl not used"},
		{name: "ignore by alias", yaml: `
fail_on: high
ignore:
  - {id: CVE-2024-2961, reason: no ISO-2022-CN-EXT}
  - {id: CVE-2026-54369}
  - {id: ALSA-2026:12441}
`, r: alma, result: Pass, causes: []string{}, suppressed: almaHighs},
		{name: "ignore by alias and package", yaml: `
fail_on: high
ignore:
  - {id: CVE-2024-2961, package: glibc-common}
  - {id: CVE-2026-54369, package: libacl}
  - {id: CVE-2026-4878, package: glibc}
`, r: alma, result: Fail, causes: []string{"ALSA-2024:3339 glibc", "ALSA-2024:3339 glibc-minimal-langpack", "CVE-2026-4878 libcap"},
			suppressed: []string{"ALSA-2024:3339 glibc-common", "ALSA-2026:42736 libacl"}},
		{name: "expired yesterday", yaml: "fail_on: high\nignore:\n  - {id: CVE-2026-4878, until: " + yesterday + "}", r: alma, result: Fail, causes: almaHighs},
		{name: "expires tomorrow", yaml: "fail_on: high\nignore:\n  - {id: CVE-2026-4878, until: " + tomorrow + "}", r: alma, result: Fail,
			ncauses: 4, suppressed: []string{"CVE-2026-4878 libcap"}, rule: "ignore[0] id=CVE-2026-4878 until=" + tomorrow},
		{name: "expires this instant (RFC 3339)", yaml: "fail_on: high\nignore:\n  - {id: CVE-2026-4878, until: '" + now.Format(time.RFC3339) + "'}", r: alma, result: Fail, causes: almaHighs},
		{name: "expires in a second (RFC 3339)", yaml: "fail_on: high\nignore:\n  - {id: CVE-2026-4878, until: '" + now.Add(time.Second).Format(time.RFC3339) + "'}", r: alma, result: Fail, ncauses: 4, suppressed: []string{"CVE-2026-4878 libcap"}},
		{name: "VEX fixed on glibc by alias", yaml: "fail_on: high", r: alma, vex: vex, result: Fail,
			causes:     []string{"ALSA-2024:3339 glibc-common", "ALSA-2024:3339 glibc-minimal-langpack", "ALSA-2026:42736 libacl", "CVE-2026-4878 libcap"},
			suppressed: []string{"ALSA-2024:3339 glibc"}, rule: "vex testdata/almalinux-glibc.openvex.json: CVE-2024-2961 fixed", reason: "The ISO-2022-CN-EXT converter is removed"},
		{name: "VEX latest statement is affected", yaml: "fail_on: medium", r: alma, vex: vex, result: Fail, ncauses: 27, suppressed: []string{"ALSA-2024:3339 glibc"}},
		{name: "Go findings of unknown severity", yaml: "fail_on: high\nwarn_on: unknown", r: deb, result: Warn, ncauses: len(deb.Vulnerabilities)},
		{name: "VEX not_affected x/text", yaml: "warn_on: unknown", r: deb, vex: vex, result: Warn, ncauses: len(deb.Vulnerabilities) - 1,
			suppressed: []string{"CVE-2021-38561 golang.org/x/text"}, rule: "vex testdata/vulnapp-x-text.openvex.json: CVE-2021-38561 not_affected",
			reason: "vulnerable_code_not_in_execute_path: vulnapp never calls"},
		{name: "VEX of another image does not apply", yaml: "warn_on: unknown", r: alma, vex: vex, result: Warn, ncauses: 27, suppressed: []string{"ALSA-2024:3339 glibc"}},
		{name: "max report age exceeded", yaml: "max_report_age: 1h", r: withTime(alma, now.Add(-2*time.Hour)), result: Fail, causes: []string{}, reasonContains: "more than max_report_age 1h0m0s"},
		{name: "max report age in days", yaml: "max_report_age: 7d\nwarn_on: high", r: withTime(alma, now.Add(-6*24*time.Hour)), result: Warn, causes: almaHighs},
		{name: "fixable only", yaml: "fail_on: high\nfixable_only: true", r: unfix(alma, "CVE-2026-4878"), result: Fail,
			causes: []string{"ALSA-2024:3339 glibc", "ALSA-2024:3339 glibc-common", "ALSA-2024:3339 glibc-minimal-langpack", "ALSA-2026:42736 libacl"}, reasonContains: "1 finding without a fix not counted"},
		{name: "not fixable only", yaml: "fail_on: high", r: unfix(alma, "CVE-2026-4878"), result: Fail, causes: almaHighs},
		{name: "nil report", yaml: "", r: nil, result: Fail, reasonContains: "no report"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Load(strings.NewReader(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			r := tt.r
			v := Evaluate(p, r, now, tt.vex)
			if v.Result != tt.result {
				t.Errorf("result %s, want %s (reasons %q)", v.Result, tt.result, v.Reasons)
			}
			if tt.causes != nil && len(tt.causes) > 0 && !slices.Equal(keys(v.Causes), tt.causes) {
				t.Errorf("causes\n %q\nwant\n %q", keys(v.Causes), tt.causes)
			}
			if tt.causes != nil && len(tt.causes) == 0 && tt.ncauses == 0 && len(v.Causes) != 0 {
				t.Errorf("causes %q, want none", keys(v.Causes))
			}
			if tt.ncauses > 0 && len(v.Causes) != tt.ncauses {
				t.Errorf("%d causes, want %d", len(v.Causes), tt.ncauses)
			}
			if !slices.Equal(suppressedKeys(v.Suppressed), tt.suppressed) {
				t.Errorf("suppressed %q, want %q", suppressedKeys(v.Suppressed), tt.suppressed)
			}
			if tt.rule != "" && (len(v.Suppressed) == 0 || v.Suppressed[0].Rule != tt.rule) {
				t.Errorf("suppressions %+v, want the rule %q", v.Suppressed, tt.rule)
			}
			if tt.reason != "" && (len(v.Suppressed) == 0 || !strings.Contains(v.Suppressed[0].Reason, tt.reason)) {
				t.Errorf("suppressions %+v, want the reason %q", v.Suppressed, tt.reason)
			}
			if tt.reasonContains != "" && !strings.Contains(strings.Join(v.Reasons, "\n"), tt.reasonContains) {
				t.Errorf("reasons %q, want %q", v.Reasons, tt.reasonContains)
			}
		})
	}
}

// withTime returns a copy of r matched at at.
func withTime(r *report.Report, at time.Time) *report.Report {
	c := *r
	c.GeneratedAt, c.ScannedAt = at, at
	return &c
}

// unfix returns a copy of r in which the findings of id have no fix (as
// if the advisory had not shipped one yet).
func unfix(r *report.Report, id string) *report.Report {
	c := *r
	c.Vulnerabilities = slices.Clone(r.Vulnerabilities)
	for i := range c.Vulnerabilities {
		if c.Vulnerabilities[i].ID == id {
			c.Vulnerabilities[i].Status, c.Vulnerabilities[i].FixedVersion = vuln.StatusUnfixed, ""
		}
	}
	return &c
}
