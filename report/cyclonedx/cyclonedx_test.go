package cyclonedx_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/cyclonedx"
	"github.com/lapps/lapps/report/internal/sbomtest"
	"github.com/lapps/lapps/vuln"
)

func schema(t testing.TB) *jsonschema.Schema {
	return sbomtest.Schema(t, "cyclonedx/bom-1.6.schema.json", "cyclonedx/spdx.schema.json", "cyclonedx/jsf-0.82.schema.json")
}

// write renders r through the registry, validates it against the official
// schema and decodes it back through the library.
func write(t *testing.T, s *jsonschema.Schema, r *report.Report) ([]byte, *cdx.BOM) {
	t.Helper()
	var buf bytes.Buffer
	if err := report.Write(&buf, r, "cyclonedx"); err != nil {
		t.Fatal(err)
	}
	if err := sbomtest.Validate(s, buf.Bytes()); err != nil {
		t.Fatalf("invalid CycloneDX 1.6: %v", err)
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(buf.Bytes()), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatalf("decode: %v", err)
	}
	return buf.Bytes(), &bom
}

func count[T any](p *[]T) int {
	if p == nil {
		return 0
	}
	return len(*p)
}

// TestImage writes the report of debian-bookworm-mid (scanned with the Go
// vulnerability database, GHSA and Debian's DSA list) and checks the
// document against the report: one component per package (and the
// distribution), one vulnerability per finding and not-affected
// statement, every finding's affects naming the component of its package,
// the OS-owned packages as dependencies of their OS package.
func TestImage(t *testing.T) {
	r := sbomtest.Report(t, "debian-bookworm-mid")
	if len(r.Packages) == 0 || len(r.Vulnerabilities) == 0 || len(r.OSOwnedPackages) == 0 {
		t.Fatalf("the mid image should have packages, OS-owned packages and findings: %d, %d, %d", len(r.Packages), len(r.OSOwnedPackages), len(r.Vulnerabilities))
	}
	out, bom := write(t, schema(t), r)

	if bom.SpecVersion != cdx.SpecVersion1_6 || !strings.HasPrefix(bom.SerialNumber, "urn:uuid:") {
		t.Errorf("spec %v serial %q", bom.SpecVersion, bom.SerialNumber)
	}
	if m := bom.Metadata; m == nil || m.Component == nil || m.Component.Type != cdx.ComponentTypeContainer || m.Component.Name != r.Image || m.Component.Version != r.ManifestDigest {
		t.Errorf("metadata component %+v, want the image %s %s", bom.Metadata, r.Image, r.ManifestDigest)
	} else if !strings.HasPrefix(m.Component.PackageURL, "pkg:oci/debian-bookworm-mid@sha256%3A") {
		t.Errorf("image purl %q", m.Component.PackageURL)
	}
	if m := bom.Metadata; m.Timestamp != r.GeneratedAt.UTC().Format(time.RFC3339) {
		t.Errorf("timestamp %q, want %s", m.Timestamp, r.GeneratedAt)
	}

	comps := *bom.Components
	if want := len(r.Packages) + len(r.OSOwnedPackages) + 1; len(comps) != want {
		t.Errorf("%d components, want %d packages + %d OS-owned + the OS", len(comps), len(r.Packages), len(r.OSOwnedPackages))
	}
	byRef := map[string]cdx.Component{}
	osComps, owned, withLayer := 0, 0, 0
	for _, c := range comps {
		if _, dup := byRef[c.BOMRef]; dup || c.BOMRef == "" {
			t.Errorf("bom-ref %q empty or repeated", c.BOMRef)
		}
		byRef[c.BOMRef] = c
		if c.Type == cdx.ComponentTypeOS {
			osComps++
			if c.Name != r.Distribution.ID {
				t.Errorf("OS component %q, want %q", c.Name, r.Distribution.ID)
			}
		}
		for _, p := range props(c.Properties) {
			switch p.Name {
			case cyclonedx.PropOSOwned:
				owned++
			case cyclonedx.PropLayer:
				withLayer++
			}
		}
	}
	if osComps != 1 || owned != len(r.OSOwnedPackages) || withLayer != len(r.Packages)+len(r.OSOwnedPackages) {
		t.Errorf("OS components %d (want 1), marked OS-owned %d (want %d), with a layer %d", osComps, owned, len(r.OSOwnedPackages), withLayer)
	}

	// Dependencies: every OS-owned package is a dependency of its owner.
	dependsOn := map[string]map[string]bool{}
	for _, d := range *bom.Dependencies {
		dependsOn[d.Ref] = map[string]bool{}
		if d.Dependencies != nil {
			for _, x := range *d.Dependencies {
				dependsOn[d.Ref][x] = true
				if _, ok := byRef[x]; !ok {
					t.Errorf("dependency %q of %q is no component", x, d.Ref)
				}
			}
		}
	}
	for _, c := range comps {
		for _, p := range props(c.Properties) {
			if p.Name != cyclonedx.PropOSOwned {
				continue
			}
			kind, name, _ := strings.Cut(p.Value, " ")
			found := false
			for ref, deps := range dependsOn {
				if o, ok := byRef[ref]; ok && o.Name == name && strings.HasPrefix(o.PackageURL, "pkg:"+kind+"/") && deps[c.BOMRef] {
					found = true
				}
			}
			if !found {
				t.Errorf("%s (owned by %s) is no dependency of its owner", c.BOMRef, p.Value)
			}
		}
	}

	// Vulnerabilities: one per finding, then one per not-affected
	// statement; each finding affects its package's component.
	vulns := *bom.Vulnerabilities
	if want := len(r.Vulnerabilities) + len(r.NotAffected); len(vulns) != want {
		t.Fatalf("%d vulnerabilities, want %d findings + %d not-affected", len(vulns), len(r.Vulnerabilities), len(r.NotAffected))
	}
	fixed, rated := 0, 0
	for i, f := range r.Vulnerabilities {
		v := vulns[i]
		if v.ID != f.ID || v.Affects == nil || len(*v.Affects) != 1 {
			t.Errorf("vulnerability %d: %s affects %v, want %s", i, v.ID, v.Affects, f.ID)
			continue
		}
		c, ok := byRef[(*v.Affects)[0].Ref]
		if !ok || c.Version != f.InstalledVersion || (c.Name != f.Package && c.Group+":"+c.Name != f.Package) {
			t.Errorf("%s of %s %s affects %+v", f.ID, f.Package, f.InstalledVersion, c)
		}
		if f.FixedVersion != "" {
			fixed++
			if !strings.Contains(v.Recommendation, f.FixedVersion) {
				t.Errorf("%s: recommendation %q without fixed version %s", f.ID, v.Recommendation, f.FixedVersion)
			}
		}
		if (*v.Ratings)[0].Severity != cdx.Severity(f.Severity.String()) && f.Severity != vuln.SeverityNegligible {
			t.Errorf("%s: severity %q, want %s", f.ID, (*v.Ratings)[0].Severity, f.Severity)
		}
		if len(f.CVSS) > 0 {
			rated++
			if count(v.Ratings) != 1+len(f.CVSS) {
				t.Errorf("%s: %d ratings for %d CVSS", f.ID, count(v.Ratings), len(f.CVSS))
			}
		}
	}
	if fixed == 0 || rated == 0 {
		t.Errorf("no finding with a fixed version (%d) or CVSS (%d): the data should give some", fixed, rated)
	}

	// Reproducible: the same report gives the same document.
	again, _ := write(t, schema(t), r)
	if !bytes.Equal(out, again) {
		t.Error("two writes of the same report differ")
	}
}

func props(p *[]cdx.Property) []cdx.Property {
	if p == nil {
		return nil
	}
	return *p
}

// BenchmarkWrite times the CycloneDX document of debian-bookworm-fat
// against the JSON report in the same run:
//
//	go test ./report/cyclonedx -run '^$' -bench Write -benchtime 20x
func BenchmarkWrite(b *testing.B) { sbomtest.BenchWrite(b, schema(b), "cyclonedx", cyclonedx.Write) }
