package harbor

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// VulnerabilityReport is the spec's HarborVulnerabilityReport.
type VulnerabilityReport struct {
	GeneratedAt     time.Time           `json:"generated_at"`
	Artifact        Artifact            `json:"artifact"`
	Scanner         Scanner             `json:"scanner"`
	Severity        string              `json:"severity"`
	Vulnerabilities []VulnerabilityItem `json:"vulnerabilities"`
}

// VulnerabilityItem is the spec's VulnerabilityItem.
type VulnerabilityItem struct {
	ID               string         `json:"id"`
	Package          string         `json:"package"`
	Version          string         `json:"version"`
	FixVersion       string         `json:"fix_version,omitempty"`
	Severity         string         `json:"severity"`
	Description      string         `json:"description,omitempty"`
	Links            []string       `json:"links,omitempty"`
	PreferredCVSS    *CVSSDetails   `json:"preferred_cvss,omitempty"`
	CweIDs           []string       `json:"cwe_ids,omitempty"`
	VendorAttributes map[string]any `json:"vendor_attributes,omitempty"`
}

// CVSSDetails is the spec's CVSSDetails.
type CVSSDetails struct {
	ScoreV3  *float64 `json:"score_v3,omitempty"`
	ScoreV2  *float64 `json:"score_v2,omitempty"`
	VectorV3 string   `json:"vector_v3,omitempty"`
	VectorV2 string   `json:"vector_v2,omitempty"`
}

// Severity names Harbor's severity of s: lapps' scale is Harbor's
// (Unknown, Negligible, Low, Medium, High, Critical), capitalised.
func Severity(s vuln.Severity) string {
	name := s.String()
	return strings.ToUpper(name[:1]) + name[1:]
}

// ToVulnerabilityReport turns a lapps report into Harbor's: one item per
// finding, the report's severity the highest of the findings' (Unknown
// when there are none: the spec's scale has no "none").
//
// vendor_attributes.CVSS carries the finding's CVSS ratings keyed by the
// source that gave its severity ("nvd", "debian"…), in the V2Score,
// V2Vector, V3Score, V3Vector (and V40Score, V40Vector) fields Harbor's
// other adapters use; preferred_cvss holds the highest v3 and v2 ratings.
// The finding's title is its description; lapps keeps no CWE ids.
func ToVulnerabilityReport(r *report.Report, art Artifact, sc Scanner) VulnerabilityReport {
	out := VulnerabilityReport{GeneratedAt: r.GeneratedAt.UTC(), Artifact: art, Scanner: sc, Severity: Severity(vuln.SeverityUnknown),
		Vulnerabilities: make([]VulnerabilityItem, 0, len(r.Vulnerabilities))}
	if out.GeneratedAt.IsZero() {
		out.GeneratedAt = r.ScannedAt.UTC()
	}
	highest := vuln.SeverityUnknown
	for _, f := range r.Vulnerabilities {
		highest = max(highest, f.Severity)
		it := VulnerabilityItem{ID: f.ID, Package: f.Package, Version: f.InstalledVersion, FixVersion: f.FixedVersion,
			Severity: Severity(f.Severity), Description: f.Title, Links: f.Links}
		if len(f.CVSS) > 0 {
			var pref CVSSDetails
			attrs := map[string]any{}
			for _, c := range f.CVSS {
				score := c.Score
				switch {
				case strings.HasPrefix(c.Version, "3"):
					attrs["V3Score"], attrs["V3Vector"] = c.Score, c.Vector
					if pref.ScoreV3 == nil || score > *pref.ScoreV3 {
						pref.ScoreV3, pref.VectorV3 = &score, c.Vector
					}
				case strings.HasPrefix(c.Version, "2"):
					attrs["V2Score"], attrs["V2Vector"] = c.Score, c.Vector
					if pref.ScoreV2 == nil || score > *pref.ScoreV2 {
						pref.ScoreV2, pref.VectorV2 = &score, c.Vector
					}
				case strings.HasPrefix(c.Version, "4"):
					attrs["V40Score"], attrs["V40Vector"] = c.Score, c.Vector
				}
			}
			src := f.SeveritySource
			if src == "" {
				src = "lapps"
			}
			it.VendorAttributes = map[string]any{"CVSS": map[string]any{src: attrs}}
			if pref.ScoreV3 != nil || pref.ScoreV2 != nil {
				it.PreferredCVSS = &pref
			}
		}
		out.Vulnerabilities = append(out.Vulnerabilities, it)
	}
	out.Severity = Severity(highest)
	return out
}

// SBOMReport is the spec's HarborSbomReport.
type SBOMReport struct {
	GeneratedAt      time.Time       `json:"generated_at"`
	Artifact         Artifact        `json:"artifact"`
	Scanner          Scanner         `json:"scanner"`
	VendorAttributes map[string]any  `json:"vendor_attributes,omitempty"`
	MediaType        string          `json:"media_type"`
	SBOM             json.RawMessage `json:"sbom"`
}

// sbom renders r in the registered format name (for mediaType) inside a
// HarborSbomReport.
func (a *Adapter) sbom(r *report.Report, art Artifact, mediaType, name string) (*SBOMReport, error) {
	f, ok := report.LookupFormat(name)
	if !ok {
		return nil, fmt.Errorf("this build of lapps has no %s output format", name)
	}
	var buf bytes.Buffer
	if err := f.Write(&buf, r); err != nil {
		return nil, fmt.Errorf("write the %s SBOM: %w", name, err)
	}
	doc := bytes.TrimSpace(buf.Bytes())
	if !json.Valid(doc) || len(doc) == 0 || doc[0] != '{' {
		return nil, fmt.Errorf("the %s format did not write a JSON object", name)
	}
	gen := r.GeneratedAt.UTC()
	if gen.IsZero() {
		gen = a.now().UTC()
	}
	return &SBOMReport{GeneratedAt: gen, Artifact: art, Scanner: a.scanner, MediaType: mediaType, SBOM: doc,
		VendorAttributes: map[string]any{"image": r.Image, "scan_index": r.ScanIndex, "packages": len(r.Packages)}}, nil
}
