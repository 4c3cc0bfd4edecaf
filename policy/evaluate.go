package policy

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// Results of a verdict.
const (
	Pass = "pass"
	Warn = "warn"
	Fail = "fail"
)

// Verdict is the decision of a policy on one report.
type Verdict struct {
	// Result is Pass, Warn or Fail.
	Result string `json:"result"`
	// Causes are the findings that made the verdict warn or fail: at or
	// above fail_on, known exploited (fail_on_kev) or at or above the EPSS
	// threshold for a failure, at or above warn_on for a warning.
	Causes []FindingRef `json:"causes,omitempty"`
	// Suppressed are the findings at or above a threshold that an ignore
	// rule or a VEX statement suppressed, each with its rule.
	Suppressed []Suppression `json:"suppressed,omitempty"`
	// Reasons say in words why the verdict is what it is.
	Reasons []string `json:"reasons,omitempty"`
}

// FindingRef names one finding of a report.
type FindingRef struct {
	ID string `json:"id"`
	// Kind is "config" for a configuration finding (ID is the check id,
	// Package where it is) and "secret" for a secret (ID is the rule,
	// Package the file and line, InstalledVersion the redacted preview);
	// empty for a vulnerability.
	Kind             string        `json:"kind,omitempty"`
	Aliases          []string      `json:"aliases,omitempty"`
	Package          string        `json:"package"`
	InstalledVersion string        `json:"installed_version"`
	FixedVersion     string        `json:"fixed_version,omitempty"`
	Severity         vuln.Severity `json:"severity"`
	PURL             string        `json:"purl,omitempty"`
	// KnownExploited and EPSS are the finding's, when set.
	KnownExploited bool     `json:"known_exploited,omitempty"`
	EPSS           *float64 `json:"epss,omitempty"`
}

// String is "CVE-2024-1 (high) in glibc 2.34-83.el9_3.7".
func (f FindingRef) String() string {
	return fmt.Sprintf("%s (%s) in %s %s", f.ID, f.Severity, f.Package, f.InstalledVersion)
}

// Suppression is a finding and the rule that suppressed it.
type Suppression struct {
	Finding FindingRef `json:"finding"`
	// Rule names the ignore rule ("ignore[0] id=… package=… until=…") or
	// the VEX statement ("vex FILE: CVE-… not_affected").
	Rule string `json:"rule"`
	// Reason is the ignore rule's reason or the statement's justification
	// and impact statement.
	Reason string `json:"reason,omitempty"`
}

func ref(f *vuln.Finding) FindingRef {
	r := FindingRef{ID: f.ID, Aliases: f.Aliases, Package: f.Package, InstalledVersion: f.InstalledVersion,
		FixedVersion: f.FixedVersion, Severity: f.Severity, PURL: f.PURL, KnownExploited: f.KnownExploited != nil}
	if f.EPSS != nil {
		e := f.EPSS.Score
		r.EPSS = &e
	}
	return r
}

// ids are the ids ignore rules and VEX statements match a finding by: its
// ID, aliases and CVEs, never its related ids.
func ids(f *vuln.Finding) []string {
	out := make([]string, 0, 1+len(f.Aliases)+len(f.CVEs))
	out = append(out, f.ID)
	out = append(out, f.Aliases...)
	return append(out, f.CVEs...)
}

// fixable reports whether a fix is known for f.
func fixable(f *vuln.Finding) bool { return f.Status == vuln.StatusFixed && f.FixedVersion != "" }

// Evaluate decides p (nil: no policy, every report passes unless nil or
// unless it holds a secret, see Checks) on
// report r at time now, with the VEX documents vex (nil: none; load them
// with LoadVEX(p.VEX...)). Only findings at or above warn_on or fail_on
// (a finding of unknown severity counting as unknown_as), known exploited
// with fail_on_kev, or at or above epss_threshold are considered; with
// fixable_only those without a fix are left out; of the rest, those an
// ignore rule in force at now or a VEX statement suppresses (by the
// finding's id, aliases or CVEs) are listed in Suppressed, and the others
// decide: fail when one is at or above fail_on, known exploited or at or
// above the EPSS threshold, else warn when one is at or above warn_on, else
// pass; the reasons say which rule failed, with counts. The report's
// configuration findings count the same way by their severity, except
// those checks.disable names; its secrets fail the verdict unless
// checks.secrets.fail is false (then they count by severity), their rule
// is disabled, or an allow rule accepts them (listed in Suppressed). A
// report matched (GeneratedAt, else ScannedAt) more than max_report_age
// before now fails too. A nil report fails. p is assumed valid (Validate);
// an unknown threshold counts as unset.
func Evaluate(p *Policy, r *report.Report, now time.Time, vex *VEX) Verdict {
	if r == nil {
		return Verdict{Result: Fail, Reasons: []string{"no report"}}
	}
	if p == nil {
		p = &Policy{}
	}
	v := Verdict{Result: Pass}
	failAt, failSet := threshold(p.FailOn)
	warnAt, warnSet := threshold(p.WarnOn)
	unknownAs, _ := parseThreshold(p.UnknownAs)
	epssAt := float64(p.EPSSThreshold)
	var fails, warns []FindingRef
	nonFixable, bySeverity, byKEV, byEPSS := 0, 0, 0, 0
	sources := packageIndex{r: r}
	for i := range r.Vulnerabilities {
		f := &r.Vulnerabilities[i]
		sev := f.Severity
		if sev == vuln.SeverityUnknown {
			sev = unknownAs
		}
		sevFail := failSet && sev >= failAt
		kevFail := bool(p.FailOnKEV) && f.KnownExploited != nil
		epssFail := epssAt > 0 && f.EPSS != nil && f.EPSS.Score >= epssAt
		isFail := sevFail || kevFail || epssFail
		isWarn := warnSet && sev >= warnAt
		if !isFail && !isWarn {
			continue
		}
		if p.FixableOnly && !fixable(f) {
			nonFixable++
			continue
		}
		ids := ids(f)
		src := sources.of(f)
		if rule, reason, ok := p.ignored(ids, f, src.SourceName, now); ok {
			v.Suppressed = append(v.Suppressed, Suppression{Finding: ref(f), Rule: rule, Reason: reason})
			continue
		}
		if rule, reason, ok := vex.match(ids, r, f, src); ok {
			v.Suppressed = append(v.Suppressed, Suppression{Finding: ref(f), Rule: rule, Reason: reason})
			continue
		}
		if isFail {
			fails = append(fails, ref(f))
			bySeverity += b2i(sevFail)
			byKEV += b2i(kevFail)
			byEPSS += b2i(epssFail)
		} else {
			warns = append(warns, ref(f))
		}
	}
	cc := evaluateChecks(p, r, failAt, failSet, warnAt, warnSet)
	fails = append(fails, cc.fails...)
	warns = append(warns, cc.warns...)
	v.Suppressed = append(v.Suppressed, cc.suppressed...)
	bySeverity += cc.bySeverity
	switch {
	case len(fails) > 0:
		v.Result, v.Causes = Fail, fails
		if bySeverity > 0 {
			at := p.FailOn
			if p.UnknownAs != "" {
				at += ", unknown counted as " + p.UnknownAs
			}
			v.Reasons = append(v.Reasons, fmt.Sprintf("%d %s at or above %s (fail_on)", bySeverity, plural(bySeverity, "finding"), at))
		}
		if byKEV > 0 {
			v.Reasons = append(v.Reasons, fmt.Sprintf("%d known-exploited %s (fail_on_kev)", byKEV, plural(byKEV, "finding")))
		}
		if byEPSS > 0 {
			v.Reasons = append(v.Reasons, fmt.Sprintf("%d %s with an EPSS score at or above %g (epss_threshold)", byEPSS, plural(byEPSS, "finding"), epssAt))
		}
		if cc.secrets > 0 {
			v.Reasons = append(v.Reasons, fmt.Sprintf("%d %s in the image's files (checks.secrets.fail; allow them with checks.secrets.allow)", cc.secrets, plural(cc.secrets, "secret")))
		}
	case len(warns) > 0:
		v.Result, v.Causes = Warn, warns
		v.Reasons = append(v.Reasons, fmt.Sprintf("%d %s at or above %s (warn_on)", len(warns), plural(len(warns), "finding"), p.WarnOn))
	}
	if p.MaxReportAge > 0 {
		at := r.GeneratedAt
		if at.IsZero() {
			at = r.ScannedAt
		}
		if age := now.Sub(at); at.IsZero() || age > time.Duration(p.MaxReportAge) {
			v.Result = Fail
			if at.IsZero() {
				v.Reasons = append(v.Reasons, "report has no scan time; max_report_age "+p.MaxReportAge.String())
			} else {
				v.Reasons = append(v.Reasons, fmt.Sprintf("report matched %s ago (%s), more than max_report_age %s",
					age.Round(time.Minute), at.UTC().Format(time.RFC3339), p.MaxReportAge))
			}
		}
	}
	if len(v.Suppressed) > 0 {
		v.Reasons = append(v.Reasons, fmt.Sprintf("%d %s suppressed by ignore rules, VEX or secret allow rules", len(v.Suppressed), plural(len(v.Suppressed), "finding")))
	}
	if nonFixable > 0 {
		v.Reasons = append(v.Reasons, fmt.Sprintf("%d %s without a fix not counted (fixable_only)", nonFixable, plural(nonFixable, "finding")))
	}
	return v
}

func threshold(name string) (vuln.Severity, bool) {
	if name == "" {
		return 0, false
	}
	s, ok := parseThreshold(name)
	return s, ok
}

// packageIndex finds the installed package of a finding in a report, for
// the source package it was built from; built on first use.
type packageIndex struct {
	r     *report.Report
	byKey map[string]*vuln.Package
}

// of returns the installed package of f (its name, version and database
// path), or one with only the finding's own names when the report does not
// list it; SourceName is the finding's SourcePackage when it has one.
func (x *packageIndex) of(f *vuln.Finding) vuln.Package {
	if x.byKey == nil {
		x.byKey = map[string]*vuln.Package{}
		for _, list := range [][]vuln.Package{x.r.Packages, x.r.OSOwnedPackages} {
			for i := range list {
				p := &list[i]
				x.byKey[p.Name+"\x00"+p.Version+"\x00"+p.DBPath] = p
			}
		}
	}
	p := vuln.Package{Name: f.Package, Version: f.InstalledVersion, DBPath: f.DBPath, PURL: f.PURL}
	if q := x.byKey[f.Package+"\x00"+f.InstalledVersion+"\x00"+f.DBPath]; q != nil {
		p = *q
	}
	if f.SourcePackage != "" {
		p.SourceName = f.SourcePackage
	}
	return p
}

// ignored returns the first ignore rule in force at now that matches f,
// whose installed package was built from source package src ("" when
// unknown): a rule naming a package matches the binary package or its
// source package, so {package: glibc} covers glibc-common too.
func (p *Policy) ignored(ids []string, f *vuln.Finding, src string, now time.Time) (rule, reason string, ok bool) {
	for i, r := range p.Ignore {
		if !slices.Contains(ids, r.ID) {
			continue
		}
		if r.Package != "" && r.Package != f.Package && r.Package != f.SourcePackage && r.Package != src {
			continue
		}
		if !r.Until.IsZero() && !now.Before(r.Until.Time) {
			continue // expired on its date
		}
		var b strings.Builder
		fmt.Fprintf(&b, "ignore[%d] id=%s", i, r.ID)
		if r.Package != "" {
			fmt.Fprintf(&b, " package=%s", r.Package)
		}
		if !r.Until.IsZero() {
			fmt.Fprintf(&b, " until=%s", r.Until)
		}
		return b.String(), r.Reason, true
	}
	return "", "", false
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func plural(n int, s string) string {
	if n == 1 {
		return s
	}
	return s + "s"
}
