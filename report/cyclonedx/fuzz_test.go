package cyclonedx_test

import (
	"bytes"
	"testing"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/cyclonedx"
	"github.com/lapps/lapps/report/internal/sbomtest"
	"github.com/lapps/lapps/vuln"
)

// FuzzWrite writes reports whose image, package and finding fields come
// from the fuzzer (as they come from hostile images and feeds): the
// writer never fails and its document is always valid CycloneDX 1.6.
func FuzzWrite(f *testing.F) {
	s := schema(f)
	f.Add("alpine:3.20", "sha256:abc", "pkg", "1.0", "pkg:npm/pkg@1.0", "MIT", "CVE-2024-1", "https://example.com/a", "deb x")
	f.Add(`we"ird <&> ü`, "", "", "", "", "GPL-2 OR", "GHSA-x y", "not a url\x00", "")
	f.Add("oci:/a:b", "sha256:", "a:b", "1:2~3", "pkg:maven/a/b@1", "LicenseRef-x AND DocumentRef-y:LicenseRef-z", "", "http://[::1", "deb")
	f.Fuzz(func(t *testing.T, image, digest, name, version, purl, license, id, link, ownedBy string) {
		r := &report.Report{
			Image: image, ManifestDigest: digest,
			Distribution: &vuln.Distribution{ID: name, VersionID: version, CPE: link},
			Packages: []vuln.Package{
				{Name: name, Version: version, Kind: "deb", PURL: purl, Licenses: []string{license}, DBPath: link},
				{Name: name, Version: version, Kind: "npm", PURL: purl, Licenses: []string{license, name}, OwnedBy: ownedBy},
			},
			OSOwnedPackages: []vuln.Package{{Name: version, Version: name, Kind: "pypi", OwnedBy: ownedBy}},
			Vulnerabilities: []vuln.Finding{{ID: id, Aliases: []string{name, id}, Package: name, InstalledVersion: version, PackageKind: "deb",
				FixedVersion: version, Links: []string{link}, Title: license, SeveritySource: name, SourceSeverity: license,
				CVSS: []vuln.CVSS{{Version: version, Vector: link, Score: 11}}}},
			NotAffected: []vuln.NotAffected{{ID: id, Package: name, Version: version, Source: link, Justification: license}},
		}
		var buf bytes.Buffer
		if err := cyclonedx.Write(&buf, r); err != nil {
			t.Fatal(err)
		}
		if err := sbomtest.Validate(s, buf.Bytes()); err != nil {
			t.Fatalf("invalid CycloneDX 1.6: %v\n%s", err, buf.Bytes())
		}
	})
}
