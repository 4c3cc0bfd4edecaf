package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	packageurl "github.com/package-url/packageurl-go"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/report"
	_ "github.com/lapps/lapps/report/all" // the SBOM writers, scanned back
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

// sbomOf writes, with cyclonedx-go, a CycloneDX 1.6 SBOM of a report's
// packages, the operating system as an operating-system component and
// every package with its purl, in one of two styles:
//
//   - "lapps", as report/cyclonedx writes it: the source package, the
//     database path, the owning OS package and the application mark as
//     lapps: properties, and the language packages an OS package owns
//     listed too (with lapps:os_owned_by);
//   - "syft": the source package and its version in the purl's upstream
//     qualifier where they differ from the binary's, the path as
//     syft:location:0:path, OS-owned packages left out (Syft lists them
//     as its own packages, which lapps cannot tell apart).
func sbomOf(t *testing.T, r *report.Report, style string) []byte {
	t.Helper()
	if style == "cyclonedx" || style == "spdx-json" {
		// lapps' own writers (report/cyclonedx, report/spdx): an SBOM lapps
		// writes, scanned back, gives the image's findings.
		var b strings.Builder
		if err := report.Write(&b, r, style); err != nil {
			t.Fatalf("write %s: %v", style, err)
		}
		return []byte(b.String())
	}
	var comps []cdx.Component
	d := r.Distribution
	if !d.Empty() {
		comps = append(comps, cdx.Component{Type: cdx.ComponentTypeOS, Name: d.ID, Version: d.VersionID,
			Properties: &[]cdx.Property{{Name: "syft:distro:id", Value: d.ID}, {Name: "syft:distro:versionID", Value: d.VersionID}, {Name: "syft:distro:versionCodename", Value: d.VersionCodename}}})
	}
	pkgs := r.Packages
	if style == "lapps" {
		pkgs = append(append([]vuln.Package(nil), pkgs...), r.OSOwnedPackages...)
	}
	for _, p := range pkgs {
		purl := vuln.PURL(p, d)
		var props []cdx.Property
		prop := func(k, v string) {
			if v != "" {
				props = append(props, cdx.Property{Name: k, Value: v})
			}
		}
		switch style {
		case "lapps":
			prop("lapps:db_path", p.DBPath)
			prop("lapps:source_name", p.SourceName)
			prop("lapps:source_version", p.SourceVersion)
			prop("lapps:os_owned_by", p.OwnedBy)
			prop("lapps:application", p.Application)
		default:
			if p.SourceName != "" && p.SourceVersion != "" && p.SourceVersion != p.Version {
				u, err := packageurl.FromString(purl)
				if err != nil {
					t.Fatal(err)
				}
				var q packageurl.Qualifiers
				for _, kv := range u.Qualifiers {
					if kv.Key != "upstream" {
						q = append(q, kv)
					}
				}
				u.Qualifiers = append(q, packageurl.Qualifier{Key: "upstream", Value: p.SourceName + "@" + p.SourceVersion})
				purl = u.ToString()
			}
			prop("syft:location:0:path", "/"+p.DBPath)
		}
		comps = append(comps, cdx.Component{BOMRef: purl + "#" + p.DBPath, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version, PackageURL: purl, Properties: &props})
	}
	bom := cdx.NewBOM()
	bom.SpecVersion = cdx.SpecVersion1_6
	bom.Metadata = &cdx.Metadata{Component: &cdx.Component{Type: cdx.ComponentTypeContainer, Name: r.Image, Version: r.ManifestDigest}}
	bom.Components = &comps
	var b strings.Builder
	enc := cdx.NewBOMEncoder(&b, cdx.BOMFileFormatJSON)
	enc.SetPretty(true)
	if err := enc.EncodeVersion(bom, cdx.SpecVersion1_6); err != nil {
		t.Fatal(err)
	}
	return []byte(b.String())
}

// findingKeys are the findings as a sorted set, without what an SBOM does
// not carry (the layer).
func findingKeys(fs []vuln.Finding) []string {
	out := make([]string, 0, len(fs))
	for _, f := range fs {
		out = append(out, strings.Join([]string{f.ID, f.PackageKind, f.Package, f.InstalledVersion, f.SourcePackage, f.FixedVersion, string(f.Status), f.Severity.String(), f.Ecosystem, f.MatchedBy, f.DBPath}, " "))
	}
	slices.Sort(out)
	return out
}

// matchInputs are what the matcher takes of each package, sorted.
func matchInputs(ps []vuln.Package) []string {
	binNMU := regexp.MustCompile(`\+b[0-9]+$`)
	out := make([]string, 0, len(ps))
	for _, p := range ps {
		src, srcVer := p.SourceName, p.SourceVersion
		if src == "" {
			src = p.Name
		}
		if srcVer == "" {
			srcVer = binNMU.ReplaceAllString(p.Version, "")
		}
		out = append(out, strings.Join([]string{p.Kind, p.Name, p.Version, p.Arch, src, srcVer, p.DBPath}, " "))
	}
	slices.Sort(out)
	return out
}

// TestSBOMFindingsEqualImage scans debian-bookworm-mid, writes a
// CycloneDX SBOM of the packages lapps found, scans that as sbom:FILE and
// checks that the findings are the same, with Debian, Go and GitHub
// advisories; then that the SBOM's scans are numbered and listed, that
// report -i gives the recorded scan, and that the inverted package index
// (which the notifier reads) reaches the SBOM's manifest.
func TestSBOMFindingsEqualImage(t *testing.T) {
	images := testenv.Images(t)
	v := testenv.VulnData(t)
	ref := "oci:" + filepath.Join(images, "debian", "oci") + ":debian-bookworm-mid"
	l, _ := newTestLocal(t)
	l.sources = []updater.Source{
		{Name: "debian-dsa", Type: "debian-dsa", Path: filepath.Join(v, "debian-security-tracker", "data")},
		{Name: "go-vulndb", Type: "osv", Path: filepath.Join(v, "golang-vulndb", "data", "osv")},
		{Name: "ghsa", Type: "osv", Path: filepath.Join(v, "github-advisory-database", "advisories")},
	}
	ctx := context.Background()
	res, err := l.UpdateVulnDB(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Error != "" {
			t.Fatalf("%s: %s", r.Source, r.Error)
		}
	}
	img, err := l.ScanImage(ctx, ScanRequest{Image: ref})
	if err != nil {
		t.Fatal(err)
	}
	for _, style := range []string{"syft", "lapps", "cyclonedx", "spdx-json"} {
		data := sbomOf(t, img, style)
		file := filepath.Join(t.TempDir(), style+".json")
		if err := os.WriteFile(file, data, 0o644); err != nil {
			t.Fatal(err)
		}
		sb, err := l.ScanImage(ctx, ScanRequest{Image: "sbom:" + file})
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(data)
		digest := "sha256:" + hex.EncodeToString(sum[:])
		if sb.Image != "sbom:"+file || sb.ManifestDigest != digest || sb.ScanIndex != 1 {
			t.Errorf("image %s manifest %s scan %d, want sbom:%s %s 1", sb.Image, sb.ManifestDigest, sb.ScanIndex, file, digest)
		}
		if len(sb.Packages) != len(img.Packages) {
			t.Errorf("%d packages from the SBOM, %d in the image", len(sb.Packages), len(img.Packages))
		}
		kinds := map[string]int{}
		for _, f := range img.Vulnerabilities {
			kinds[f.PackageKind]++
		}
		if kinds[vuln.KindGo] == 0 || kinds[vuln.KindNPM] == 0 {
			t.Fatalf("the image's findings by kind %v: the comparison needs golang and npm findings", kinds)
		}
		// The shared Debian data (2023) predates every package of the image,
		// so no deb finding compares: what the matcher takes of each package
		// (kind, name, version, arch, source name and the source version it
		// compares) and the distribution's ecosystem must be the same.
		if a, b := matchInputs(img.Packages), matchInputs(sb.Packages); !slices.Equal(a, b) {
			t.Errorf("packages as matched:\nimage %q\nSBOM  %q", a, b)
		}
		if a, b := vuln.DistributionEcosystem(img.Distribution), vuln.DistributionEcosystem(sb.Distribution); a != b || a != "Debian:12" {
			t.Errorf("ecosystem %q from the image, %q from the SBOM", a, b)
		}
		want, got := findingKeys(img.Vulnerabilities), findingKeys(sb.Vulnerabilities)
		if !slices.Equal(want, got) {
			for _, k := range want {
				if !slices.Contains(got, k) {
					t.Errorf("only from the image: %s", k)
				}
			}
			for _, k := range got {
				if !slices.Contains(want, k) {
					t.Errorf("only from the SBOM: %s", k)
				}
			}
		}
		t.Logf("%s: image and SBOM: %d findings (%v), %d packages, %d OS-owned", style, len(want), kinds, len(sb.Packages), len(sb.OSOwnedPackages))
		if style != "syft" && len(sb.OSOwnedPackages) != len(img.OSOwnedPackages) {
			t.Errorf("%d OS-owned packages from the SBOM, %d in the image", len(sb.OSOwnedPackages), len(img.OSOwnedPackages))
		}
		if style != "lapps" {
			continue
		}

		// Scanned again: scan 2 of the same name and manifest; list and report.
		if _, err := l.ScanImage(ctx, ScanRequest{Image: "sbom:" + file}); err != nil {
			t.Fatal(err)
		}
		scans, err := l.ListScans(ctx, "sbom:"+file)
		if err != nil || len(scans) != 2 || scans[1].Index != 2 || scans[0].ManifestDigest != digest || scans[0].Packages != len(sb.Packages) {
			t.Fatalf("list: %v %+v", err, scans)
		}
		r1, err := l.Report(ctx, "sbom:"+file, 1)
		if err != nil || !slices.Equal(findingKeys(r1.Vulnerabilities), got) || r1.ScanIndex != 1 {
			t.Fatalf("report -i 1: %v", err)
		}
		live, err := l.Report(ctx, "sbom:"+file, 0)
		if err != nil || !slices.Equal(findingKeys(live.Vulnerabilities), got) || live.ScanIndex != 2 {
			t.Fatalf("live report: %v", err)
		}
		// The notifier finds affected manifests through this index.
		ds, err := l.st.ManifestsWithPackages(ctx, vuln.KindDeb, []string{"glibc"})
		if err != nil || !slices.Contains(ds, digest) || !slices.Contains(ds, img.ManifestDigest) {
			t.Errorf("manifests with glibc: %v %v, want the image's and the SBOM's", err, ds)
		}
		// Scrub re-evaluates the SBOM from its stored index, without reading it.
		os.Remove(file)
		sr, err := l.Scrub(ctx)
		if err != nil || sr.Failed != 0 {
			t.Errorf("scrub: %v %+v", err, sr)
		}
	}
}

// TestSBOMSource: an sbom: path that is missing, or not under the local
// roots of a server, is refused; a bare file is not an image.
func TestSBOMSource(t *testing.T) {
	l, _ := newTestLocal(t)
	ctx := context.Background()
	if _, err := l.ScanImage(ctx, ScanRequest{Image: "sbom:" + filepath.Join(t.TempDir(), "missing.json")}); !errors.Is(err, image.ErrNotFound) {
		t.Errorf("missing: %v", err)
	}
	fixture, err := filepath.Abs(filepath.Join("..", "sbom", "testdata", "syft-debian-mid.cdx-1.6.json"))
	if err != nil {
		t.Fatal(err)
	}
	srv, _ := newTestLocal(t)
	srv.imageOpts = append(srv.imageOpts, image.WithLocalRoots([]string{t.TempDir()}))
	if _, err := srv.ScanImage(ctx, ScanRequest{Image: "sbom:" + fixture}); !errors.Is(err, image.ErrForbidden) {
		t.Errorf("outside the local roots: %v", err)
	}
	r, err := l.ScanImage(ctx, ScanRequest{Image: "sbom:" + fixture})
	if err != nil {
		t.Fatal(err)
	}
	if r.Distribution == nil || r.Distribution.VersionCodename != "bookworm" || len(r.Packages) != 19 {
		t.Errorf("distribution %+v, %d packages", r.Distribution, len(r.Packages))
	}
	if _, err := l.ScanImage(ctx, ScanRequest{Image: "sbom:" + filepath.Join("..", "go.mod")}); err == nil {
		t.Error("go.mod scanned as an SBOM")
	}
}

// TestSBOMNotified: advisories that a new update operation adds reach a
// scanned SBOM through the notifier's inverted index, as they reach
// images, naming the SBOM's scans.
func TestSBOMNotified(t *testing.T) {
	v := testenv.VulnData(t)
	osv := filepath.Join(v, "golang-vulndb", "data", "osv")
	feed := t.TempDir()
	cp := func(id string) {
		b, err := os.ReadFile(filepath.Join(osv, id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(feed, id+".json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cp("GO-2020-0015") // golang.org/x/text before 0.3.3: not v0.3.5
	l, _ := newTestLocal(t)
	l.sources = []updater.Source{{Name: "go-feed", Type: "osv", Path: feed}}
	ctx := context.Background()
	op := func() int64 {
		t.Helper()
		if res, err := l.UpdateVulnDB(ctx, nil); err != nil || res[0].Error != "" {
			t.Fatalf("update: %v %+v", err, res)
		}
		st, err := l.VulnDBStatus(ctx)
		if err != nil || len(st) != 1 {
			t.Fatalf("status: %v %+v", err, st)
		}
		return st[0].Operation
	}
	op1 := op()
	b, err := os.ReadFile(filepath.Join("..", "sbom", "testdata", "syft-debian-mid.cdx-1.6.json"))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "bom.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := l.ScanImage(ctx, ScanRequest{Image: "sbom:" + file})
	if err != nil {
		t.Fatal(err)
	}
	cp("GO-2021-0113") // golang.org/x/text before 0.3.7
	cp("GO-2022-1059") // golang.org/x/text before 0.3.8
	op2 := op()
	changes, err := notifier.Affected(ctx, l.Store(), op1, op2)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range changes {
		if c.ManifestDigest != r.ManifestDigest || !slices.Equal(c.Images, []string{"sbom:" + file}) {
			t.Errorf("change of %s %v, want the SBOM's %s", c.ManifestDigest, c.Images, r.ManifestDigest)
		}
		got = append(got, c.Action+" "+c.Finding.ID+" "+c.Finding.Package+" "+c.Finding.InstalledVersion)
	}
	// Findings carry the CVE the advisories alias (GO-2021-0113, GO-2022-1059).
	want := []string{"added CVE-2021-38561 golang.org/x/text v0.3.5", "added CVE-2022-32149 golang.org/x/text v0.3.5"}
	if !slices.Equal(got, want) {
		t.Errorf("changes %q, want %q", got, want)
	}
}
