package spdx_test

import (
	"bytes"
	"testing"

	spdxjson "github.com/spdx/tools-golang/json"
	v23 "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/internal/sbomtest"
	"github.com/lapps/lapps/report/spdx"
	"github.com/lapps/lapps/vuln"
)

// FuzzWrite writes reports whose image and package fields come from the
// fuzzer (as they come from hostile images): the writer never fails, its
// document is always valid SPDX 2.3 and reads back through the library.
func FuzzWrite(f *testing.F) {
	s := schema(f)
	f.Add("alpine:3.20", "sha256:abc", "pkg", "1.0", "pkg:npm/pkg@1.0", "MIT", "deb pkg")
	f.Add(`we"ird <&> ü`, "", "", "", "", "GPL-2 OR", "")
	f.Add("oci:/a:b", "sha256:", "a:b", "1:2~3", "pkg:maven/a/b@1", "LicenseRef-x AND DocumentRef-y:LicenseRef-z", "deb")
	f.Fuzz(func(t *testing.T, image, digest, name, version, purl, license, ownedBy string) {
		r := &report.Report{
			Image: image, ManifestDigest: digest,
			Distribution: &vuln.Distribution{ID: name, VersionID: version},
			Packages: []vuln.Package{
				{Name: name, Version: version, Kind: "deb", PURL: purl, Licenses: []string{license}, DBPath: purl},
				{Name: name, Version: version, Kind: "npm", PURL: purl, Licenses: []string{license, name}, OwnedBy: ownedBy},
			},
			OSOwnedPackages: []vuln.Package{{Name: version, Version: name, Kind: "pypi", OwnedBy: ownedBy, Licenses: []string{name}}},
		}
		var buf bytes.Buffer
		if err := spdx.Write(&buf, r); err != nil {
			t.Fatal(err)
		}
		if err := sbomtest.Validate(s, buf.Bytes()); err != nil {
			t.Fatalf("invalid SPDX 2.3: %v\n%s", err, buf.Bytes())
		}
		var doc v23.Document
		if err := spdxjson.ReadInto(bytes.NewReader(buf.Bytes()), &doc); err != nil {
			t.Fatalf("read back: %v", err)
		}
		want := 1 + len(r.Packages) + len(r.OSOwnedPackages) // the image and the packages
		if !r.Distribution.Empty() {
			want++
		}
		if len(doc.Packages) != want {
			t.Fatalf("%d packages read back", len(doc.Packages))
		}
	})
}
