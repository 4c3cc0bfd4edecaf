package version

import (
	"testing"

	"github.com/lapps/lapps/vuln"
)

// known is a pair of versions and how the first compares with the second,
// as the ordering's own documentation or test suite states it.
type known struct {
	a, b string
	want int
}

// knownPairs are, per ordering, pairs from the authorities: dpkg's
// deb-version(7) and lib/dpkg/t/t-version.c, rpm's tests/rpmvercmp.at,
// apk-tools' test/version.data, semver.org §11, PEP 440, Maven's
// ComparableVersion documentation, Gem::Version, NuGet's and Composer's
// version rules; and pairs from real advisories.
var knownPairs = map[Ordering][]known{
	Dpkg: {
		{"1.0~rc1", "1.0", -1},
		{"1:0.9", "2.0", 1},
		{"0:1.0", "1.0", 0},
		{"1.0", "1.0-0", 0},
		{"1.0~~", "1.0~~a", -1},
		{"1.0~~a", "1.0~", -1},
		{"1.0~", "1.0", -1},
		{"1.0", "1.0a", -1},
		{"1.2.3", "1.2.10", -1},
		{"1.01", "1.1", 0},
		{"1.0.0", "1.0", 1},
		{"1.0-1", "1.0-1+deb12u1", -1},
		{"1.0+dfsg-1", "1.0-1", 1},
		{"1.0-1ubuntu0.1", "1.0-1ubuntu1", -1},
		{"2.36-9+deb12u4", "2.36-9+deb12u4+b1", -1},
		{"2.36-9+deb12u3", "2.36-9+deb12u10", -1},
		{"7.88.1-10+deb12u5", "7.88.1-10+deb12u12", -1},
		{"1:2.38.1-5+deb12u3", "2.38.1-5+deb12u4", 1},
		{"2:1.20.11-1+deb11u6", "2:1.20.11-1+deb11u5", 1},
		{"0.0~git20230101123456789012", "0.0~git20230101123456789013", -1},
		{"1.0a", "1.0.", -1},
		{"1.2-3", "1.2-3~bpo11+1", 1},
		{"9.2p1-2+deb12u3", "1:9.2p1-2+deb12u3", -1},
	},
	RPM: {
		{"1.0", "1.0", 0},
		{"1.0", "2.0", -1},
		{"2.0.1", "2.0", 1},
		{"2.0.1a", "2.0.1", 1},
		{"5.5p1", "5.5p2", -1},
		{"5.5p10", "5.5p1", 1},
		{"10xyz", "10.1xyz", -1},
		{"xyz10", "xyz10.1", -1},
		{"xyz.4", "8", -1},
		{"8", "xyz.4", 1},
		{"5.5p2", "5.6p1", -1},
		{"6.0.rc1", "6.0", 1},
		{"10b2", "10a1", 1},
		{"1.0aa", "1.0a", 1},
		{"10.0001", "10.0039", -1},
		{"4.999.9", "5.0", -1},
		{"20101121", "20101122", -1},
		{"2_0", "2_0", 0},
		{"2.0", "2_0", 0},
		{"a+", "a_", 0},
		{"+_", "_", 0},
		{"1.0~rc1", "1.0", -1},
		{"1.0~rc1", "1.0~rc2", -1},
		{"1.0~rc1~git123", "1.0~rc1", -1},
		{"1.0^", "1.0", 1},
		{"1.0^git1", "1.0", 1},
		{"1.0^git1", "1.0^git2", -1},
		{"1.0^git1", "1.01", -1},
		{"1.0^20160101", "1.0.1", -1},
		{"1.0^20160101^git1", "1.0^20160101", 1},
		{"1.0~rc1^git1", "1.0~rc1", 1},
		{"1.0^git1~pre", "1.0^git1", -1},
		{"1:0.1.15-2.git2d0b8a3.module_el8.5.0+119+9a9ec082", "0.1.16-1.module_el8.6.0+1000+aaaaaaaa", 1},
		{"0.1.15-2.git2d0b8a3.module_el8.5.0+119+9a9ec082", "0.1.15-2.git2d0b8a3.module_el8.6.0+1+9a9ec082", -1},
		{"2.34-83.el9_3.7", "2.34-100.el9", -1},
		{"2.34-83.el9.7", "2.34-83.el9_3.7", 1},
		{"115.6.0-1.el9_3.alma", "115.6.0-1.el9_3", 1},
		{"2.34-83.el9", "2.34", 1},
		{"0:2.34-83.el9", "2.34-83.el9", 0},
	},
	APK: {
		{"1.2.3_rc1", "1.2.3", -1},
		{"1.2.3", "1.2.3-r1", -1},
		{"1.2.3_alpha", "1.2.3_beta", -1},
		{"1.2.3_beta", "1.2.3_pre", -1},
		{"1.2.3_pre", "1.2.3_rc", -1},
		{"1.2.3_p1", "1.2.3", 1},
		{"1.2.3_git20200101", "1.2.3", 1},
		{"1.2.3a", "1.2.3", 1},
		{"2.9.3-r0", "2.9.10-r0", -1},
		{"1.0-r1", "1.0-r10", -1},
		{"1.2", "1.2.1", -1},
		{"1.1.1g-r0", "1.1.1h-r0", -1},
		{"1.31.1-r9", "1.31.1-r10", -1},
		{"7.67.0-r0", "7.66.0-r4", 1},
	},
	Semver: {
		{"1.0.0-alpha", "1.0.0-alpha.1", -1},
		{"1.0.0-alpha.1", "1.0.0-alpha.beta", -1},
		{"1.0.0-alpha.beta", "1.0.0-beta", -1},
		{"1.0.0-beta", "1.0.0-beta.2", -1},
		{"1.0.0-beta.2", "1.0.0-beta.11", -1},
		{"1.0.0-beta.11", "1.0.0-rc.1", -1},
		{"1.0.0-rc.1", "1.0.0", -1},
		{"1.0.0+build.5", "1.0.0", 0},
		{"v4.17.20", "4.17.21", -1},
		{"2.0.0", "10.0.0", -1},
	},
	Go: {
		{"v0.0.0-20210101000000-abcdefabcdef", "v0.1.0", -1},
		{"v0.3.7", "v0.3.7-0.20210101000000-abcdefabcdef", 1},
		{"v2.0.0+incompatible", "v1.9.9", 1},
		{"v4.5.0+incompatible", "4.5.0", 0},
		{"0.3.5", "v0.3.8", -1},
		{"go1.21rc2", "1.21.0", -1},
		{"go1.21rc2", "1.21.0-rc.2", 0},
		{"go1.20", "1.20.0", 0},
		{"go1.19.13", "1.20.0-0", -1},
		{"1.22.0-0", "go1.22rc1", -1},
		{"go1.9beta2", "1.9.0", -1},
	},
	PEP440: {
		{"1.0.dev1", "1.0a1", -1},
		{"1.0a1", "1.0b1", -1},
		{"1.0b1", "1.0rc1", -1},
		{"1.0rc1", "1.0", -1},
		{"1.0", "1.0.post1", -1},
		{"1!0.1", "2.0", 1},
		{"1.0", "1.0.0", 0},
		{"1.0+local", "1.0", 1},
		{"2.31.0", "2.32.0", -1},
		{"1.26.18", "1.26.5", 1},
	},
	Maven: {
		{"1.0-alpha", "1.0-beta", -1},
		{"1.0-beta", "1.0-milestone", -1},
		{"1.0-milestone", "1.0-rc", -1},
		{"1.0-rc", "1.0-SNAPSHOT", -1},
		{"1.0-SNAPSHOT", "1.0", -1},
		{"1.0", "1.0-sp", -1},
		{"1.0", "1.0.0", 0},
		{"2.14.1", "2.17.0", -1},
		{"2.9.10.8", "2.9.10", 1},
	},
	RubyGems: {
		{"1.0.a", "1.0", -1},
		{"1.0.0", "1", 0},
		{"2.2.3", "2.2.10", -1},
		{"1.0.0.pre", "1.0.0", -1},
		{"3.0.0.beta1", "3.0.0.beta2", -1},
	},
	NuGet: {
		{"1.0.0-beta", "1.0.0", -1},
		{"1.0.0.1", "1.0.0", 1},
		{"1.0.0-Beta", "1.0.0-beta", 0},
		{"13.0.1", "13.0.3", -1},
	},
	Packagist: {
		{"v1.2.3", "1.2.3", 0},
		{"1.0.0-beta1", "1.0.0", -1},
		{"5.4.0", "5.10.0", -1},
	},
}

func TestKnownPairs(t *testing.T) {
	for ord, pairs := range knownPairs {
		for _, p := range pairs {
			got, err := Compare(ord, p.a, p.b)
			if err != nil {
				t.Errorf("%s: Compare(%q, %q): %v", ord.Name(), p.a, p.b, err)
				continue
			}
			if got != p.want {
				t.Errorf("%s: Compare(%q, %q) = %d, want %d", ord.Name(), p.a, p.b, got, p.want)
			}
			if back, _ := Compare(ord, p.b, p.a); back != -p.want {
				t.Errorf("%s: Compare(%q, %q) = %d, want %d", ord.Name(), p.b, p.a, back, -p.want)
			}
		}
	}
}

func TestInvalid(t *testing.T) {
	tests := map[Ordering][]string{
		Dpkg:      {"", " ", "1:", ":1.0", "a:1.0", "1.0-", "1.0 2", "1.0_1", "-1", "1.0-a/b", "99999999999:1.0"},
		RPM:       {"", "a:1.0", "1.0-", ":-", "1:2:3", "1.0\t1"},
		APK:       {"", "abc", "1.0-rx", "1.0_foo"},
		Semver:    {"", "1.0.0.0", "latest", "01.0.0", "1.0.0-"},
		Go:        {"", "(devel)", "go", "gox1.2", "1.2.3.4"},
		PEP440:    {"", "not a version", "1.0-foo-bar"},
		RubyGems:  {"", "1..0?"},
		NuGet:     {"", "abc"},
		Packagist: {"", "dev-master"},
		Maven:     {"", "\x00"},
	}
	for ord, vs := range tests {
		for _, v := range vs {
			if _, err := ord.Parse(v); err == nil {
				t.Errorf("%s: Parse(%q) succeeded, want an error", ord.Name(), v)
			}
		}
	}
}

func TestFor(t *testing.T) {
	tests := map[string]Ordering{
		"Debian:12": Dpkg, "Ubuntu:22.04": Dpkg, "Ubuntu:Pro:18.04": Dpkg,
		"Alpine:v3.19": APK, "Wolfi": APK, "Chainguard": APK,
		"AlmaLinux:9": RPM, "Rocky Linux:9": RPM, "Red Hat:9": RPM,
		"Go": Go, "npm": Semver, "crates.io": Semver, "PyPI": PEP440,
		"Maven": Maven, "RubyGems": RubyGems, "NuGet": NuGet, "Packagist": Packagist,
	}
	for eco, want := range tests {
		got, ok := For(eco)
		if !ok || got != want {
			t.Errorf("For(%q) = %v, %v; want %s", eco, got, ok, want.Name())
		}
	}
	for _, eco := range []string{"", "Hackage", "SUSE:15", "debian:12"} {
		if o, ok := For(eco); ok {
			t.Errorf("For(%q) = %s, want none", eco, o.Name())
		}
	}
}

func TestByNameAndForRange(t *testing.T) {
	for _, o := range All {
		if got, ok := ByName(o.Name()); !ok || got != o {
			t.Errorf("ByName(%q) = %v, %v", o.Name(), got, ok)
		}
	}
	if o, ok := ByName("hackage"); ok {
		t.Errorf("ByName(hackage) = %s", o.Name())
	}
	for _, c := range []struct {
		eco       Ordering
		typ       string
		want      Ordering
		wantNoOrd bool
	}{
		{Dpkg, vuln.RangeEcosystem, Dpkg, false}, {Dpkg, "", Dpkg, false}, {Dpkg, vuln.RangeSemver, Semver, false},
		{Go, vuln.RangeSemver, Go, false}, {Go, vuln.RangeEcosystem, Go, false}, {PEP440, "GIT", nil, true},
		{nil, vuln.RangeSemver, Semver, false}, {nil, vuln.RangeEcosystem, nil, true},
	} {
		got := ForRange(c.eco, c.typ)
		if c.wantNoOrd {
			if got != nil {
				t.Errorf("ForRange(%v, %q) = %s, want none", c.eco, c.typ, got.Name())
			}
			continue
		}
		if got != c.want {
			t.Errorf("ForRange(%v, %q) = %v, want %s", c.eco, c.typ, got, c.want.Name())
		}
	}
}

func TestMismatchedVersionsDoNotPanic(t *testing.T) {
	a, _ := Dpkg.Parse("1.0")
	b, _ := RPM.Parse("1.0")
	c, _ := Go.Parse("v1.0.0")
	for _, v := range []Version{a, b, c} {
		for _, w := range []Version{a, b, c, nil} {
			_ = v.Compare(w)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, c := range []struct {
		o Ordering
		v string
	}{{Dpkg, "1:2.38.1-5+deb12u3"}, {RPM, "1:0.1.15-2.git2d0b8a3.module_el8.5.0+119+9a9ec082"}, {APK, "1.1.1d-r3"}, {Go, "v0.0.0-20210226172049-e18ecbb05110"}} {
		b.Run(c.o.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.o.Parse(c.v); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompare(b *testing.B) {
	for _, c := range []struct {
		o    Ordering
		x, y string
	}{{Dpkg, "1:2.38.1-5+deb12u3", "1:2.38.1-5+deb12u10"}, {RPM, "2.34-83.el9_3.7", "2.34-100.el9_4.2"}, {APK, "1.1.1d-r3", "1.1.1g-r0"}} {
		x, _ := c.o.Parse(c.x)
		y, _ := c.o.Parse(c.y)
		b.Run(c.o.Name(), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = x.Compare(y)
			}
		})
	}
}
