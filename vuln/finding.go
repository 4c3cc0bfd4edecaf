package vuln

import (
	"cmp"
	"slices"
)

// How a distribution package was matched to a record.
const (
	// MatchedBySource: the record names the package's source package
	// (dpkg's Source:, apk's origin).
	MatchedBySource = "source"
	// MatchedByBinary: the record names the installed (binary) package.
	MatchedByBinary = "binary"
)

// Finding is one vulnerability affecting one installed package of an image:
// the unit of a report. Records of several sources about the same
// vulnerability (the same id, or sharing an alias; never through CVEs an
// advisory fixes or related ids) for the same package are merged into one
// finding.
type Finding struct {
	// ID is the vulnerability shown: the CVE id where one is known,
	// otherwise the source's advisory id.
	ID string `json:"id"`
	// Aliases are the other ids of the vulnerability (advisories, GHSA…),
	// sorted, without ID.
	Aliases []string `json:"aliases,omitempty"`
	// CVEs are the CVE ids the matched distribution advisories fix (see
	// Record.CVEs), sorted; Related the related ids of the records, for
	// reference only.
	CVEs    []string `json:"cves,omitempty"`
	Related []string `json:"related,omitempty"`
	// Package is the installed package's name and InstalledVersion its
	// version. When matched through the source package, the source
	// version was compared (see SourcePackage).
	Package          string `json:"package"`
	InstalledVersion string `json:"installed_version"`
	// FixedVersion is the smallest fixed version above the installed one;
	// empty when no fix is known.
	FixedVersion string `json:"fixed_version,omitempty"`
	// Status is fixed (a fix exists), unfixed or wont-fix.
	Status Status `json:"status"`
	// Severity is the highest normalised severity of the merged records;
	// SourceSeverity and the CVSS ratings are those of the record that
	// gave it.
	Severity       Severity `json:"severity"`
	SourceSeverity string   `json:"source_severity,omitempty"`
	CVSS           []CVSS   `json:"cvss,omitempty"`
	// SeveritySource names the source that gave Severity: one of the
	// matched records' sources, or an enrichment source (cve5, a GHSA
	// source…) that scores the same vulnerability; empty when nothing
	// scores it.
	SeveritySource string `json:"severity_source,omitempty"`
	// KnownExploited is set when a known-exploited catalogue lists the
	// vulnerability (by its id, an alias or one of its CVEs); EPSS is its
	// exploit prediction score, the highest of its CVEs'.
	KnownExploited *KnownExploited `json:"known_exploited,omitempty"`
	EPSS           *EPSS           `json:"epss,omitempty"`
	// Source names the sources whose records matched, comma separated, the
	// one that gave the severity first.
	Source string   `json:"source"`
	Title  string   `json:"title,omitempty"`
	Links  []string `json:"links,omitempty"`
	// Layer is the digest of the layer that introduced the package.
	Layer string `json:"layer,omitempty"`
	// Ecosystem is the canonical ecosystem the records were taken from
	// ("Debian:12", "Go", …); PackageKind the package's kind (deb, golang…).
	Ecosystem   string `json:"ecosystem"`
	PackageKind string `json:"package_kind"`
	PURL        string `json:"purl,omitempty"`
	// SourcePackage is the source package the record named, when matched
	// through it.
	SourcePackage string `json:"source_package,omitempty"`
	// MatchedBy is MatchedBySource or MatchedByBinary for distribution
	// packages, empty for language packages.
	MatchedBy string `json:"matched_by,omitempty"`
	// DBPath is the package database or manifest the package came from.
	DBPath string `json:"db_path,omitempty"`
}

// SortFindings sorts findings for presentation, by real-world risk:
// known exploited first, then by severity, highest first, then by EPSS
// score, highest first (none last), then by id, package, installed
// version and database path.
func SortFindings(fs []Finding) {
	epss := func(f *Finding) float64 {
		if f.EPSS == nil {
			return -1
		}
		return f.EPSS.Score
	}
	slices.SortStableFunc(fs, func(a, b Finding) int {
		return cmp.Or(
			cmp.Compare(boolRank(b.KnownExploited != nil), boolRank(a.KnownExploited != nil)),
			cmp.Compare(b.Severity, a.Severity),
			cmp.Compare(epss(&b), epss(&a)),
			cmp.Compare(a.ID, b.ID),
			cmp.Compare(a.Package, b.Package),
			cmp.Compare(a.InstalledVersion, b.InstalledVersion),
			cmp.Compare(a.DBPath, b.DBPath),
		)
	})
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}
