// Package report holds the vulnerability report of an image and renders it
// as a table, JSON and the interchange formats.
package report

import (
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/vuln"
)

// Report is what lapps knows of one scan of an image. Its JSON form is the
// schema documented in docs/report.md.
type Report struct {
	// Image is the name the scan is numbered under.
	Image          string `json:"image"`
	ManifestDigest string `json:"manifest_digest"`
	// ScanIndex is the scan's number for Image.
	ScanIndex int       `json:"scan_index"`
	ScannedAt time.Time `json:"scanned_at"`
	// GeneratedAt is when the vulnerabilities were matched: the scan time
	// for a report as recorded, now for a live report.
	GeneratedAt time.Time `json:"generated_at"`
	// Live is true when the vulnerabilities were matched against the
	// current data at request time rather than recorded at scan time.
	Live           bool                `json:"live"`
	IndexerVersion string              `json:"indexer_version"`
	Distribution   *vuln.Distribution  `json:"distribution"`
	Layers         []indexer.LayerInfo `json:"layers"`
	Packages       []vuln.Package      `json:"packages"`
	// OSOwnedPackages are language packages found in files that an
	// operating-system package installed (Debian's python3-requests, say):
	// they are matched as that OS package, not a second time, and listed
	// here with owned_by naming it.
	OSOwnedPackages []vuln.Package `json:"os_owned_packages,omitempty"`
	// Vulnerabilities are the findings, most severe first.
	Vulnerabilities []vuln.Finding `json:"vulnerabilities"`
	Summary         Summary        `json:"summary"`
	// NotAffected are the sources' statements that an installed package
	// does not have a vulnerability (CSAF/VEX known_not_affected, a
	// distribution's not-affected entry): the findings they suppressed,
	// with the reason.
	NotAffected []vuln.NotAffected `json:"not_affected"`
	// DataSources are the vulnerability data the findings were matched
	// against.
	DataSources []DataSource `json:"data_sources"`
	// Warnings are problems that did not stop the scan, such as a package
	// database that does not parse.
	Warnings []string `json:"warnings,omitempty"`
}

// DataSource names one source's update operation used for matching.
type DataSource struct {
	Name      string    `json:"name"`
	Operation int64     `json:"update_operation"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Summary counts packages and findings.
type Summary struct {
	Packages        int            `json:"packages"`
	Vulnerabilities int            `json:"vulnerabilities"`
	BySeverity      map[string]int `json:"by_severity"`
}

// Summarize fills r.Summary from the packages and findings.
func (r *Report) Summarize() {
	s := Summary{Packages: len(r.Packages), Vulnerabilities: len(r.Vulnerabilities), BySeverity: map[string]int{}}
	for sev := vuln.SeverityUnknown; sev <= vuln.SeverityCritical; sev++ {
		s.BySeverity[sev.String()] = 0
	}
	for _, f := range r.Vulnerabilities {
		s.BySeverity[f.Severity.String()]++
	}
	r.Summary = s
	if r.NotAffected == nil {
		r.NotAffected = []vuln.NotAffected{}
	}
}

// Counts returns the findings counted by severity.
func (r *Report) Counts() map[vuln.Severity]int {
	c := map[vuln.Severity]int{}
	for _, f := range r.Vulnerabilities {
		c[f.Severity]++
	}
	return c
}

// AtOrAbove reports how many findings have a severity at or above min.
func (r *Report) AtOrAbove(min vuln.Severity) int {
	n := 0
	for _, f := range r.Vulnerabilities {
		if f.Severity >= min {
			n++
		}
	}
	return n
}
