package cyclonedx_test

import (
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/cyclonedx"
	"github.com/lapps/lapps/vuln"
)

// TestEdgeCases writes reports made for the corners of the mapping and
// validates each against the schema: an empty report, a package without
// a purl, licenses that are not SPDX, special characters, the same purl
// from two databases, a not-affected statement, a finding whose package
// is not listed, and exploitation data.
func TestEdgeCases(t *testing.T) {
	s := schema(t)
	at := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	deb := &vuln.Distribution{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)"}
	tests := []struct {
		name  string
		r     report.Report
		check func(t *testing.T, bom *cdx.BOM)
	}{
		{"empty", report.Report{}, func(t *testing.T, bom *cdx.BOM) {
			if count(bom.Components) != 0 || count(bom.Vulnerabilities) != 0 || bom.Metadata.Component == nil {
				t.Errorf("components %d vulnerabilities %d metadata %+v", count(bom.Components), count(bom.Vulnerabilities), bom.Metadata)
			}
		}},
		{"no purl", report.Report{Image: "registry.example/app:1", ManifestDigest: "sha256:" + strings.Repeat("a", 64), GeneratedAt: at,
			Packages: []vuln.Package{{Name: "mystery", Version: "0.1", DBPath: "opt/x"}}}, func(t *testing.T, bom *cdx.BOM) {
			c := (*bom.Components)[0]
			if c.PackageURL != "" || c.BOMRef != "lapps:/mystery@0.1" {
				t.Errorf("component %+v", c)
			}
			if p := bom.Metadata.Component.PackageURL; p != "pkg:oci/app@sha256%3A"+strings.Repeat("a", 64)+"?repository_url=registry.example%2Fapp&tag=1" {
				t.Errorf("image purl %q", p)
			}
		}},
		{"licenses", report.Report{Distribution: deb, Packages: []vuln.Package{
			{Name: "a", Version: "1", Kind: "npm", PURL: "pkg:npm/a@1", Licenses: []string{"mit", "Apache-2.0"}},
			{Name: "b", Version: "1", Kind: "npm", PURL: "pkg:npm/b@1", Licenses: []string{"GPL-2.0-or-later OR MIT"}},
			{Name: "c", Version: "1", Kind: "deb", PURL: "pkg:deb/debian/c@1", Licenses: []string{"GPL-2", "Artistic", "MIT"}},
			{Name: "d", Version: "1", Kind: "deb", PURL: "pkg:deb/debian/d@1", Licenses: []string{" "}},
		}}, func(t *testing.T, bom *cdx.BOM) {
			want := []string{`expr MIT AND Apache-2.0`, `expr GPL-2.0-or-later OR MIT`, `names GPL-2|Artistic|MIT`, `none`}
			for i, c := range (*bom.Components)[1:] {
				got := "none"
				if c.Licenses != nil {
					if (*c.Licenses)[0].Expression != "" {
						got = "expr " + (*c.Licenses)[0].Expression
					} else {
						var names []string
						for _, l := range *c.Licenses {
							names = append(names, l.License.Name)
						}
						got = "names " + strings.Join(names, "|")
					}
				}
				if got != want[i] {
					t.Errorf("%s: licenses %s, want %s", c.Name, got, want[i])
				}
			}
		}},
		{"special characters", report.Report{Image: `weird "image" <&> ü:tag`, ManifestDigest: "sha256:" + strings.Repeat("b", 64), Packages: []vuln.Package{
			{Name: `we!rd <pkg> "quoted" ü/..`, Version: "1.0+git~1 & more", Kind: "pypi", PURL: "pkg:pypi/we%21rd@1.0", DBPath: "a b/c"},
			{Name: `we!rd <pkg> "quoted" ü/..`, Version: "1.0+git~1 & more", Kind: "pypi", PURL: "pkg:pypi/we%21rd@1.0", DBPath: "other"},
			{Name: `we!rd <pkg> "quoted" ü/..`, Version: "1.0+git~1 & more", Kind: "pypi", PURL: "pkg:pypi/we%21rd@1.0", DBPath: "other"},
		}}, func(t *testing.T, bom *cdx.BOM) {
			refs := map[string]bool{}
			for _, c := range *bom.Components {
				refs[c.BOMRef] = true
				if c.Name != `we!rd <pkg> "quoted" ü/..` {
					t.Errorf("name %q", c.Name)
				}
			}
			if len(refs) != 3 {
				t.Errorf("bom-refs %v, want 3 distinct", refs)
			}
			if bom.Metadata.Component.Name != `weird "image" <&> ü:tag` {
				t.Errorf("image name %q", bom.Metadata.Component.Name)
			}
		}},
		{"not affected and unlisted", report.Report{Distribution: deb, GeneratedAt: at,
			Packages: []vuln.Package{{Name: "openssl", Version: "3.0.11-1~deb12u2", Kind: "deb", PURL: "pkg:deb/debian/openssl@3.0.11-1~deb12u2"}},
			Vulnerabilities: []vuln.Finding{{ID: "CVE-2024-0001", Package: "gone", InstalledVersion: "1", Severity: vuln.SeverityHigh,
				KnownExploited: &vuln.KnownExploited{Catalog: "CISA KEV", DateAdded: "2024-01-02", RansomwareUse: true},
				EPSS:           &vuln.EPSS{Score: 0.97, Percentile: 0.999, Date: "2026-12-01"},
				CVSS:           []vuln.CVSS{{Version: "4.0", Vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", Score: 9.3}, {Version: "2.0", Vector: "AV:N/AC:L/Au:N/C:P/I:P/A:P", Score: 7.5}}}},
			NotAffected: []vuln.NotAffected{{ID: "CVE-2023-5678", Package: "openssl", Version: "3.0.11-1~deb12u2", Ecosystem: "Debian:12", Source: "csaf", Justification: "vulnerable_code_not_present"}},
		}, func(t *testing.T, bom *cdx.BOM) {
			vs := *bom.Vulnerabilities
			if len(vs) != 2 {
				t.Fatalf("%d vulnerabilities", len(vs))
			}
			if vs[0].Affects != nil {
				t.Errorf("unlisted package: affects %+v", vs[0].Affects)
			}
			var methods []string
			for _, r := range *vs[0].Ratings {
				methods = append(methods, string(r.Method))
			}
			if strings.Join(methods, ",") != ",CVSSv4,CVSSv2" {
				t.Errorf("rating methods %q", methods)
			}
			p := map[string]string{}
			for _, pr := range *vs[0].Properties {
				p[pr.Name] = pr.Value
			}
			if p[cyclonedx.PropKnownExploited] != "true" || p[cyclonedx.PropKEVRansomware] != "true" || p[cyclonedx.PropEPSSScore] != "0.97" || p[cyclonedx.PropEPSSPercentile] != "0.999" {
				t.Errorf("properties %v", p)
			}
			a := vs[1].Analysis
			if a == nil || a.State != cdx.IASNotAffected || a.Justification != cdx.IAJCodeNotPresent || !strings.Contains(a.Detail, "csaf") {
				t.Errorf("analysis %+v", a)
			}
			if vs[1].Affects == nil || (*vs[1].Affects)[0].Ref != (*bom.Components)[1].BOMRef || (*(*vs[1].Affects)[0].Range)[0].Status != cdx.VulnerabilityStatusNotAffected {
				t.Errorf("not-affected affects %+v", vs[1].Affects)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, bom := write(t, s, &tt.r)
			tt.check(t, bom)
		})
	}
}

// TestImagePURL checks the image purls against the form Trivy and Syft
// write.
func TestImagePURL(t *testing.T) {
	d := "sha256:" + strings.Repeat("c", 64)
	enc := "sha256%3A" + strings.Repeat("c", 64)
	for _, tt := range []struct{ ref, want string }{
		{"alpine:3.20", "pkg:oci/alpine@" + enc + "?repository_url=index.docker.io%2Flibrary%2Falpine&tag=3.20"},
		{"ghcr.io/org/app:v1", "pkg:oci/app@" + enc + "?repository_url=ghcr.io%2Forg%2Fapp&tag=v1"},
		{"registry.example:5000/x/y@" + d, "pkg:oci/y@" + enc + "?repository_url=registry.example:5000%2Fx%2Fy"},
		{"oci:/images/debian/oci:debian-bookworm-mid", "pkg:oci/debian-bookworm-mid@" + enc},
		{"oci:/images/layout", "pkg:oci/layout@" + enc},
		{"docker-archive:/tmp/img.tar", "pkg:oci/img.tar@" + enc},
		{"", ""},
	} {
		if got := cyclonedx.ImagePURLForTest(tt.ref, d); got != tt.want {
			t.Errorf("%q: %q, want %q", tt.ref, got, tt.want)
		}
	}
}
