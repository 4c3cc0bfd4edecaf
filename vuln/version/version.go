// Package version holds the version orderings of the ecosystems lapps
// matches: dpkg, rpm, apk, semantic versioning (Go, npm, crates.io), PEP 440,
// Maven, RubyGems, NuGet and Packagist. Each ordering parses a version once
// into a Version that compares quickly against other versions of the same
// ordering, so that the matcher parses every installed and fixed version
// exactly once.
package version

import (
	"fmt"
	"strings"

	"github.com/lapps/lapps/vuln"
)

// Version is a version parsed by an Ordering.
type Version interface {
	// Compare returns -1, 0 or +1 as the version sorts before, the same as
	// or after w. w must come from the same Ordering; a version of another
	// ordering is compared by its string, never with a panic.
	Compare(w Version) int
	// String returns the version as it was given.
	String() string
}

// Ordering parses and compares the versions of one ecosystem.
type Ordering interface {
	// Name identifies the ordering ("dpkg", "rpm", "apk", "semver", …).
	Name() string
	// Parse validates v and returns its parsed form; an error says why v is
	// not a version of this ordering.
	Parse(v string) (Version, error)
}

// Compare parses a and b with o and compares them: -1, 0 or +1 as a sorts
// before, the same as or after b.
func Compare(o Ordering, a, b string) (int, error) {
	va, err := o.Parse(a)
	if err != nil {
		return 0, err
	}
	vb, err := o.Parse(b)
	if err != nil {
		return 0, err
	}
	return va.Compare(vb), nil
}

// Valid returns nil when v is a version of ordering o, otherwise why not.
func Valid(o Ordering, v string) error {
	_, err := o.Parse(v)
	return err
}

// The orderings.
var (
	// Dpkg orders Debian and Ubuntu package versions: [epoch:]upstream[-revision].
	Dpkg Ordering = dpkgOrdering{}
	// RPM orders RPM [epoch:]version[-release] strings (rpmvercmp).
	RPM Ordering = rpmOrdering{}
	// APK orders Alpine, Wolfi and Chainguard package versions.
	APK Ordering = apkOrdering{}
	// Semver orders Semantic Versioning 2.0.0 versions, with or without a
	// leading "v" (npm, crates.io, and OSV ranges of type SEMVER).
	Semver Ordering = semverOrdering{name: "semver"}
	// Go orders Go module versions (v1.2.3, pseudo-versions,
	// +incompatible), the same without "v" as the Go vulnerability database
	// writes them, and Go toolchain versions (go1.21.5, go1.22rc1).
	Go Ordering = semverOrdering{name: "go", goToolchain: true}
	// PEP440 orders Python package versions.
	PEP440 Ordering = pep440Ordering{}
	// Maven orders Maven artifact versions (ComparableVersion).
	Maven Ordering = mavenOrdering{}
	// RubyGems orders Ruby gem versions (Gem::Version).
	RubyGems Ordering = gemOrdering{}
	// NuGet orders NuGet package versions (up to four numeric parts and a
	// pre-release).
	NuGet Ordering = genericOrdering{name: "nuget", foldCase: true}
	// Packagist orders Composer package versions.
	Packagist Ordering = genericOrdering{name: "packagist", stripV: true}
)

// All lists every ordering, by which ByName finds them. A new ordering is
// a file of this package and a line here.
var All = []Ordering{Dpkg, RPM, APK, Semver, Go, PEP440, Maven, RubyGems, NuGet, Packagist}

var byName = func() map[string]Ordering {
	m := make(map[string]Ordering, len(All))
	for _, o := range All {
		m[o.Name()] = o
	}
	return m
}()

// ByName returns the ordering of that Name ("dpkg", "semver", …), as the
// ecosystem registry (vuln.Ecosystem.Ordering) names it.
func ByName(name string) (Ordering, bool) {
	o, ok := byName[name]
	return o, ok
}

// For returns the ordering of a canonical ecosystem, as
// vuln.NormalizeEcosystem returns it ("Debian:12", "AlmaLinux:9", "Go", …);
// false when lapps knows no ordering for it. A thin wrapper over the
// ecosystem registry (vuln.EcosystemOf) and ByName.
func For(ecosystem string) (Ordering, bool) {
	e, ok := vuln.EcosystemOf(ecosystem)
	if !ok {
		return nil, false
	}
	return ByName(e.Ordering)
}

// ForRange returns the ordering a range of type typ (vuln.RangeEcosystem,
// vuln.RangeSemver) is compared with in an ecosystem of ordering eco
// (which may be nil when the ecosystem is unknown): eco for ECOSYSTEM
// ranges (and ranges without a type); for SEMVER ranges Go in Go
// ecosystems (toolchain versions) and Semver elsewhere; nil for types
// lapps does not compare (GIT) and for ECOSYSTEM ranges of an unknown
// ecosystem.
func ForRange(eco Ordering, typ string) Ordering {
	switch typ {
	case vuln.RangeEcosystem, "":
		return eco
	case vuln.RangeSemver:
		if eco == Go {
			return Go
		}
		return Semver
	}
	return nil
}

// sign maps a comparison result onto -1, 0, +1.
func sign(c int) int {
	switch {
	case c < 0:
		return -1
	case c > 0:
		return 1
	}
	return 0
}

// mismatch compares versions of two different orderings by their strings,
// so that misuse gives an arbitrary but consistent answer, not a panic.
func mismatch(v, w Version) int {
	if w == nil {
		return 1
	}
	return strings.Compare(v.String(), w.String())
}

// checkText rejects empty versions and versions with spaces or control
// characters, which no ordering accepts.
func checkText(kind, v string) error {
	if v == "" {
		return fmt.Errorf("%s version: empty", kind)
	}
	for i := 0; i < len(v); i++ {
		if c := v[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("%s version %q: invalid character %q", kind, v, c)
		}
	}
	return nil
}
