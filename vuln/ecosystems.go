package vuln

import (
	"strings"
)

// The ecosystem registry: one table that says, for every ecosystem lapps
// matches, everything the updaters, indexers, matcher and notifier need to
// know of it. Every other place reads it (NormalizeEcosystem,
// DistributionEcosystem, KindEcosystem, NormalizeName here; version.For;
// the matcher's lookups; the notifier's package kinds; the OSV parser's
// names and ratings), so that a new distribution or language ecosystem is
// one line in ecosystems below, plus the folder of its feed or cataloger.
//
// The version ordering is named, not held: package vuln/version imports
// vuln, and vuln, the vocabulary every package speaks, must not import the
// orderings' implementations (and their libraries). version.ByName
// resolves the name; a test checks that every entry's name resolves.

// NameRule says how the package names of an ecosystem are normalised
// before records are stored and packages looked up.
type NameRule int

const (
	// NamesExact compares names as spelled (Debian, Go, npm, Maven, …).
	NamesExact NameRule = iota
	// NamesCaseless compares names in lower case (NuGet, Packagist).
	NamesCaseless
	// NamesPEP503 normalises names as PEP 503 says (PyPI): lower case,
	// every run of "-", "_" and "." replaced by one "-".
	NamesPEP503
)

// Normalize returns name normalised by the rule (without trimming).
func (r NameRule) Normalize(name string) string {
	switch r {
	case NamesCaseless:
		return strings.ToLower(name)
	case NamesPEP503:
		return PEP503(name)
	}
	return name
}

// Caseless reports whether names under the rule ignore case.
func (r NameRule) Caseless() bool { return r == NamesCaseless || r == NamesPEP503 }

// SourceMatch says by which names an installed package is looked up in
// its ecosystem's records.
type SourceMatch int

const (
	// MatchName: the package's own name (language packages).
	MatchName SourceMatch = iota
	// MatchSourceAndBinary: the source package, comparing the source
	// version, and the binary package, comparing its own version (deb:
	// Debian's and Ubuntu's records name source packages, some binary).
	MatchSourceAndBinary
	// MatchOrigin: the origin (source) package, or the name when there is
	// none, comparing the package's version (apk).
	MatchOrigin
	// MatchBinary: the binary package name (rpm: the advisories name
	// binary RPMs).
	MatchBinary
)

// ReleaseScheme says whether an ecosystem is split by distribution release
// and how the release is spelled in its canonical ecosystem strings.
type ReleaseScheme int

const (
	// Unversioned: one ecosystem for every release ("Wolfi", "Go").
	Unversioned ReleaseScheme = iota
	// ReleaseMajor: "Name:<major>", from anything up to the first dot
	// ("Debian:12.4" → "Debian:12", "AlmaLinux:9.3" → "AlmaLinux:9").
	ReleaseMajor
	// ReleaseMinorV: "Name:v<major>.<minor>" ("Alpine:3.19.1" →
	// "Alpine:v3.19").
	ReleaseMinorV
	// ReleaseUbuntu: "Ubuntu:<version>" or "Ubuntu:Pro:<version>",
	// dropping "LTS" and "FIPS" ("Ubuntu:Pro:18.04:LTS" →
	// "Ubuntu:Pro:18.04").
	ReleaseUbuntu
)

// Ecosystem is one entry of the registry.
type Ecosystem struct {
	// Name is the canonical name, as OSV spells it; for a release-versioned
	// ecosystem the prefix of its canonical strings ("Debian" → "Debian:12").
	Name string
	// Kind is the package kind (package-URL type) of the packages the
	// ecosystem's records describe. Every ecosystem of one kind has the
	// same Ordering and Match.
	Kind string
	// Ordering names the version ordering of package vuln/version
	// ("dpkg", "rpm", "apk", "go", "semver", "pep440", "maven", "rubygems",
	// "nuget", "packagist"); version.ByName resolves it.
	Ordering string
	// Names is how package names are normalised and whether case matters.
	Names NameRule
	// Match is how an installed package is looked up.
	Match SourceMatch
	// Release is whether and how the ecosystem is split by release.
	Release ReleaseScheme
	// OSIDs are the os-release IDs of the distribution whose images this
	// ecosystem's records concern; none for a language ecosystem. An
	// ecosystem with OSIDs is a distribution ecosystem.
	OSIDs []string
	// Codenames maps release codenames to release numbers, for images that
	// give only a codename ("bookworm" → "12").
	Codenames map[string]string
	// Aliases are other spellings of Name that sources use, compared
	// ignoring case (Name itself is too).
	Aliases []string
	// RatingInSummary is true when the ecosystem's OSV advisories carry
	// Red Hat's rating as the prefix of their summary ("Important: …").
	RatingInSummary bool
}

// ecosystems is the registry. To add an ecosystem, add a line; to add a
// package kind, a Kind constant (package.go) and its cataloger; to add a
// version ordering, a file in vuln/version listed in version.All.
var ecosystems = []Ecosystem{
	{Name: "Debian", Kind: KindDeb, Ordering: "dpkg", Match: MatchSourceAndBinary, Release: ReleaseMajor, OSIDs: []string{"debian"}, Codenames: debianReleases},
	{Name: "Ubuntu", Kind: KindDeb, Ordering: "dpkg", Match: MatchSourceAndBinary, Release: ReleaseUbuntu, OSIDs: []string{"ubuntu"}, Codenames: ubuntuReleases},
	{Name: "Alpine", Kind: KindAPK, Ordering: "apk", Match: MatchOrigin, Release: ReleaseMinorV, OSIDs: []string{"alpine"}},
	{Name: "Wolfi", Kind: KindAPK, Ordering: "apk", Match: MatchOrigin, OSIDs: []string{"wolfi"}},
	{Name: "Chainguard", Kind: KindAPK, Ordering: "apk", Match: MatchOrigin, OSIDs: []string{"chainguard"}},
	{Name: "AlmaLinux", Kind: KindRPM, Ordering: "rpm", Match: MatchBinary, Release: ReleaseMajor, OSIDs: []string{"almalinux"}, RatingInSummary: true},
	{Name: "Rocky Linux", Kind: KindRPM, Ordering: "rpm", Match: MatchBinary, Release: ReleaseMajor, OSIDs: []string{"rocky"}, Aliases: []string{"rocky"}, RatingInSummary: true},
	{Name: "Red Hat", Kind: KindRPM, Ordering: "rpm", Match: MatchBinary, Release: ReleaseMajor, OSIDs: []string{"rhel"}, Aliases: []string{"redhat", "rhel"}, RatingInSummary: true},
	{Name: EcosystemGo, Kind: KindGo, Ordering: "go"},
	{Name: EcosystemPyPI, Kind: KindPyPI, Ordering: "pep440", Names: NamesPEP503},
	{Name: EcosystemNPM, Kind: KindNPM, Ordering: "semver"},
	{Name: EcosystemMaven, Kind: KindMaven, Ordering: "maven"},
	{Name: EcosystemRubyGems, Kind: KindGem, Ordering: "rubygems"},
	{Name: EcosystemPackagist, Kind: KindComposer, Ordering: "packagist", Names: NamesCaseless},
	{Name: EcosystemCrates, Kind: KindCargo, Ordering: "semver"},
	{Name: EcosystemNuGet, Kind: KindNuGet, Ordering: "nuget", Names: NamesCaseless},
}

// The registry's indexes, built once from ecosystems; the first entry wins
// where two collide (TestRegistry refuses collisions).
var (
	byName     = map[string]int{} // canonical name
	bySpelling = map[string]int{} // lower-case name and aliases
	byOSID     = map[string]int{} // os-release ID
	byKind     = map[string]int{} // language kind → its one ecosystem
	distroKind = map[string]bool{}
)

func init() {
	put := func(m map[string]int, k string, i int) {
		if _, ok := m[k]; !ok {
			m[k] = i
		}
	}
	for i, e := range ecosystems {
		put(byName, e.Name, i)
		put(bySpelling, strings.ToLower(e.Name), i)
		for _, a := range e.Aliases {
			put(bySpelling, strings.ToLower(a), i)
		}
		for _, id := range e.OSIDs {
			put(byOSID, id, i)
		}
		if e.Distribution() {
			distroKind[e.Kind] = true
		} else {
			put(byKind, e.Kind, i)
		}
	}
}

// Ecosystems returns a copy of the registry, in its order.
func Ecosystems() []Ecosystem { return append([]Ecosystem(nil), ecosystems...) }

// EcosystemOf returns the registry entry of a canonical ecosystem, as
// NormalizeEcosystem returns it ("Debian:12", "Rocky Linux:9", "Wolfi",
// "PyPI"); false when lapps knows none. The name is compared exactly, and
// an unversioned ecosystem takes no ":release" suffix.
func EcosystemOf(eco string) (Ecosystem, bool) {
	name, _, versioned := strings.Cut(eco, ":")
	i, ok := byName[name]
	if !ok || (versioned && ecosystems[i].Release == Unversioned) {
		return Ecosystem{}, false
	}
	return ecosystems[i], true
}

// DistributionKind reports whether kind is the package kind of a
// distribution (deb, apk, rpm), whose packages take the records of the
// image's distribution ecosystem.
func DistributionKind(kind string) bool { return distroKind[kind] }

// Distribution reports whether e is a distribution ecosystem.
func (e Ecosystem) Distribution() bool { return len(e.OSIDs) > 0 }

// NormalizeName returns a package name of e trimmed and normalised as
// records store it and the matcher looks it up.
func (e Ecosystem) NormalizeName(name string) string {
	return e.Names.Normalize(strings.TrimSpace(name))
}

// NormalizeName returns a package name of canonical ecosystem eco trimmed
// and normalised as records store it and the matcher looks it up (PEP 503
// for PyPI, lower case for NuGet and Packagist); for an unknown ecosystem,
// only trimmed.
func NormalizeName(eco, name string) string {
	if e, ok := EcosystemOf(eco); ok {
		return e.NormalizeName(name)
	}
	return strings.TrimSpace(name)
}

// PEP503 normalises a Python distribution name as PEP 503 specifies:
// re.sub(r"[-_.]+", "-", name).lower(). It is the one normaliser of
// Python names in lapps (the PyPI records, the Python cataloger, the
// matcher).
func PEP503(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	sep := false
	for _, r := range strings.ToLower(name) {
		if r == '-' || r == '_' || r == '.' {
			sep = true
			continue
		}
		if sep {
			b.WriteByte('-')
			sep = false
		}
		b.WriteRune(r)
	}
	if sep {
		b.WriteByte('-')
	}
	return b.String()
}

// canonical returns e's canonical ecosystem for the release part rest of
// a source's spelling ("12.4" → "Debian:12"), false when e is versioned
// and rest names no release.
func (e Ecosystem) canonical(rest string) (string, bool) {
	rest = strings.TrimSpace(rest)
	switch e.Release {
	case ReleaseMajor:
		m := strings.TrimSpace(major(rest))
		return e.Name + ":" + m, m != ""
	case ReleaseMinorV:
		v := strings.TrimPrefix(rest, "v")
		if v == "" {
			return "", false
		}
		if p := strings.SplitN(v, ".", 3); len(p) >= 2 {
			v = p[0] + "." + p[1]
		}
		return e.Name + ":v" + v, true
	case ReleaseUbuntu:
		pro := false
		var ver string
		for _, p := range strings.Split(rest, ":") {
			p = strings.TrimSpace(p)
			switch {
			case strings.EqualFold(p, "Pro"):
				pro = true
			case strings.EqualFold(p, "LTS"), strings.EqualFold(p, "FIPS"), p == "":
			default:
				if ver == "" {
					ver = p
				}
			}
		}
		if ver == "" {
			return "", false
		}
		if pro {
			return e.Name + ":Pro:" + ver, true
		}
		return e.Name + ":" + ver, true
	}
	return e.Name, true
}

// release returns the release of distribution d in e's scheme: its
// VERSION_ID, else the release of its codename, else its most precise
// version; "" when none of them is a release number.
func (e Ecosystem) release(d *Distribution) string {
	for _, v := range []string{d.VersionID, e.Codenames[strings.ToLower(d.VersionCodename)], d.Version} {
		if v != "" && v[0] >= '0' && v[0] <= '9' {
			return v
		}
	}
	return ""
}
