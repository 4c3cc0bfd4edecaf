// Package report holds the vulnerability report of an image and renders it
// as a table, JSON and the interchange formats.
package report

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/model"
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
	Live           bool               `json:"live"`
	IndexerVersion string             `json:"indexer_version"`
	Distribution   *vuln.Distribution `json:"distribution"`
	Layers         []model.LayerInfo  `json:"layers"`
	Packages       []vuln.Package     `json:"packages"`
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
	// DataSources are the vulnerability data that cover the image: the
	// sources with records in its distribution release's ecosystem or in
	// an ecosystem of its packages, and, when there are findings, the
	// enrichment sources (vuln.EcosystemEnrichment) that score them.
	DataSources []DataSource `json:"data_sources"`
	// Warnings are problems that did not stop the scan, such as a package
	// database that does not parse, and what the data could not cover (a
	// distribution release or an ecosystem of the image no source has
	// records for). Always an array in JSON, empty when there are none.
	Warnings []string `json:"warnings"`
	// ConfigFindings are the configuration checks' findings: of the image
	// configuration ("config-…" ids) and of the files of its layers
	// ("file-…"), most severe first. Always an array in JSON.
	ConfigFindings []checks.Finding `json:"config_findings"`
	// Secrets are the secrets found in the files of the layers, deleted
	// later or not, with a redacted preview, never their value. Always an
	// array in JSON.
	Secrets []checks.Secret `json:"secrets"`
}

// MarshalJSON writes the report with its lists as arrays, never null
// (reports recorded before lapps wrote them so have none).
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report // without this method
	p := plain(r)
	if p.Warnings == nil {
		p.Warnings = []string{}
	}
	if p.DataSources == nil {
		p.DataSources = []DataSource{}
	}
	if p.Vulnerabilities == nil {
		p.Vulnerabilities = []vuln.Finding{}
	}
	if p.Packages == nil {
		p.Packages = []vuln.Package{}
	}
	if p.ConfigFindings == nil {
		p.ConfigFindings = []checks.Finding{}
	}
	if p.Secrets == nil {
		p.Secrets = []checks.Secret{}
	}
	return json.Marshal(p)
}

// DataSource names one source's update operation used for matching, and
// how old its data is.
type DataSource struct {
	Name string `json:"name"`
	// Type is the source type ("osv", "alpine-secdb", …), when known.
	Type      string `json:"type,omitempty"`
	Operation int64  `json:"update_operation"`
	// UpdatedAt is when the data was stored: the update or import time.
	UpdatedAt time.Time `json:"updated_at"`
	// NewestRecord is the latest modified or published time of the
	// source's records: how current the data itself is. Nil (null) when
	// no record carries a date (the Go vulndb's records have none).
	NewestRecord *time.Time `json:"newest_record"`
	// Age is how long before the report's generated_at NewestRecord was,
	// in days ("412d"), hours ("5h") or "<1h"; "unknown" without a
	// NewestRecord.
	Age string `json:"age"`
	// Covers are the ecosystems of the image the source has records in
	// ("Debian:12", "npm"), or "enrichment" for a source that scores
	// vulnerabilities rather than packages.
	Covers []string `json:"covers,omitempty"`
}

// AgeUnknown is DataSource.Age when the records carry no dates.
const AgeUnknown = "unknown"

// Age renders how long before at the time newest was: whole days from a
// day on ("412d"), whole hours below ("5h"), "<1h" below an hour, and
// AgeUnknown for a zero newest. A newest after at (clocks, or a feed
// dated ahead) is "<1h".
func Age(newest, at time.Time) string {
	if newest.IsZero() {
		return AgeUnknown
	}
	d := at.Sub(newest)
	switch {
	case d >= 24*time.Hour:
		return fmt.Sprintf("%dd", int(d/(24*time.Hour)))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d/time.Hour))
	}
	return "<1h"
}

// Summary counts packages and findings.
type Summary struct {
	Packages        int            `json:"packages"`
	Vulnerabilities int            `json:"vulnerabilities"`
	BySeverity      map[string]int `json:"by_severity"`
	// KnownExploited counts the findings a known-exploited catalogue
	// (CISA KEV) lists; Fixable those with a fixed version.
	KnownExploited int `json:"known_exploited"`
	Fixable        int `json:"fixable"`
}

// Summarize fills r.Summary from the packages and findings.
func (r *Report) Summarize() {
	s := Summary{Packages: len(r.Packages), Vulnerabilities: len(r.Vulnerabilities), BySeverity: map[string]int{}}
	for sev := vuln.SeverityUnknown; sev <= vuln.SeverityCritical; sev++ {
		s.BySeverity[sev.String()] = 0
	}
	for _, f := range r.Vulnerabilities {
		s.BySeverity[f.Severity.String()]++
		if f.KnownExploited != nil {
			s.KnownExploited++
		}
		if f.FixedVersion != "" {
			s.Fixable++
		}
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
// ChecksAtOrAbove counts the configuration findings and the secrets of
// severity min or higher: what --fail-on counts beside the
// vulnerabilities (AtOrAbove).
func (r *Report) ChecksAtOrAbove(min vuln.Severity) (config, secrets int) {
	for _, f := range r.ConfigFindings {
		if f.Severity >= min {
			config++
		}
	}
	for _, s := range r.Secrets {
		if s.Severity >= min {
			secrets++
		}
	}
	return config, secrets
}

func (r *Report) AtOrAbove(min vuln.Severity) int {
	n := 0
	for _, f := range r.Vulnerabilities {
		if f.Severity >= min {
			n++
		}
	}
	return n
}
