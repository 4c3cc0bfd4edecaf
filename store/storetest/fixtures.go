package storetest

import (
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// The fixtures are real advisories and real packages, written out by hand
// (trimmed to the fields that matter to storage): the suite must not
// depend on a parser it is not about.

func date(y int, m time.Month, d int) time.Time { return time.Date(y, m, d, 0, 0, 0, 0, time.UTC) }

// Sources of the fixtures.
const (
	srcDebian    = "debian-tracker"
	srcOSVDebian = "osv-debian"
	srcGo        = "osv-go"
)

// debian1 is the first Debian tracker update: bookworm glibc, curl,
// openssl and zlib.
func debian1() []vuln.Record {
	return []vuln.Record{
		{
			ID: "CVE-2023-4911", Aliases: []string{"DSA-5514-1"}, Source: srcDebian,
			Ecosystem: "Debian:12", Package: "glibc",
			Ranges:   []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "0", Fixed: "2.36-9+deb12u3"}},
			Status:   vuln.StatusFixed,
			Severity: vuln.SeverityHigh, SourceSeverity: "high",
			CVSS:        []vuln.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", Score: 7.8}},
			Title:       "Looney Tunables: buffer overflow in ld.so GLIBC_TUNABLES handling",
			Description: "A buffer overflow was discovered in the GNU C Library's dynamic loader ld.so while processing the GLIBC_TUNABLES environment variable.",
			Links:       []string{"https://security-tracker.debian.org/tracker/CVE-2023-4911"},
			Published:   date(2023, time.October, 3),
		},
		{
			ID: "DSA-5514-1", Aliases: []string{"CVE-2023-4911", "CVE-2023-4527"}, Source: srcDebian,
			Ecosystem: "Debian:12", Package: "glibc",
			Ranges:   []vuln.Range{{Type: vuln.RangeEcosystem, Fixed: "2.36-9+deb12u3"}},
			Status:   vuln.StatusFixed,
			Severity: vuln.SeverityHigh,
			Title:    "glibc - security update",
			Links:    []string{"https://www.debian.org/security/2023/dsa-5514"},
		},
		{
			ID: "CVE-2023-38545", Source: srcDebian, Ecosystem: "Debian:12", Package: "curl",
			Ranges:   []vuln.Range{{Type: vuln.RangeEcosystem, Fixed: "7.88.1-10+deb12u4"}},
			Status:   vuln.StatusFixed,
			Severity: vuln.SeverityCritical, SourceSeverity: "high",
			Title: "SOCKS5 heap buffer overflow",
		},
		{
			ID: "CVE-2023-5678", Source: srcDebian, Ecosystem: "Debian:12", Package: "openssl",
			Ranges:   []vuln.Range{{Type: vuln.RangeEcosystem, Fixed: "3.0.13-1~deb12u1"}},
			Status:   vuln.StatusFixed,
			Severity: vuln.SeverityMedium, SourceSeverity: "unimportant",
		},
		{
			ID: "CVE-2023-45853", Source: srcDebian, Ecosystem: "Debian:12", Package: "zlib",
			Status:   vuln.StatusWontFix,
			Severity: vuln.SeverityCritical, SourceSeverity: "unimportant",
			Title: "integer overflow in zipOpenNewFileInZip4_6 (minizip)",
		},
		{
			ID: "CVE-2023-4911", Source: srcDebian, Ecosystem: "Debian:11", Package: "glibc",
			Status:   vuln.StatusNotAffected,
			Severity: vuln.SeverityHigh,
		},
	}
}

// debian2 is the next Debian tracker update: CVE-2023-4911 changed (a
// CVSS rating added), CVE-2023-38545 withdrawn, CVE-2023-6246 added; the
// rest unchanged.
func debian2() []vuln.Record {
	rs := debian1()
	rs[0].CVSS = append(rs[0].CVSS, vuln.CVSS{Version: "4.0", Vector: "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", Score: 8.5})
	rs[0].Modified = date(2024, time.February, 1)
	rs = append(rs[:2], rs[3:]...) // without curl
	return append(rs, vuln.Record{
		ID: "CVE-2023-6246", Source: srcDebian, Ecosystem: "Debian:12", Package: "glibc",
		Ranges:   []vuln.Range{{Type: vuln.RangeEcosystem, Fixed: "2.36-9+deb12u4"}},
		Status:   vuln.StatusFixed,
		Severity: vuln.SeverityHigh,
		Title:    "heap-based buffer overflow in __vsyslog_internal",
	})
}

// debian3 is a third Debian tracker update: zlib's record now says the
// minizip issue is fixed.
func debian3() []vuln.Record {
	rs := debian2()
	for i := range rs {
		if rs[i].Package == "zlib" {
			rs[i].Status = vuln.StatusFixed
			rs[i].Ranges = []vuln.Range{{Type: vuln.RangeEcosystem, Fixed: "1:1.2.13.dfsg-1+deb12u1"}}
		}
	}
	return rs
}

// osvDebian is the OSV feed of Debian advisories: the same DSA for the
// same package as the tracker, from another source.
func osvDebian() []vuln.Record {
	return []vuln.Record{
		{
			ID: "DSA-5514-1", Aliases: []string{"CVE-2023-4527", "CVE-2023-4806", "CVE-2023-4911"}, Source: srcOSVDebian,
			Ecosystem: "Debian:12", Package: "glibc",
			Ranges:    []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "0", Fixed: "2.36-9+deb12u3"}},
			Status:    vuln.StatusFixed,
			Title:     "glibc - security update",
			Published: date(2023, time.October, 3),
		},
	}
}

// goRecords are Go vulnerability database records.
func goRecords() []vuln.Record {
	return []vuln.Record{
		{
			ID: "GO-2024-2687", Aliases: []string{"CVE-2023-45288", "GHSA-4v7x-pqxf-cx7m"}, Source: srcGo,
			Ecosystem: vuln.EcosystemGo, Package: "golang.org/x/net",
			Ranges:   []vuln.Range{{Type: vuln.RangeSemver, Introduced: "0", Fixed: "0.23.0"}},
			Status:   vuln.StatusFixed,
			Severity: vuln.SeverityMedium,
			Title:    "HTTP/2 CONTINUATION flood in net/http",
		},
		{
			ID: "GO-2024-2687", Aliases: []string{"CVE-2023-45288", "GHSA-4v7x-pqxf-cx7m"}, Source: srcGo,
			Ecosystem: vuln.EcosystemGo, Package: "stdlib",
			Ranges: []vuln.Range{
				{Type: vuln.RangeSemver, Introduced: "0", Fixed: "1.21.9"},
				{Type: vuln.RangeSemver, Introduced: "1.22.0-0", Fixed: "1.22.2"},
			},
			Status:   vuln.StatusFixed,
			Severity: vuln.SeverityMedium,
			Title:    "HTTP/2 CONTINUATION flood in net/http",
		},
	}
}

// bookworm returns the index of a small Debian 12 image.
func bookworm(digest string, withCurl bool) *model.ImageIndex {
	layer := "sha256:8a1e25ce7c4f75e372e9884f8f7b1bedcfe4a7a7d452eb4b0a1c7477c9a90345"
	deb := func(name, version, source string) vuln.Package {
		return vuln.Package{Name: name, Version: version, Arch: "amd64", SourceName: source, Kind: vuln.KindDeb,
			DBPath: "var/lib/dpkg/status", Layer: layer}
	}
	pkgs := []vuln.Package{
		deb("libc6", "2.36-9+deb12u1", "glibc"),
		deb("libc-bin", "2.36-9+deb12u1", "glibc"),
		deb("libssl3", "3.0.11-1~deb12u1", "openssl"),
		deb("zlib1g", "1:1.2.13.dfsg-1", "zlib"),
		deb("base-files", "12.4+deb12u1", ""),
	}
	if withCurl {
		pkgs = append(pkgs, deb("curl", "7.88.1-10+deb12u1", "curl"), deb("libcurl4", "7.88.1-10+deb12u1", "curl"))
	}
	for i := range pkgs {
		pkgs[i].PURL = vuln.PURL(pkgs[i], &vuln.Distribution{ID: "debian", VersionID: "12"})
	}
	return &model.ImageIndex{
		ManifestDigest: digest,
		IndexerVersion: indexer.Version,
		Distribution: &vuln.Distribution{ID: "debian", VersionID: "12", VersionCodename: "bookworm",
			PrettyName: "Debian GNU/Linux 12 (bookworm)", Name: "Debian GNU/Linux", Version: "12.4"},
		Layers:   []model.LayerInfo{{Digest: layer, MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Size: 29126484}},
		Packages: pkgs,
	}
}

// alpine returns the index of an Alpine 3.20 image.
func alpine(digest string) *model.ImageIndex {
	layers := []model.LayerInfo{
		{Digest: "sha256:43c4264eed91be63b206e17d93e75256a6097070ce643c5e8f0379998b44f170", Size: 3623807},
		{Digest: "sha256:0b8e6f5b2c3a0d3c3d29f1f5c6bd07d62c4d9b7d8c5c1e5d0cf2f63b5f0a3c11", Size: 1024},
	}
	return &model.ImageIndex{
		ManifestDigest: digest,
		IndexerVersion: indexer.Version,
		Distribution:   &vuln.Distribution{ID: "alpine", VersionID: "3.20.3", Name: "Alpine Linux"},
		Layers:         layers,
		Packages: []vuln.Package{
			{Name: "musl", Version: "1.2.5-r0", Arch: "x86_64", SourceName: "musl", Kind: vuln.KindAPK, DBPath: "lib/apk/db/installed", Layer: layers[0].Digest},
			{Name: "libcrypto3", Version: "3.3.2-r0", Arch: "x86_64", SourceName: "openssl", Kind: vuln.KindAPK, DBPath: "lib/apk/db/installed", Layer: layers[0].Digest},
			{Name: "golang.org/x/net", Version: "v0.17.0", Kind: vuln.KindGo, DBPath: "usr/local/bin/app", Layer: layers[1].Digest},
		},
		Warnings: []string{"usr/lib/python3.12/site-packages/broken.dist-info/METADATA: python: no Name"},
	}
}

// layerIndex returns the index of a Debian base layer.
func layerIndex(digest, version string) *model.LayerIndex {
	return &model.LayerIndex{
		Digest:         digest,
		IndexerVersion: version,
		Entries: []model.Entry{
			{Path: "etc/os-release", Cataloger: "os-release", Distribution: &vuln.Distribution{ID: "debian", VersionID: "12", VersionCodename: "bookworm"}},
			{Path: "var/lib/dpkg/status", Cataloger: "dpkg", Packages: []vuln.Package{
				{Name: "libc6", Version: "2.36-9+deb12u1", Arch: "amd64", SourceName: "glibc", Kind: vuln.KindDeb, DBPath: "var/lib/dpkg/status"},
				{Name: "base-files", Version: "12.4+deb12u1", Arch: "amd64", Kind: vuln.KindDeb, DBPath: "var/lib/dpkg/status"},
			}},
		},
		Whiteouts: []string{"var/cache/apt/pkgcache.bin"},
		Opaque:    []string{"var/lib/apt/lists"},
		Warnings:  []string{"usr/share/doc/x/copyright: license: unreadable"},
	}
}
