// Package openvex writes the statuses of an image report's findings as an
// OpenVEX document (github.com/openvex/go-vex), so that a triage made in
// lapps can be exchanged. It registers the format "openvex".
//
// One statement per finding, the image as the product and the package
// (its purl) as the subcomponent:
//   - a finding → affected, with an action statement: update to the fixed
//     version, or that no fix is available;
//   - a finding a policy ignore rule or VEX statement suppressed (an app
//     report's verdicts carry them) → not_affected, with the justification
//     when the rule's reason is one of OpenVEX's, else the rule and its
//     reason as the impact statement;
//   - a source's not-affected statement (report.NotAffected: CSAF
//     known_not_affected, a distribution's entry) → not_affected with its
//     justification when it is one of OpenVEX's, else an impact statement
//     naming the source.
//
// The document's timestamp is the report's generated_at (to the second) and its @id a
// hash of its content, so the same report always gives the same document.
package openvex

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/openvex/go-vex/pkg/vex"
	"github.com/package-url/packageurl-go"

	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// MediaType is the media type OpenVEX documents are served as.
const MediaType = "application/openvex+json"

// ToolVersion is the lapps version named in the document's tooling; the
// CLI sets it at start-up.
var ToolVersion = "dev"

func init() {
	report.Register(report.Format{Name: "openvex", MediaType: MediaType, Write: Write})
}

// Input is one image's report and the findings its policy verdict
// suppressed (none for a bare image report).
type Input struct {
	Report     *report.Report
	Suppressed []policy.Suppression
}

// Write writes r as an OpenVEX document.
func Write(w io.Writer, r *report.Report) error {
	return WriteInputs(w, []Input{{Report: r}})
}

// WriteInputs writes the statements of several images (an app's) as one
// document.
func WriteInputs(w io.Writer, in []Input) error {
	doc, err := Build(in)
	if err != nil {
		return err
	}
	return doc.ToJSON(w)
}

// Build returns the OpenVEX document of the inputs.
func Build(in []Input) (*vex.VEX, error) {
	doc := vex.New()
	doc.Author = "lapps"
	doc.Tooling = "lapps " + ToolVersion
	var ts time.Time
	for _, x := range in {
		if x.Report != nil && x.Report.GeneratedAt.After(ts) {
			ts = x.Report.GeneratedAt
		}
	}
	ts = ts.UTC().Truncate(time.Second)
	doc.Timestamp = &ts
	for _, x := range in {
		r := x.Report
		if r == nil {
			continue
		}
		img := imageComponent(r)
		for i := range r.Vulnerabilities {
			f := &r.Vulnerabilities[i]
			st := vex.Statement{
				Vulnerability: vulnerability(f.ID, f.Aliases, f.CVEs),
				Products:      []vex.Product{{Component: img, Subcomponents: []vex.Subcomponent{{Component: pkgComponent(f.PURL, f.PackageKind, f.Package, f.InstalledVersion)}}}},
			}
			if s, ok := suppression(x.Suppressed, f); ok {
				st.Status = vex.StatusNotAffected
				if j := justification(s.Reason); j != "" {
					st.Justification = j
				} else {
					st.ImpactStatement = strings.TrimSpace("suppressed by lapps policy " + s.Rule + ": " + s.Reason)
				}
			} else {
				st.Status = vex.StatusAffected
				if f.FixedVersion != "" {
					st.ActionStatement = fmt.Sprintf("Update %s from %s to %s or later.", f.Package, f.InstalledVersion, f.FixedVersion)
				} else {
					st.ActionStatement = fmt.Sprintf("No fix is available for %s %s (status %s); mitigate or accept the risk.", f.Package, f.InstalledVersion, f.Status)
				}
			}
			doc.Statements = append(doc.Statements, st)
		}
		for _, na := range r.NotAffected {
			st := vex.Statement{
				Vulnerability: vulnerability(na.ID, nil, nil),
				Products:      []vex.Product{{Component: img, Subcomponents: []vex.Subcomponent{{Component: notAffectedComponent(r, na)}}}},
				Status:        vex.StatusNotAffected,
			}
			if j := justification(na.Justification); j != "" {
				st.Justification = j
			} else {
				st.ImpactStatement = strings.TrimSpace(fmt.Sprintf("%s states that %s %s is not affected %s", na.Source, na.Package, na.Version, na.Justification))
			}
			doc.Statements = append(doc.Statements, st)
		}
	}
	for i := range doc.Statements {
		if err := doc.Statements[i].Validate(); err != nil {
			return nil, fmt.Errorf("openvex: statement %d: %w", i, err)
		}
	}
	id, err := doc.GenerateCanonicalID()
	if err != nil {
		return nil, fmt.Errorf("openvex: document id: %w", err)
	}
	doc.ID = id
	return &doc, nil
}

func vulnerability(id string, aliases, cves []string) vex.Vulnerability {
	v := vex.Vulnerability{Name: vex.VulnerabilityID(id)}
	seen := map[string]bool{id: true}
	for _, a := range slices.Concat(aliases, cves) {
		if !seen[a] {
			seen[a] = true
			v.Aliases = append(v.Aliases, vex.VulnerabilityID(a))
		}
	}
	return v
}

// justifications are OpenVEX's justifications; CSAF's flags of the same
// names mean the same.
var justifications = []vex.Justification{
	vex.ComponentNotPresent, vex.VulnerableCodeNotPresent, vex.VulnerableCodeNotInExecutePath,
	vex.VulnerableCodeCannotBeControlledByAdversary, vex.InlineMitigationsAlreadyExist,
}

// justification maps a reason to OpenVEX's justification when the reason
// is one ("vulnerable_code_not_present", or a VEX statement's
// justification followed by its impact statement); "" otherwise.
func justification(reason string) vex.Justification {
	r := strings.ToLower(strings.TrimSpace(reason))
	for _, j := range justifications {
		if r == string(j) || strings.HasPrefix(r, string(j)+":") || strings.HasPrefix(r, string(j)+" ") {
			return j
		}
	}
	return ""
}

// suppression returns the verdict's suppression of f.
func suppression(ss []policy.Suppression, f *vuln.Finding) (policy.Suppression, bool) {
	for _, s := range ss {
		if s.Finding.ID == f.ID && s.Finding.Package == f.Package && s.Finding.InstalledVersion == f.InstalledVersion {
			return s, true
		}
	}
	return policy.Suppression{}, false
}

// imageComponent is the image as a product: a pkg:oci purl with the
// manifest digest as version and the repository as repository_url.
func imageComponent(r *report.Report) vex.Component {
	base, repo := r.Image, ""
	if ref, err := name.ParseReference(r.Image, name.WeakValidation); err == nil {
		repo = ref.Context().Name()
		base = ref.Context().RepositoryStr()
	}
	if i := strings.LastIndexAny(base, "/:"); i >= 0 {
		base = base[i+1:]
	}
	if base == "" {
		base = "image"
	}
	var q packageurl.Qualifiers
	if repo != "" {
		q = packageurl.QualifiersFromMap(map[string]string{"repository_url": repo})
	}
	p := packageurl.NewPackageURL("oci", "", strings.ToLower(base), r.ManifestDigest, q, "").ToString()
	return vex.Component{ID: p, Identifiers: map[vex.IdentifierType]string{vex.PURL: p}}
}

func pkgComponent(purl, kind, name, version string) vex.Component {
	if purl == "" {
		t := kind
		if t == "" {
			t = "generic"
		}
		purl = packageurl.NewPackageURL(t, "", name, version, nil, "").ToString()
	}
	return vex.Component{ID: purl, Identifiers: map[vex.IdentifierType]string{vex.PURL: purl}}
}

// notAffectedComponent is the package a not-affected statement is about:
// the report's package of that name and version when there is one.
func notAffectedComponent(r *report.Report, na vuln.NotAffected) vex.Component {
	for _, p := range r.Packages {
		if p.Name == na.Package && p.Version == na.Version && p.PURL != "" {
			return pkgComponent(p.PURL, p.Kind, p.Name, p.Version)
		}
	}
	for _, p := range r.Packages {
		if p.SourceName == na.Package && p.PURL != "" {
			return pkgComponent(p.PURL, p.Kind, p.Name, p.Version)
		}
	}
	return pkgComponent("", "", na.Package, na.Version)
}
