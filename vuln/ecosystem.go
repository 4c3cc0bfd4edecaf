package vuln

import (
	"strings"
)

// Language ecosystems, spelled as OSV spells them.
const (
	EcosystemGo        = "Go"
	EcosystemPyPI      = "PyPI"
	EcosystemNPM       = "npm"
	EcosystemMaven     = "Maven"
	EcosystemRubyGems  = "RubyGems"
	EcosystemPackagist = "Packagist"
	EcosystemCrates    = "crates.io"
	EcosystemNuGet     = "NuGet"
)

// debianReleases maps Debian codenames to release numbers.
var debianReleases = map[string]string{
	"potato": "2.2", "woody": "3.0", "sarge": "3.1", "etch": "4", "lenny": "5",
	"squeeze": "6", "wheezy": "7", "jessie": "8", "stretch": "9", "buster": "10",
	"bullseye": "11", "bookworm": "12", "trixie": "13", "forky": "14", "duke": "15",
}

// DebianRelease returns the release number of a Debian codename
// ("bookworm" → "12"), or "" when the codename is unknown. A thin wrapper
// over the registry's Codenames of "Debian".
func DebianRelease(codename string) string { return codenameRelease("Debian", codename) }

// ubuntuReleases maps Ubuntu codenames to release numbers.
var ubuntuReleases = map[string]string{
	"precise": "12.04", "trusty": "14.04", "xenial": "16.04", "bionic": "18.04",
	"cosmic": "18.10", "disco": "19.04", "eoan": "19.10", "focal": "20.04",
	"groovy": "20.10", "hirsute": "21.04", "impish": "21.10", "jammy": "22.04",
	"kinetic": "22.10", "lunar": "23.04", "mantic": "23.10", "noble": "24.04",
	"oracular": "24.10", "plucky": "25.04", "questing": "25.10", "resolute": "26.04",
}

// UbuntuRelease returns the release number of an Ubuntu codename
// ("jammy" → "22.04"), or "" when the codename is unknown. A thin wrapper
// over the registry's Codenames of "Ubuntu".
func UbuntuRelease(codename string) string { return codenameRelease("Ubuntu", codename) }

func codenameRelease(eco, codename string) string {
	e, _ := EcosystemOf(eco)
	return e.Codenames[strings.ToLower(codename)]
}

// NormalizeEcosystem turns an ecosystem string as a source spells it into
// lapps' canonical form, under which records are stored and matched:
//
//	"Debian:12", "Debian:12.4"      → "Debian:12"
//	"Ubuntu:22.04:LTS"              → "Ubuntu:22.04"
//	"Ubuntu:Pro:18.04:LTS"          → "Ubuntu:Pro:18.04"
//	"Alpine:v3.19", "Alpine:3.19.1" → "Alpine:v3.19"
//	"AlmaLinux:9", "AlmaLinux:9.3"  → "AlmaLinux:9"
//	"Rocky Linux:9"                 → "Rocky Linux:9"
//	"rocky:9", "redhat:9.4"         → "Rocky Linux:9", "Red Hat:9"
//	"Wolfi", "Chainguard", "Go", "PyPI", "npm", … unchanged
//	"pypi", "GO"                    → "PyPI", "Go"
//	"Hackage", "SUSE:15"            unchanged (not in the registry)
//
// The name is looked up in the registry (Ecosystem.Name and Aliases,
// ignoring case) and the release spelled by its ReleaseScheme: a thin
// wrapper over the registry. It returns false for an empty string and for
// a release-versioned ecosystem without a release ("Debian:").
func NormalizeEcosystem(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	name, rest, versioned := strings.Cut(s, ":")
	i, ok := bySpelling[strings.ToLower(name)]
	if !ok {
		return s, true
	}
	e := &ecosystems[i]
	if e.Release == Unversioned && versioned {
		return s, true
	}
	return e.canonical(rest)
}

// major returns the part of a version before its first dot.
func major(v string) string {
	m, _, _ := strings.Cut(v, ".")
	return m
}

// DistributionEcosystem returns the canonical ecosystem of a
// distribution's packages ("Debian:12", "Alpine:v3.20", "AlmaLinux:9"), or
// "" when the distribution is unknown or has no vulnerability data model.
// The os-release ID is looked up in the registry's OSIDs; the release is
// VERSION_ID, else the release of VERSION_CODENAME (Codenames), else the
// most precise version, the first of them that starts with a digit. A
// thin wrapper over the registry.
func DistributionEcosystem(d *Distribution) string {
	if d.Empty() {
		return ""
	}
	i, ok := byOSID[strings.ToLower(d.ID)]
	if !ok {
		return ""
	}
	e := &ecosystems[i]
	if e.Release == Unversioned {
		return e.Name
	}
	eco, ok := e.canonical(e.release(d))
	if !ok {
		return ""
	}
	return eco
}

// KindEcosystem returns the canonical ecosystem of a language package
// kind (KindGo → "Go"), or "" for distribution package kinds. A thin
// wrapper over the registry.
func KindEcosystem(kind string) string {
	if i, ok := byKind[kind]; ok {
		return ecosystems[i].Name
	}
	return ""
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
