package vuln

import "testing"

func TestNormalizeEcosystem(t *testing.T) {
	for in, want := range map[string]string{
		"Debian:12": "Debian:12", "Debian:12.4": "Debian:12", "Ubuntu:22.04:LTS": "Ubuntu:22.04",
		"Ubuntu:Pro:18.04:LTS": "Ubuntu:Pro:18.04", "Ubuntu:25.10": "Ubuntu:25.10",
		"Alpine:v3.19": "Alpine:v3.19", "Alpine:3.19.1": "Alpine:v3.19", "AlmaLinux:9": "AlmaLinux:9",
		"AlmaLinux:9.3": "AlmaLinux:9", "Rocky Linux:9": "Rocky Linux:9", "Wolfi": "Wolfi",
		"Chainguard": "Chainguard", "Go": "Go", "PyPI": "PyPI", "crates.io": "crates.io",
	} {
		if got, ok := NormalizeEcosystem(in); !ok || got != want {
			t.Errorf("NormalizeEcosystem(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
	for _, bad := range []string{"", "Ubuntu:LTS", "Debian:"} {
		if got, ok := NormalizeEcosystem(bad); ok {
			t.Errorf("NormalizeEcosystem(%q) = %q, accepted", bad, got)
		}
	}
}

func TestDistributionEcosystem(t *testing.T) {
	for _, c := range []struct {
		d    *Distribution
		want string
	}{
		{&Distribution{ID: "debian", VersionID: "12", VersionCodename: "bookworm"}, "Debian:12"},
		{&Distribution{ID: "debian", VersionCodename: "trixie"}, "Debian:13"},
		{&Distribution{ID: "ubuntu", VersionID: "22.04"}, "Ubuntu:22.04"},
		{&Distribution{ID: "alpine", VersionID: "3.20.3"}, "Alpine:v3.20"},
		{&Distribution{ID: "almalinux", VersionID: "9.3"}, "AlmaLinux:9"},
		{&Distribution{ID: "rocky", VersionID: "9.2"}, "Rocky Linux:9"},
		{&Distribution{ID: "wolfi"}, "Wolfi"},
		{&Distribution{ID: "plan9"}, ""},
		{nil, ""},
	} {
		if got := DistributionEcosystem(c.d); got != c.want {
			t.Errorf("DistributionEcosystem(%+v) = %q, want %q", c.d, got, c.want)
		}
	}
}

func TestPURL(t *testing.T) {
	deb := &Distribution{ID: "debian", VersionID: "12"}
	for _, c := range []struct {
		p    Package
		d    *Distribution
		want string
	}{
		{Package{Name: "libc6", Version: "2.36-9+deb12u4", Arch: "amd64", SourceName: "glibc", Kind: KindDeb}, deb,
			"pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"},
		{Package{Name: "musl", Version: "1.2.5-r0", Arch: "x86_64", Kind: KindAPK}, &Distribution{ID: "alpine", VersionID: "3.20.3"},
			"pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.3"},
		{Package{Name: "bash", Version: "1:5.1.8-6.el9", Arch: "aarch64", Kind: KindRPM}, &Distribution{ID: "almalinux", VersionID: "9.3"},
			"pkg:rpm/almalinux/bash@5.1.8-6.el9?arch=aarch64&distro=almalinux-9.3&epoch=1"},
		{Package{Name: "golang.org/x/text", Version: "v0.3.5", Kind: KindGo}, nil, "pkg:golang/golang.org/x/text@v0.3.5"},
		{Package{Name: "@babel/core", Version: "7.0.0", Kind: KindNPM}, nil, "pkg:npm/%40babel/core@7.0.0"},
		{Package{Name: "org.apache.logging.log4j:log4j-core", Version: "2.14.1", Kind: KindMaven}, nil, "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"},
	} {
		if got := PURL(c.p, c.d); got != c.want {
			t.Errorf("PURL(%s) = %s, want %s", c.p.Name, got, c.want)
		}
	}
}

func TestSeverity(t *testing.T) {
	for s := SeverityUnknown; s <= SeverityCritical; s++ {
		back, ok := ParseSeverity(s.String())
		if !ok || back != s {
			t.Errorf("%v does not round-trip", s)
		}
	}
	if _, ok := ParseSeverity("urgent"); ok {
		t.Error("urgent accepted")
	}
}
