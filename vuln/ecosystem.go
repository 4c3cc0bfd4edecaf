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
// ("bookworm" → "12"), or "" when the codename is unknown.
func DebianRelease(codename string) string { return debianReleases[strings.ToLower(codename)] }

// ubuntuReleases maps Ubuntu codenames to release numbers.
var ubuntuReleases = map[string]string{
	"precise": "12.04", "trusty": "14.04", "xenial": "16.04", "bionic": "18.04",
	"cosmic": "18.10", "disco": "19.04", "eoan": "19.10", "focal": "20.04",
	"groovy": "20.10", "hirsute": "21.04", "impish": "21.10", "jammy": "22.04",
	"kinetic": "22.10", "lunar": "23.04", "mantic": "23.10", "noble": "24.04",
	"oracular": "24.10", "plucky": "25.04", "questing": "25.10", "resolute": "26.04",
}

// UbuntuRelease returns the release number of an Ubuntu codename
// ("jammy" → "22.04"), or "" when the codename is unknown.
func UbuntuRelease(codename string) string { return ubuntuReleases[strings.ToLower(codename)] }

// NormalizeEcosystem turns an ecosystem string as a source spells it into
// lapps' canonical form, under which records are stored and matched:
//
//	"Debian:12", "Debian:12.4"      → "Debian:12"
//	"Ubuntu:22.04:LTS"              → "Ubuntu:22.04"
//	"Ubuntu:Pro:18.04:LTS"          → "Ubuntu:Pro:18.04"
//	"Alpine:v3.19", "Alpine:3.19.1" → "Alpine:v3.19"
//	"AlmaLinux:9", "AlmaLinux:9.3"  → "AlmaLinux:9"
//	"Rocky Linux:9"                 → "Rocky Linux:9"
//	"Wolfi", "Chainguard", "Go", "PyPI", "npm", … unchanged
//
// It returns false for an empty string.
func NormalizeEcosystem(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", false
	}
	name, rest, _ := strings.Cut(s, ":")
	switch strings.ToLower(name) {
	case "debian":
		return "Debian:" + major(rest), rest != ""
	case "ubuntu":
		parts := strings.Split(rest, ":")
		pro := false
		var ver string
		for _, p := range parts {
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
			return "Ubuntu:Pro:" + ver, true
		}
		return "Ubuntu:" + ver, true
	case "alpine":
		v := strings.TrimPrefix(rest, "v")
		if v == "" {
			return "", false
		}
		if p := strings.SplitN(v, ".", 3); len(p) >= 2 {
			v = p[0] + "." + p[1]
		}
		return "Alpine:v" + v, true
	case "almalinux":
		return "AlmaLinux:" + major(rest), rest != ""
	case "rocky linux", "rocky":
		return "Rocky Linux:" + major(rest), rest != ""
	case "red hat", "redhat", "rhel":
		return "Red Hat:" + major(rest), rest != ""
	}
	return s, true
}

// major returns the part of a version before its first dot.
func major(v string) string {
	m, _, _ := strings.Cut(v, ".")
	return m
}

// DistributionEcosystem returns the canonical ecosystem of a
// distribution's packages ("Debian:12", "Alpine:v3.20", "AlmaLinux:9"), or
// "" when the distribution is unknown or has no vulnerability data model.
func DistributionEcosystem(d *Distribution) string {
	if d.Empty() {
		return ""
	}
	switch strings.ToLower(d.ID) {
	case "debian":
		v := major(d.VersionID)
		if v == "" {
			v = DebianRelease(d.VersionCodename)
		}
		if v == "" {
			return ""
		}
		return "Debian:" + v
	case "ubuntu":
		if d.VersionID != "" {
			return "Ubuntu:" + d.VersionID
		}
		if v := UbuntuRelease(d.VersionCodename); v != "" {
			return "Ubuntu:" + v
		}
	case "alpine":
		if e, ok := NormalizeEcosystem("Alpine:" + firstNonEmpty(d.VersionID, d.Version)); ok {
			return e
		}
	case "almalinux":
		return "AlmaLinux:" + major(d.VersionID)
	case "rocky":
		return "Rocky Linux:" + major(d.VersionID)
	case "rhel":
		return "Red Hat:" + major(d.VersionID)
	case "wolfi":
		return "Wolfi"
	case "chainguard":
		return "Chainguard"
	}
	return ""
}

// KindEcosystem returns the canonical ecosystem of a language package
// kind (KindGo → "Go"), or "" for distribution package kinds.
func KindEcosystem(kind string) string {
	switch kind {
	case KindGo:
		return EcosystemGo
	case KindPyPI:
		return EcosystemPyPI
	case KindNPM:
		return EcosystemNPM
	case KindMaven:
		return EcosystemMaven
	case KindGem:
		return EcosystemRubyGems
	case KindComposer:
		return EcosystemPackagist
	case KindCargo:
		return EcosystemCrates
	case KindNuGet:
		return EcosystemNuGet
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
