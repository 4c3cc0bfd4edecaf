// Package sarif writes image reports as SARIF 2.1.0 for code-scanning
// tools (GitHub, GitLab, Azure DevOps), through github.com/owenrumney/go-sarif
// (v2, the line Trivy writes with). It registers the format "sarif".
//
// One run, tool driver lapps; one rule per vulnerability id; one result per
// finding, located at the file the package was read from (its db_path) or,
// for an operating-system package, at the image's repository path
// ("library/debian"), as Trivy does. GitHub's limits are kept: at most
// MaxResults results and MaxRules rules per run (findings are sorted most
// severe first, so the least severe are left out, and the run's properties
// say how many), help text clipped at MaxHelp bytes.
package sarif

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	gosarif "github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// MediaType is SARIF's registered media type.
const MediaType = "application/sarif+json"

// GitHub code scanning's limits per run
// (docs.github.com: "SARIF support for code scanning", upload limits).
const (
	MaxResults = 25000
	MaxRules   = 25000
	// MaxHelp bounds a rule's help text and markdown each.
	MaxHelp = 16 << 10
	// maxLinks bounds the links a rule's help lists.
	maxLinks = 20
)

// ToolVersion is the lapps version the driver names; the CLI sets it at
// start-up.
var ToolVersion = "dev"

// InformationURI is the driver's informationUri.
const InformationURI = "https://github.com/lapps/lapps"

func init() {
	report.Register(report.Format{Name: "sarif", MediaType: MediaType, Write: Write})
}

// Write writes r as a SARIF 2.1.0 log with one run.
func Write(w io.Writer, r *report.Report) error {
	return WriteReports(w, []*report.Report{r})
}

// WriteReports writes the findings of several image reports (an app's
// images) as one run: rules are shared, each result is located in its
// image.
func WriteReports(w io.Writer, rs []*report.Report) error {
	log, err := Build(rs)
	if err != nil {
		return err
	}
	return log.PrettyWrite(w)
}

// Build returns the SARIF log of the reports' findings.
func Build(rs []*report.Report) (*gosarif.Report, error) {
	log, err := gosarif.New(gosarif.Version210, true)
	if err != nil {
		return nil, fmt.Errorf("sarif: %w", err)
	}
	run := gosarif.NewRunWithInformationURI("lapps", InformationURI)
	v := ToolVersion
	run.Tool.Driver.Version = &v
	run.Results = []*gosarif.Result{}
	run.OriginalUriBaseIDs = map[string]*gosarif.ArtifactLocation{"ROOTPATH": {URI: ptr("file:///")}}
	rules := map[string]*ruleAcc{}
	var order []string
	total, dropped, droppedRules := 0, 0, 0
	for _, r := range rs {
		if r == nil {
			continue
		}
		for i := range r.Vulnerabilities {
			f := &r.Vulnerabilities[i]
			total++
			if len(run.Results) >= MaxResults {
				dropped++
				continue
			}
			acc, ok := rules[f.ID]
			if !ok {
				if len(order) >= MaxRules {
					dropped++
					droppedRules++
					continue
				}
				acc = &ruleAcc{f: f}
				rules[f.ID] = acc
				order = append(order, f.ID)
			}
			acc.add(f)
			run.AddResult(result(r, f))
		}
	}
	for _, id := range order {
		run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, rules[id].rule())
	}
	// The checks' findings and secrets follow, one rule per check id and
	// per secret rule ("secret/RULE"), located at their file where they
	// have one. A secret's message carries its redacted preview only.
	checkRules := map[string]bool{}
	addCheck := func(id, title string, sev vuln.Severity, r *report.Report, path string, line int, msg string) {
		total++
		if len(run.Results) >= MaxResults || (!checkRules[id] && len(order) >= MaxRules) {
			dropped++
			return
		}
		if !checkRules[id] {
			checkRules[id] = true
			order = append(order, id)
			t := clipBytes(title, 1024)
			run.Tool.Driver.Rules = append(run.Tool.Driver.Rules, &gosarif.ReportingDescriptor{
				ID: id, Name: ptr("ImageConfigurationCheck"),
				ShortDescription: &gosarif.MultiformatMessageString{Text: &t},
				FullDescription:  &gosarif.MultiformatMessageString{Text: &t},
				Help: &gosarif.MultiformatMessageString{
					Text:     ptr(clipBytes(title+" (lapps check "+id+"; docs/report.md)", MaxHelp)),
					Markdown: ptr(clipBytes("**"+mdEscape(title)+"** (lapps check `"+id+"`; docs/report.md)", MaxHelp)),
				},
				DefaultConfiguration: &gosarif.ReportingConfiguration{Level: level(sev)},
				Properties:           gosarif.Properties{"tags": []string{"security", sev.String()}, "precision": "high", "security-severity": securitySeverity(sev, 0)},
			})
		}
		loc := ImagePath(r.Image)
		if path != "" {
			loc = strings.TrimPrefix(path, "/")
		}
		if line < 1 {
			line = 1
		}
		one := 1
		res := gosarif.NewRuleResult(id).WithLevel(level(sev)).WithMessage(gosarif.NewTextMessage(msg))
		res.AddLocation(gosarif.NewLocationWithPhysicalLocation(
			gosarif.NewPhysicalLocation().
				WithArtifactLocation(gosarif.NewSimpleArtifactLocation(loc).WithUriBaseId("ROOTPATH")).
				WithRegion(&gosarif.Region{StartLine: &line, StartColumn: &one}),
		).WithMessage(gosarif.NewTextMessage(r.Image + ": " + loc)))
		h := sha256.Sum256([]byte(strings.Join([]string{ImagePath(r.Image), id, path, fmt.Sprint(line)}, "\x00")))
		res.PartialFingerprints = map[string]interface{}{"lapps/v1": hex.EncodeToString(h[:16])}
		run.AddResult(res)
	}
	for _, r := range rs {
		if r == nil {
			continue
		}
		for _, f := range r.ConfigFindings {
			addCheck(f.ID, f.Title, f.Severity, r, f.Path, 0, fmt.Sprintf("%s\n%s\nSeverity: %s\nImage: %s\nLayer: %s", f.Title, f.Detail, f.Severity, r.Image, f.Layer))
		}
		for _, sc := range r.Secrets {
			msg := fmt.Sprintf("%s\nRule: %s\nFile: /%s line %d\nPreview: %s\nImage: %s\nLayer: %s", sc.Title, sc.Rule, sc.Path, sc.Line, sc.Preview, r.Image, sc.Layer)
			if sc.DeletedLater {
				msg += " (the file is deleted by a later layer; this layer still ships it)"
			}
			addCheck("secret/"+sc.Rule, sc.Title, sc.Severity, r, sc.Path, sc.Line, msg)
		}
	}
	// Results name their rule by index: fix the indexes now that the rule
	// order is final (a rule's index is its place in order).
	idx := make(map[string]uint, len(order))
	for i, id := range order {
		idx[id] = uint(i)
	}
	for _, res := range run.Results {
		i := idx[*res.RuleID]
		res.RuleIndex = &i
	}
	if dropped > 0 {
		run.Properties = gosarif.Properties{
			"lapps-findings":            total,
			"lapps-findings-left-out":   dropped,
			"lapps-left-out-reason":     fmt.Sprintf("GitHub code scanning accepts at most %d results and %d rules per run; the least severe findings were left out", MaxResults, MaxRules),
			"lapps-rules-left-out-hits": droppedRules,
		}
	}
	log.AddRun(run)
	return log, nil
}

// ruleAcc gathers what the findings of one vulnerability id say.
type ruleAcc struct {
	f        *vuln.Finding // the first (most severe) finding
	severity vuln.Severity
	score    float64
	fixes    []string // "package fixed-version", distinct
	links    []string
}

func (a *ruleAcc) add(f *vuln.Finding) {
	if f.Severity > a.severity {
		a.severity = f.Severity
	}
	if s := cvssScore(f); s > a.score {
		a.score = s
	}
	fix := f.Package + " " + f.InstalledVersion + " → "
	if f.FixedVersion != "" {
		fix += f.FixedVersion
	} else {
		fix += "no fix available"
	}
	if len(a.fixes) < 50 && !contains(a.fixes, fix) {
		a.fixes = append(a.fixes, fix)
	}
	for _, l := range f.Links {
		if len(a.links) < maxLinks && !contains(a.links, l) {
			a.links = append(a.links, l)
		}
	}
}

func (a *ruleAcc) rule() *gosarif.ReportingDescriptor {
	f := a.f
	title := f.Title
	if title == "" {
		title = f.ID
	}
	short := title
	if len(short) > 1024 {
		short = clipBytes(short, 1024)
	}
	full := title
	if ids := append(append([]string(nil), f.Aliases...), f.CVEs...); len(ids) > 0 {
		full += " (also " + strings.Join(ids, ", ") + ")"
	}
	full = clipBytes(full, MaxHelp)
	var text, md strings.Builder
	fmt.Fprintf(&text, "Vulnerability %s\nSeverity: %s\n", f.ID, a.severity)
	fmt.Fprintf(&md, "**Vulnerability %s**\n\n| Severity | Package | Installed → fixed |\n| --- | --- | --- |\n", f.ID)
	for _, fix := range a.fixes {
		fmt.Fprintf(&text, "Package: %s\n", fix)
		pkg, rest, _ := strings.Cut(fix, " ")
		fmt.Fprintf(&md, "| %s | %s | %s |\n", a.severity, mdEscape(pkg), mdEscape(rest))
	}
	if len(a.links) > 0 {
		text.WriteString("Links:\n")
		md.WriteString("\n")
		for _, l := range a.links {
			fmt.Fprintf(&text, "%s\n", l)
			fmt.Fprintf(&md, "- [%s](%s)\n", mdEscape(l), l)
		}
	}
	ht, hm := clipBytes(text.String(), MaxHelp), clipBytes(md.String(), MaxHelp)
	rd := &gosarif.ReportingDescriptor{
		ID:               f.ID,
		Name:             ptr(ruleName(f)),
		ShortDescription: &gosarif.MultiformatMessageString{Text: &short},
		FullDescription:  &gosarif.MultiformatMessageString{Text: &full},
		Help:             &gosarif.MultiformatMessageString{Text: &ht, Markdown: &hm},
		DefaultConfiguration: &gosarif.ReportingConfiguration{
			Level: level(a.severity),
		},
		Properties: gosarif.Properties{
			"tags":      []string{"security", a.severity.String()},
			"precision": "very-high",
		},
	}
	if len(a.links) > 0 {
		rd.HelpURI = ptr(a.links[0])
	}
	if s := securitySeverity(a.severity, a.score); s != "" {
		rd.Properties["security-severity"] = s
	}
	return rd
}

// ruleName is a rule's name: a PascalCase identifier, as SARIF suggests
// (Trivy's names).
func ruleName(f *vuln.Finding) string {
	switch f.PackageKind {
	case vuln.KindDeb, vuln.KindRPM, vuln.KindAPK:
		return "OsPackageVulnerability"
	}
	return "LanguageSpecificPackageVulnerability"
}

func result(r *report.Report, f *vuln.Finding) *gosarif.Result {
	loc := Location(r, f)
	fixed := f.FixedVersion
	if fixed == "" {
		fixed = "no fix available"
	}
	msg := fmt.Sprintf("Package: %s\nInstalled version: %s\nVulnerability: %s\nSeverity: %s\nFixed version: %s\nImage: %s\nLocation: %s",
		f.Package, f.InstalledVersion, f.ID, f.Severity, fixed, r.Image, loc)
	res := gosarif.NewRuleResult(f.ID).
		WithLevel(level(f.Severity)).
		WithMessage(gosarif.NewTextMessage(msg))
	one := 1
	res.AddLocation(gosarif.NewLocationWithPhysicalLocation(
		gosarif.NewPhysicalLocation().
			WithArtifactLocation(gosarif.NewSimpleArtifactLocation(loc).WithUriBaseId("ROOTPATH")).
			WithRegion(&gosarif.Region{StartLine: &one, StartColumn: &one, EndLine: &one, EndColumn: &one}),
	).WithMessage(gosarif.NewTextMessage(r.Image + ": " + loc)))
	res.PartialFingerprints = map[string]interface{}{"lapps/v1": Fingerprint(r, f)}
	return res
}

// Location is where a finding's package was read from, relative to the
// image's root: the file it came from (db_path) for language packages, the
// image's repository path for operating-system packages (Trivy's
// convention, so that alerts of a base image group under it).
func Location(r *report.Report, f *vuln.Finding) string {
	switch f.PackageKind {
	case vuln.KindDeb, vuln.KindRPM, vuln.KindAPK:
		return ImagePath(r.Image)
	}
	if f.DBPath != "" {
		return strings.TrimPrefix(f.DBPath, "/")
	}
	return ImagePath(r.Image)
}

// ImagePath is an image reference's repository path without registry, tag
// or digest ("docker.io/library/debian:12" → "library/debian"); a
// transport name is its tag (oci:DIR:TAG) or its file or directory's
// name (docker-archive:FILE).
func ImagePath(image string) string {
	for _, tr := range []string{"oci:", "oci-archive:", "docker-archive:", "dir:", "sbom:"} {
		if rest, ok := strings.CutPrefix(image, tr); ok {
			base := rest[strings.LastIndex(rest, "/")+1:]
			if dir, tag, ok := strings.Cut(base, ":"); ok && tag != "" {
				return tag
			} else if dir != "" {
				return dir
			}
			return "image"
		}
	}
	if ref, err := name.ParseReference(image, name.WeakValidation); err == nil {
		return ref.Context().RepositoryStr()
	}
	s := image
	if i := strings.LastIndex(s, "/"); i >= 0 {
		s = s[i+1:]
	}
	if s == "" {
		return "image"
	}
	return s
}

// Fingerprint identifies a finding across scans: the image's repository,
// the vulnerability, the package and the file it was read from, but not
// the installed version (an upgrade that still has the vulnerability keeps
// the alert).
func Fingerprint(r *report.Report, f *vuln.Finding) string {
	h := sha256.Sum256([]byte(strings.Join([]string{ImagePath(r.Image), f.ID, f.PackageKind, f.Package, f.DBPath}, "\x00")))
	return hex.EncodeToString(h[:16])
}

// level maps a severity to a SARIF level.
func level(s vuln.Severity) string {
	switch s {
	case vuln.SeverityCritical, vuln.SeverityHigh:
		return "error"
	case vuln.SeverityMedium:
		return "warning"
	}
	return "note"
}

// securitySeverity is GitHub's security-severity: the CVSS score when the
// findings have one, else the severity's number (critical 9.5, high 8.0,
// medium 5.5, low 2.0, negligible 0.5); empty for unknown.
func securitySeverity(s vuln.Severity, score float64) string {
	if score > 0 {
		return fmt.Sprintf("%.1f", score)
	}
	switch s {
	case vuln.SeverityCritical:
		return "9.5"
	case vuln.SeverityHigh:
		return "8.0"
	case vuln.SeverityMedium:
		return "5.5"
	case vuln.SeverityLow:
		return "2.0"
	case vuln.SeverityNegligible:
		return "0.5"
	}
	return ""
}

// cvssScore is the finding's CVSS base score of the newest version that
// has one.
func cvssScore(f *vuln.Finding) float64 {
	best, ver := 0.0, ""
	for _, c := range f.CVSS {
		if c.Score > 0 && c.Version >= ver {
			best, ver = c.Score, c.Version
		}
	}
	return best
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

var mdEscaper = strings.NewReplacer("|", "\\|", "[", "\\[", "]", "\\]", "\n", " ")

func mdEscape(s string) string { return mdEscaper.Replace(s) }

// clipBytes clips s to n bytes at a rune boundary, marking the cut.
func clipBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && !utf8RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
