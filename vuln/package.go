// Package vuln holds lapps' model of packages, distributions, vulnerability
// records and findings: the vocabulary every other package speaks.
package vuln

// Package kinds, as package-URL types. A package's Kind says which package
// manager or language ecosystem it belongs to and so which version ordering
// applies to it.
const (
	KindDeb      = "deb"
	KindAPK      = "apk"
	KindRPM      = "rpm"
	KindGo       = "golang"
	KindPyPI     = "pypi"
	KindNPM      = "npm"
	KindMaven    = "maven"
	KindGem      = "gem"
	KindComposer = "composer"
	KindCargo    = "cargo"
	KindNuGet    = "nuget"
)

// Package is one installed package ("feature") found in an image.
type Package struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Arch    string `json:"arch,omitempty"`
	// SourceName and SourceVersion name the source package the binary was
	// built from: dpkg's Source:, apk's origin, rpm's source RPM.
	SourceName    string `json:"source_name,omitempty"`
	SourceVersion string `json:"source_version,omitempty"`
	// Kind is the package-URL type of the package manager or ecosystem:
	// deb, apk, rpm, golang, pypi, npm, maven, gem, composer, cargo, nuget.
	Kind string `json:"ecosystem"`
	// PURL is the package URL, with the distribution qualifier once the
	// image's distribution is known.
	PURL string `json:"purl,omitempty"`
	// DBPath is the path of the package database or manifest the package was
	// read from, without a leading slash.
	DBPath string `json:"db_path,omitempty"`
	// Layer is the digest of the layer that introduced the package.
	Layer string `json:"layer,omitempty"`
	// OwnedBy names the operating-system package ("deb python3-requests")
	// that installed the files this language package was read from; such a
	// package is matched as that OS package and not again.
	OwnedBy string `json:"owned_by,omitempty"`
	// Application marks the package that is a project itself rather than
	// one of its dependencies (the root package.json of a Node.js project,
	// which Trivy also lists as the application): ApplicationPublished
	// when it names a version that advisories can be about, and is
	// matched; ApplicationUnpublished when it is private or has no
	// version, and is listed but never matched.
	Application string `json:"application,omitempty"`
	// Licenses are the package's declared licenses, as SPDX license
	// expressions where the metadata allows (MIT, Apache-2.0, GPL-2.0-or-later
	// OR MIT), otherwise as the metadata states them.
	Licenses []string `json:"licenses,omitempty"`
}

// Values of Package.Application.
const (
	ApplicationPublished   = "published"
	ApplicationUnpublished = "unpublished"
)

// Key identifies a package within an image for de-duplication: the same
// name, version and architecture from the same database.
func (p Package) Key() string {
	return p.Kind + "\x00" + p.DBPath + "\x00" + p.Name + "\x00" + p.Version + "\x00" + p.Arch
}

// Distribution describes the operating system of an image, from os-release
// or the vendor release files.
type Distribution struct {
	ID              string `json:"id"`
	VersionID       string `json:"version_id,omitempty"`
	VersionCodename string `json:"version_codename,omitempty"`
	PrettyName      string `json:"pretty_name,omitempty"`
	Name            string `json:"name,omitempty"`
	IDLike          string `json:"id_like,omitempty"`
	// Version is the most precise version known, such as "12.8" from
	// /etc/debian_version or "3.20.3" from /etc/alpine-release.
	Version string `json:"version,omitempty"`
	// CPE is the CPE_NAME of os-release, where given.
	CPE string `json:"cpe,omitempty"`
}

// Empty reports whether no distribution was detected.
func (d *Distribution) Empty() bool { return d == nil || d.ID == "" }
