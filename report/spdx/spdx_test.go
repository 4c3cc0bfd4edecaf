package spdx_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	v23 "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/internal/sbomtest"
	"github.com/lapps/lapps/report/spdx"
	"github.com/lapps/lapps/vuln"
)

func schema(t testing.TB) *jsonschema.Schema {
	return sbomtest.Schema(t, "spdx/spdx-schema.json")
}

// write renders r through the registry, validates it against the official
// schema and decodes it back through the library.
func write(t *testing.T, s *jsonschema.Schema, r *report.Report) ([]byte, *v23.Document) {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, r, "spdx-json"); err != nil {
		t.Fatal(err)
	}
	if err := sbomtest.Validate(s, buf.Bytes()); err != nil {
		t.Fatalf("invalid SPDX 2.3: %v", err)
	}
	var doc v23.Document
	if err := spdxjson.ReadInto(bytes.NewReader(buf.Bytes()), &doc); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return buf.Bytes(), &doc
}

type relation struct{ a, kind, b string }

func relations(doc *v23.Document) map[relation]bool {
	out := map[relation]bool{}
	for _, r := range doc.Relationships {
		out[relation{string(r.RefA.ElementRefID), r.Relationship, string(r.RefB.ElementRefID)}] = true
	}
	return out
}

// TestImage writes the report of debian-bookworm-mid and checks the
// document against it: the image described, one SPDX package per package
// (and the image and the distribution), each with its purl and contained
// by the image, the distribution or its owning OS package.
func TestImage(t *testing.T) {
	r := sbomtest.Report(t, "debian-bookworm-mid")
	out, doc := write(t, schema(t), r)

	if want := len(r.Packages) + len(r.OSOwnedPackages) + 2; len(doc.Packages) != want {
		t.Errorf("%d packages, want %d + %d OS-owned + image + OS", len(doc.Packages), len(r.Packages), len(r.OSOwnedPackages))
	}
	if doc.SPDXVersion != "SPDX-2.3" || !strings.HasPrefix(doc.DocumentNamespace, spdx.NamespacePrefix) || doc.CreationInfo.Created != r.GeneratedAt.UTC().Format(time.RFC3339) {
		t.Errorf("version %q namespace %q created %q", doc.SPDXVersion, doc.DocumentNamespace, doc.CreationInfo.Created)
	}
	tool := false
	for _, c := range doc.CreationInfo.Creators {
		tool = tool || (c.CreatorType == "Tool" && strings.HasPrefix(c.Creator, "lapps-"))
	}
	if !tool {
		t.Errorf("creators %+v: no lapps tool", doc.CreationInfo.Creators)
	}
	rels := relations(doc)
	if !rels[relation{"DOCUMENT", "DESCRIBES", spdx.ImageID}] || !rels[relation{spdx.ImageID, "CONTAINS", spdx.OSID}] {
		t.Errorf("the document should describe the image, which contains the OS")
	}
	image := doc.Packages[0]
	if image.PackageSPDXIdentifier != spdx.ImageID || image.PackageVersion != r.ManifestDigest || image.PrimaryPackagePurpose != "CONTAINER" {
		t.Errorf("image package %+v", image)
	}

	// Every package: its purl, contained exactly once.
	containedBy := map[common.ElementID]int{}
	for rel := range rels {
		if rel.kind == "CONTAINS" {
			containedBy[common.ElementID(rel.b)]++
		}
	}
	byID := map[common.ElementID]*v23.Package{}
	for _, p := range doc.Packages {
		byID[p.PackageSPDXIdentifier] = p
	}
	pkgs := append(append([]vuln.Package(nil), r.Packages...), r.OSOwnedPackages...)
	for i, want := range pkgs {
		p := doc.Packages[i+2]
		if p.PackageName != want.Name || p.PackageVersion != want.Version {
			t.Errorf("package %d: %s %s, want %s %s", i, p.PackageName, p.PackageVersion, want.Name, want.Version)
		}
		if want.PURL != "" && (len(p.PackageExternalReferences) != 1 || p.PackageExternalReferences[0].Locator != want.PURL || p.PackageExternalReferences[0].RefType != "purl") {
			t.Errorf("%s: external refs %+v, want purl %s", want.Name, p.PackageExternalReferences, want.PURL)
		}
		if containedBy[p.PackageSPDXIdentifier] != 1 {
			t.Errorf("%s contained %d times", p.PackageSPDXIdentifier, containedBy[p.PackageSPDXIdentifier])
		}
		if want.OwnedBy != "" {
			_, name, _ := strings.Cut(want.OwnedBy, " ")
			found := false
			for rel := range rels {
				if rel.kind == "CONTAINS" && rel.b == string(p.PackageSPDXIdentifier) && byID[common.ElementID(rel.a)] != nil && byID[common.ElementID(rel.a)].PackageName == name {
					found = true
				}
			}
			if !found {
				t.Errorf("%s is not contained by its owner %s", p.PackageSPDXIdentifier, want.OwnedBy)
			}
		}
	}

	again, _ := write(t, schema(t), r)
	if !bytes.Equal(out, again) {
		t.Error("two writes of the same report differ")
	}
}

// TestEdgeCases validates documents of reports made for the corners of
// the mapping.
func TestEdgeCases(t *testing.T) {
	s := schema(t)
	tests := []struct {
		name  string
		r     report.Report
		check func(t *testing.T, doc *v23.Document)
	}{
		{"empty", report.Report{}, func(t *testing.T, doc *v23.Document) {
			if len(doc.Packages) != 1 || len(doc.Relationships) != 1 {
				t.Errorf("packages %d relationships %d, want the image described", len(doc.Packages), len(doc.Relationships))
			}
		}},
		{"no purl", report.Report{Image: "x", Packages: []vuln.Package{{Name: "mystery", Version: "0.1"}}}, func(t *testing.T, doc *v23.Document) {
			if p := doc.Packages[1]; len(p.PackageExternalReferences) != 0 || p.PackageLicenseDeclared != "NOASSERTION" || p.PackageSupplier.Supplier != "NOASSERTION" {
				t.Errorf("package %+v", p)
			}
		}},
		{"licenses", report.Report{Image: "x", Packages: []vuln.Package{
			{Name: "a", Version: "1", Kind: "npm", Licenses: []string{"mit", "Apache-2.0"}},
			{Name: "b", Version: "1", Kind: "npm", Licenses: []string{"GPL-2.0-or-later OR MIT"}},
			{Name: "c", Version: "1", Kind: "deb", Licenses: []string{"GPL-2", "Artistic", "MIT OR GPL-2.0-only"}},
			{Name: "d", Version: "1", Kind: "deb", Licenses: []string{"GPL-2", "LicenseRef-Custom"}},
			{Name: "e", Version: "1", Kind: "deb", Licenses: []string{"Public domain (see copyright) ü"}},
			{Name: "f", Version: "1", Kind: "deb", Licenses: []string{"DocumentRef-other:LicenseRef-x"}},
		}}, func(t *testing.T, doc *v23.Document) {
			want := []string{"MIT AND Apache-2.0", "GPL-2.0-or-later OR MIT", "LicenseRef-GPL-2 AND LicenseRef-Artistic AND (MIT OR GPL-2.0-only)", "LicenseRef-GPL-2 AND LicenseRef-Custom", "LicenseRef-Public-domain-see-copyright", "LicenseRef-DocumentRef-other-LicenseRef-x"}
			for i, p := range doc.Packages[1:] {
				if p.PackageLicenseDeclared != want[i] {
					t.Errorf("%s: %q, want %q", p.PackageName, p.PackageLicenseDeclared, want[i])
				}
			}
			var ids []string
			for _, o := range doc.OtherLicenses {
				ids = append(ids, o.LicenseIdentifier+"="+o.ExtractedText)
			}
			if got := strings.Join(ids, ","); got != "LicenseRef-Artistic=Artistic,LicenseRef-Custom=LicenseRef-Custom,LicenseRef-DocumentRef-other-LicenseRef-x=DocumentRef-other:LicenseRef-x,LicenseRef-GPL-2=GPL-2,LicenseRef-Public-domain-see-copyright=Public domain (see copyright) ü" {
				t.Errorf("extracted licenses %s", got)
			}
		}},
		{"special characters", report.Report{Image: `weird "image" <&> ü:tag`, Distribution: &vuln.Distribution{ID: "debian", VersionID: "12"}, Packages: []vuln.Package{
			{Name: `we!rd <pkg> "quoted" ü/..`, Version: "1.0+git~1 & more", Kind: "deb", PURL: "pkg:deb/debian/we%21rd@1.0"},
			{Name: `we!rd <pkg> "quoted" ü/..`, Version: "1.0+git~1 & more", Kind: "deb", PURL: "pkg:deb/debian/we%21rd@1.0", DBPath: "other"},
			{Name: "tool", Version: "2", Kind: "pypi", OwnedBy: `deb we!rd <pkg> "quoted" ü/..`},
		}}, func(t *testing.T, doc *v23.Document) {
			if doc.Packages[2].PackageSPDXIdentifier == doc.Packages[3].PackageSPDXIdentifier {
				t.Errorf("SPDX ids repeat: %s", doc.Packages[2].PackageSPDXIdentifier)
			}
			if doc.Packages[2].PackageName != `we!rd <pkg> "quoted" ü/..` || doc.DocumentName != `weird "image" <&> ü:tag` {
				t.Errorf("names %q %q", doc.Packages[2].PackageName, doc.DocumentName)
			}
			if !relations(doc)[relation{string(doc.Packages[2].PackageSPDXIdentifier), "CONTAINS", string(doc.Packages[4].PackageSPDXIdentifier)}] {
				t.Errorf("the owning OS package should contain tool")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, doc := write(t, s, &tt.r)
			tt.check(t, doc)
		})
	}
}

// BenchmarkWrite times the SPDX document of debian-bookworm-fat against
// the JSON report in the same run:
//
//	go test ./report/spdx -run '^$' -bench Write -benchtime 20x
func BenchmarkWrite(b *testing.B) { sbomtest.BenchWrite(b, schema(b), "spdx", spdx.Write) }
