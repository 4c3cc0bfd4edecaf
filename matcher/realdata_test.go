package matcher

import (
	"archive/tar"
	"bufio"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater/osv"
	"github.com/lapps/lapps/vuln"
	"gopkg.in/yaml.v3"
)

// almaOracle is what /work/shared/checks/oracle_rpm.py (rpm.labelCompare
// over the same OSV files) prints for the AlmaLinux 9.3 micro image
// against ../shared/vulndata/almalinux-osv-database/advisories and
// AlmaLinux:9; osv-scanner reports the same 29.
const almaOracle = `ALSA-2024:3339 glibc
ALSA-2024:3339 glibc-common
ALSA-2024:3339 glibc-minimal-langpack
ALSA-2025:1346 libgcc
ALSA-2025:4244 glibc
ALSA-2025:4244 glibc-common
ALSA-2025:4244 glibc-minimal-langpack
ALSA-2025:8655 glibc
ALSA-2025:8655 glibc-common
ALSA-2025:8655 glibc-minimal-langpack
ALSA-2025:9877 glibc
ALSA-2025:9877 glibc-common
ALSA-2025:9877 glibc-minimal-langpack
ALSA-2026:12441 libcap
ALSA-2026:19346 libcap
ALSA-2026:20597 glibc
ALSA-2026:20597 glibc-common
ALSA-2026:20597 glibc-minimal-langpack
ALSA-2026:2786 glibc
ALSA-2026:2786 glibc-common
ALSA-2026:2786 glibc-minimal-langpack
ALSA-2026:28911 coreutils-single
ALSA-2026:33226 glibc
ALSA-2026:33226 glibc-common
ALSA-2026:33226 glibc-minimal-langpack
ALSA-2026:42736 libacl
ALSA-2026:42952 glibc
ALSA-2026:42952 glibc-common
ALSA-2026:42952 glibc-minimal-langpack`

// almaRecords reads the AlmaLinux OSV advisories into records the way the
// OSV updater does (one record per advisory and package and range; CVEs
// from related, as Record.CVEs), enough for this test; it is not the
// updater.
func almaRecords(t testing.TB) []vuln.Record {
	t.Helper()
	dir := testenv.VulnData(t, "almalinux-osv-database", "advisories")
	files, err := filepath.Glob(filepath.Join(dir, "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no advisories under %s: %v", dir, err)
	}
	var out []vuln.Record
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			ID, Summary string
			Related     []string
			Withdrawn   string
			Affected    []struct {
				Package struct{ Ecosystem, Name string }
				Ranges  []struct {
					Type   string
					Events []map[string]string
				}
			}
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if doc.Withdrawn != "" {
			continue
		}
		for _, a := range doc.Affected {
			eco, ok := vuln.NormalizeEcosystem(a.Package.Ecosystem)
			if !ok {
				continue
			}
			r := vuln.Record{ID: doc.ID, CVEs: doc.Related, Source: "almalinux", Ecosystem: eco, Package: a.Package.Name, Status: vuln.StatusFixed, Title: doc.Summary}
			for _, rg := range a.Ranges {
				var cur vuln.Range
				cur.Type = rg.Type
				for _, ev := range rg.Events {
					switch {
					case ev["introduced"] != "":
						cur.Introduced = ev["introduced"]
					case ev["fixed"] != "":
						cur.Fixed = ev["fixed"]
						r.Ranges = append(r.Ranges, cur)
						cur = vuln.Range{Type: rg.Type}
					}
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// packagesFile reads a "name version" package list of the test images.
func packagesFile(t testing.TB, rel, kind string) []vuln.Package {
	t.Helper()
	var out []vuln.Package
	for _, l := range testenv.Lines(t, filepath.Join(testenv.Images(t), rel)) {
		name, ver, ok := strings.Cut(l, " ")
		if !ok {
			t.Fatalf("%s: bad line %q", rel, l)
		}
		out = append(out, vuln.Package{Name: name, Version: ver, Kind: kind})
	}
	return out
}

// TestAlmaLinuxAgainstOracle matches the AlmaLinux 9.3 image's packages
// against all the AlmaLinux OSV data and checks the findings against what
// rpm's own comparison decides.
func TestAlmaLinuxAgainstOracle(t *testing.T) {
	recs := almaRecords(t)
	pkgs := packagesFile(t, "rootfs/almalinux-9.3.packages", vuln.KindRPM)
	src := &fakeSource{records: recs}
	idx := &model.ImageIndex{Distribution: alma93, Packages: pkgs}
	fs, warnings, err := Match(context.Background(), src, idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) > 0 {
		t.Errorf("warnings: %q", warnings)
	}
	want := map[string]bool{}
	for _, l := range strings.Split(almaOracle, "\n") {
		want[l] = true
	}
	covered := map[string]bool{}
	for _, f := range fs {
		found := false
		for _, id := range append([]string{f.ID}, f.Aliases...) {
			if k := id + " " + f.Package; want[k] {
				covered[k] = true
				found = true
			}
		}
		if !found {
			t.Errorf("finding not in the oracle: %s %s %s fixed %s", f.ID, f.Package, f.InstalledVersion, f.FixedVersion)
		}
		if f.Status != vuln.StatusFixed || f.FixedVersion == "" {
			t.Errorf("%s %s: status %s fixed %q", f.ID, f.Package, f.Status, f.FixedVersion)
		}
	}
	for k := range want {
		if !covered[k] {
			t.Errorf("oracle finding missing: %s", k)
		}
	}
	// A concrete one, checked by hand in ALSA-2024:3339: glibc
	// 2.34-83.el9_3.7 is fixed in 2.34-100.el9_4.2.
	i := slices.IndexFunc(fs, func(f vuln.Finding) bool {
		return f.Package == "glibc" && (f.ID == "ALSA-2024:3339" || slices.Contains(f.Aliases, "ALSA-2024:3339"))
	})
	if i < 0 || fs[i].InstalledVersion != "2.34-83.el9_3.7" || fs[i].FixedVersion != "2.34-100.el9_4.2" {
		t.Errorf("ALSA-2024:3339 on glibc: %+v", fs)
	}
	// One finding per (advisory, package): an advisory never merges with
	// another through the CVEs both fix (issue 13).
	if len(fs) != len(want) {
		t.Errorf("%d findings, want the oracle's %d", len(fs), len(want))
	}
	if !slices.Equal(fs[i].CVEs, []string{"CVE-2024-2961", "CVE-2024-33599", "CVE-2024-33600", "CVE-2024-33601", "CVE-2024-33602"}) || len(fs[i].Aliases) != 0 {
		t.Errorf("ALSA-2024:3339 on glibc: cves %q aliases %q", fs[i].CVEs, fs[i].Aliases)
	}
	// Before Record.CVEs, sources put an advisory's CVEs among its
	// aliases: the same findings.
	for i := range recs {
		recs[i].Aliases, recs[i].CVEs = recs[i].CVEs, nil
	}
	old, _, err := Match(context.Background(), &fakeSource{records: recs}, idx)
	if err != nil {
		t.Fatal(err)
	}
	if g, w := project(old), project(fs); !slices.Equal(g, w) {
		t.Errorf("CVEs as aliases: %d findings, want %d as with CVEs", len(g), len(w))
	}
	t.Logf("%d findings cover the oracle's %d (advisory, package) pairs", len(fs), len(want))
}

// mapSource answers from records grouped by name, as an indexed store
// would, so that benchmarks measure the matcher.
type mapSource map[string]map[string][]vuln.Record

func (m mapSource) Records(_ context.Context, eco string, names []string) ([]vuln.Record, error) {
	size := 0
	for _, n := range names {
		size += len(m[eco][n])
	}
	out := make([]vuln.Record, 0, size)
	for _, n := range names {
		out = append(out, m[eco][n]...)
	}
	return out, nil
}

// RecordsByID returns the records of ids, whatever their ecosystem.
func (m mapSource) RecordsByID(_ context.Context, ids []string) ([]vuln.Record, error) {
	var out []vuln.Record
	for _, byName := range m {
		for _, recs := range byName {
			for _, r := range recs {
				if slices.Contains(ids, r.ID) {
					out = append(out, r)
				}
			}
		}
	}
	return out, nil
}

// debianMidWorkload builds the Debian mid image's dpkg packages and about
// 60,000 records: 40 per package, the rest for packages the image does not
// have. In the heavy workload, per 8 records of a package: 4 fixed below
// the installed version, 2 above it, one unfixed, and an advisory that
// fixes one of those above; in the typical one (closer to the
// Debian tracker, where most of a package's CVEs were fixed long ago) 36
// fixed below, one above with its advisory, one unfixed and one not
// affected.
func debianMidWorkload(b testing.TB, heavy bool) (mapSource, *model.ImageIndex, int) {
	pkgs := packagesFile(b, "debian/debian-bookworm-mid.packages", vuln.KindDeb)
	const eco = "Debian:12"
	src := mapSource{eco: {}}
	n, lastCVE := 0, ""
	add := func(r vuln.Record) {
		src[eco][r.Package] = append(src[eco][r.Package], r)
		n++
	}
	for _, p := range pkgs {
		for i := 0; i < 40; i++ {
			id := fmt.Sprintf("CVE-2023-%05d", n)
			kind := i % 8
			if !heavy {
				kind = map[int]int{36: 4, 37: 7, 38: 6, 39: 8}[i]
			}
			switch kind {
			case 0, 1, 2, 3:
				add(fixed(id, "debian-tracker", eco, p.Name, "0.1-1"))
			case 4, 5:
				add(fixed(id, "debian-tracker", eco, p.Name, p.Version+"+deb12u99"))
				lastCVE = id
			case 6:
				add(status(id, "debian-tracker", eco, p.Name, vuln.StatusUnfixed))
			case 7:
				add(fixed("DSA-9"+id[9:]+"-1", "debian-dsa", eco, p.Name, p.Version+"+deb12u99", lastCVE))
			case 8:
				add(status(id, "debian-tracker", eco, p.Name, vuln.StatusNotAffected))
			}
		}
	}
	for n < 60000 {
		add(fixed(fmt.Sprintf("CVE-2022-%05d", n), "debian-tracker", eco, fmt.Sprintf("other-%d", n%3000), "1.0-1"))
	}
	return src, &model.ImageIndex{Distribution: &vuln.Distribution{ID: "debian", VersionID: "12"}, Packages: pkgs}, n
}

// replaySource answers each distinct query once from src and then from
// memory.
type replaySource struct {
	src     RecordSource
	answers map[string][]vuln.Record
}

func (r *replaySource) Records(ctx context.Context, eco string, names []string) ([]vuln.Record, error) {
	key := eco + "\x00" + strings.Join(names, "\x00")
	if recs, ok := r.answers[key]; ok {
		return recs, nil
	}
	recs, err := r.src.Records(ctx, eco, names)
	r.answers[key] = recs
	return recs, err
}

func (r *replaySource) RecordsByID(ctx context.Context, ids []string) ([]vuln.Record, error) {
	key := "\x00id\x00" + strings.Join(ids, "\x00")
	if recs, ok := r.answers[key]; ok {
		return recs, nil
	}
	recs, err := r.src.RecordsByID(ctx, ids)
	r.answers[key] = recs
	return recs, err
}

func TestDebianMidWorkload(t *testing.T) {
	for _, heavy := range []bool{true, false} {
		src, idx, n := debianMidWorkload(t, heavy)
		fs, warnings, err := Match(context.Background(), src, idx)
		if err != nil {
			t.Fatal(err)
		}
		if len(warnings) > 0 {
			t.Errorf("warnings: %q", warnings[:min(5, len(warnings))])
		}
		// Heavy: 5 times 2 fixed above and one unfixed per package;
		// typical: one fixed above and one unfixed. The advisories add no
		// row: the CVE records report every CVE they fix.
		want := len(idx.Packages) * 2
		if heavy {
			want = len(idx.Packages) * 15
		}
		if len(fs) != want {
			t.Errorf("heavy=%v: %d findings from %d records, want %d", heavy, len(fs), n, want)
		}
	}
}

// BenchmarkMatchDebianMid: the Debian mid image's 142 dpkg packages against
// about 60,000 records, without the store's query.
func BenchmarkMatchDebianMid(b *testing.B) {
	for _, heavy := range []bool{false, true} {
		name := map[bool]string{false: "typical", true: "heavy"}[heavy]
		b.Run(name, func(b *testing.B) {
			src, idx, _ := debianMidWorkload(b, heavy)
			// Answer every call with the same slice, as a store would
			// materialise it, so that only the matcher is measured.
			replay := &replaySource{src: src, answers: map[string][]vuln.Record{}}
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := Match(context.Background(), replay, idx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// alpineInstalled reads the installed packages (name, version, origin) of
// the shipped Alpine 3.11.13 root file system.
func alpineInstalled(t *testing.T) []vuln.Package {
	t.Helper()
	path := filepath.Join(testenv.Shared(t), "testimages", "rootfs", "alpine-minirootfs-3.11.13-x86_64.tar.gz")
	f, err := os.Open(path)
	if err != nil {
		testenv.Missing(t, "%v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("%s: lib/apk/db/installed: %v", path, err)
		}
		if strings.TrimPrefix(h.Name, "./") != "lib/apk/db/installed" {
			continue
		}
		var out []vuln.Package
		sc := bufio.NewScanner(tr)
		for sc.Scan() {
			k, v, _ := strings.Cut(sc.Text(), ":")
			switch k {
			case "P":
				out = append(out, vuln.Package{Name: v, Kind: vuln.KindAPK})
			case "V":
				out[len(out)-1].Version = v
			case "o":
				out[len(out)-1].SourceName = v
			}
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		return out
	}
}

// secdbRecords reads Alpine secdb files as the secdb updater does: one
// record per CVE and origin, fixed in the key's version; key "0" is not
// affected. Enough for this test; it is not the updater.
func secdbRecords(t *testing.T, files ...string) []vuln.Record {
	t.Helper()
	var out []vuln.Record
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var db struct {
			Distroversion string `yaml:"distroversion"`
			Packages      []struct {
				Pkg struct {
					Name     string              `yaml:"name"`
					Secfixes map[string][]string `yaml:"secfixes"`
				} `yaml:"pkg"`
			} `yaml:"packages"`
		}
		if err := yaml.Unmarshal(b, &db); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		eco, _ := vuln.NormalizeEcosystem("Alpine:" + db.Distroversion)
		for _, p := range db.Packages {
			for fix, cves := range p.Pkg.Secfixes {
				for _, c := range cves {
					c, _, _ = strings.Cut(strings.TrimSpace(c), " ")
					r := vuln.Record{ID: c, Source: "alpine-secdb", Ecosystem: eco, Package: p.Pkg.Name, Status: vuln.StatusFixed}
					if fix == "0" {
						r.Status = vuln.StatusNotAffected
					} else {
						r.Ranges = []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "0", Fixed: fix}}
					}
					out = append(out, r)
				}
			}
		}
	}
	return out
}

// TestAlpineAgainstSecdb matches the Alpine 3.11.13 image against the
// v3.11 secdb: every fix there predates the image, so no finding; with
// every installed version set back to "0.1-r0", one finding per CVE the
// secdb lists for each package's origin.
func TestAlpineAgainstSecdb(t *testing.T) {
	dir := testenv.VulnData(t, "alpine-secdb", "v3.11")
	recs := secdbRecords(t, filepath.Join(dir, "main.yaml"), filepath.Join(dir, "community.yaml"))
	pkgs := alpineInstalled(t)
	if len(pkgs) != 14 {
		t.Fatalf("%d installed packages, want 14", len(pkgs))
	}
	idx := &model.ImageIndex{Distribution: alpine, Packages: pkgs}
	fs, warnings, err := Match(context.Background(), &fakeSource{records: recs}, idx)
	if err != nil || len(fs) != 0 || len(warnings) != 0 {
		t.Fatalf("Alpine 3.11.13: %d findings %v, warnings %q, err %v", len(fs), project(fs), warnings, err)
	}

	old := slices.Clone(pkgs)
	want := 0
	for i := range old {
		old[i].Version = "0.1-r0"
		origin := old[i].SourceName
		cves := map[string]bool{}
		for _, r := range recs {
			if r.Package == origin && r.Status == vuln.StatusFixed {
				cves[r.ID] = true
			}
		}
		want += len(cves)
	}
	idx.Packages = old
	fs, warnings, err = Match(context.Background(), &fakeSource{records: recs}, idx)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("warnings %q, err %v", warnings, err)
	}
	if len(fs) != want || want == 0 {
		t.Errorf("old versions: %d findings, want %d", len(fs), want)
	}
	// Checked by hand in v3.11/main.yaml: openssl 1.1.1d-r3 fixes
	// CVE-2019-1551, and libcrypto1.1 comes from openssl.
	i := slices.IndexFunc(fs, func(f vuln.Finding) bool { return f.ID == "CVE-2019-1551" && f.Package == "libcrypto1.1" })
	if i < 0 || fs[i].FixedVersion != "1.1.1d-r3" || fs[i].SourcePackage != "openssl" || fs[i].MatchedBy != vuln.MatchedBySource {
		t.Errorf("CVE-2019-1551 on libcrypto1.1: %+v", fs)
	}
}

// goVulnDB parses the whole Go vulnerability database with the OSV
// updater's parser.
func goVulnDB(t *testing.T) []vuln.Record {
	t.Helper()
	dir := testenv.VulnData(t, "golang-vulndb", "data", "osv")
	files, err := filepath.Glob(filepath.Join(dir, "GO-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no records under %s: %v", dir, err)
	}
	var out []vuln.Record
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		recs, err := osv.ParseDocument(b, false)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for i := range recs {
			recs[i].Source = "go-vulndb"
		}
		out = append(out, recs...)
	}
	return out
}

// TestRelatedNeverMerges matches Go standard libraries against the real
// Go vulnerability database: GO-2024-3106 (CVE-2024-34156, fixed in
// 1.22.7) is only related to CVE-2022-30635 (GO-2022-0526, fixed in
// 1.17.12), and must be its own finding with its own fix (issue 13).
func TestRelatedNeverMerges(t *testing.T) {
	recs := goVulnDB(t)
	tests := []struct {
		stdlib string
		// want maps a finding id to its fixed version and related ids;
		// absent: no finding.
		want map[string][2]string
	}{
		{"go1.17.5", map[string][2]string{
			"CVE-2022-30635": {"1.17.12", ""},
			"CVE-2024-34156": {"1.22.7", "CVE-2022-30635"},
		}},
		{"go1.18.1", map[string][2]string{
			"CVE-2022-30635": {"1.18.4", ""},
			"CVE-2024-34156": {"1.22.7", "CVE-2022-30635"},
		}},
		{"go1.23.0", map[string][2]string{
			"CVE-2024-34156": {"1.23.1", "CVE-2022-30635"},
		}},
		{"go1.23.1", map[string][2]string{}},
	}
	for _, tc := range tests {
		t.Run(tc.stdlib, func(t *testing.T) {
			idx := &model.ImageIndex{Packages: []vuln.Package{{Name: "stdlib", Version: tc.stdlib, Kind: vuln.KindGo}}}
			fs, warnings, err := Match(context.Background(), &fakeSource{records: recs}, idx)
			if err != nil || len(warnings) > 0 {
				t.Fatalf("err %v, warnings %q", err, warnings)
			}
			got := map[string]vuln.Finding{}
			for _, f := range fs {
				got[f.ID] = f
				// One Go record per finding: the database never gives
				// two ids to one vulnerability.
				n := 0
				for _, id := range append([]string{f.ID}, f.Aliases...) {
					if strings.HasPrefix(id, "GO-") {
						n++
					}
				}
				if n != 1 {
					t.Errorf("%s: %d Go ids among %q", f.ID, n, f.Aliases)
				}
			}
			for _, id := range []string{"CVE-2022-30635", "CVE-2024-34156"} {
				w, want := tc.want[id]
				f, ok := got[id]
				switch {
				case ok != want:
					t.Errorf("%s: found %v, want %v", id, ok, want)
				case ok && (f.FixedVersion != w[0] || strings.Join(f.Related, ",") != w[1]):
					t.Errorf("%s: fixed %q related %q, want %q %q", id, f.FixedVersion, f.Related, w[0], w[1])
				}
			}
		})
	}
}
