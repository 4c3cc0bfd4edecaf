package sbom

import (
	"errors"
	"fmt"
	"strings"

	packageurl "github.com/package-url/packageurl-go"

	"github.com/lapps/lapps/indexer/gobinary"
	"github.com/lapps/lapps/vuln"
)

// errOtherType marks a purl of a type lapps does not match (oci, github,
// generic, …).
var errOtherType = errors.New("purl type not matched")

type typeError struct{ typ string }

func (e *typeError) Error() string   { return "purl type " + e.typ + " is not matched" }
func (e *typeError) Is(t error) bool { return t == errOtherType }

// kinds are the purl types lapps matches, by type.
var kinds = map[string]string{
	"deb": vuln.KindDeb, "rpm": vuln.KindRPM, "apk": vuln.KindAPK,
	"golang": vuln.KindGo, "npm": vuln.KindNPM, "pypi": vuln.KindPyPI,
	"maven": vuln.KindMaven, "gem": vuln.KindGem, "composer": vuln.KindComposer,
	"cargo": vuln.KindCargo, "nuget": vuln.KindNuGet,
}

// fromPURL turns a purl into a package, and for an OS package the
// distribution its distro qualifier names (nil when it names none).
func fromPURL(s string) (vuln.Package, *vuln.Distribution, error) {
	u, err := packageurl.FromString(s)
	if err != nil {
		return vuln.Package{}, nil, err
	}
	kind, ok := kinds[strings.ToLower(u.Type)]
	if !ok {
		return vuln.Package{}, nil, &typeError{typ: strings.ToLower(u.Type)}
	}
	if u.Name == "" {
		return vuln.Package{}, nil, fmt.Errorf("no name")
	}
	q := u.Qualifiers.Map()
	p := vuln.Package{Kind: kind, Name: u.Name, Version: u.Version}
	var d *vuln.Distribution
	switch kind {
	case vuln.KindDeb, vuln.KindRPM, vuln.KindAPK:
		p.Arch = q["arch"]
		// The epoch qualifier (rpm; Trivy for deb too) joins the version.
		if e := q["epoch"]; e != "" && e != "0" && !strings.Contains(p.Version, ":") {
			p.Version = e + ":" + p.Version
		}
		if up := q["upstream"]; up != "" {
			// Syft: "glibc", "gcc-12@12.2.0-14"; rpm: the source RPM's
			// file name ("glibc-2.34-83.el9.src.rpm"), of which only the
			// name is the source package.
			name, ver, _ := strings.Cut(up, "@")
			if kind == vuln.KindRPM && strings.HasSuffix(name, ".src.rpm") {
				name, ver = rpmSourceName(name), ""
			}
			p.SourceName, p.SourceVersion = name, ver
		}
		d = distroOf(u.Namespace, q["distro"])
	case vuln.KindGo:
		if u.Namespace != "" {
			p.Name = u.Namespace + "/" + u.Name
		}
		if p.Name == gobinary.StdlibName {
			v := strings.TrimPrefix(strings.TrimPrefix(p.Version, "go"), "v")
			if sv := gobinary.StdlibVersion("go" + v); sv != "" {
				p.Version = sv
			}
		} else if p.Version != "" && p.Version[0] >= '0' && p.Version[0] <= '9' {
			p.Version = "v" + p.Version
		}
	case vuln.KindNPM, vuln.KindComposer:
		if u.Namespace != "" {
			p.Name = u.Namespace + "/" + u.Name
		}
	case vuln.KindMaven:
		if u.Namespace != "" {
			p.Name = u.Namespace + ":" + u.Name
		}
	}
	return p, d, nil
}

// rpmSourceName is the name of a source RPM file name
// ("glibc-2.34-83.el9.src.rpm" → "glibc").
func rpmSourceName(f string) string {
	f = strings.TrimSuffix(f, ".src.rpm")
	for range 2 {
		if i := strings.LastIndexByte(f, '-'); i > 0 {
			f = f[:i]
		}
	}
	return f
}

// distroOf reads a distro qualifier: "debian-12", "debian-12.5" (Syft,
// Trivy, lapps for deb and rpm), "alpine-3.19.1" or "3.20.3" (lapps for
// apk), with the purl's namespace as the id where the qualifier has none.
func distroOf(namespace, distro string) *vuln.Distribution {
	if distro == "" {
		return nil
	}
	id, ver := strings.ToLower(namespace), distro
	if i := strings.LastIndexByte(distro, '-'); i > 0 && i+1 < len(distro) && distro[i+1] >= '0' && distro[i+1] <= '9' {
		id, ver = strings.ToLower(distro[:i]), distro[i+1:]
	} else if distro[0] < '0' || distro[0] > '9' {
		// A codename alone ("bookworm").
		if id == "" {
			return nil
		}
		return &vuln.Distribution{ID: id, VersionCodename: distro}
	}
	if id == "" {
		return nil
	}
	return &vuln.Distribution{ID: id, VersionID: ver, Version: ver}
}
