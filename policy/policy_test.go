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
	if almaHigh != 6 || almaMedium != len(alma.Vulnerabilities) || len(alma.Vulnerabilities) != 29 {
		t.Fatalf("AlmaLinux findings: %d high, %d medium+, %d in all; want 6, 29, 29 (service/vulndb_test.go's oracle: 29 pairs; libcap's two advisories, both fixing CVE-2026-4878, are two findings)", almaHigh, almaMedium, len(alma.Vulnerabilities))
	}
	glibcHigh := []string{"ALSA-2024:3339 glibc", "ALSA-2024:3339 glibc-common", "ALSA-2024:3339 glibc-minimal-langpack"}
	libcap := []string{"ALSA-2026:12441 libcap", "ALSA-2026:19346 libcap"}
	almaHighs := []string{"ALSA-2024:3339 glibc", "ALSA-2024:3339 glibc-common", "ALSA-2024:3339 glibc-minimal-langpack", "ALSA-2026:12441 libcap", "ALSA-2026:19346 libcap", "ALSA-2026:42736 libacl"}
	deb2 := withRelated(deb)
	kev := exploited(alma, map[string]float64{"ALSA-2025:1346": 0.6, "ALSA-2025:4244": 0.49}, "ALSA-2026:28911")
	unknown := 0
	for _, f := range deb.Vulnerabilities {
		if f.Severity == vuln.SeverityUnknown {
			unknown++
		}
	}
	if unknown == 0 {
		t.Fatal("no findings of unknown severity in the Debian mid report")
	}
	lowResult := Pass
	if deb.AtOrAbove(vuln.SeverityLow) > 0 {
		lowResult = Fail
	}
	t.Logf("Debian mid: %d findings, %d of unknown severity, %d low or above", len(deb.Vulnerabilities), unknown, deb.AtOrAbove(vuln.SeverityLow))

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
		{name: "fail on high", yaml: "fail_on: high\nwarn_on: medium", r: alma, result: Fail, causes: almaHighs, reasonContains: "6 findings at or above high (fail_on)"},
		{name: "warn on medium", yaml: "fail_on: critical\nwarn_on: medium", r: alma, result: Warn, ncauses: almaMedium},
		{name: "in the policy section", yaml: "server:\n  listen: :8080\npolicy:\n  fail_on: high", r: alma, result: Fail, causes: almaHighs},
		{name: "ignore by id and by CVE", yaml: `
fail_on: high
ignore:
  - {id: ALSA-2026:42736, reason: acl not used}
  - {id: CVE-2026-4878, reason: libcap not used}
`, r: alma, result: Fail, causes: glibcHigh, suppressed: []string{"ALSA-2026:12441 libcap", "ALSA-2026:19346 libcap", "ALSA-2026:42736 libacl"}, rule: "ignore[1] id=CVE-2026-4878", reason: "libcap not used"},
		{name: "ignore by CVE", yaml: `
fail_on: high
ignore:
  - {id: CVE-2024-2961, reason: no ISO-2022-CN-EXT}
  - {id: CVE-2026-54369}
  - {id: CVE-2026-4878}
`, r: alma, result: Pass, causes: []string{}, suppressed: almaHighs},
		{name: "ignore by advisory id: that advisory only", yaml: "fail_on: high\nignore:\n  - {id: ALSA-2026:12441}", r: alma, result: Fail, ncauses: 5, suppressed: libcap[:1]},
		{name: "ignore by CVE and package", yaml: `
fail_on: high
ignore:
  - {id: CVE-2024-2961, package: glibc-common}
  - {id: CVE-2026-54369, package: libacl}
  - {id: CVE-2026-4878, package: glibc}
`, r: alma, result: Fail, causes: []string{"ALSA-2024:3339 glibc", "ALSA-2024:3339 glibc-minimal-langpack", "ALSA-2026:12441 libcap", "ALSA-2026:19346 libcap"},
			suppressed: []string{"ALSA-2024:3339 glibc-common", "ALSA-2026:42736 libacl"}},
		// A related id is another vulnerability: it never suppresses.
		{name: "ignore by a related id does not suppress", yaml: "fail_on: high\nignore:\n  - {id: CVE-2022-30635}", r: deb2, result: Fail, causes: []string{"CVE-2024-34156 stdlib"}},
		{name: "ignore by the finding's alias", yaml: "fail_on: high\nignore:\n  - {id: GO-2024-3106}", r: deb2, result: Pass, suppressed: []string{"CVE-2024-34156 stdlib"}},
		{name: "expired yesterday", yaml: "fail_on: high\nignore:\n  - {id: CVE-2026-4878, until: " + yesterday + "}", r: alma, result: Fail, causes: almaHighs},
		{name: "expires tomorrow", yaml: "fail_on: high\nignore:\n  - {id: CVE-2026-4878, until: " + tomorrow + "}", r: alma, result: Fail,
			ncauses: 4, suppressed: libcap, rule: "ignore[0] id=CVE-2026-4878 until=" + tomorrow},
		{name: "expires this instant (RFC 3339)", yaml: "fail_on: high\nignore:\n  - {id: CVE-2026-4878, until: '" + now.Format(time.RFC3339) + "'}", r: alma, result: Fail, causes: almaHighs},
		{name: "expires in a second (RFC 3339)", yaml: "fail_on: high\nignore:\n  - {id: CVE-2026-4878, until: '" + now.Add(time.Second).Format(time.RFC3339) + "'}", r: alma, result: Fail, ncauses: 4, suppressed: libcap},
		// The statement names pkg:rpm/almalinux/glibc, the source package
		// of glibc-common and glibc-minimal-langpack too (issue 18).
		{name: "VEX fixed on glibc by CVE, binaries of the source package too", yaml: "fail_on: high", r: alma, vex: vex, result: Fail,
			causes:     []string{"ALSA-2026:12441 libcap", "ALSA-2026:19346 libcap", "ALSA-2026:42736 libacl"},
			suppressed: glibcHigh, rule: "vex testdata/almalinux-glibc.openvex.json: CVE-2024-2961 fixed", reason: "The ISO-2022-CN-EXT converter is removed"},
		{name: "ignore naming the source package covers its binaries", yaml: "fail_on: high\nignore:\n  - {id: ALSA-2024:3339, package: glibc}", r: alma, result: Fail,
			causes: []string{"ALSA-2026:12441 libcap", "ALSA-2026:19346 libcap", "ALSA-2026:42736 libacl"}, suppressed: glibcHigh},
		{name: "VEX latest statement is affected", yaml: "fail_on: medium", r: alma, vex: vex, result: Fail, ncauses: 26, suppressed: glibcHigh},
		{name: "Go findings of unknown severity", yaml: "fail_on: high\nwarn_on: unknown", r: deb, result: Warn, ncauses: len(deb.Vulnerabilities)},
		{name: "VEX not_affected x/text", yaml: "warn_on: unknown", r: deb, vex: vex, result: Warn, ncauses: len(deb.Vulnerabilities) - 1,
			suppressed: []string{"CVE-2021-38561 golang.org/x/text"}, rule: "vex testdata/vulnapp-x-text.openvex.json: CVE-2021-38561 not_affected",
			reason: "vulnerable_code_not_in_execute_path: vulnapp never calls"},
		{name: "VEX of another image does not apply", yaml: "warn_on: unknown", r: alma, vex: vex, result: Warn, ncauses: 26, suppressed: glibcHigh},
		{name: "unknown stays below low", yaml: "fail_on: low", r: deb, result: lowResult, ncauses: deb.AtOrAbove(vuln.SeverityLow)},
		{name: "unknown as high", yaml: "fail_on: high\nunknown_as: high", r: deb, result: Fail, ncauses: unknown + deb.AtOrAbove(vuln.SeverityHigh),
			reasonContains: "at or above high, unknown counted as high (fail_on)"},
		{name: "unknown as low warns", yaml: "fail_on: high\nwarn_on: low\nunknown_as: low", r: deb, result: Warn, ncauses: unknown + deb.AtOrAbove(vuln.SeverityLow) - deb.AtOrAbove(vuln.SeverityHigh)},
		{name: "known exploited, no rule", yaml: "fail_on: critical", r: kev, result: Pass, causes: []string{}},
		{name: "fail on kev", yaml: "fail_on: critical\nfail_on_kev: true", r: kev, result: Fail, causes: []string{"ALSA-2026:28911 coreutils-single"},
			reasonContains: "1 known-exploited finding (fail_on_kev)"},
		{name: "fail on kev, ignored", yaml: "fail_on_kev: true\nignore:\n  - {id: ALSA-2026:28911}", r: kev, result: Pass, suppressed: []string{"ALSA-2026:28911 coreutils-single"}},
		{name: "epss threshold", yaml: "epss_threshold: 0.5", r: kev, result: Fail, causes: []string{"ALSA-2025:1346 libgcc"},
			reasonContains: "1 finding with an EPSS score at or above 0.5 (epss_threshold)"},
		{name: "every rule says why", yaml: "fail_on: high\nfail_on_kev: true\nepss_threshold: 0.4", r: kev, result: Fail, ncauses: 6 + 1 + 4,
			reasonContains: "6 findings at or above high (fail_on)\n1 known-exploited finding (fail_on_kev)\n4 findings with an EPSS score at or above 0.4 (epss_threshold)"},
		{name: "max report age exceeded", yaml: "max_report_age: 1h", r: withTime(alma, now.Add(-2*time.Hour)), result: Fail, causes: []string{}, reasonContains: "more than max_report_age 1h0m0s"},
		{name: "max report age in days", yaml: "max_report_age: 7d\nwarn_on: high", r: withTime(alma, now.Add(-6*24*time.Hour)), result: Warn, causes: almaHighs},
		{name: "fixable only", yaml: "fail_on: high\nfixable_only: true", r: unfix(alma, "CVE-2026-4878"), result: Fail,
			causes: []string{"ALSA-2024:3339 glibc", "ALSA-2024:3339 glibc-common", "ALSA-2024:3339 glibc-minimal-langpack", "ALSA-2026:42736 libacl"}, reasonContains: "2 findings without a fix not counted"},
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

// unfix returns a copy of r in which the findings of id (their ID or
// one of their CVEs) have no fix (as if the advisory had not shipped one
// yet).
func unfix(r *report.Report, id string) *report.Report {
	c := *r
	c.Vulnerabilities = slices.Clone(r.Vulnerabilities)
	for i := range c.Vulnerabilities {
		if c.Vulnerabilities[i].ID == id || slices.Contains(c.Vulnerabilities[i].CVEs, id) {
			c.Vulnerabilities[i].Status, c.Vulnerabilities[i].FixedVersion = vuln.StatusUnfixed, ""
		}
	}
	return &c
}

// withRelated returns a copy of r with one more finding: GO-2024-3106 in
// the Go standard library, as the Go vulnerability database gives it
// (CVE-2024-34156, related to CVE-2022-30635), rated high.
func withRelated(r *report.Report) *report.Report {
	c := *r
	c.Vulnerabilities = append(slices.Clone(r.Vulnerabilities), vuln.Finding{
		ID: "CVE-2024-34156", Aliases: []string{"GO-2024-3106"}, Related: []string{"CVE-2022-30635"},
		Package: "stdlib", InstalledVersion: "go1.20.1", FixedVersion: "1.22.7", Status: vuln.StatusFixed, Severity: vuln.SeverityHigh,
	})
	// Only that finding is high: the test is about it alone.
	for i := range c.Vulnerabilities[:len(r.Vulnerabilities)] {
		c.Vulnerabilities[i].Severity = min(c.Vulnerabilities[i].Severity, vuln.SeverityMedium)
	}
	return &c
}

// exploited returns a copy of r in which the finding of id kev is known
// exploited and the findings of the ids of epss have those EPSS scores.
func exploited(r *report.Report, epss map[string]float64, kev string) *report.Report {
	c := *r
	c.Vulnerabilities = slices.Clone(r.Vulnerabilities)
	for i := range c.Vulnerabilities {
		f := &c.Vulnerabilities[i]
		if f.ID == kev {
			f.KnownExploited = &vuln.KnownExploited{Catalog: "CISA KEV", DateAdded: "2026-01-02"}
		}
		if s, ok := epss[f.ID]; ok {
			f.EPSS = &vuln.EPSS{Score: s, Percentile: 0.9}
		}
	}
	return &c
}
