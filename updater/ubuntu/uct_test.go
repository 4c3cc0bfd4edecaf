package ubuntu_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/ubuntu"
	"github.com/lapps/lapps/vuln"
)

// statusLineRE matches "<release>_<src>: <status>…" lines, independently
// of the parser.
var statusLineRE = regexp.MustCompile(`(?m)^([a-z]+(?:/esm)?)_(\S+):[ \t]*([a-zA-Z-]+)[ \t]*(?:[(\[]([^)\]\n]*))?`)

// dpkgVersionRE is what a Debian version looks like.
var dpkgVersionRE = regexp.MustCompile(`^(\d+:)?\d[A-Za-z0-9.+~-]*$`)

// releases the snapshot names, with their expected ecosystems; devel,
// upstream, product and the vivid overlays have none.
var releases = map[string]string{
	"dapper": "Ubuntu:6.06", "edgy": "Ubuntu:6.10", "feisty": "Ubuntu:7.04", "gutsy": "Ubuntu:7.10",
	"hardy": "Ubuntu:8.04", "intrepid": "Ubuntu:8.10", "jaunty": "Ubuntu:9.04", "karmic": "Ubuntu:9.10",
	"lucid": "Ubuntu:10.04", "maverick": "Ubuntu:10.10", "natty": "Ubuntu:11.04", "oneiric": "Ubuntu:11.10",
	"precise": "Ubuntu:12.04", "quantal": "Ubuntu:12.10", "raring": "Ubuntu:13.04", "saucy": "Ubuntu:13.10",
	"trusty": "Ubuntu:14.04", "utopic": "Ubuntu:14.10", "vivid": "Ubuntu:15.04", "wily": "Ubuntu:15.10",
	"xenial": "Ubuntu:16.04", "yakkety": "Ubuntu:16.10", "zesty": "Ubuntu:17.04", "artful": "Ubuntu:17.10",
	"bionic": "Ubuntu:18.04", "cosmic": "Ubuntu:18.10", "disco": "Ubuntu:19.04", "eoan": "Ubuntu:19.10",
	"precise/esm": "Ubuntu:Pro:12.04", "trusty/esm": "Ubuntu:Pro:14.04",
}

func TestUCTParserRealData(t *testing.T) {
	dir := testenv.VulnData(t, "ubuntu-cve-tracker")
	p, err := updater.Lookup("ubuntu-uct")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := p.Parse(context.Background(), os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}

	// Expected counts from the raw files: the last line of each (file,
	// release, package) with a status that gives a record.
	files, err := filepath.Glob(filepath.Join(dir, "active", "CVE-*"))
	if err != nil || len(files) < 6000 {
		t.Fatalf("%d tracker files (%v)", len(files), err)
	}
	want := map[vuln.Status]int{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		last := map[string]vuln.Status{}
		for _, m := range statusLineRE.FindAllStringSubmatch(string(raw), -1) {
			if releases[m[1]] == "" {
				continue
			}
			var st vuln.Status
			switch m[3] {
			case "released", "released-esm":
				if v := strings.Fields(strings.ReplaceAll(m[4], ",", " ")); len(v) > 0 && dpkgVersionRE.MatchString(v[0]) {
					st = vuln.StatusFixed
				}
			case "needs-triage", "needed", "deferred", "pending":
				st = vuln.StatusUnfixed
			case "ignored":
				st = vuln.StatusWontFix
			case "not-affected":
				st = vuln.StatusNotAffected
			}
			last[m[1]+"_"+m[2]] = st
		}
		for _, st := range last {
			if st != "" {
				want[st]++
			}
		}
	}
	got := map[vuln.Status]int{}
	for _, r := range recs {
		got[r.Status]++
		if (r.Status == vuln.StatusFixed) != (len(r.Ranges) == 1 && r.Ranges[0].Fixed != "") {
			t.Errorf("%s: status %s ranges %v", r.Key(), r.Status, r.Ranges)
		}
	}
	for _, st := range []vuln.Status{vuln.StatusFixed, vuln.StatusUnfixed, vuln.StatusWontFix, vuln.StatusNotAffected} {
		if got[st] != want[st] || want[st] == 0 {
			t.Errorf("%s records: %d, want %d (from the status lines)", st, got[st], want[st])
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
		severity     vuln.Severity
	}{
		// CVE-2019-1551 (Priority: low): openssl needed in xenial, ignored
		// in trusty, needed in trusty/esm; nodejs not-affected in xenial.
		{"CVE-2019-1551", "Ubuntu:16.04", "openssl", vuln.StatusUnfixed, "", vuln.SeverityLow},
		{"CVE-2019-1551", "Ubuntu:14.04", "openssl", vuln.StatusWontFix, "", vuln.SeverityLow},
		{"CVE-2019-1551", "Ubuntu:Pro:14.04", "openssl", vuln.StatusUnfixed, "", vuln.SeverityLow},
		{"CVE-2019-1551", "Ubuntu:Pro:12.04", "openssl", vuln.StatusUnfixed, "", vuln.SeverityLow},
		{"CVE-2019-1551", "Ubuntu:18.04", "openssl1.0", vuln.StatusUnfixed, "", vuln.SeverityLow},
		{"CVE-2019-1551", "Ubuntu:16.04", "nodejs", vuln.StatusNotAffected, "", vuln.SeverityLow},
		// CVE-2009-0166 (Priority: medium; Priority_koffice: low,
		// Priority_cups: negligible).
		{"CVE-2009-0166", "Ubuntu:9.04", "xpdf", vuln.StatusFixed, "3.02-1.4ubuntu2.9.04.1", vuln.SeverityMedium},
		{"CVE-2009-0166", "Ubuntu:9.04", "koffice", vuln.StatusFixed, "1:1.6.3-7ubuntu6.1", vuln.SeverityLow},
		{"CVE-2009-0166", "Ubuntu:16.04", "poppler", vuln.StatusFixed, "0.10.5-1ubuntu2", vuln.SeverityMedium},
		{"CVE-2009-0166", "Ubuntu:16.04", "cups", vuln.StatusNotAffected, "", vuln.SeverityNegligible},
		{"CVE-2009-0166", "Ubuntu:8.04", "xpdf", vuln.StatusWontFix, "", vuln.SeverityMedium},
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
		if r.Status != tc.status || fixed != tc.fixed || r.Severity != tc.severity {
			t.Errorf("%s %s %s: status %s fixed %q severity %s", tc.id, tc.eco, tc.pkg, r.Status, fixed, r.Severity)
		}
	}
	// Lines that give no record: DNE, devel, upstream.
	for _, k := range []string{
		"CVE-2019-1551\x00Ubuntu:16.04\x00openssl1.0",  // xenial_openssl1.0: DNE
		"CVE-2009-0166\x00Ubuntu:Pro:12.04\x00xpdf",    // precise/esm_xpdf: DNE (…)
		"CVE-2009-0166\x00Ubuntu:Pro:14.04\x00poppler", // trusty/esm_poppler: DNE (…)
	} {
		if r, ok := m[k]; ok {
			t.Errorf("unexpected record %+v", r)
		}
	}
	r := m["CVE-2019-1551\x00Ubuntu:16.04\x00openssl"]
	if !r.Published.Equal(time.Date(2019, 12, 6, 18, 15, 0, 0, time.UTC)) ||
		!strings.HasPrefix(r.Description, "There is an overflow bug in the x64_64 Montgomery squaring procedure used in exponentiation") ||
		len(r.CVSS) != 1 || r.CVSS[0].Version != "3.1" || r.CVSS[0].Vector != "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N" ||
		len(r.Links) != 3 || r.Links[0] != "https://ubuntu.com/security/CVE-2019-1551" || r.Links[2] != "https://www.openssl.org/news/secadv/20191206.txt" {
		t.Errorf("CVE-2019-1551 header fields: %+v", r)
	}
}

func TestUCTStatuses(t *testing.T) {
	doc := `Candidate: CVE-2024-0001
PublicDate: 2024-01-02
Description:
 line one
 line two
Priority: medium
CVSS:
 nvd: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H [9.8 CRITICAL]

Patches_foo:
 upstream: https://example.org/commit/1
upstream_foo: released (1.2)
jammy_foo: released (1.2-1ubuntu0.1)
focal_foo: pending (1.1-1ubuntu0.2)
bionic_foo: deferred [2019-04-10]
xenial_foo: released-esm (1.0-1ubuntu0.1+esm1)
esm-infra/xenial_foo: released (1.0-1ubuntu0.1+esm1)
trusty_foo: released
noble_foo: released (not a version!)
devel_foo: needed
mantic_foo: ignored (end of life)
lunar_foo: not-affected (code not present)
kinetic_foo: DNE
snap_foo: needed
Priority_foo_jammy: high
`
	recs, err := ubuntu.ParseUCT(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		s := r.Ecosystem + " " + string(r.Status) + " " + r.Severity.String()
		if len(r.Ranges) > 0 {
			s += " " + r.Ranges[0].Fixed
		}
		got = append(got, s)
		if r.Description != "line one line two" || r.CVSS[0].Score != 9.8 || r.Published.Format(time.DateOnly) != "2024-01-02" {
			t.Errorf("header fields: %+v", r)
		}
	}
	want := []string{
		"Ubuntu:16.04 fixed medium 1.0-1ubuntu0.1+esm1",
		"Ubuntu:18.04 unfixed medium",
		"Ubuntu:20.04 unfixed medium",
		"Ubuntu:22.04 fixed high 1.2-1ubuntu0.1",
		"Ubuntu:23.04 not-affected medium",
		"Ubuntu:23.10 wont-fix medium",
		"Ubuntu:Pro:16.04 fixed medium 1.0-1ubuntu0.1+esm1",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestUCTBadInput(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"empty", ""},
		{"garbage", "\x00\x01\x02garbage\xff"},
		{"no candidate", "PublicDate: 2020-01-01\nxenial_foo: needed\n"},
		{"empty candidate", "Candidate:\nxenial_foo: needed\n"},
		{"line too long", "Candidate: CVE-2020-0001\nDescription: " + strings.Repeat("x", 2<<20) + "\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			feed := fstest.MapFS{"active/CVE-2020-0001": {Data: []byte(tc.data)}}
			if recs, err := (ubuntu.UCTParser{}).Parse(context.Background(), feed); err == nil {
				t.Errorf("no error; %d records", len(recs))
			}
		})
	}
	// No tracker file at all (only templates and JSON named after CVEs).
	feed := fstest.MapFS{
		"active/00boilerplate": {Data: []byte("Candidate:\n")},
		"CVE-2012-5124":        {Data: []byte(`{"name":"CVE-2012-5124"}`)},
	}
	if _, err := (ubuntu.UCTParser{}).Parse(context.Background(), feed); err == nil {
		t.Error("feed without tracker files: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (ubuntu.UCTParser{}).Parse(ctx, os.DirFS(testenv.VulnData(t, "ubuntu-cve-tracker"))); err == nil {
		t.Error("cancelled context: no error")
	}
}

func BenchmarkUCTActive(b *testing.B) {
	feed := os.DirFS(testenv.VulnData(b, "ubuntu-cve-tracker"))
	for b.Loop() {
		if _, err := (ubuntu.UCTParser{}).Parse(context.Background(), feed); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzUCT(f *testing.F) {
	dir := testenv.VulnData(f, "ubuntu-cve-tracker", "active")
	for _, name := range []string{"CVE-2019-1551", "CVE-2009-0166", "CVE-2017-15597"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := ubuntu.ParseUCT(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.ID == "" || r.Package == "" || !strings.HasPrefix(r.Ecosystem, "Ubuntu:") {
				t.Fatalf("incomplete record %+v", r)
			}
			if (r.Status == vuln.StatusFixed) != (len(r.Ranges) == 1 && r.Ranges[0].Fixed != "") {
				t.Fatalf("status %s with ranges %v", r.Status, r.Ranges)
			}
		}
	})
}
