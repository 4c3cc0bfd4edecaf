package csaf

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/package-url/packageurl-go"
)

// rpm is one RPM component of a CSAF product tree.
type rpm struct {
	name string
	// evr is [epoch:]version-release, without the architecture; empty
	// for a component named without a version (a VEX statement about a
	// source package: "kernel").
	evr  string
	arch string
	// stream is the module stream ("ruby:3.1") when the document names
	// one (Red Hat: a purl's rpmmod qualifier, a product id's "::ruby:3.1"
	// or ".rpm-ruby:2.5" suffix).
	stream string
}

// arches are the RPM architectures a product version name may end with.
var arches = map[string]bool{
	"x86_64": true, "noarch": true, "src": true, "aarch64": true, "i686": true,
	"i386": true, "i586": true, "ppc64le": true, "ppc64": true, "s390x": true,
	"s390": true, "armv7hl": true, "ppc": true, "ia64": true, "nosrc": true,
}

// parseComponent reads an RPM component from a product: its purl when it
// has one (Red Hat), else its name or id as a NEVRA ("socat-0:1.7.4.1-2.
// el8_10.aarch64", "httpd-2.4.6-99.el7_9.src") or a bare package name
// ("kernel"). ok is false when neither yields a name.
func parseComponent(p product, ref string) (rpm, bool) {
	if p.Helper.PURL != "" {
		if r, ok := parsePURL(p.Helper.PURL); ok {
			if r.stream == "" {
				_, r.stream = cutStream(firstNonEmpty(p.ProductID, ref))
			}
			return r, true
		}
	}
	return parseNEVRA(firstNonEmpty(p.Name, p.ProductID, ref))
}

func parsePURL(s string) (rpm, bool) {
	u, err := packageurl.FromString(s)
	if err != nil || u.Type != "rpm" || u.Name == "" {
		return rpm{}, false
	}
	q := u.Qualifiers.Map()
	r := rpm{name: u.Name, arch: q["arch"]}
	if u.Version != "" {
		if !strings.Contains(u.Version, "-") {
			return rpm{}, false
		}
		r.evr = u.Version
		if e := q["epoch"]; e != "" && e != "0" {
			r.evr = e + ":" + u.Version
		}
	}
	if m := q["rpmmod"]; m != "" {
		// name:stream:version:context
		parts := strings.SplitN(m, ":", 3)
		if len(parts) >= 2 {
			r.stream = parts[0] + ":" + parts[1]
		}
	}
	return r, true
}

// cutStream removes a module stream suffix from a Red Hat product id:
// "ruby-0:3.1.4-142.module+el8.9.0+21471+7d1e4a35.i686::ruby:3.1" or
// "ruby-2.5.9-111.module+el8.9.0+19193+435404ae.i686.rpm-ruby:2.5".
func cutStream(s string) (string, string) {
	if i := strings.Index(s, "::"); i >= 0 {
		return s[:i], s[i+2:]
	}
	if i := strings.LastIndex(s, ".rpm-"); i >= 0 && strings.Contains(s[i:], ":") {
		return s[:i], s[i+5:]
	}
	return strings.TrimSuffix(s, ".rpm"), ""
}

// parseNEVRA reads NAME-[EPOCH:]VERSION-RELEASE.ARCH, or a bare name when
// the string does not end in a known architecture.
func parseNEVRA(s string) (rpm, bool) {
	s = strings.TrimSpace(s)
	s, stream := cutStream(s)
	if s == "" || strings.ContainsAny(s, " /") {
		return rpm{}, false
	}
	dot := strings.LastIndexByte(s, '.')
	if dot < 0 || !arches[s[dot+1:]] {
		if strings.Contains(s, ":") {
			return rpm{}, false
		}
		return rpm{name: s, stream: stream}, true
	}
	arch, nvr := s[dot+1:], s[:dot]
	r := strings.LastIndexByte(nvr, '-')
	if r <= 0 {
		return rpm{}, false
	}
	v := strings.LastIndexByte(nvr[:r], '-')
	if v <= 0 || v+1 == r || r+1 == len(nvr) {
		return rpm{}, false
	}
	name, ver, rel := nvr[:v], nvr[v+1:r], nvr[r+1:]
	evr := ver + "-" + rel
	if e, vv, ok := strings.Cut(ver, ":"); ok {
		if e == "" || vv == "" || strings.Trim(e, "0123456789") != "" {
			return rpm{}, false
		}
		if strings.TrimLeft(e, "0") == "" {
			evr = vv + "-" + rel
		}
	}
	return rpm{name: name, evr: evr, arch: arch, stream: stream}, true
}

// Ecosystems of the products lapps maps; everything else is skipped and
// counted.
var (
	// Rocky Linux as CIQ publishes it: "Rocky Linux from CIQ 9.6",
	// "Rocky Linux 10.2 from CIQ", "Rocky Linux from CIQ" (the release
	// then comes from the package's ".elN"), and plain "Rocky Linux 9".
	rockyRE = regexp.MustCompile(`^Rocky Linux(?: from CIQ)?(?: (\d+)(?:\.\d+)*)?(?: from CIQ)?$`)
	// Red Hat Enterprise Linux by CPE: the mainline stream only. The
	// extended-support streams (rhel_eus, rhel_aus, rhel_e4s, rhel_tus,
	// rhel_els…) fix a minor release on its own branch, with releases
	// (".el9_0.4") that sort below the mainline's (".el9_2.2"): one
	// ecosystem per major release cannot hold both, and taking the EUS
	// fix would clear a mainline package that is still vulnerable. Their
	// products are skipped and counted, as Trivy does for images that are
	// not on an EUS content set. Extended Life Cycle Support (rhel_els) is
	// kept: it continues the last minor release of a major release whose
	// mainline has ended (RHEL 6, 7), so its releases sort above it.
	rhelCPERE = regexp.MustCompile(`^cpe:(?:/[aoh]|2\.3:[aoh]):redhat:(?:enterprise_linux|rhel_els):(\d+)`)
	// Red Hat Enterprise Linux by name, where no CPE is given.
	rhelNameRE = regexp.MustCompile(`^Red Hat Enterprise Linux\b.*?(?:\(v\. ?|\s)(\d+)\b`)
	// Names of the extended-support streams, skipped like their CPEs.
	rhelExtendedRE = regexp.MustCompile(`\b(?:EUS|AUS|E4S|TUS)\b|Extended Update Support|Update Services for SAP|Advanced Update Support|Telecommunications Update Service`)
	elRE           = regexp.MustCompile(`\.el(\d+)`)
)

// ecosystemOf maps a platform product to the ecosystem of its packages:
// "Rocky Linux:9", "Red Hat:9". evr is a component's version, whose
// ".elN" gives the release of a product named without one. It returns ""
// for other products (CIQ LTS, FIPS and Bridge, whose builds carry their
// own release tags and are not what a Rocky Linux image installs; Red
// Hat's layered products).
func ecosystemOf(p product, evr string) string {
	name := strings.TrimSpace(p.Name)
	if m := rockyRE.FindStringSubmatch(name); m != nil {
		major := m[1]
		if major == "" {
			if e := elRE.FindStringSubmatch(evr); e != nil {
				major = e[1]
			}
		}
		if major == "" {
			return ""
		}
		return "Rocky Linux:" + major
	}
	if cpe, err := url.PathUnescape(p.Helper.CPE); err == nil {
		if m := rhelCPERE.FindStringSubmatch(cpe); m != nil {
			return "Red Hat:" + m[1]
		}
		if strings.HasPrefix(cpe, "cpe:") {
			return ""
		}
	}
	if rhelExtendedRE.MatchString(name) {
		return ""
	}
	if m := rhelNameRE.FindStringSubmatch(name); m != nil {
		return "Red Hat:" + m[1]
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
