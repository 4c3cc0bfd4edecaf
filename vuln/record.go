package vuln

import (
	"strings"
	"time"
)

// Severity is a normalised severity. The zero value is SeverityUnknown.
type Severity int

// Severities in increasing order.
const (
	SeverityUnknown Severity = iota
	SeverityNegligible
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

var severityNames = [...]string{"unknown", "negligible", "low", "medium", "high", "critical"}

// String returns the lower-case name of the severity.
func (s Severity) String() string {
	if s < 0 || int(s) >= len(severityNames) {
		return "unknown"
	}
	return severityNames[s]
}

// ParseSeverity parses a normalised severity name; ok is false for a name
// that is not one of critical, high, medium, low, negligible, unknown.
func ParseSeverity(name string) (s Severity, ok bool) {
	for i, n := range severityNames {
		if n == name {
			return Severity(i), true
		}
	}
	return SeverityUnknown, false
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; unknown names become
// SeverityUnknown.
func (s *Severity) UnmarshalText(b []byte) error {
	*s, _ = ParseSeverity(string(b))
	return nil
}

// Status is the state of a package with respect to a vulnerability.
type Status string

// Statuses of a record or finding.
const (
	// StatusFixed: versions before the fixed version are affected.
	StatusFixed Status = "fixed"
	// StatusUnfixed: affected, and no fix is available yet.
	StatusUnfixed Status = "unfixed"
	// StatusWontFix: affected, and the distribution will not fix it
	// (Debian "ignored"/no-DSA, Ubuntu "ignored", Red Hat "will not fix").
	StatusWontFix Status = "wont-fix"
	// StatusNotAffected: the package is known not to be affected.
	StatusNotAffected Status = "not-affected"
)

// Range types, as in OSV.
const (
	RangeEcosystem = "ECOSYSTEM"
	RangeSemver    = "SEMVER"
)

// Range is one OSV-style range of affected versions: affected from
// Introduced (empty or "0": from the beginning) up to but excluding Fixed,
// or up to and including LastAffected; neither means no upper bound. A
// range with no bound at all (Bounded false) is malformed, never "every
// version": that is said with Introduced "0" (or with no range at all).
type Range struct {
	Type         string `json:"type"`
	Introduced   string `json:"introduced,omitempty"`
	Fixed        string `json:"fixed,omitempty"`
	LastAffected string `json:"last_affected,omitempty"`
}

// Bounded reports whether the range has at least one bound: an
// Introduced, Fixed or LastAffected that is not blank.
func (r Range) Bounded() bool {
	return strings.TrimSpace(r.Introduced) != "" || strings.TrimSpace(r.Fixed) != "" || strings.TrimSpace(r.LastAffected) != ""
}

// CVSS is one CVSS rating.
type CVSS struct {
	Version string  `json:"version"`
	Vector  string  `json:"vector,omitempty"`
	Score   float64 `json:"score,omitempty"`
}

// Record is one vulnerability as it applies to one package of one
// ecosystem, as a source states it: the unit that updaters store, the
// matcher correlates and update operations are diffed by.
type Record struct {
	// ID is the advisory or vulnerability id in the source (CVE-2024-1234,
	// DSA-5380-1, ALSA-2024:0001, GO-2024-2687, GHSA-…).
	ID string `json:"id"`
	// Aliases are other ids of the same vulnerability, CVE ids first: the
	// record's identity together with ID. Records are merged into one
	// finding by ID and Aliases only.
	Aliases []string `json:"aliases,omitempty"`
	// CVEs are the CVE ids a distribution advisory (ALSA, RLSA, RHSA, DSA
	// …) fixes, when the advisory is not itself one vulnerability. They
	// are shown on the finding and matched by ignore rules and VEX, but do
	// not make the advisory the same vulnerability as each CVE.
	CVEs []string `json:"cves,omitempty"`
	// Related are ids the source says are related (OSV "related"): never
	// merged, never matched by ignore rules; shown for reference.
	Related []string `json:"related,omitempty"`
	// Source is the name of the configured source that produced the record.
	Source string `json:"source"`
	// Ecosystem is the normalised ecosystem the package belongs to, as
	// vuln.NormalizeEcosystem returns it ("Debian:12", "Alpine:v3.19", "Go", …).
	Ecosystem string `json:"ecosystem"`
	// Package is the affected package's name in that ecosystem (a source
	// package for Debian, Ubuntu and Alpine; a binary RPM for RPM
	// distributions; a module or library otherwise).
	Package string `json:"package"`
	// Ranges and Versions say which versions are affected; with neither,
	// every version is (subject to Status).
	Ranges   []Range  `json:"ranges,omitempty"`
	Versions []string `json:"versions,omitempty"`
	// Status is fixed when the ranges carry a fix, otherwise unfixed,
	// wont-fix or not-affected.
	Status Status `json:"status"`
	// Severity is normalised; SourceSeverity is the source's own rating.
	Severity       Severity  `json:"severity"`
	SourceSeverity string    `json:"source_severity,omitempty"`
	CVSS           []CVSS    `json:"cvss,omitempty"`
	Title          string    `json:"title,omitempty"`
	Description    string    `json:"description,omitempty"`
	Links          []string  `json:"links,omitempty"`
	Published      time.Time `json:"published,omitzero"`
	Modified       time.Time `json:"modified,omitzero"`
	// Justification is why a not-affected record's package is not
	// affected, as the source states it (a CSAF/VEX flag label such as
	// "vulnerable_code_not_present").
	Justification string `json:"justification,omitempty"`
	// KnownExploited and EPSS are set on enrichment records (Ecosystem
	// EcosystemEnrichment) of the kev and epss sources.
	KnownExploited *KnownExploited `json:"known_exploited,omitempty"`
	EPSS           *EPSS           `json:"epss,omitempty"`
}

// EcosystemEnrichment is the ecosystem of records that describe a
// vulnerability rather than a package (CVE JSON 5 records, CISA KEV
// entries, EPSS scores): their Package is their ID, no installed package
// ever matches them, and findings take severity, CVSS, exploitation and
// EPSS from them by id and alias.
const EcosystemEnrichment = "enrichment"

// KnownExploited is an entry of a catalogue of vulnerabilities known to be
// exploited in the wild (CISA KEV).
type KnownExploited struct {
	// Catalog names the catalogue ("CISA KEV").
	Catalog string `json:"catalog"`
	// DateAdded and DueDate are dates (YYYY-MM-DD) as the catalogue gives
	// them: when the entry was added, and the remediation deadline it sets.
	DateAdded string `json:"date_added"`
	DueDate   string `json:"due_date,omitempty"`
	// RansomwareUse is true when the catalogue says the vulnerability is
	// known to be used in ransomware campaigns.
	RansomwareUse  bool   `json:"ransomware_use"`
	Name           string `json:"name,omitempty"`
	RequiredAction string `json:"required_action,omitempty"`
}

// EPSS is a FIRST Exploit Prediction Scoring System score: the
// probability (0–1) of exploitation activity in the next 30 days, and its
// percentile among all scored CVEs.
type EPSS struct {
	Score      float64 `json:"score"`
	Percentile float64 `json:"percentile"`
	// Date is the day (YYYY-MM-DD) the score was computed for.
	Date string `json:"date,omitempty"`
}

// Key identifies a record within one source's data: the same key in two
// update operations is the same advisory for the same package.
func (r *Record) Key() string { return r.ID + "\x00" + r.Ecosystem + "\x00" + r.Package }

// NotAffected is a source's statement that an installed package does not
// have a vulnerability (a not-affected record, such as a CSAF/VEX
// known_not_affected entry), as it applied to one scan: the finding it
// stands for is suppressed, and reported as such.
type NotAffected struct {
	// ID is the vulnerability or advisory id the statement is about.
	ID        string `json:"id"`
	Package   string `json:"package"`
	Version   string `json:"version"`
	Ecosystem string `json:"ecosystem"`
	// Source is the configured source that made the statement.
	Source string `json:"source"`
	// Justification is the source's reason ("vulnerable_code_not_present"),
	// when it gives one.
	Justification string `json:"justification,omitempty"`
}
