package alpine_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/alpine"
	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/vuln/version"
)

var (
	nameLineRE  = regexp.MustCompile(`^\s+name:\s*(\S+)`)
	verLineRE   = regexp.MustCompile(`^\s+['"]?([^\s'":]+)['"]?:\s*$`)
	entryLineRE = regexp.MustCompile(`^\s+-\s+(.*)$`)
	cveAnyRE    = regexp.MustCompile(`CVE[-_]\d{4}-\d{4,}`)
	otherIDRE   = regexp.MustCompile(`\b[A-Za-z]+(?:-[A-Za-z]+)*-\d[\w-]*`)
)

// countSecDB scans a secdb YAML file line by line, independently of the
// parser, and adds its (package, id) pairs to ids, with the fixed versions
// each pair is listed under.
func countSecDB(t *testing.T, path string, ids map[string][]string) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	var pkg, ver string
	inFixes := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.Contains(line, "- pkg:"):
			inFixes, pkg, ver = false, "", ""
		case nameLineRE.MatchString(line) && !inFixes:
			pkg = nameLineRE.FindStringSubmatch(line)[1]
		case strings.TrimSpace(line) == "secfixes:":
			inFixes = true
		case inFixes && verLineRE.MatchString(line):
			ver = verLineRE.FindStringSubmatch(line)[1]
		case inFixes && entryLineRE.MatchString(line):
			if ver != "0" && version.Valid(version.APK, ver) != nil {
				continue // "4.10-1-r1": not an apk version, nothing to match
			}
			e := entryLineRE.FindStringSubmatch(line)[1]
			found := cveAnyRE.FindAllString(e, -1)
			if len(found) == 0 {
				if m := otherIDRE.FindString(e); m != "" {
					found = []string{m}
				}
			}
			for _, id := range found {
				k := pkg + " " + strings.Replace(id, "_", "-", 1)
				ids[k] = append(ids[k], ver)
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
}

func TestParserRealAlpine(t *testing.T) {
	dir := testenv.VulnData(t, "alpine-secdb")
	p, err := updater.Lookup("alpine-secdb")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := p.Parse(context.Background(), os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, r := range recs {
		got[r.Ecosystem]++
		if r.ID == "" || r.Package == "" {
			t.Errorf("incomplete record %+v", r)
		}
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "v3.*"))
	if len(matches) != 9 {
		t.Fatalf("%d release directories, want 9 (v3.3..v3.11)", len(matches))
	}
	for _, rel := range matches {
		ids := map[string][]string{}
		for _, repo := range []string{"main.yaml", "community.yaml"} {
			countSecDB(t, filepath.Join(rel, repo), ids)
		}
		eco := "Alpine:" + filepath.Base(rel)
		if got[eco] != len(ids) || len(ids) == 0 && eco != "Alpine:v3.3" {
			t.Errorf("%s: %d records, want %d (distinct package/id pairs in the files)", eco, got[eco], len(ids))
		}
	}
	t.Logf("%d records: %v", len(recs), got)

	m := map[string]vuln.Record{}
	for _, r := range recs {
		m[r.Key()] = r
	}
	for _, tc := range []struct {
		id, eco, pkg string
		status       vuln.Status
		fixed        string
		aliases      []string
	}{
		// v3.11/main.yaml: ansible 2.9.3-r0: [CVE-2019-14904, CVE-2019-14905]
		{"CVE-2019-14904", "Alpine:v3.11", "ansible", vuln.StatusFixed, "2.9.3-r0", nil},
		// xen 4.8.1-r2: "CVE-2017-8904 XSA-214"
		{"CVE-2017-8904", "Alpine:v3.11", "xen", vuln.StatusFixed, "4.8.1-r2", []string{"XSA-214"}},
		// xen 4.7.1-r5: "XSA-207" alone
		{"XSA-207", "Alpine:v3.11", "xen", vuln.StatusFixed, "4.7.1-r5", nil},
		// community openjdk7 7.211.2.6.17-r0: "CVE_2019-2426"
		{"CVE-2019-2426", "Alpine:v3.11", "openjdk7", vuln.StatusFixed, "7.211.2.6.17-r0", nil},
		// "CVE-2018-14881 (BGP)"
		{"CVE-2018-14881", "Alpine:v3.11", "tcpdump", vuln.StatusFixed, "", nil},
		// v3.8 db: "0": [CVE-2016-0682, …] (Oracle Berkeley DB whitelist)
		{"CVE-2016-0682", "Alpine:v3.8", "db", vuln.StatusNotAffected, "", nil},
		// v3.10 wpa_supplicant lists CVE-2017-13077 under 2.7-r0 and the
		// backport 2.6-r7: the smaller is kept.
		{"CVE-2017-13077", "Alpine:v3.10", "wpa_supplicant", vuln.StatusFixed, "2.6-r7", nil},
	} {
		r, ok := m[tc.id+"\x00"+tc.eco+"\x00"+tc.pkg]
		if !ok {
			t.Errorf("no record %s %s %s", tc.id, tc.eco, tc.pkg)
			continue
		}
		var fixed string
		if len(r.Ranges) > 0 {
			fixed = r.Ranges[0].Fixed
		}
		if r.Status != tc.status || (tc.fixed != "" && fixed != tc.fixed) || (tc.status == vuln.StatusFixed) != (fixed != "") {
			t.Errorf("%s %s %s: status %s fixed %q", tc.id, tc.eco, tc.pkg, r.Status, fixed)
		}
		if !reflect.DeepEqual(r.Aliases, tc.aliases) {
			t.Errorf("%s %s: aliases %v, want %v", tc.id, tc.pkg, r.Aliases, tc.aliases)
		}
		if len(r.Links) != 1 || r.Links[0] != "https://security.alpinelinux.org/vuln/"+tc.id {
			t.Errorf("%s: links %v", tc.id, r.Links)
		}
	}
}

// TestParserJSONMatchesYAML: secdb.alpinelinux.org serves the same
// documents as JSON (v3.N/main.json); a JSON rendering of the real YAML
// gives the same records.
func TestParserJSONMatchesYAML(t *testing.T) {
	dir := testenv.VulnData(t, "alpine-secdb")
	raw, err := os.ReadFile(filepath.Join(dir, "v3.11", "main.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	if err := yaml.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(generic)
	if err != nil {
		t.Fatal(err)
	}
	fromYAML, err := alpine.Parser{}.Parse(context.Background(), fstest.MapFS{"v3.11/main.yaml": {Data: raw}})
	if err != nil {
		t.Fatal(err)
	}
	// Downloaded from https://secdb.alpinelinux.org/v3.11/main.json.
	fromJSON, err := alpine.Parser{}.Parse(context.Background(), fstest.MapFS{"main.json": {Data: js}})
	if err != nil {
		t.Fatal(err)
	}
	if len(fromYAML) < 500 || !reflect.DeepEqual(fromYAML, fromJSON) {
		t.Errorf("YAML gave %d records, JSON %d; equal: %v", len(fromYAML), len(fromJSON), reflect.DeepEqual(fromYAML, fromJSON))
	}
}

func TestParserWolfiChainguard(t *testing.T) {
	for _, tc := range []struct {
		provider, eco string
		id, pkg       string
		status        vuln.Status
		fixed         string
	}{
		{"wolfi", "Wolfi", "CVE-2016-2781", "coreutils", vuln.StatusNotAffected, ""},
		{"wolfi", "Wolfi", "CVE-2022-38533", "binutils", vuln.StatusFixed, "2.39-r2"},
		{"chainguard", "Chainguard", "CVE-2021-36156", "grafana", vuln.StatusFixed, "7.5.19-r0"},
	} {
		t.Run(tc.provider, func(t *testing.T) {
			path := testenv.VulnData(t, "vunnel-format-samples", "tests", "unit", "providers", tc.provider, "test-fixtures", "input", "secdb", "security.json")
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// As downloaded: a single file named security.json, no
			// distroversion: placed by urlprefix.
			recs, err := alpine.Parser{}.Parse(context.Background(), fstest.MapFS{"security.json": {Data: raw}})
			if err != nil {
				t.Fatal(err)
			}
			var doc struct {
				Packages []struct {
					Pkg struct {
						Name     string              `json:"name"`
						SecFixes map[string][]string `json:"secfixes"`
					} `json:"pkg"`
				} `json:"packages"`
			}
			if err := json.Unmarshal(raw, &doc); err != nil {
				t.Fatal(err)
			}
			pairs := map[string]bool{}
			for _, p := range doc.Packages {
				for _, ids := range p.Pkg.SecFixes {
					for _, id := range ids {
						pairs[p.Pkg.Name+" "+id] = true
					}
				}
			}
			if len(recs) != len(pairs) {
				t.Errorf("%d records, want %d", len(recs), len(pairs))
			}
			found := false
			for _, r := range recs {
				if r.Ecosystem != tc.eco {
					t.Fatalf("ecosystem %q, want %q", r.Ecosystem, tc.eco)
				}
				if r.ID == tc.id && r.Package == tc.pkg {
					found = true
					var fixed string
					if len(r.Ranges) > 0 {
						fixed = r.Ranges[0].Fixed
					}
					if r.Status != tc.status || fixed != tc.fixed {
						t.Errorf("%s %s: status %s fixed %q", tc.id, tc.pkg, r.Status, fixed)
					}
				}
			}
			if !found {
				t.Errorf("no record %s %s", tc.id, tc.pkg)
			}
		})
	}
}

func TestParserCleansEntries(t *testing.T) {
	doc := `distroversion: v3.19
reponame: main
packages:
  - pkg:
      name: foo
      secfixes:
        1.2-r0:
          - CVE-2019-1234 CVE-2019-5678
          - CVE-2020-0001   XSA-1  # comment
          - CVE-????-?????  XSA-295
          - CVE-2021-0002.patch
          - CVE-2017-17434-1
          - cve-2022-0003
          - ""
        1.1-r0:
          - CVE-2019-1234
        "0":
          - CVE-2019-5678
          - CVE-2023-0004
`
	recs, err := alpine.ParseSecDB([]byte(doc), "x.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		s := r.ID + " " + string(r.Status)
		if len(r.Ranges) > 0 {
			s += " " + r.Ranges[0].Fixed
		}
		if len(r.Aliases) > 0 {
			s += " " + strings.Join(r.Aliases, ",")
		}
		got = append(got, s)
		if r.Ecosystem != "Alpine:v3.19" || r.Package != "foo" {
			t.Errorf("record %+v", r)
		}
	}
	want := []string{
		"CVE-2017-17434 fixed 1.2-r0",
		"CVE-2019-1234 fixed 1.1-r0",
		"CVE-2019-5678 fixed 1.2-r0",
		"CVE-2020-0001 fixed 1.2-r0 XSA-1",
		"CVE-2021-0002 fixed 1.2-r0",
		"CVE-2022-0003 fixed 1.2-r0",
		"CVE-2023-0004 not-affected",
		"XSA-295 fixed 1.2-r0",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestParserBadInput(t *testing.T) {
	dir := testenv.VulnData(t, "alpine-secdb")
	raw, err := os.ReadFile(filepath.Join(dir, "v3.11", "main.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var generic any
	if err := yaml.Unmarshal(raw, &generic); err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(generic)
	apk := bytes.Index(raw, []byte(`apkurl: "`)) + 20
	for _, tc := range []struct{ name, file, data string }{
		{"truncated yaml in a quoted string", "main.yaml", string(raw[:apk])},
		{"truncated json", "main.json", string(js[:len(js)/2])},
		{"json trailing garbage", "main.json", string(js) + "}"},
		{"garbage json", "main.json", "\x00\x01\x02"},
		{"garbage yaml", "main.yaml", "\t\t: : -\n  - [\n"},
		{"yaml list", "main.yaml", "- a\n- b\n"},
		{"yaml two documents", "main.yaml", string(raw) + "\n---\nfoo: bar\n"},
		{"not a secdb", "main.yaml", "foo: bar\n"},
		{"secfixes not a map", "v3.19/main.yaml", "distroversion: v3.19\npackages:\n  - pkg:\n      name: a\n      secfixes: [1, 2]\n"},
		{"secfixes entry a map", "v3.19/main.yaml", "distroversion: v3.19\npackages:\n  - pkg:\n      name: a\n      secfixes:\n        1.0-r0:\n          - {a: b}\n"},
		{"no name", "v3.19/main.yaml", "distroversion: v3.19\npackages:\n  - pkg:\n      secfixes:\n        1.0-r0: [CVE-2020-1234]\n"},
		{"unplaceable", "security.json", `{"reponame":"x","urlprefix":"https://example.com","packages":[]}`},
		{"empty", "main.yaml", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if recs, err := (alpine.Parser{}).Parse(context.Background(), fstest.MapFS{tc.file: {Data: []byte(tc.data)}}); err == nil {
				t.Errorf("no error; %d records", len(recs))
			}
		})
	}
	if _, err := (alpine.Parser{}).Parse(context.Background(), fstest.MapFS{"README.md": {Data: []byte("# hi")}}); err == nil {
		t.Error("feed without a secdb document: no error")
	}
}

func BenchmarkAlpineSecDB(b *testing.B) {
	feed := os.DirFS(testenv.VulnData(b, "alpine-secdb"))
	for b.Loop() {
		if _, err := (alpine.Parser{}).Parse(context.Background(), feed); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzSecDB(f *testing.F) {
	dir := testenv.VulnData(f, "alpine-secdb")
	raw, err := os.ReadFile(filepath.Join(dir, "v3.11", "main.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw[:3000])
	if i := bytes.Index(raw, []byte("name: xen")); i > 0 {
		f.Add(append([]byte("distroversion: v3.11\npackages:\n  - pkg:\n      "), raw[i:i+1500]...))
	}
	wolfi, err := os.ReadFile(testenv.VulnData(f, "vunnel-format-samples", "tests", "unit", "providers", "wolfi", "test-fixtures", "input", "secdb", "security.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(wolfi[:min(len(wolfi), 2000)])
	f.Add(wolfi)
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := alpine.ParseSecDB(data, "v3.11/main.yaml")
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.ID == "" || r.Package == "" || r.Ecosystem == "" {
				t.Fatalf("incomplete record %+v", r)
			}
			if (r.Status == vuln.StatusFixed) != (len(r.Ranges) == 1 && r.Ranges[0].Fixed != "") {
				t.Fatalf("status %s with ranges %v", r.Status, r.Ranges)
			}
		}
	})
}
