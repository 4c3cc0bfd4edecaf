package vuln

import (
	"strings"

	packageurl "github.com/package-url/packageurl-go"
)

// PURL returns the package URL of p in an image of distribution d (which
// may be nil): pkg:deb/debian/curl@7.88.1-10?arch=amd64&distro=debian-12,
// pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.3,
// pkg:rpm/almalinux/glibc@2.34-83.el9?arch=aarch64&distro=almalinux-9.3,
// pkg:golang/golang.org/x/text@v0.3.5, pkg:npm/%40types/node@20.1.0, …
func PURL(p Package, d *Distribution) string {
	var namespace, name, version = "", p.Name, p.Version
	var q packageurl.Qualifiers
	add := func(k, v string) {
		if v != "" {
			q = append(q, packageurl.Qualifier{Key: k, Value: v})
		}
	}
	switch p.Kind {
	case KindDeb, KindAPK, KindRPM:
		if !d.Empty() {
			namespace = strings.ToLower(d.ID)
		}
		add("arch", p.Arch)
		if p.Kind == KindRPM {
			if e, rest, ok := strings.Cut(version, ":"); ok {
				add("epoch", e)
				version = rest
			}
		}
		if !d.Empty() {
			switch p.Kind {
			case KindAPK:
				add("distro", firstNonEmpty(d.Version, d.VersionID))
			default:
				add("distro", strings.ToLower(d.ID)+"-"+firstNonEmpty(d.VersionID, d.Version))
			}
		}
		if p.SourceName != "" && p.SourceName != p.Name {
			add("upstream", p.SourceName)
		}
	case KindNPM, KindComposer, KindGo:
		if i := strings.LastIndex(name, "/"); i > 0 {
			namespace, name = name[:i], name[i+1:]
		}
	case KindMaven:
		if g, a, ok := strings.Cut(name, ":"); ok {
			namespace, name = g, a
		}
	case "":
		return ""
	}
	return packageurl.NewPackageURL(p.Kind, namespace, name, version, q, "").ToString()
}
