package osv_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/osv"
	"github.com/lapps/lapps/vuln"
)

// countPairs counts, from the files under dir and independently of the
// parser, the (record, affected package) pairs the parser must emit:
// records not withdrawn, packages named, and something to match on.
func countPairs(t testing.TB, dir string) (pairs int, withdrawn map[string]bool) {
	t.Helper()
	withdrawn = map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := strings.ToLower(filepath.Ext(p))
		if ext != ".json" && ext != ".yaml" && ext != ".yml" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var doc any
		if ext == ".json" {
			err = json.Unmarshal(data, &doc)
		} else {
			err = yaml.Unmarshal(data, &doc)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rec, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		if w, ok := rec["withdrawn"]; ok && w != nil && w != "" {
			withdrawn[rec["id"].(string)] = true
			return nil
		}
		affected, _ := rec["affected"].([]any)
		for _, a := range affected {
			am := a.(map[string]any)
			pkg, _ := am["package"].(map[string]any)
			if pkg["ecosystem"] == nil || pkg["name"] == nil {
				continue
			}
			ranges, _ := am["ranges"].([]any)
			versions, _ := am["versions"].([]any)
			usable := len(ranges) == 0 || len(versions) > 0
			for _, r := range ranges {
				if typ := r.(map[string]any)["type"]; typ == "ECOSYSTEM" || typ == "SEMVER" {
					usable = true
				}
			}
			if usable {
				pairs++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return pairs, withdrawn
}

func parseDir(t testing.TB, dir string) []vuln.Record {
	recs, _ := parseDirSkips(t, dir)
	return recs
}

// parseDirSkips parses a directory and returns what the parser counted as
// skipped.
func parseDirSkips(t testing.TB, dir string) ([]vuln.Record, map[string]int) {
	t.Helper()
	var sk updater.Skips
	recs, err := osv.Parser{}.Parse(updater.WithSkips(context.Background(), &sk), os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return recs, sk.Counts()
}

// dropped is the reason under which the parser counts an affected package
// it gives no record for because every range it had is malformed.
const dropped = "osv: affected package left without a valid range or version"

func find(recs []vuln.Record, id, eco, pkg string) *vuln.Record {
	for i := range recs {
		if recs[i].ID == id && recs[i].Ecosystem == eco && recs[i].Package == pkg {
			return &recs[i]
		}
	}
	return nil
}

// TestParseRealData parses each real OSV data set, checks the number of
// records against the files, the invariants of every record, and records
// checked by hand against their advisory text.
func TestParseRealData(t *testing.T) {
	providers := []string{"vunnel-format-samples", "tests", "unit", "providers"}
	tests := []struct {
		name  string
		path  []string
		check func(t *testing.T, recs []vuln.Record)
	}{
		{"almalinux", []string{"almalinux-osv-database", "advisories"}, func(t *testing.T, recs []vuln.Record) {
			r := find(recs, "ALBA-2025:20841", "AlmaLinux:9", "open-vm-tools")
			want := []vuln.Range{{Type: "ECOSYSTEM", Introduced: "0", Fixed: "13.0.0-1.el9_7.1"}}
			if r == nil || !reflect.DeepEqual(r.Ranges, want) || r.Severity != vuln.SeverityMedium || r.SourceSeverity != "Moderate" || r.Status != vuln.StatusFixed {
				t.Errorf("ALBA-2025:20841 open-vm-tools: %+v", r)
			}
			ecos := map[string]bool{}
			for _, r := range recs {
				ecos[r.Ecosystem] = true
				// An advisory's related CVEs are the CVEs it fixes, never
				// aliases (issue 13).
				if slices.ContainsFunc(r.Aliases, vuln.IsCVE) || slices.ContainsFunc(r.Related, vuln.IsCVE) {
					t.Errorf("%s: CVEs among aliases %v or related %v", r.ID, r.Aliases, r.Related)
				}
				if r.ID == "ALSA-2024:3339" && !slices.Equal(r.CVEs, []string{"CVE-2024-2961", "CVE-2024-33599", "CVE-2024-33600", "CVE-2024-33601", "CVE-2024-33602"}) {
					t.Errorf("%s: CVEs %v", r.ID, r.CVEs)
				}
			}
			for _, e := range []string{"AlmaLinux:9", "AlmaLinux:10"} {
				if !ecos[e] {
					t.Errorf("no %s records", e)
				}
			}
		}},
		{"golang", []string{"golang-vulndb", "data", "osv"}, func(t *testing.T, recs []vuln.Record) {
			r := find(recs, "GO-2020-0001", "Go", "github.com/gin-gonic/gin")
			if r == nil || !reflect.DeepEqual(r.Ranges, []vuln.Range{{Type: "SEMVER", Introduced: "0", Fixed: "1.6.0"}}) ||
				!slices.Equal(r.Aliases, []string{"CVE-2020-36567", "GHSA-6vm3-jj99-7229"}) ||
				r.Title != "Arbitrary log line injection in github.com/gin-gonic/gin" || !slices.Contains(r.Links, "https://pkg.go.dev/vuln/GO-2020-0001") ||
				!r.Modified.IsZero() || r.Published.Year() != 2021 {
				t.Errorf("GO-2020-0001: %+v", r)
			}
			// related is not aliases: GO-2024-3106 is CVE-2024-34156, and
			// only related to CVE-2022-30635 (GO-2022-0526).
			if r := find(recs, "GO-2024-3106", "Go", "stdlib"); r == nil || !slices.Equal(r.Aliases, []string{"CVE-2024-34156"}) ||
				!slices.Equal(r.Related, []string{"CVE-2022-30635"}) || len(r.CVEs) != 0 {
				t.Errorf("GO-2024-3106: %+v", r)
			}
			std := 0
			for _, r := range recs {
				if r.Package == "stdlib" || r.Package == "toolchain" {
					std++
				}
			}
			if std == 0 {
				t.Error("no stdlib or toolchain records")
			}
		}},
		{"pypa", []string{"pypa-advisory-database", "vulns"}, func(t *testing.T, recs []vuln.Record) {
			r := find(recs, "PYSEC-2017-98", "PyPI", "urllib3")
			if r == nil || !reflect.DeepEqual(r.Ranges, []vuln.Range{{Type: "ECOSYSTEM", Introduced: "1.17", Fixed: "1.18.1"}}) ||
				!slices.Equal(r.Versions, []string{"1.17", "1.18"}) || !slices.Equal(r.Aliases, []string{"CVE-2016-9015"}) ||
				!strings.HasPrefix(r.Title, "Versions 1.17 and 1.18 of the Python urllib3 library") {
				t.Errorf("PYSEC-2017-98: %+v", r)
			}
			// Fixed in "2019-09-12" and "0.2.0-n653", which PEP 440 cannot
			// order: nothing to match on, so no record (the matcher would
			// skip the range anyway).
			for _, k := range [][2]string{{"PYSEC-2019-125", "steam"}, {"PYSEC-2021-371", "binderhub"}} {
				if r := find(recs, k[0], "PyPI", k[1]); r != nil {
					t.Errorf("%s: record with an unorderable range: %+v", k[0], r)
				}
			}
		}},
		{"ghsa", []string{"github-advisory-database", "advisories"}, func(t *testing.T, recs []vuln.Record) {
			r := find(recs, "GHSA-qwcr-r2fm-qrc7", "npm", "body-parser")
			wantCVSS := []vuln.CVSS{
				{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", Score: 7.5},
				{Version: "4.0", Vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N", Score: 8.7},
			}
			if r == nil || r.Severity != vuln.SeverityHigh || r.SourceSeverity != "HIGH" || !reflect.DeepEqual(r.CVSS, wantCVSS) ||
				!reflect.DeepEqual(r.Ranges, []vuln.Range{{Type: "ECOSYSTEM", Introduced: "0", Fixed: "1.20.3"}}) {
				t.Errorf("GHSA-qwcr-r2fm-qrc7: %+v", r)
			}
			if r := find(recs, "GHSA-fvqr-27wr-82fm", "npm", "lodash"); r == nil || r.Severity != vuln.SeverityLow {
				t.Errorf("GHSA-fvqr-27wr-82fm: %+v", r)
			}
		}},
		{"ubuntu", append(slices.Clone(providers), "ubuntu", "test-fixtures"), func(t *testing.T, recs []vuln.Record) {
			r := find(recs, "UBUNTU-CVE-2021-3782", "Ubuntu:Pro:16.04", "wayland")
			if r == nil || !reflect.DeepEqual(r.Ranges, []vuln.Range{{Type: "ECOSYSTEM", Introduced: "0", Fixed: "1.12.0-1~ubuntu16.04.3+esm1"}}) ||
				r.Severity != vuln.SeverityMedium || r.SourceSeverity != "medium" || !slices.Equal(r.Aliases, []string{"CVE-2021-3782"}) ||
				len(r.CVSS) != 1 || r.CVSS[0].Score != 6.6 {
				t.Errorf("UBUNTU-CVE-2021-3782 wayland: %+v", r)
			}
		}},
		{"rocky", append(slices.Clone(providers), "rocky", "test-fixtures", "osv"), func(t *testing.T, recs []vuln.Record) {
			r := find(recs, "RLSA-2021:3891", "Rocky Linux:8", "java-11-openjdk")
			if r == nil || r.Ranges[0].Fixed != "1:11.0.13.0.8-1.el8_4" || r.Severity != vuln.SeverityHigh || r.SourceSeverity != "Important" ||
				len(r.CVSS) != 1 || r.CVSS[0].Score != 6.8 || len(r.CVEs) != 10 || len(r.Aliases) != 0 {
				t.Errorf("RLSA-2021:3891: %+v", r)
			}
		}},
		{"chainguard", append(slices.Clone(providers), "chainguard", "test-fixtures", "input", "osv"), func(t *testing.T, recs []vuln.Record) {
			r := find(recs, "CGA-224q-ccj5-2p53", "Chainguard", "haproxy-2.2")
			if r == nil || r.Ranges[0].Fixed != "2.2.34-r0" || !slices.Equal(r.Aliases, []string{"CVE-2025-32464", "GHSA-frg5-h47x-75j9"}) || r.Severity != vuln.SeverityCritical {
				t.Errorf("CGA-224q-ccj5-2p53: %+v", r)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testenv.VulnData(t, tt.path...)
			pairs, withdrawn := countPairs(t, dir)
			recs, skips := parseDirSkips(t, dir)
			t.Logf("%s: %d records, %d withdrawn, skipped %v", tt.name, len(recs), len(withdrawn), skips)
			if len(recs)+skips[dropped] != pairs {
				t.Errorf("%d records and %d dropped, want %d (record, package) pairs", len(recs), skips[dropped], pairs)
			}
			for i := range recs {
				r := &recs[i]
				if withdrawn[r.ID] {
					t.Errorf("withdrawn %s emitted", r.ID)
				}
				if r.ID == "" || r.Ecosystem == "" || r.Package == "" {
					t.Fatalf("incomplete record %+v", r)
				}
				if e, _ := vuln.NormalizeEcosystem(r.Ecosystem); e != r.Ecosystem {
					t.Errorf("%s: ecosystem %q not normalised", r.ID, r.Ecosystem)
				}
				hasFix := slices.ContainsFunc(r.Ranges, func(rg vuln.Range) bool { return rg.Fixed != "" })
				if (r.Status == vuln.StatusFixed) != hasFix || (r.Status != vuln.StatusFixed && r.Status != vuln.StatusUnfixed) {
					t.Errorf("%s %s: status %q with ranges %v", r.ID, r.Package, r.Status, r.Ranges)
				}
				for _, rg := range r.Ranges {
					if rg.Type != vuln.RangeEcosystem && rg.Type != vuln.RangeSemver {
						t.Errorf("%s: range type %q", r.ID, rg.Type)
					}
				}
			}
			tt.check(t, recs)
		})
	}
}

func TestParseDocument(t *testing.T) {
	type want struct {
		n        int
		ranges   []vuln.Range
		versions []string
		status   vuln.Status
		aliases  []string
		cves     []string
		related  []string
		severity vuln.Severity
		source   string
		pkg      string
		eco      string
	}
	rg := func(intro, fixed, last string) vuln.Range {
		return vuln.Range{Type: "ECOSYSTEM", Introduced: intro, Fixed: fixed, LastAffected: last}
	}
	tests := []struct {
		name    string
		doc     string
		yaml    bool
		want    want
		wantErr string
	}{
		{name: "several pairs and last_affected", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"PyPI","name":"Foo_Bar.baz"},
			"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0"},{"introduced":"2.0"},{"last_affected":"2.5"},{"introduced":"3.0"}]}]}]}`,
			want: want{n: 1, ranges: []vuln.Range{rg("0", "1.0", ""), rg("2.0", "", "2.5"), rg("3.0", "", "")}, status: vuln.StatusFixed, pkg: "foo-bar-baz", eco: "PyPI"}},
		{name: "PEP 503 keeps a trailing separator", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"PyPI","name":" Foo_ "},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0"}]}]}]}`,
			want: want{n: 1, ranges: []vuln.Range{rg("0", "1.0", "")}, status: vuln.StatusFixed, pkg: "foo-", eco: "PyPI"}},
		{name: "fixed without introduced", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"Left-Pad"},"ranges":[{"type":"SEMVER","events":[{"fixed":"1.2.0"}]}]}]}`,
			want: want{n: 1, ranges: []vuln.Range{{Type: "SEMVER", Introduced: "0", Fixed: "1.2.0"}}, status: vuln.StatusFixed, pkg: "Left-Pad", eco: "npm"}},
		{name: "git only with versions", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"GIT","repo":"r","events":[{"introduced":"abc"},{"fixed":"def"}]}],"versions":["1.0"," 1.1",""]}]}`,
			want: want{n: 1, versions: []string{"1.0", "1.1"}, status: vuln.StatusUnfixed, pkg: "x", eco: "PyPI"}},
		{name: "git only without versions", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"PyPI","name":"x"},"ranges":[{"type":"GIT","repo":"r","events":[{"introduced":"abc"}]}]}]}`,
			want: want{n: 0}},
		{name: "no ranges, no versions: every version", doc: `{"id":"MAL-1","affected":[{"package":{"ecosystem":"npm","name":"evil"}}]}`,
			want: want{n: 1, status: vuln.StatusUnfixed, pkg: "evil", eco: "npm"}},
		{name: "withdrawn", doc: `{"id":"X-1","withdrawn":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`, want: want{n: 0}},
		{name: "aliases, upstream and related", doc: `{"id":"UBUNTU-CVE-2024-1","aliases":["GHSA-a"],"upstream":["CVE-2024-1"],"related":["USN-1-1","CVE-2023-9"],
			"severity":[{"type":"Ubuntu","score":"negligible"}],"affected":[{"package":{"ecosystem":"Ubuntu:22.04:LTS","name":"curl"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"}]}]}]}`,
			want: want{n: 1, ranges: []vuln.Range{rg("0", "", "")}, status: vuln.StatusUnfixed, aliases: []string{"CVE-2024-1", "GHSA-a"}, related: []string{"CVE-2023-9", "USN-1-1"}, severity: vuln.SeverityNegligible, source: "negligible", pkg: "curl", eco: "Ubuntu:22.04"}},
		// A Go record related to another CVE is not that CVE (GO-2024-3106
		// and CVE-2022-30635, issue 13).
		{name: "related never aliases", doc: `{"id":"GO-9","aliases":["CVE-2024-34156"],"related":["CVE-2022-30635"," CVE-2024-34156"],"affected":[{"package":{"ecosystem":"Go","name":"stdlib"}}]}`,
			want: want{n: 1, status: vuln.StatusUnfixed, aliases: []string{"CVE-2024-34156"}, related: []string{"CVE-2022-30635"}, pkg: "stdlib", eco: "Go"}},
		// A distribution advisory's CVEs, from related, aliases or
		// upstream, are the CVEs it fixes; other related ids stay related.
		{name: "advisory cves", doc: `{"id":"ALSA-2024:1","aliases":["CVE-2024-2"],"upstream":["CVE-2024-3"],"related":["CVE-2024-1","RHSA-2024:1"],"affected":[{"package":{"ecosystem":"AlmaLinux:9","name":"glibc"}}]}`,
			want: want{n: 1, status: vuln.StatusUnfixed, cves: []string{"CVE-2024-1", "CVE-2024-2", "CVE-2024-3"}, related: []string{"RHSA-2024:1"}, pkg: "glibc", eco: "AlmaLinux:9"}},
		{name: "debian advisory with a non-CVE alias", doc: `{"id":"DSA-5514-1","aliases":["CVE-2023-4911","DEBIAN-X"],"affected":[{"package":{"ecosystem":"Debian:12","name":"glibc"}}]}`,
			want: want{n: 1, status: vuln.StatusUnfixed, aliases: []string{"DEBIAN-X"}, cves: []string{"CVE-2023-4911"}, pkg: "glibc", eco: "Debian:12"}},
		{name: "cvss v2 only", doc: `{"id":"X-1","severity":[{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:P/I:P/A:P"}],"affected":[{"package":{"ecosystem":"Debian:12","name":"a"}}]}`,
			want: want{n: 1, status: vuln.StatusUnfixed, severity: vuln.SeverityHigh, pkg: "a", eco: "Debian:12"}},
		{name: "cvss v3 critical per package", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"Alpine:v3.19","name":"a"},"severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}]}]}`,
			want: want{n: 1, status: vuln.StatusUnfixed, severity: vuln.SeverityCritical, pkg: "a", eco: "Alpine:v3.19"}},
		{name: "unparsable cvss", doc: `{"id":"X-1","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/garbage"}],"affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`,
			want: want{n: 1, status: vuln.StatusUnfixed, severity: vuln.SeverityUnknown, pkg: "a", eco: "npm"}},
		{name: "ecosystem_specific severity wins", doc: `{"id":"X-1","severity":[{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],"affected":[{"package":{"ecosystem":"Debian:11","name":"a"},"ecosystem_specific":{"urgency":"unimportant"}}]}`,
			want: want{n: 1, status: vuln.StatusUnfixed, severity: vuln.SeverityNegligible, source: "unimportant", pkg: "a", eco: "Debian:11"}},
		{name: "rocky summary", doc: `{"id":"RLSA-1","summary":"Critical: thing","affected":[{"package":{"ecosystem":"Rocky Linux:9.2","name":"a"}}]}`,
			want: want{n: 1, status: vuln.StatusUnfixed, severity: vuln.SeverityCritical, source: "Critical", pkg: "a", eco: "Rocky Linux:9"}},
		{name: "summary prefix ignored elsewhere", doc: `{"id":"GHSA-1","summary":"Low: quality","affected":[{"package":{"ecosystem":"npm","name":"a"}}]}`,
			want: want{n: 1, status: vuln.StatusUnfixed, severity: vuln.SeverityUnknown, pkg: "a", eco: "npm"}},
		{name: "package without ecosystem skipped", doc: `{"id":"OSV-1","affected":[{"ranges":[{"type":"GIT","repo":"r","events":[{"introduced":"0"}]}]}]}`, want: want{n: 0}},
		{name: "yaml with unquoted versions", yaml: true, doc: "id: PYSEC-1\naffected:\n- package: {name: Django, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: 0\n    - fixed: 1.10\n  versions: [1.0, 1.9]\nmodified: 2021-08-27T03:42:51.689777Z\n",
			want: want{n: 1, ranges: []vuln.Range{rg("0", "1.10", "")}, versions: []string{"1.0", "1.9"}, status: vuln.StatusFixed, pkg: "django", eco: "PyPI"}},
		{name: "yaml list", yaml: true, doc: "- id: A-1\n  affected: [{package: {name: a, ecosystem: npm}}]\n- id: A-2\n  affected: [{package: {name: b, ecosystem: npm}}]\n",
			want: want{n: 2, status: vuln.StatusUnfixed, pkg: "a", eco: "npm"}},
		{name: "index list", doc: `[{"id":"CGA-1","modified":"2026-01-07T00:00:00Z"},{"id":"CGA-2","modified":"2026-01-07T00:00:00Z"}]`, want: want{n: 0}},
		{name: "go modules index", doc: `[{"path":"golang.org/x/text","vulns":[{"id":"GO-1","modified":"2024-01-01T00:00:00Z"}]}]`, want: want{n: 0}},
		{name: "go db.json", doc: `{"modified":"2024-05-01T00:00:00Z"}`, want: want{n: 0}},
		// Malformed ranges never widen to every version (issue 12).
		{name: "empty fixed", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":""}]}]}]}`, want: want{n: 0}},
		{name: "empty last_affected", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"last_affected":" "}]}]}]}`, want: want{n: 0}},
		{name: "empty introduced", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":""}]}]}]}`, want: want{n: 0}},
		{name: "empty version only", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"versions":[""]}]}`, want: want{n: 0}},
		{name: "empty version beside a git range", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"PyPI","name":"a"},"ranges":[{"type":"GIT","repo":"r","events":[{"introduced":"0"}]}],"versions":[""]}]}`, want: want{n: 0}},
		{name: "no events", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[]}]}]}`, want: want{n: 0}},
		{name: "limit only", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"limit":"2.0.0"}]}]}]}`, want: want{n: 0}},
		{name: "event with two fields", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0","fixed":"1.0.0"}]}]}]}`, want: want{n: 0}},
		{name: "unorderable introduced", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"yesterday"},{"fixed":"1.0.0"}]}]}]}`, want: want{n: 0}},
		{name: "unorderable fixed", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"Debian:12","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"not a version"}]}]}]}`, want: want{n: 0}},
		{name: "yaml empty fixed", yaml: true, doc: "id: X-1\naffected:\n- package: {name: a, ecosystem: PyPI}\n  ranges:\n  - type: ECOSYSTEM\n    events:\n    - introduced: '0'\n    - fixed: ''\n", want: want{n: 0}},
		{name: "malformed range beside a good one", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":""}]},{"type":"SEMVER","events":[{"introduced":"2.0.0"},{"fixed":"2.1.0"}]}]}]}`,
			want: want{n: 1, ranges: []vuln.Range{{Type: "SEMVER", Introduced: "2.0.0", Fixed: "2.1.0"}}, status: vuln.StatusFixed, pkg: "a", eco: "npm"}},
		{name: "empty version beside a good one", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"npm","name":"a"},"versions":["","1.0.0"]}]}`,
			want: want{n: 1, versions: []string{"1.0.0"}, status: vuln.StatusUnfixed, pkg: "a", eco: "npm"}},
		{name: "unknown ecosystem: bounds unchecked", doc: `{"id":"X-1","affected":[{"package":{"ecosystem":"Hex","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"0"},{"fixed":"1.0.0"}]}]}]}`,
			want: want{n: 1, ranges: []vuln.Range{rg("0", "1.0.0", "")}, status: vuln.StatusFixed, pkg: "a", eco: "Hex"}},
		{name: "specific members of other types", doc: `{"id":"X-1","database_specific":{"severity":{"a":[1,2]},"url":7},"affected":[{"package":{"ecosystem":"Debian:11","name":"a"},"ecosystem_specific":{"urgency":null,"severity":"high"}}]}`,
			want: want{n: 1, status: vuln.StatusUnfixed, severity: vuln.SeverityHigh, source: "high", pkg: "a", eco: "Debian:11"}},
		{name: "empty object", doc: `{}`, wantErr: "without an id"},
		{name: "list element without id", doc: `[{"id":"A-1","affected":[{"package":{"ecosystem":"npm","name":"a"}}]},{"affected":[]}]`, wantErr: "record 1: record without an id"},
		{name: "not an object", doc: `"GO-2024-1"`, wantErr: "neither an object nor a list"},
		{name: "truncated", doc: `{"id":"X-1","affected":[`, wantErr: "json"},
		{name: "wrong type", doc: `{"id":"X-1","affected":{"package":"a"}}`, wantErr: "json"},
		{name: "empty", doc: "  \n", wantErr: "empty document"},
		{name: "yaml scalar", yaml: true, doc: "hello\n", wantErr: "not an OSV record"},
		{name: "bad yaml", yaml: true, doc: "id: [\n", wantErr: "yaml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := osv.ParseDocument([]byte(tt.doc), tt.yaml)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tt.want.n {
				t.Fatalf("%d records, want %d: %+v", len(recs), tt.want.n, recs)
			}
			if tt.want.n == 0 {
				return
			}
			r := recs[0]
			got := want{n: len(recs), ranges: r.Ranges, versions: r.Versions, status: r.Status, aliases: r.Aliases, cves: r.CVEs, related: r.Related, severity: r.Severity, source: r.SourceSeverity, pkg: r.Package, eco: r.Ecosystem}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// TestParseFeed: what a whole feed may hold besides records.
func TestParseFeed(t *testing.T) {
	rec := []byte(`{"id":"GO-1","affected":[{"package":{"ecosystem":"Go","name":"stdlib"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"1.21.9"}]}]}]}`)
	tests := []struct {
		name    string
		feed    fstest.MapFS
		n       int
		wantErr string
	}{
		{"records and other files", fstest.MapFS{
			"ID/GO-1.json":            {Data: rec},
			"README.md":               {Data: []byte("# hi")},
			"LICENSE":                 {Data: []byte("CC-BY")},
			".github/workflows/x.yml": {Data: []byte("on: push\njobs: {}\n")},
			".hidden.json":            {Data: []byte("not json")},
		}, 1, ""},
		{"corrupt file named", fstest.MapFS{"ID/GO-1.json": {Data: rec}, "ID/GO-2.json": {Data: []byte(`{"id": "GO-2", `)}}, 0, "ID/GO-2.json"},
		{"no osv files", fstest.MapFS{"README.md": {Data: []byte("# hi")}}, 0, "no .json, .yaml or .yml file"},
		{"only an index", fstest.MapFS{"all.json": {Data: []byte(`[{"id":"A","modified":"2024-01-01T00:00:00Z"}]`)}}, 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			recs, err := osv.Parser{}.Parse(context.Background(), tt.feed)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != tt.n {
				t.Fatalf("%d records, want %d", len(recs), tt.n)
			}
		})
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (osv.Parser{}).Parse(ctx, fstest.MapFS{"a.json": {Data: rec}}); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestParseCVSS(t *testing.T) {
	tests := []struct {
		vector  string
		version string
		score   float64
		sev     vuln.Severity
	}{
		{"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.1", 9.8, vuln.SeverityCritical},
		{"CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", "3.0", 9.8, vuln.SeverityCritical},
		{"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:H", "3.1", 6.6, vuln.SeverityMedium},
		{"CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", "4.0", 9.3, vuln.SeverityCritical},
		{"AV:N/AC:L/Au:N/C:P/I:P/A:P", "2.0", 7.5, vuln.SeverityHigh},
		{"AV:N/AC:L/Au:N/C:C/I:C/A:C", "2.0", 10, vuln.SeverityHigh},
		{"CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:N/I:N/A:N", "3.1", 0, vuln.SeverityNegligible},
	}
	for _, tt := range tests {
		c, err := osv.ParseCVSS(tt.vector)
		if err != nil {
			t.Errorf("%s: %v", tt.vector, err)
			continue
		}
		if c.Version != tt.version || c.Score != tt.score || osv.CVSSSeverity(c) != tt.sev {
			t.Errorf("%s: %+v severity %s, want %s %.1f %s", tt.vector, c, osv.CVSSSeverity(c), tt.version, tt.score, tt.sev)
		}
	}
	for _, bad := range []string{"", "CVSS:3.1/", "CVSS:3.1/AV:X", "CVSS:9.9/AV:N", "garbage"} {
		if _, err := osv.ParseCVSS(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestRatingSeverity(t *testing.T) {
	tests := map[string]vuln.Severity{
		"CRITICAL": vuln.SeverityCritical, "Important": vuln.SeverityHigh, "HIGH": vuln.SeverityHigh, "high**": vuln.SeverityHigh,
		"MODERATE": vuln.SeverityMedium, "medium": vuln.SeverityMedium, "Low": vuln.SeverityLow,
		"negligible": vuln.SeverityNegligible, "unimportant": vuln.SeverityNegligible,
	}
	for in, want := range tests {
		if got, ok := osv.RatingSeverity(in); !ok || got != want {
			t.Errorf("RatingSeverity(%q) = %s, %v; want %s", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "untriaged", "not yet assigned", "end-of-life"} {
		if _, ok := osv.RatingSeverity(in); ok {
			t.Errorf("RatingSeverity(%q) ok", in)
		}
	}
}
