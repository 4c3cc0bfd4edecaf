package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/vuln"
)

// The fixtures in testdata are in the shape Syft and Trivy write, with
// packages (names, versions, source packages) of the debian-bookworm-mid
// test image.
func TestParseFixtures(t *testing.T) {
	type pkg struct{ kind, name, version, source, sourceVersion string }
	debs := []pkg{
		{"deb", "libc6", "2.36-9+deb12u14", "glibc", ""},
		{"deb", "login", "1:4.13+dfsg1-1+deb12u2", "shadow", ""},
		{"deb", "bash", "5.2.15-2+b13", "bash", "5.2.15-2"},
		{"deb", "openssl", "3.0.22-1~deb12u2", "", ""},
	}
	langs := []pkg{
		{"npm", "@types/node", "20.1.0", "", ""},
		{"npm", "lodash", "4.17.20", "", ""},
	}
	gos := []pkg{
		{"golang", "golang.org/x/text", "v0.3.5", "", ""},
		{"golang", "stdlib", "1.21.0", "", ""},
	}
	cases := []struct {
		file, format, spec, name string
		distro                   vuln.Distribution
		counts                   map[string]int
		want                     []pkg
		warnings                 []string // substrings, one per warning
		osOwned                  []string // name version owner path
	}{
		{
			file: "syft-debian-mid.cdx-1.6.json", format: FormatCycloneDX, spec: "1.6",
			name:     "localhost:5000/testimages/debian-bookworm-mid",
			distro:   vuln.Distribution{ID: "debian", VersionID: "12", VersionCodename: "bookworm"},
			counts:   map[string]int{"deb": 10, "npm": 5, "golang": 4},
			want:     append(append(debs, langs...), gos...),
			warnings: []string{"1 components without a purl are not matched: busybox-static-guess 1.35.0"},
		},
		{
			file: "trivy-debian-mid.cdx-1.5.json", format: FormatCycloneDX, spec: "1.5",
			name:   "localhost:5000/testimages/debian-bookworm-mid:latest",
			distro: vuln.Distribution{ID: "debian", VersionID: "12.15"},
			counts: map[string]int{"deb": 10, "npm": 5, "golang": 4},
			// Trivy gives the source version in properties: bash's is set,
			// libc6's equals the binary's.
			want: append(append([]pkg{
				{"deb", "libc6", "2.36-9+deb12u14", "glibc", "2.36-9+deb12u14"},
				{"deb", "login", "1:4.13+dfsg1-1+deb12u2", "shadow", "1:4.13+dfsg1-1+deb12u2"},
				{"deb", "bash", "5.2.15-2+b13", "bash", "5.2.15-2"},
				{"deb", "openssl", "3.0.22-1~deb12u2", "", ""},
			}, langs...), gos...),
		},
		{
			file: "syft-alpine.cdx-1.4.json", format: FormatCycloneDX, spec: "1.4",
			name:   "alpine:3.18",
			distro: vuln.Distribution{ID: "alpine", VersionID: "3.18.0"},
			counts: map[string]int{"apk": 2, "pypi": 1, "maven": 1},
			want: []pkg{
				{"apk", "libcrypto3", "3.1.0-r4", "openssl", ""},
				{"apk", "busybox", "1.36.0-r9", "", ""},
				{"maven", "org.apache.logging.log4j:log4j-core", "2.14.1", "", ""},
				{"pypi", "requests", "2.25.1", "", ""},
			},
			warnings: []string{"purl types lapps does not match are not matched: github (1)"},
		},
		{
			file: "syft-debian-mid.spdx-2.3.json", format: FormatSPDX, spec: "SPDX-2.3",
			name:   "localhost:5000/testimages/debian-bookworm-mid",
			distro: vuln.Distribution{ID: "debian", VersionID: "12"},
			counts: map[string]int{"deb": 10, "npm": 5, "golang": 4},
			want:   append(append(debs, langs...), gos...),
		},
		{
			file: "trivy-debian-mid.spdx-2.3.json", format: FormatSPDX, spec: "SPDX-2.3",
			name:   "localhost:5000/testimages/debian-bookworm-mid:latest",
			distro: vuln.Distribution{ID: "debian", VersionID: "12.15"},
			counts: map[string]int{"deb": 10, "npm": 5},
			want: append([]pkg{
				{"deb", "libc6", "2.36-9+deb12u14", "glibc", "2.36-9+deb12u14"},
				{"deb", "bash", "5.2.15-2+b13", "bash", "5.2.15-2"},
			}, langs...),
		},
		{
			// In the shape report/spdx writes: OPERATING_SYSTEM, sourceInfo.
			file: "lapps-debian.spdx-2.3.json", format: FormatSPDX, spec: "SPDX-2.3",
			name:   "index.docker.io/library/debian:12",
			distro: vuln.Distribution{ID: "debian", VersionID: "12"},
			counts: map[string]int{"deb": 3, "npm": 1},
			want: []pkg{
				{"deb", "libc6", "2.36-9+deb12u14", "glibc", "2.36-9+deb12u14"},
				{"deb", "bash", "5.2.15-2+b13", "bash", "5.2.15-2"},
				{"npm", "testimage-node-app", "1.0.0", "", ""},
			},
			osOwned: []string{"requests 2.28.1 deb python3-requests usr/lib/python3/dist-packages/requests-2.28.1.egg-info"},
		},
		{
			file: "syft-debian.spdx-2.2.json", format: FormatSPDX, spec: "SPDX-2.2",
			name:     "debian:12",
			distro:   vuln.Distribution{ID: "debian", VersionID: "12"},
			counts:   map[string]int{"deb": 4},
			want:     debs[:3],
			warnings: []string{"1 components without a purl are not matched: custom-tool 0.1"},
		},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", c.file))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := Read(bytes.NewReader(data), Limits{})
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(data)
			if doc.Digest != "sha256:"+hex.EncodeToString(sum[:]) || doc.Size != int64(len(data)) {
				t.Errorf("digest %s size %d", doc.Digest, doc.Size)
			}
			if doc.Format != c.format || doc.SpecVersion != c.spec || doc.Name != c.name {
				t.Errorf("format %q %q name %q, want %q %q %q", doc.Format, doc.SpecVersion, doc.Name, c.format, c.spec, c.name)
			}
			if doc.Distribution == nil || doc.Distribution.ID != c.distro.ID || doc.Distribution.VersionID != c.distro.VersionID || doc.Distribution.VersionCodename != c.distro.VersionCodename {
				t.Errorf("distribution %+v, want %+v", doc.Distribution, c.distro)
			} else if eco := vuln.DistributionEcosystem(doc.Distribution); eco == "" {
				t.Errorf("distribution %+v has no ecosystem", doc.Distribution)
			}
			counts := map[string]int{}
			byName := map[string]vuln.Package{}
			for _, p := range doc.Packages {
				counts[p.Kind]++
				byName[p.Kind+" "+p.Name] = p
				if p.PURL == "" {
					t.Errorf("%s has no purl", p.Name)
				}
			}
			if fmt.Sprint(counts) != fmt.Sprint(c.counts) {
				t.Errorf("counts %v, want %v", counts, c.counts)
			}
			for _, w := range c.want {
				p, ok := byName[w.kind+" "+w.name]
				if !ok {
					t.Errorf("no %s %s", w.kind, w.name)
					continue
				}
				if p.Version != w.version || p.SourceName != w.source || p.SourceVersion != w.sourceVersion {
					t.Errorf("%s %s: version %q source %q %q, want %q %q %q", w.kind, w.name, p.Version, p.SourceName, p.SourceVersion, w.version, w.source, w.sourceVersion)
				}
			}
			var owned []string
			for _, p := range doc.OSOwned {
				owned = append(owned, strings.Join([]string{p.Name, p.Version, p.OwnedBy, p.DBPath}, " "))
			}
			if fmt.Sprint(owned) != fmt.Sprint(c.osOwned) {
				t.Errorf("OS-owned %q, want %q", owned, c.osOwned)
			}
			if len(doc.Warnings) != len(c.warnings) {
				t.Errorf("warnings %q, want %d", doc.Warnings, len(c.warnings))
			}
			for i, w := range c.warnings {
				if i < len(doc.Warnings) && !strings.Contains(doc.Warnings[i], w) {
					t.Errorf("warning %q, want %q", doc.Warnings[i], w)
				}
			}
		})
	}
}

// TestRefused: what is not a CycloneDX or SPDX JSON document lapps reads
// is ErrFormat.
func TestRefused(t *testing.T) {
	for _, in := range []string{
		``, `[]`, `{}`, `not json`, `{"bomFormat":"SomethingElse"}`,
		`{"bomFormat":"CycloneDX","specVersion":"9.9"}`,
		`{"bomFormat":"CycloneDX","specVersion":"1.1"}`,
		`{"spdxVersion":"SPDX-2.1","packages":[]}`,
		`{"spdxVersion":"SPDX-3.0"}`,
		`{"bomFormat":"CycloneDX","specVersion":"1.6","components":{"a":1}}`,
		`{"spdxVersion":"SPDX-2.3","packages":"x"}`,
	} {
		if _, err := Parse([]byte(in), Limits{}); !errors.Is(err, ErrFormat) {
			t.Errorf("%q: %v, want ErrFormat", in, err)
		}
	}
}

// TestLimits: a file beyond Bytes and a document beyond Components are a
// *limits.Error naming their configuration key.
func TestLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[`)
	for i := range 101 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"type":"library","name":"p%d","version":"1.0.0","purl":"pkg:npm/p%d@1.0.0"}`, i, i)
	}
	b.WriteString(`]}`)
	cdxDoc := b.String()
	b.Reset()
	b.WriteString(`{"spdxVersion":"SPDX-2.3","dataLicense":"CC0-1.0","SPDXID":"SPDXRef-DOCUMENT","name":"x","documentNamespace":"https://x","packages":[`)
	for i := range 101 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"name":"p%d","SPDXID":"SPDXRef-p%d","versionInfo":"1.0.0","downloadLocation":"NONE","externalRefs":[{"referenceCategory":"PACKAGE-MANAGER","referenceType":"purl","referenceLocator":"pkg:npm/p%d@1.0.0"}]}`, i, i, i)
	}
	b.WriteString(`]}`)
	spdxDoc := b.String()
	for _, c := range []struct {
		name, doc string
		lim       Limits
		key       string
	}{
		{"cyclonedx components", cdxDoc, Limits{Components: 100}, "limits.sbom_components"},
		{"spdx components", spdxDoc, Limits{Components: 100}, "limits.sbom_components"},
		{"bytes", cdxDoc, Limits{Bytes: int64(len(cdxDoc)) - 1}, "limits.sbom_bytes"},
	} {
		_, err := Read(strings.NewReader(c.doc), c.lim)
		var le *limits.Error
		if !errors.As(err, &le) || le.Key != c.key {
			t.Errorf("%s: %v, want a limits error of %s", c.name, err, c.key)
		}
		// At the bound, it is read.
		lim := c.lim
		if lim.Components > 0 {
			lim.Components++
		} else {
			lim.Bytes = int64(len(c.doc))
		}
		if doc, err := Read(strings.NewReader(c.doc), lim); err != nil || len(doc.Packages) != 101 {
			t.Errorf("%s at the bound: %v", c.name, err)
		}
	}
	// Nesting beyond maxDepth is refused, not walked.
	nested := strings.Repeat(`{"type":"library","name":"n","components":[`, maxDepth+2) + strings.Repeat(`]}`, maxDepth+2)
	if _, err := Parse([]byte(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[`+nested+`]}`), Limits{}); !errors.Is(err, ErrFormat) {
		t.Errorf("deep nesting: %v", err)
	}
}

// TestPURL covers the purl conventions of lapps, Syft and Trivy.
func TestPURL(t *testing.T) {
	for _, c := range []struct {
		purl                      string
		want                      vuln.Package
		distroID, distroVersionID string
	}{
		{"pkg:deb/debian/libc6@2.36-9%2Bdeb12u14?arch=amd64&distro=debian-12&upstream=glibc", vuln.Package{Kind: "deb", Name: "libc6", Version: "2.36-9+deb12u14", Arch: "amd64", SourceName: "glibc"}, "debian", "12"},
		{"pkg:deb/debian/bash@5.2.15-2%2Bb13?arch=amd64&upstream=bash%405.2.15-2&distro=debian-12", vuln.Package{Kind: "deb", Name: "bash", Version: "5.2.15-2+b13", Arch: "amd64", SourceName: "bash", SourceVersion: "5.2.15-2"}, "debian", "12"},
		{"pkg:deb/debian/login@4.13%2Bdfsg1-1?arch=amd64&epoch=1&distro=debian-12.5", vuln.Package{Kind: "deb", Name: "login", Version: "1:4.13+dfsg1-1", Arch: "amd64"}, "debian", "12.5"},
		{"pkg:rpm/almalinux/glibc@2.34-83.el9?arch=aarch64&epoch=0&upstream=glibc-2.34-83.el9.src.rpm&distro=almalinux-9.3", vuln.Package{Kind: "rpm", Name: "glibc", Version: "2.34-83.el9", Arch: "aarch64", SourceName: "glibc"}, "almalinux", "9.3"},
		{"pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.3", vuln.Package{Kind: "apk", Name: "musl", Version: "1.2.5-r0", Arch: "x86_64"}, "alpine", "3.20.3"},
		{"pkg:golang/github.com/golang-jwt/jwt/v4@v4.4.1", vuln.Package{Kind: "golang", Name: "github.com/golang-jwt/jwt/v4", Version: "v4.4.1"}, "", ""},
		{"pkg:golang/golang.org/x/net@0.17.0", vuln.Package{Kind: "golang", Name: "golang.org/x/net", Version: "v0.17.0"}, "", ""},
		{"pkg:golang/stdlib@go1.21", vuln.Package{Kind: "golang", Name: "stdlib", Version: "1.21.0"}, "", ""},
		{"pkg:golang/stdlib@v1.22.1", vuln.Package{Kind: "golang", Name: "stdlib", Version: "1.22.1"}, "", ""},
		{"pkg:npm/%40babel/core@7.0.0", vuln.Package{Kind: "npm", Name: "@babel/core", Version: "7.0.0"}, "", ""},
		{"pkg:maven/org.yaml/snakeyaml@1.33", vuln.Package{Kind: "maven", Name: "org.yaml:snakeyaml", Version: "1.33"}, "", ""},
		{"pkg:composer/symfony/http-kernel@5.4.0", vuln.Package{Kind: "composer", Name: "symfony/http-kernel", Version: "5.4.0"}, "", ""},
		{"pkg:cargo/smallvec@1.6.0", vuln.Package{Kind: "cargo", Name: "smallvec", Version: "1.6.0"}, "", ""},
		{"pkg:nuget/Newtonsoft.Json@12.0.1", vuln.Package{Kind: "nuget", Name: "Newtonsoft.Json", Version: "12.0.1"}, "", ""},
		{"pkg:gem/rack@2.0.0", vuln.Package{Kind: "gem", Name: "rack", Version: "2.0.0"}, "", ""},
		{"pkg:pypi/django@3.2", vuln.Package{Kind: "pypi", Name: "django", Version: "3.2"}, "", ""},
	} {
		p, d, err := fromPURL(c.purl)
		if err != nil {
			t.Errorf("%s: %v", c.purl, err)
			continue
		}
		if fmt.Sprint(p) != fmt.Sprint(c.want) {
			t.Errorf("%s: %+v, want %+v", c.purl, p, c.want)
		}
		switch {
		case c.distroID == "" && d != nil:
			t.Errorf("%s: distribution %+v", c.purl, d)
		case c.distroID != "" && (d == nil || d.ID != c.distroID || d.VersionID != c.distroVersionID):
			t.Errorf("%s: distribution %+v, want %s %s", c.purl, d, c.distroID, c.distroVersionID)
		}
	}
	if _, _, err := fromPURL("pkg:oci/debian@sha256%3Aabc"); !errors.Is(err, errOtherType) {
		t.Errorf("oci: %v", err)
	}
	if _, _, err := fromPURL("not a purl"); err == nil || errors.Is(err, errOtherType) {
		t.Errorf("bad purl: %v", err)
	}
}

// TestRoundTripLappsPURLs: the purls lapps writes (vuln.PURL) read back as
// the same package, so a lapps SBOM matches as the image did.
func TestRoundTripLappsPURLs(t *testing.T) {
	deb := &vuln.Distribution{ID: "debian", VersionID: "12"}
	alp := &vuln.Distribution{ID: "alpine", VersionID: "3.20.3"}
	for _, c := range []struct {
		p vuln.Package
		d *vuln.Distribution
	}{
		{vuln.Package{Kind: "deb", Name: "libc6", Version: "2.36-9+deb12u14", Arch: "amd64", SourceName: "glibc"}, deb},
		{vuln.Package{Kind: "deb", Name: "zlib1g", Version: "1:1.2.13.dfsg-1", Arch: "amd64", SourceName: "zlib"}, deb},
		{vuln.Package{Kind: "apk", Name: "libcrypto3", Version: "3.3.2-r0", Arch: "x86_64", SourceName: "openssl"}, alp},
		{vuln.Package{Kind: "rpm", Name: "bash", Version: "5.1.8-9.el9", Arch: "x86_64"}, &vuln.Distribution{ID: "almalinux", VersionID: "9.4"}},
		{vuln.Package{Kind: "npm", Name: "@types/node", Version: "20.1.0"}, nil},
		{vuln.Package{Kind: "golang", Name: "golang.org/x/text", Version: "v0.3.5"}, nil},
		{vuln.Package{Kind: "maven", Name: "org.yaml:snakeyaml", Version: "1.33"}, nil},
	} {
		purl := vuln.PURL(c.p, c.d)
		got, d, err := fromPURL(purl)
		if err != nil {
			t.Errorf("%s: %v", purl, err)
			continue
		}
		if fmt.Sprint(got) != fmt.Sprint(c.p) {
			t.Errorf("%s: %+v, want %+v", purl, got, c.p)
		}
		if c.d != nil && (d == nil || vuln.DistributionEcosystem(d) != vuln.DistributionEcosystem(c.d)) {
			t.Errorf("%s: distribution %+v, want %+v", purl, d, c.d)
		}
	}
}
