package matcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// fakeSource is a RecordSource over a fixed set of records. It returns the
// records of the asked ecosystem and names, or, when sloppy, every record
// of the asked names whatever its ecosystem (to check that the matcher
// keeps to the release's own data).
type fakeSource struct {
	records []vuln.Record
	sloppy  bool
	calls   []string
	err     error
	// idCalls are the RecordsByID calls; idErr fails them.
	idCalls [][]string
	idErr   error
}

func (f *fakeSource) RecordsByID(_ context.Context, ids []string) ([]vuln.Record, error) {
	f.idCalls = append(f.idCalls, ids)
	if f.idErr != nil {
		return nil, f.idErr
	}
	var out []vuln.Record
	for _, r := range f.records {
		if slices.Contains(ids, r.ID) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (f *fakeSource) Records(_ context.Context, eco string, names []string) ([]vuln.Record, error) {
	f.calls = append(f.calls, eco+" "+strings.Join(names, ","))
	if f.err != nil {
		return nil, f.err
	}
	var out []vuln.Record
	for _, r := range f.records {
		if (f.sloppy || r.Ecosystem == eco) && slices.Contains(names, r.Package) {
			out = append(out, r)
		}
	}
	return out, nil
}

// fixed returns a record affecting versions before fix (from introduced 0).
func fixed(id, source, eco, pkg, fix string, aliases ...string) vuln.Record {
	return vuln.Record{
		ID: id, Aliases: aliases, Source: source, Ecosystem: eco, Package: pkg,
		Ranges: []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "0", Fixed: fix}},
		Status: vuln.StatusFixed,
	}
}

// status returns a record without ranges in the given status.
func status(id, source, eco, pkg string, st vuln.Status, aliases ...string) vuln.Record {
	return vuln.Record{ID: id, Aliases: aliases, Source: source, Ecosystem: eco, Package: pkg, Status: st}
}

func withSeverity(r vuln.Record, s vuln.Severity, src string) vuln.Record {
	r.Severity, r.SourceSeverity = s, src
	return r
}

func deb(name, ver, src, srcVer string) vuln.Package {
	return vuln.Package{Name: name, Version: ver, SourceName: src, SourceVersion: srcVer, Kind: vuln.KindDeb, DBPath: "var/lib/dpkg/status", Layer: "sha256:aa"}
}

func rpm(name, ver string) vuln.Package {
	return vuln.Package{Name: name, Version: ver, Kind: vuln.KindRPM, DBPath: "var/lib/rpm/rpmdb.sqlite"}
}

func apk(name, ver, origin string) vuln.Package {
	return vuln.Package{Name: name, Version: ver, SourceName: origin, Kind: vuln.KindAPK, DBPath: "lib/apk/db/installed"}
}

var (
	bullseye = &vuln.Distribution{ID: "debian", VersionID: "11", VersionCodename: "bullseye"}
	buster   = &vuln.Distribution{ID: "debian", VersionID: "10", VersionCodename: "buster"}
	alma93   = &vuln.Distribution{ID: "almalinux", VersionID: "9.3"}
	alpine   = &vuln.Distribution{ID: "alpine", VersionID: "3.11.13"}
)

// want is the part of a finding a test case checks.
type want struct {
	id, pkg, installed, fixed string
	status                    vuln.Status
	aliases                   string // comma separated
	by                        string
	cves                      string // comma separated
}

func (w want) String() string {
	return fmt.Sprintf("%s %s %s fixed=%q %s aliases=[%s] by=%s cves=[%s]", w.id, w.pkg, w.installed, w.fixed, w.status, w.aliases, w.by, w.cves)
}

func project(fs []vuln.Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, want{f.ID, f.Package, f.InstalledVersion, f.FixedVersion, f.Status, strings.Join(f.Aliases, ","), f.MatchedBy, strings.Join(f.CVEs, ",")}.String())
	}
	slices.Sort(out)
	return out
}

func TestMatch(t *testing.T) {
	// Records below are taken from real advisories: DSA-5055-1, DSA-5122-1,
	// DSA-5123-1, DSA-5218-1 and DSA-5111-1 of the Debian DSA list; the
	// Debian tracker's entries for prototypejs CVE-2007-2383 (fixed_version
	// "0") and chromium CVE-2022-0456 in buster (open); ALSA-2024:3339 and
	// ALSA-2022:5099 of the AlmaLinux 9 OSV data; the v3.11 Alpine secdb
	// entry for openssl; GO-2021-0113, GO-2023-1621 and GHSA-ppp9-7jff-5vj2.
	const d11, d10, al9, a311 = "Debian:11", "Debian:10", "AlmaLinux:9", "Alpine:v3.11"
	dsa5055 := fixed("DSA-5055-1", "debian-dsa", d11, "util-linux", "2.36.1-8+deb11u1", "CVE-2021-3995", "CVE-2021-3996")
	alsa3339 := fixed("ALSA-2024:3339", "almalinux", al9, "glibc", "2.34-100.el9_4.2", "CVE-2024-2961", "CVE-2024-33599", "CVE-2024-33600", "CVE-2024-33601", "CVE-2024-33602")
	alsa3339common := alsa3339
	alsa3339common.Package = "glibc-common"
	tests := []struct {
		name     string
		distro   *vuln.Distribution
		packages []vuln.Package
		records  []vuln.Record
		sloppy   bool
		want     []want
	}{
		{
			name:   "source package, binary epoch, several CVEs in one advisory",
			distro: bullseye,
			packages: []vuln.Package{
				deb("bsdutils", "1:2.36.1-8", "util-linux", "2.36.1-8"),
				deb("libmount1", "2.36.1-8", "util-linux", ""),
				deb("mount", "2.36.1-8+deb11u2", "util-linux", ""),
			},
			records: []vuln.Record{dsa5055},
			want: []want{
				{"DSA-5055-1", "bsdutils", "1:2.36.1-8", "2.36.1-8+deb11u1", vuln.StatusFixed, "", "source", "CVE-2021-3995,CVE-2021-3996"},
				{"DSA-5055-1", "libmount1", "2.36.1-8", "2.36.1-8+deb11u1", vuln.StatusFixed, "", "source", "CVE-2021-3995,CVE-2021-3996"},
			},
		},
		{
			// An advisory is not each of the CVEs it fixes (issue 13), and
			// it is not merged into them; when the tracker reports every
			// one of its CVEs it adds no row (TestAdvisoryFoldedIntoCVEs
			// checks it is listed as related).
			name:     "advisory beside the tracker's per-CVE records",
			distro:   bullseye,
			packages: []vuln.Package{deb("bsdutils", "1:2.36.1-8", "util-linux", "2.36.1-8")},
			records: []vuln.Record{
				dsa5055,
				withSeverity(status("CVE-2021-3995", "debian-tracker", d11, "util-linux", vuln.StatusUnfixed), vuln.SeverityLow, "low"),
				withSeverity(fixed("CVE-2021-3996", "debian-tracker", d11, "util-linux", "2.36.1-8+deb11u1"), vuln.SeverityMedium, "medium"),
			},
			want: []want{
				{"CVE-2021-3995", "bsdutils", "1:2.36.1-8", "", vuln.StatusUnfixed, "", "source", ""},
				{"CVE-2021-3996", "bsdutils", "1:2.36.1-8", "2.36.1-8+deb11u1", vuln.StatusFixed, "", "source", ""},
			},
		},
		{
			name:   "single-CVE advisory shown as itself with its CVE; tilde; installed equal to the fix",
			distro: bullseye,
			packages: []vuln.Package{
				deb("gzip", "1.10-4", "", ""),
				deb("liblzma5", "5.2.5-2", "xz-utils", "5.2.5-2"),
				deb("xz-utils", "5.2.5-2.1~deb11u1", "", ""),
			},
			records: []vuln.Record{
				fixed("DSA-5122-1", "debian-dsa", d11, "gzip", "1.10-4+deb11u1", "CVE-2022-1271"),
				fixed("DSA-5123-1", "debian-dsa", d11, "xz-utils", "5.2.5-2.1~deb11u1", "CVE-2022-1271"),
			},
			want: []want{
				{"DSA-5122-1", "gzip", "1.10-4", "1.10-4+deb11u1", vuln.StatusFixed, "", "source", "CVE-2022-1271"},
				{"DSA-5123-1", "liblzma5", "5.2.5-2", "5.2.5-2.1~deb11u1", vuln.StatusFixed, "", "source", "CVE-2022-1271"},
			},
		},
		{
			name:     "epochs in fixed versions; smallest fix above the installed version",
			distro:   bullseye,
			packages: []vuln.Package{deb("zlib1g", "1:1.2.11.dfsg-2+deb11u1", "zlib", "")},
			records: []vuln.Record{
				fixed("DSA-5218-1", "debian-dsa", d11, "zlib", "1:1.2.11.dfsg-2+deb11u2", "CVE-2022-37434"),
				fixed("DSA-5111-1", "debian-dsa", d11, "zlib", "1:1.2.11.dfsg-2+deb11u1", "CVE-2018-25032"),
				fixed("CVE-2022-37434", "osv-debian", d11, "zlib", "1:1.2.11.dfsg-2+deb11u3"),
			},
			want: []want{
				{"CVE-2022-37434", "zlib1g", "1:1.2.11.dfsg-2+deb11u1", "1:1.2.11.dfsg-2+deb11u3", vuln.StatusFixed, "", "source", ""},
			},
		},
		{
			name:   "binNMU binary version without a source version",
			distro: bullseye,
			packages: []vuln.Package{
				deb("libcap-ng0", "0.7.9-2.2+b1", "libcap-ng", ""),
				deb("coreutils", "8.32-4+b1", "", ""),
			},
			records: []vuln.Record{
				// Debian's OSV records list the affected source versions,
				// which never carry the binNMU suffix.
				{ID: "CVE-2000-0001", Source: "osv", Ecosystem: d11, Package: "libcap-ng", Status: vuln.StatusUnfixed, Versions: []string{"0.7.9-2.1", "0.7.9-2.2"}},
				fixed("CVE-2000-0002", "test", d11, "coreutils", "8.32-4"),
			},
			want: []want{
				{"CVE-2000-0001", "libcap-ng0", "0.7.9-2.2+b1", "", vuln.StatusUnfixed, "", "source", ""},
			},
		},
		{
			name:     "binary package name",
			distro:   bullseye,
			packages: []vuln.Package{deb("libssl1.1", "1.1.1k-1+deb11u1", "openssl", "")},
			records: []vuln.Record{
				fixed("DSA-5103-1", "debian-dsa", d11, "openssl", "1.1.1k-1+deb11u2", "CVE-2021-4160", "CVE-2022-0778"),
				fixed("USN-TEST", "binaries", d11, "libssl1.1", "1.1.1n-0+deb11u1", "CVE-2022-0778"),
			},
			want: []want{
				{"DSA-5103-1", "libssl1.1", "1.1.1k-1+deb11u1", "1.1.1k-1+deb11u2", vuln.StatusFixed, "", "source", "CVE-2021-4160,CVE-2022-0778"},
				{"USN-TEST", "libssl1.1", "1.1.1k-1+deb11u1", "1.1.1n-0+deb11u1", vuln.StatusFixed, "", "binary", "CVE-2022-0778"},
			},
		},
		{
			name:   "unfixed, wont-fix and not-affected",
			distro: buster,
			packages: []vuln.Package{
				deb("chromium", "90.0.4430.212-1~deb10u1", "", ""),
				deb("libjs-prototype", "1.7.1-3", "prototypejs", ""),
				deb("tar", "1.30+dfsg-6", "", ""),
			},
			records: []vuln.Record{
				status("CVE-2022-0456", "debian-tracker", d10, "chromium", vuln.StatusUnfixed),
				status("CVE-2007-2383", "debian-tracker", d10, "prototypejs", vuln.StatusNotAffected),
				status("CVE-2007-2383", "osv", d10, "prototypejs", vuln.StatusUnfixed),
				status("CVE-2005-2541", "debian-tracker", d10, "tar", vuln.StatusWontFix),
				// Synthetic: an advisory saying the release is not affected
				// suppresses the same advisory and its CVEs from elsewhere.
				status("DSA-9999-1", "debian-dsa", d10, "tar", vuln.StatusNotAffected, "CVE-2018-20482", "CVE-2019-9923"),
				status("DSA-9999-1", "osv", d10, "tar", vuln.StatusUnfixed, "CVE-2018-20482", "CVE-2019-9923"),
				status("CVE-2019-9923", "osv", d10, "tar", vuln.StatusUnfixed),
			},
			want: []want{
				{"CVE-2005-2541", "tar", "1.30+dfsg-6", "", vuln.StatusWontFix, "", "source", ""},
				{"CVE-2022-0456", "chromium", "90.0.4430.212-1~deb10u1", "", vuln.StatusUnfixed, "", "source", ""},
			},
		},
		{
			name:   "AlmaLinux: binary names, the release's own data only, newer than every fix",
			distro: alma93,
			sloppy: true,
			packages: []vuln.Package{
				rpm("glibc", "2.34-83.el9_3.7"),
				rpm("glibc-common", "2.34-83.el9_3.7"),
				rpm("glibc-minimal-langpack", "2.34-100.el9_4.2"),
				rpm("grub2-common", "1:2.06-27.el9_0.6.alma"),
			},
			records: []vuln.Record{
				alsa3339, alsa3339common,
				fixed("ALSA-2024:3339", "almalinux", "AlmaLinux:9", "glibc-minimal-langpack", "2.34-100.el9_4.2", "CVE-2024-2961"),
				fixed("ALSA-2024:9999", "almalinux", "AlmaLinux:8", "glibc", "2.99-1.el8"),
				fixed("ALSA-2022:5099", "almalinux", al9, "grub2-common", "1:2.06-27.el9_0.7.alma", "CVE-2022-28733", "CVE-2021-3695"),
			},
			want: []want{
				{"ALSA-2022:5099", "grub2-common", "1:2.06-27.el9_0.6.alma", "1:2.06-27.el9_0.7.alma", vuln.StatusFixed, "", "binary", "CVE-2021-3695,CVE-2022-28733"},
				{"ALSA-2024:3339", "glibc", "2.34-83.el9_3.7", "2.34-100.el9_4.2", vuln.StatusFixed, "", "binary", "CVE-2024-2961,CVE-2024-33599,CVE-2024-33600,CVE-2024-33601,CVE-2024-33602"},
				{"ALSA-2024:3339", "glibc-common", "2.34-83.el9_3.7", "2.34-100.el9_4.2", vuln.StatusFixed, "", "binary", "CVE-2024-2961,CVE-2024-33599,CVE-2024-33600,CVE-2024-33601,CVE-2024-33602"},
			},
		},
		{
			name:   "Alpine: origin, fix-only data, not-affected key",
			distro: alpine,
			packages: []vuln.Package{
				apk("libcrypto1.1", "1.1.1d-r2", "openssl"),
				apk("libssl1.1", "1.1.1l-r0", "openssl"),
				apk("musl", "1.1.24-r3", ""),
			},
			records: []vuln.Record{
				fixed("CVE-2019-1551", "alpine-secdb", a311, "openssl", "1.1.1d-r3"),
				fixed("CVE-2019-1547", "alpine-secdb", a311, "openssl", "1.1.1d-r1"),
				fixed("CVE-2020-28928", "alpine-secdb", a311, "musl", "1.1.24-r3"),
				fixed("CVE-2099-0001", "osv", a311, "musl", "1.1.25-r0"),
				status("CVE-2099-0001", "alpine-secdb", a311, "musl", vuln.StatusNotAffected),
				fixed("CVE-2099-0002", "test", a311, "libcrypto1.1", "9.9.9-r0"),
			},
			want: []want{
				{"CVE-2019-1551", "libcrypto1.1", "1.1.1d-r2", "1.1.1d-r3", vuln.StatusFixed, "", "source", ""},
			},
		},
		{
			name: "Go: several ranges, pseudo-version, aliases across sources",
			packages: []vuln.Package{
				{Name: "stdlib", Version: "go1.20.1", Kind: vuln.KindGo},
				{Name: "golang.org/x/text", Version: "v0.3.5", Kind: vuln.KindGo},
				{Name: "golang.org/x/net", Version: "v0.0.0-20210226172049-e18ecbb05110", Kind: vuln.KindGo},
			},
			records: []vuln.Record{
				{ID: "GO-2023-1621", Aliases: []string{"CVE-2023-24532"}, Source: "go-vulndb", Ecosystem: "Go", Package: "stdlib", Status: vuln.StatusFixed,
					Ranges: []vuln.Range{{Type: vuln.RangeSemver, Introduced: "0", Fixed: "1.19.7"}, {Type: vuln.RangeSemver, Introduced: "1.20.0-0", Fixed: "1.20.2"}}},
				withSeverity(vuln.Record{ID: "GO-2021-0113", Aliases: []string{"CVE-2021-38561", "GHSA-ppp9-7jff-5vj2"}, Source: "go-vulndb", Ecosystem: "Go", Package: "golang.org/x/text", Status: vuln.StatusFixed,
					Ranges: []vuln.Range{{Type: vuln.RangeSemver, Introduced: "0", Fixed: "0.3.7"}}}, vuln.SeverityUnknown, ""),
				withSeverity(fixed("GHSA-ppp9-7jff-5vj2", "ghsa", "Go", "golang.org/x/text", "0.3.7", "CVE-2021-38561"), vuln.SeverityHigh, "HIGH"),
				{ID: "GO-2022-0236", Aliases: []string{"CVE-2021-31525"}, Source: "go-vulndb", Ecosystem: "Go", Package: "golang.org/x/net", Status: vuln.StatusFixed,
					Ranges: []vuln.Range{{Type: vuln.RangeSemver, Introduced: "0", Fixed: "0.0.0-20210428140749-89ef3d95e781"}}},
			},
			want: []want{
				{"CVE-2021-31525", "golang.org/x/net", "v0.0.0-20210226172049-e18ecbb05110", "0.0.0-20210428140749-89ef3d95e781", vuln.StatusFixed, "GO-2022-0236", "", ""},
				{"CVE-2021-38561", "golang.org/x/text", "v0.3.5", "0.3.7", vuln.StatusFixed, "GHSA-ppp9-7jff-5vj2,GO-2021-0113", "", ""},
				{"CVE-2023-24532", "stdlib", "go1.20.1", "1.20.2", vuln.StatusFixed, "GO-2023-1621", "", ""},
			},
		},
		{
			name: "explicit versions, last_affected, PyPI names",
			packages: []vuln.Package{
				{Name: "PyYAML", Version: "5.3", Kind: vuln.KindPyPI},
				{Name: "jinja2", Version: "2.10", Kind: vuln.KindPyPI},
				{Name: "requests", Version: "2.31.0", Kind: vuln.KindPyPI},
				// As an SBOM might spell it; PEP 503 keeps the trailing
				// separator, as the record stores it.
				{Name: "Odd_", Version: "1.0", Kind: vuln.KindPyPI},
			},
			records: []vuln.Record{
				{ID: "PYSEC-2020-96", Aliases: []string{"CVE-2020-1747"}, Source: "pypa", Ecosystem: "PyPI", Package: "pyyaml", Status: vuln.StatusFixed, Versions: []string{"5.1", "5.2", "5.3", "5.3.0"}},
				{ID: "PYSEC-2019-217", Aliases: []string{"CVE-2019-10906"}, Source: "pypa", Ecosystem: "PyPI", Package: "jinja2", Status: vuln.StatusFixed, Versions: []string{"2.10.0"}},
				{ID: "PYSEC-TEST", Source: "pypa", Ecosystem: "PyPI", Package: "requests", Status: vuln.StatusUnfixed,
					Ranges: []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "2.0", LastAffected: "2.31.0"}}},
				fixed("PYSEC-ODD", "pypa", "PyPI", "odd-", "1.1"),
			},
			want: []want{
				{"PYSEC-ODD", "Odd_", "1.0", "1.1", vuln.StatusFixed, "", "", ""},
				{"CVE-2019-10906", "jinja2", "2.10", "", vuln.StatusUnfixed, "PYSEC-2019-217", "", ""},
				{"CVE-2020-1747", "PyYAML", "5.3", "", vuln.StatusUnfixed, "PYSEC-2020-96", "", ""},
				{"PYSEC-TEST", "requests", "2.31.0", "", vuln.StatusUnfixed, "", "", ""},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeSource{records: tc.records, sloppy: tc.sloppy}
			idx := &model.ImageIndex{Distribution: tc.distro, Packages: tc.packages}
			got, warnings, err := Match(context.Background(), src, idx)
			if err != nil {
				t.Fatal(err)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %q", warnings)
			}
			var w []string
			for _, x := range tc.want {
				w = append(w, x.String())
			}
			slices.Sort(w)
			if g := project(got); !slices.Equal(g, w) {
				t.Errorf("findings:\n got %s\nwant %s", strings.Join(g, "\n     "), strings.Join(w, "\n     "))
			}
			ecos := map[string]bool{}
			for _, c := range src.calls {
				eco, _, _ := strings.Cut(c, " ")
				if ecos[eco] {
					t.Errorf("ecosystem %s asked more than once: %q", eco, src.calls)
				}
				ecos[eco] = true
			}
		})
	}
}

func TestMatchMergesSeverityAndSources(t *testing.T) {
	const eco = "Debian:12"
	dsa := fixed("DSA-5514-1", "debian-dsa", eco, "glibc", "2.36-9+deb12u3", "CVE-2023-4911", "CVE-2023-4527", "CVE-2023-4806")
	dsa.Title, dsa.Links = "glibc - security update", []string{"https://security-tracker.debian.org/tracker/DSA-5514-1"}
	tracker := withSeverity(fixed("CVE-2023-4911", "debian-tracker", eco, "glibc", "2.36-9+deb12u3"), vuln.SeverityLow, "not yet assigned")
	nvd := withSeverity(status("CVE-2023-4911", "osv", eco, "glibc", vuln.StatusUnfixed), vuln.SeverityHigh, "HIGH")
	nvd.CVSS = []vuln.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H", Score: 7.8}}
	nvd.Title = "Looney Tunables"
	src := &fakeSource{records: []vuln.Record{dsa, tracker, nvd}}
	idx := &model.ImageIndex{
		Distribution: &vuln.Distribution{ID: "debian", VersionID: "12"},
		Packages:     []vuln.Package{deb("libc6", "2.36-9+deb12u1", "glibc", "2.36-9+deb12u1")},
	}
	fs, _, err := Match(context.Background(), src, idx)
	if err != nil {
		t.Fatal(err)
	}
	// The tracker's and the other source's CVE records are one finding;
	// the advisory is its own, listing the CVEs it fixes (issue 13).
	if len(fs) != 2 {
		t.Fatalf("got %d findings, want 2: %+v", len(fs), fs)
	}
	f := fs[0]
	if f.ID != "CVE-2023-4911" || len(f.Aliases) != 0 || len(f.CVEs) != 0 {
		t.Errorf("id %s aliases %q cves %q, want CVE-2023-4911 alone", f.ID, f.Aliases, f.CVEs)
	}
	if f.Severity != vuln.SeverityHigh || f.SourceSeverity != "HIGH" || len(f.CVSS) != 1 || f.CVSS[0].Score != 7.8 || f.SeveritySource != "osv" {
		t.Errorf("severity %s %q %v from %q, want the highest rating with its CVSS, from osv", f.Severity, f.SourceSeverity, f.CVSS, f.SeveritySource)
	}
	if f.Status != vuln.StatusFixed || f.FixedVersion != "2.36-9+deb12u3" {
		t.Errorf("status %s fixed %q, want fixed 2.36-9+deb12u3", f.Status, f.FixedVersion)
	}
	if f.Source != "osv, debian-tracker" || f.Title != "Looney Tunables" || len(f.Links) != 0 {
		t.Errorf("source %q title %q links %q", f.Source, f.Title, f.Links)
	}
	if f.SourcePackage != "glibc" || f.MatchedBy != vuln.MatchedBySource || f.Layer != "sha256:aa" || f.Ecosystem != eco || f.PackageKind != vuln.KindDeb {
		t.Errorf("package details: %+v", f)
	}
	a := fs[1]
	if a.ID != "DSA-5514-1" || len(a.Aliases) != 0 || !slices.Equal(a.CVEs, []string{"CVE-2023-4527", "CVE-2023-4806", "CVE-2023-4911"}) ||
		a.Source != "debian-dsa" || a.Title != "glibc - security update" || len(a.Links) != 1 || a.FixedVersion != "2.36-9+deb12u3" {
		t.Errorf("advisory: %+v", a)
	}
	// Unrated, it takes the rating of the CVEs it fixes.
	if a.Severity != vuln.SeverityHigh || a.SeveritySource != "osv" || len(a.CVSS) != 1 {
		t.Errorf("advisory severity %s from %q %v, want high from osv", a.Severity, a.SeveritySource, a.CVSS)
	}
}

func TestMatchBadVersionsWarn(t *testing.T) {
	const eco = "Debian:12"
	src := &fakeSource{records: []vuln.Record{
		fixed("CVE-2000-0001", "test", eco, "bad", "1.0-1"),
		status("CVE-2000-0002", "test", eco, "bad", vuln.StatusUnfixed),
		fixed("CVE-2000-0003", "test", eco, "good", "not a version!"),
		fixed("CVE-2000-0004", "test", eco, "good", "2.0-1"),
	}}
	idx := &model.ImageIndex{
		Distribution: &vuln.Distribution{ID: "debian", VersionID: "12"},
		Packages: []vuln.Package{
			deb("bad", "no version here", "", ""),
			deb("good", "1.0-1", "", ""),
			{Name: "mystery", Version: "1", Kind: "conda"},
		},
	}
	fs, warnings, err := Match(context.Background(), src, idx)
	if err != nil {
		t.Fatal(err)
	}
	got := project(fs)
	w := []string{
		want{"CVE-2000-0002", "bad", "no version here", "", vuln.StatusUnfixed, "", "source", ""}.String(),
		want{"CVE-2000-0004", "good", "1.0-1", "2.0-1", vuln.StatusFixed, "", "source", ""}.String(),
	}
	if !slices.Equal(got, w) {
		t.Errorf("findings %q, want %q", got, w)
	}
	joined := strings.Join(warnings, "\n")
	for _, s := range []string{"bad no version here: installed version does not parse", "CVE-2000-0003", `unknown package kind "conda"`} {
		if !strings.Contains(joined, s) {
			t.Errorf("warnings %q lack %q", warnings, s)
		}
	}
}

// TestMatchMalformedRanges: a range without any bound, an empty fixed or
// last_affected left by a feed, and an empty explicit version never make
// a record affect every version (issue 12); a well-formed "every version"
// (introduced "0", or no range at all) still does.
func TestMatchMalformedRanges(t *testing.T) {
	const eco = "Debian:12"
	rec := func(id string, st vuln.Status, ranges []vuln.Range, versions ...string) vuln.Record {
		return vuln.Record{ID: id, Source: "test", Ecosystem: eco, Package: "curl", Status: st, Ranges: ranges, Versions: versions}
	}
	src := &fakeSource{records: []vuln.Record{
		rec("CVE-2000-0001", vuln.StatusFixed, []vuln.Range{{Type: vuln.RangeEcosystem}}),
		rec("CVE-2000-0002", vuln.StatusUnfixed, []vuln.Range{{Type: vuln.RangeEcosystem, Fixed: " "}}),
		rec("CVE-2000-0003", vuln.StatusUnfixed, []vuln.Range{{Type: vuln.RangeEcosystem, LastAffected: "", Introduced: ""}}),
		rec("CVE-2000-0004", vuln.StatusUnfixed, nil, ""),
		rec("CVE-2000-0005", vuln.StatusUnfixed, nil, "v"),
		rec("CVE-2000-0006", vuln.StatusUnfixed, []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "0"}}),
		rec("CVE-2000-0007", vuln.StatusUnfixed, nil),
	}}
	idx := &model.ImageIndex{
		Distribution: &vuln.Distribution{ID: "debian", VersionID: "12"},
		Packages:     []vuln.Package{deb("curl", "7.88.1-10", "", "")},
	}
	fs, warnings, err := Match(context.Background(), src, idx)
	if err != nil {
		t.Fatal(err)
	}
	w := []string{
		want{"CVE-2000-0006", "curl", "7.88.1-10", "", vuln.StatusUnfixed, "", "source", ""}.String(),
		want{"CVE-2000-0007", "curl", "7.88.1-10", "", vuln.StatusUnfixed, "", "source", ""}.String(),
	}
	if got := project(fs); !slices.Equal(got, w) {
		t.Errorf("findings %q, want %q", got, w)
	}
	joined := strings.Join(warnings, "\n")
	for _, id := range []string{"CVE-2000-0001", "CVE-2000-0003"} {
		if !strings.Contains(joined, id+" test (Debian:12) for curl: range without any bound") {
			t.Errorf("no warning for %s: %q", id, warnings)
		}
	}
}

func TestMatchErrors(t *testing.T) {
	idx := &model.ImageIndex{Distribution: bullseye, Packages: []vuln.Package{deb("gzip", "1.10-4", "", "")}}
	boom := errors.New("database is locked")
	if _, _, err := Match(context.Background(), &fakeSource{err: boom}, idx); !errors.Is(err, boom) {
		t.Errorf("source error: got %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := Match(ctx, &fakeSource{}, idx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: got %v", err)
	}
	if _, _, err := Match(context.Background(), &fakeSource{}, nil); err == nil {
		t.Error("nil index: no error")
	}
	// An unknown distribution is a warning, not an error.
	idx.Distribution = &vuln.Distribution{ID: "plan9"}
	fs, warnings, err := Match(context.Background(), &fakeSource{}, idx)
	if err != nil || len(fs) != 0 || len(warnings) != 1 || !strings.Contains(warnings[0], "plan9") {
		t.Errorf("unknown distribution: %v %v %q", fs, err, warnings)
	}
}

// TestAdvisoryFoldedIntoCVEs: a distribution advisory whose every CVE is
// reported for the package by the CVE's own record adds no row and is
// listed as related on those findings; one with a CVE nobody else reports
// stays a finding of its own, listing its CVEs.
func TestAdvisoryFoldedIntoCVEs(t *testing.T) {
	const d11 = "Debian:11"
	idx := &model.ImageIndex{Distribution: bullseye, Packages: []vuln.Package{deb("bsdutils", "1:2.36.1-8", "util-linux", "2.36.1-8")}}
	tracker := []vuln.Record{
		status("CVE-2021-3995", "debian-tracker", d11, "util-linux", vuln.StatusUnfixed),
		fixed("CVE-2021-3996", "debian-tracker", d11, "util-linux", "2.36.1-8+deb11u1"),
	}
	dsa := fixed("DSA-5055-1", "debian-dsa", d11, "util-linux", "2.36.1-8+deb11u1")
	dsa.CVEs = []string{"CVE-2021-3995", "CVE-2021-3996"}
	for _, tc := range []struct {
		name    string
		records []vuln.Record
		want    []string // id related cves
	}{
		{"every CVE reported", append([]vuln.Record{dsa}, tracker...), []string{
			"CVE-2021-3995 DSA-5055-1 ", "CVE-2021-3996 DSA-5055-1 "}},
		{"one CVE not reported", append([]vuln.Record{dsa}, tracker[1]), []string{
			"CVE-2021-3996  ", "DSA-5055-1  CVE-2021-3995,CVE-2021-3996"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fs, _, err := Match(context.Background(), &fakeSource{records: tc.records}, idx)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.ID+" "+strings.Join(f.Related, ",")+" "+strings.Join(f.CVEs, ","))
			}
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("findings\n got  %q\n want %q", got, tc.want)
			}
		})
	}
}
