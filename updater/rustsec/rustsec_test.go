package rustsec_test

import (
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"golang.org/x/mod/semver"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/rustsec"
	"github.com/lapps/lapps/vuln"
)

func dbDir(t testing.TB) string {
	return testenv.VulnData(t, "rustsec-advisory-db")
}

// TestRealDB parses the whole database and compares the record count
// with the advisory files counted independently (crates/*/*.md, less the
// withdrawn ones), then checks concrete records by hand against their
// files.
func TestRealDB(t *testing.T) {
	dir := dbDir(t)
	p, err := updater.Lookup(rustsec.Type)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := p.Parse(context.Background(), os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "crates", "*", "*.md"))
	withdrawn := regexp.MustCompile(`(?m)^withdrawn\s*=`)
	want := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !withdrawn.Match(b) {
			want++
		}
	}
	if len(files) < 1000 || len(recs) != want {
		t.Fatalf("%d records, want %d (%d advisory files)", len(recs), want, len(files))
	}
	byID := map[string]vuln.Record{}
	for _, r := range recs {
		if _, dup := byID[r.ID]; dup {
			t.Errorf("duplicate record %s", r.ID)
		}
		byID[r.ID] = r
		if r.Ecosystem != "crates.io" || r.Package == "" || !strings.HasPrefix(r.ID, "RUSTSEC-") {
			t.Errorf("%s: %+v", r.ID, r)
		}
		if (r.Status == vuln.StatusFixed) != hasFix(r.Ranges) {
			t.Errorf("%s: status %s with ranges %+v", r.ID, r.Status, r.Ranges)
		}
	}
	sr := func(intro, fixed string) vuln.Range {
		return vuln.Range{Type: vuln.RangeSemver, Introduced: intro, Fixed: fixed}
	}
	tests := []struct {
		id, pkg        string
		ranges         []vuln.Range
		aliases        []string
		severity       vuln.Severity
		sourceSeverity string
		title          string
	}{
		{
			// patched = [">= 1.5.1, < 1.6.0", ">= 1.6.3, < 1.7.0", ">= 1.7.2, < 1.8.0", ">= 1.8.1"]
			// unaffected = ["< 0.3.0"]
			"RUSTSEC-2021-0072", "tokio",
			[]vuln.Range{sr("0.3.0", "1.5.1"), sr("1.6.0", "1.6.3"), sr("1.7.0", "1.7.2"), sr("1.8.0", "1.8.1")},
			[]string{"CVE-2021-38191", "GHSA-2grh-hm3w-w7hv"}, vuln.SeverityUnknown, "",
			"Task dropped in wrong thread when aborting `LocalSet` task",
		},
		{
			// patched = ["^0.7.1", ">= 0.8.1"], unaffected = ["< 0.3"];
			// CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:H/A:N is 7.5.
			"RUSTSEC-2019-0004", "libp2p-core",
			[]vuln.Range{sr("0.3.0", "0.7.1"), sr("0.8.0-0", "0.8.1")},
			[]string{"CVE-2019-15545", "GHSA-4q4x-67hx-5mpg"}, vuln.SeverityHigh, "high",
			"Failure to properly verify ed25519 signatures makes any signature valid",
		},
		{
			// patched = [">= 0.2.23"], unaffected = ["=0.2.0", …, "=0.2.6"]
			"RUSTSEC-2020-0071", "time",
			[]vuln.Range{sr("0", "0.2.0"), sr("0.2.1-0", "0.2.1"), sr("0.2.2-0", "0.2.2"), sr("0.2.3-0", "0.2.3"),
				sr("0.2.4-0", "0.2.4"), sr("0.2.5-0", "0.2.5"), sr("0.2.6-0", "0.2.6"), sr("0.2.7-0", "0.2.23")},
			[]string{"CVE-2020-26235", "GHSA-wcg3-cvx6-7396"}, vuln.SeverityMedium, "medium", "",
		},
		{
			// informational = "unsound", patched = [">= 0.10.0"]
			"RUSTSEC-2025-0165", "i_tree",
			[]vuln.Range{sr("0", "0.10.0")}, nil, vuln.SeverityNegligible, "unsound", "",
		},
	}
	for _, tc := range tests {
		r, ok := byID[tc.id]
		if !ok {
			t.Errorf("%s: missing", tc.id)
			continue
		}
		if r.Package != tc.pkg || !reflect.DeepEqual(r.Ranges, tc.ranges) || !reflect.DeepEqual(r.Aliases, tc.aliases) ||
			r.Severity != tc.severity || r.SourceSeverity != tc.sourceSeverity || r.Status != vuln.StatusFixed {
			t.Errorf("%s:\n got %s %+v %v %s/%s %s\nwant %s %+v %v %s/%s", tc.id, r.Package, r.Ranges, r.Aliases, r.Severity, r.SourceSeverity, r.Status,
				tc.pkg, tc.ranges, tc.aliases, tc.severity, tc.sourceSeverity)
		}
		if tc.title != "" && r.Title != tc.title {
			t.Errorf("%s: title %q", tc.id, r.Title)
		}
		if r.Published.IsZero() || len(r.Links) == 0 || r.Description == "" {
			t.Errorf("%s: published %v, links %v, description %.40q", tc.id, r.Published, r.Links, r.Description)
		}
	}
	if _, ok := byID["RUSTSEC-2022-0044"]; ok {
		t.Error("withdrawn RUSTSEC-2022-0044 was kept")
	}
}

func hasFix(rs []vuln.Range) bool {
	for _, r := range rs {
		if r.Fixed != "" {
			return true
		}
	}
	return false
}

// TestRangesAgainstRequirements checks, for every advisory of the real
// database, that a version is in the affected ranges exactly when no
// patched or unaffected requirement matches it, over the versions the
// requirements name and their neighbours. The requirements are matched
// here by a direct reading of Cargo's rules, independent of the range
// construction.
func TestRangesAgainstRequirements(t *testing.T) {
	dir := dbDir(t)
	reqRE := regexp.MustCompile(`(?m)^(patched|unaffected)\s*=\s*\[([^\]]*)\]`)
	strRE := regexp.MustCompile(`"([^"]*)"`)
	verRE := regexp.MustCompile(`\d+(\.\d+){0,2}(-[0-9A-Za-z.]+)?`)
	checked := 0
	err := filepath.WalkDir(filepath.Join(dir, "crates"), func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".md") {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		meta := string(b)
		if i := strings.Index(meta[3:], "```"); i > 0 {
			meta = meta[:i+3]
		}
		var reqs []string
		for _, m := range reqRE.FindAllStringSubmatch(meta, -1) {
			for _, s := range strRE.FindAllStringSubmatch(m[2], -1) {
				reqs = append(reqs, s[1])
			}
		}
		// Patched and unaffected requirements both exclude versions.
		ranges, err := rustsec.AffectedRanges(reqs, nil)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return nil
		}
		for _, v := range candidates(verRE.FindAllString(strings.Join(reqs, " "), -1)) {
			want := !anyMatches(reqs, v)
			if got := inRanges(ranges, v); got != want {
				t.Errorf("%s: %s affected = %v, want %v (requirements %q, ranges %+v)", filepath.Base(p), v, got, want, reqs, ranges)
			}
			checked++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d (advisory, version) pairs checked", checked)
}

// candidates returns the versions named, completed to x.y.z, and their
// neighbours: the next patch, minor and major, a pre-release of each, and
// the previous patch.
func candidates(named []string) []string {
	seen := map[string]bool{"0.0.0": true, "0.0.1": true, "1.0.0": true, "99.0.0": true}
	for _, n := range named {
		core, pre, _ := strings.Cut(n, "-")
		p := strings.Split(core, ".")
		for len(p) < 3 {
			p = append(p, "0")
		}
		var x [3]int
		for i := range x {
			x[i] = atoi(p[i])
		}
		full := fmtv(x[0], x[1], x[2])
		if pre != "" {
			seen[full+"-"+pre] = true
		}
		for _, v := range []string{full, fmtv(x[0], x[1], x[2]+1), fmtv(x[0], x[1]+1, 0), fmtv(x[0]+1, 0, 0)} {
			seen[v] = true
			seen[v+"-alpha.1"] = true
		}
		if x[2] > 0 {
			seen[fmtv(x[0], x[1], x[2]-1)] = true
		}
	}
	out := make([]string, 0, len(seen))
	for v := range seen {
		out = append(out, v)
	}
	return out
}

func atoi(s string) int {
	n := 0
	for _, c := range s {
		n = n*10 + int(c-'0')
	}
	return n
}

func fmtv(a, b, c int) string {
	return itoa(a) + "." + itoa(b) + "." + itoa(c)
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	s := ""
	for ; n > 0; n /= 10 {
		s = string(rune('0'+n%10)) + s
	}
	return s
}

func cmp(a, b string) int { return semver.Compare("v"+a, "v"+b) }

// anyMatches reports whether one of the requirements matches v.
func anyMatches(reqs []string, v string) bool {
	for _, r := range reqs {
		if matches(r, v) {
			return true
		}
	}
	return false
}

// matches applies one Cargo requirement with RustSec's (OSV's) reading:
// plain semver precedence, pre-releases of the upper bound excluded for
// ^ and ~.
func matches(req, v string) bool {
	for _, c := range strings.Split(req, ",") {
		c = strings.TrimSpace(c)
		op := strings.TrimRight(c[:len(c)-len(strings.TrimLeft(c, "<>=^~"))], " ")
		rest := strings.TrimSpace(c[len(op):])
		core, pre, _ := strings.Cut(rest, "-")
		parts := strings.Split(core, ".")
		full := parts
		for len(full) < 3 {
			full = append(full, "0")
		}
		b := strings.Join(full, ".")
		if pre != "" {
			b += "-" + pre
		}
		switch op {
		case ">=":
			if cmp(v, b) < 0 {
				return false
			}
		case ">":
			if cmp(v, b) <= 0 {
				return false
			}
		case "<=":
			if cmp(v, b) > 0 {
				return false
			}
		case "<":
			if cmp(v, b) >= 0 {
				return false
			}
		case "=":
			if cmp(v, b) != 0 {
				return false
			}
		case "~":
			end := itoa(atoi(full[0])+1) + ".0.0-0"
			if len(parts) >= 2 {
				end = full[0] + "." + itoa(atoi(full[1])+1) + ".0-0"
			}
			if cmp(v, b) < 0 || cmp(v, end) >= 0 {
				return false
			}
		default: // "^" or bare
			var end string
			switch {
			case full[0] != "0":
				end = itoa(atoi(full[0])+1) + ".0.0-0"
			case len(parts) == 1:
				end = "1.0.0-0"
			case full[1] != "0" || len(parts) == 2:
				end = "0." + itoa(atoi(full[1])+1) + ".0-0"
			default:
				end = "0.0." + itoa(atoi(full[2])+1) + "-0"
			}
			if cmp(v, b) < 0 || cmp(v, end) >= 0 {
				return false
			}
		}
	}
	return true
}

func inRanges(rs []vuln.Range, v string) bool {
	for _, r := range rs {
		if r.Introduced != "0" && r.Introduced != "" && cmp(v, r.Introduced) < 0 {
			continue
		}
		if r.Fixed != "" && cmp(v, r.Fixed) >= 0 {
			continue
		}
		return true
	}
	return false
}

func TestAffectedRanges(t *testing.T) {
	sr := func(intro, fixed string) vuln.Range {
		return vuln.Range{Type: vuln.RangeSemver, Introduced: intro, Fixed: fixed}
	}
	tests := []struct {
		patched, unaffected []string
		want                []vuln.Range
		wantErr             bool
	}{
		{nil, nil, []vuln.Range{sr("0", "")}, false},
		{[]string{">= 1.2.3"}, nil, []vuln.Range{sr("0", "1.2.3")}, false},
		{[]string{">=1.2"}, nil, []vuln.Range{sr("0", "1.2.0")}, false},
		{[]string{"> 1.2.3"}, nil, []vuln.Range{sr("0", "1.2.4-0")}, false},
		{[]string{"^0.9.1"}, nil, []vuln.Range{sr("0", "0.9.1"), sr("0.10.0-0", "")}, false},
		{[]string{"0.9.1"}, nil, []vuln.Range{sr("0", "0.9.1"), sr("0.10.0-0", "")}, false},
		{[]string{"^1.2.3", ">= 2.0.1"}, nil, []vuln.Range{sr("0", "1.2.3"), sr("2.0.0-0", "2.0.1")}, false},
		{[]string{"^0.0.3"}, nil, []vuln.Range{sr("0", "0.0.3"), sr("0.0.4-0", "")}, false},
		{[]string{"~1.2.3"}, nil, []vuln.Range{sr("0", "1.2.3"), sr("1.3.0-0", "")}, false},
		{[]string{">= 2.0.0"}, []string{"< 1.0.0"}, []vuln.Range{sr("1.0.0", "2.0.0")}, false},
		{[]string{">= 2.0.0"}, []string{"<= 1.0.0"}, []vuln.Range{sr("1.0.1-0", "2.0.0")}, false},
		{nil, []string{"< 1.0.0"}, []vuln.Range{sr("1.0.0", "")}, false},
		{[]string{">= 1.0.0-alpha.2"}, nil, []vuln.Range{sr("0", "1.0.0-alpha.2")}, false},
		{[]string{"=1.0.0"}, nil, []vuln.Range{sr("0", "1.0.0"), sr("1.0.1-0", "")}, false},
		// Overlapping and touching requirements merge.
		{[]string{">= 1.0.0", ">= 2.0.0"}, []string{"< 1.0.0"}, nil, false},
		{[]string{">= 1.5.0, < 2.0.0", ">= 1.8.0"}, nil, []vuln.Range{sr("0", "1.5.0")}, false},
		{[]string{"< 1.0.0"}, []string{">= 1.0.0"}, nil, false},
		{[]string{"*"}, nil, nil, true},
		{[]string{">= 1.0.0, >= 2.0.0"}, nil, nil, true},
		{[]string{"^1.0, < 2"}, nil, nil, true},
		{[]string{">= 2.0.0, < 1.0.0"}, nil, nil, true},
		{[]string{">= 1.2.3.4"}, nil, nil, true},
		{[]string{">= 01.2.3"}, nil, nil, true},
		{[]string{""}, nil, nil, true},
	}
	for _, tc := range tests {
		got, err := rustsec.AffectedRanges(tc.patched, tc.unaffected)
		if (err != nil) != tc.wantErr {
			t.Errorf("%q %q: error %v", tc.patched, tc.unaffected, err)
			continue
		}
		if !tc.wantErr && !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q %q:\n got %+v\nwant %+v", tc.patched, tc.unaffected, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	good := "```toml\n[advisory]\nid = \"RUSTSEC-2099-0001\"\npackage = \"x\"\ndate = \"2099-01-01\"\n\n[versions]\npatched = [\">= 1.0.0\"]\n```\n\n# Title\n\nText.\n"
	tests := []struct {
		name    string
		files   map[string]string
		want    int
		wantErr string
	}{
		{"good", map[string]string{"crates/x/RUSTSEC-2099-0001.md": good, "README.md": "# RustSec\n"}, 1, ""},
		{"toolchain skipped", map[string]string{"crates/x/a.md": good, "rust/std/CVE-2099-1.md": strings.Replace(good, `"x"`, `"std"`, 1)}, 1, ""},
		{"no advisories", map[string]string{"README.md": "# hi\n"}, 0, "no advisories"},
		{"bad toml", map[string]string{"crates/x/a.md": "```toml\n[advisory\n```\n"}, 0, "metadata"},
		{"unterminated", map[string]string{"crates/x/a.md": "```toml\n[advisory]\nid = \"A\"\n"}, 0, "unterminated"},
		{"no id", map[string]string{"crates/x/a.md": strings.Replace(good, `id = "RUSTSEC-2099-0001"`, "", 1)}, 0, "no advisory id"},
		{"no package", map[string]string{"crates/x/a.md": strings.Replace(good, `package = "x"`, "", 1)}, 0, "no package"},
		// An advisory whose requirement cannot be read is skipped (and
		// counted): the rest of the database is good.
		{"bad requirement", map[string]string{"crates/x/a.md": strings.Replace(good, `">= 1.0.0"`, `">= x"`, 1), "crates/y/b.md": good}, 1, ""},
		{"empty requirement", map[string]string{"crates/x/a.md": strings.Replace(good, `">= 1.0.0"`, `""`, 1)}, 0, ""},
		{"empty requirement beside a good one", map[string]string{"crates/x/a.md": strings.Replace(good, `">= 1.0.0"`, `">= 1.0.0", ""`, 1)}, 0, ""},
		{"bad cvss", map[string]string{"crates/x/a.md": strings.Replace(good, "date =", "cvss = \"CVSS:3.1/AV:Q\"\ndate =", 1)}, 0, "cvss"},
		{"withdrawn", map[string]string{"crates/x/a.md": strings.Replace(good, "date =", "withdrawn = \"2099-02-02\"\ndate =", 1)}, 0, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			for k, v := range tc.files {
				fsys[k] = &fstest.MapFile{Data: []byte(v)}
			}
			var sk updater.Skips
			recs, err := rustsec.Parser{}.Parse(updater.WithSkips(context.Background(), &sk), fsys)
			if want := strings.Contains(tc.name, "requirement"); want != (sk.Total() == 1) {
				t.Errorf("skipped %v", sk.Counts())
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				if recs != nil {
					t.Fatalf("partial result %v", recs)
				}
				return
			}
			if err != nil || len(recs) != tc.want {
				t.Fatalf("%d records, %v", len(recs), err)
			}
		})
	}
}

func FuzzRustSec(f *testing.F) {
	root := filepath.Join(mustWd(f), "..", "..", "..", "shared", "vulndata", "rustsec-advisory-db", "crates")
	if d := os.Getenv("LAPPS_SHARED"); d != "" {
		root = filepath.Join(d, "vulndata", "rustsec-advisory-db", "crates")
	}
	for _, c := range []string{"tokio/RUSTSEC-2021-0072.md", "time/RUSTSEC-2020-0071.md", "libp2p-core/RUSTSEC-2019-0004.md", "i_tree/RUSTSEC-2025-0165.md", "markdown/RUSTSEC-2022-0044.md"} {
		if b, err := os.ReadFile(filepath.Join(root, c)); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("```toml\n[advisory]\nid = \"A\"\npackage = \"p\"\n[versions]\npatched = [\"^0.1\", \"> 2.0.0-rc.1, < 3\"]\n```\n# T\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec, ok, err := rustsec.ParseAdvisory(b)
		if err != nil || !ok {
			return
		}
		if rec.ID == "" || rec.Package == "" || rec.Ecosystem != "crates.io" {
			t.Fatalf("bad record %+v", rec)
		}
		for _, r := range rec.Ranges {
			for _, v := range []string{r.Introduced, r.Fixed} {
				if v != "" && v != "0" && !semver.IsValid("v"+v) {
					t.Fatalf("range bound %q is not semver", v)
				}
			}
			if r.Introduced != "0" && r.Fixed != "" && cmp(r.Introduced, r.Fixed) >= 0 {
				t.Fatalf("empty range %+v", r)
			}
		}
	})
}

func mustWd(tb testing.TB) string {
	wd, err := os.Getwd()
	if err != nil {
		tb.Fatal(err)
	}
	return wd
}
