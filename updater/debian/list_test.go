package debian_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/debian"
	"github.com/lapps/lapps/vuln"
)

// releaseLineRE matches a "[codename] - package version-or-tag" line,
// independently of the parser's own expressions.
var releaseLineRE = regexp.MustCompile(`(?m)^[ \t]+\[([a-z]+)\] - (\S+) +(\S+)`)

// versionStartRE matches the start of a Debian version.
var versionStartRE = regexp.MustCompile(`^(\d+:)?\d`)

// knownCodenames are the Debian releases the lists name (woody..bullseye).
var knownCodenames = map[string]bool{
	"woody": true, "sarge": true, "etch": true, "lenny": true, "squeeze": true,
	"wheezy": true, "jessie": true, "stretch": true, "buster": true, "bullseye": true,
	"bookworm": true,
}

func byKey(recs []vuln.Record) map[string]vuln.Record {
	m := make(map[string]vuln.Record, len(recs))
	for _, r := range recs {
		m[r.Key()] = r
	}
	return m
}

func key(id, eco, pkg string) string { return id + "\x00" + eco + "\x00" + pkg }

func TestListParserRealData(t *testing.T) {
	dir := testenv.VulnData(t, "debian-security-tracker")
	p, err := updater.Lookup("debian-dsa")
	if err != nil {
		t.Fatal(err)
	}
	recs, err := p.Parse(context.Background(), os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}

	// Expected counts, from the raw files: every release line of a known
	// codename whose second field is a version or a tag the parser maps.
	want := map[vuln.Status]int{}
	for _, f := range []string{"data/DSA/list", "data/DLA/list"} {
		raw, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range releaseLineRE.FindAllStringSubmatch(string(raw), -1) {
			if !knownCodenames[m[1]] {
				continue
			}
			switch m[3] {
			case "<not-affected>":
				want[vuln.StatusNotAffected]++
			case "<end-of-life>", "<no-dsa>", "<ignored>":
				want[vuln.StatusWontFix]++
			case "<unfixed>", "<postponed>":
				want[vuln.StatusUnfixed]++
			default:
				// A version starts with a digit; one line has a
				// package name where the version belongs.
				if versionStartRE.MatchString(m[3]) {
					want[vuln.StatusFixed]++
				}
			}
		}
	}
	got := map[vuln.Status]int{}
	ids := map[string]bool{}
	for _, r := range recs {
		got[r.Status]++
		ids[r.ID[:3]] = true
		if r.ID == "" || r.Package == "" || !strings.HasPrefix(r.Ecosystem, "Debian:") {
			t.Errorf("incomplete record %+v", r)
		}
		if (r.Status == vuln.StatusFixed) != (len(r.Ranges) == 1 && r.Ranges[0].Fixed != "") {
			t.Errorf("%s: status %s with ranges %v", r.Key(), r.Status, r.Ranges)
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records by status = %v, want %v (from the release lines)", got, want)
	}
	if !ids["DSA"] || !ids["DLA"] {
		t.Errorf("want DSA and DLA records in one feed, got prefixes %v", ids)
	}
	t.Logf("%d records: %v", len(recs), got)

	m := byKey(recs)
	for _, tc := range []struct {
		id, eco, pkg string
		status       vuln.Status
		fixed        string
		aliases      []string
		title        string
		published    string
		severity     vuln.Severity
	}{
		// [29 Mar 2023] DSA-5380-1 xorg-server - security update / {CVE-2023-1393} / [bullseye] - xorg-server 2:1.20.11-1+deb11u6
		{"DSA-5380-1", "Debian:11", "xorg-server", vuln.StatusFixed, "2:1.20.11-1+deb11u6", []string{"CVE-2023-1393"}, "security update", "2023-03-29", vuln.SeverityUnknown},
		// The same issue for buster, in the DLA list.
		{"DLA-3372-1", "Debian:10", "xorg-server", vuln.StatusFixed, "2:1.20.4-1+deb10u9", []string{"CVE-2023-1393"}, "security update", "2023-03-29", vuln.SeverityUnknown},
		{"DSA-5378-1", "Debian:11", "xen", vuln.StatusFixed, "4.14.5+94-ge49571868d-1",
			[]string{"CVE-2022-23824", "CVE-2022-42331", "CVE-2022-42332", "CVE-2022-42333", "CVE-2022-42334"}, "security update", "2023-03-25", vuln.SeverityUnknown},
		// A regression update: no CVE list.
		{"DSA-5356-2", "Debian:11", "sox", vuln.StatusFixed, "14.4.2+git20190427-2+deb11u2", nil, "regression update", "2023-03-17", vuln.SeverityUnknown},
		// [woody] - sudo 1.6.6-1.3woody1 (medium)
		{"DSA-735-1", "Debian:3.0", "sudo", vuln.StatusFixed, "1.6.6-1.3woody1", []string{"CVE-2005-1993"}, "pathname validation race", "2005-07-01", vuln.SeverityMedium},
		// [woody] - mantis <not-affected> (Vulnerable code not present)
		{"DSA-944-1", "Debian:3.0", "mantis", vuln.StatusNotAffected, "", nil, "several", "2006-01-17", vuln.SeverityUnknown},
		// [squeeze] - virtualbox-ose <end-of-life>
		{"DLA-372-1", "Debian:6", "virtualbox-ose", vuln.StatusWontFix, "", nil, "end of support", "2015-12-18", vuln.SeverityUnknown},
	} {
		r, ok := m[key(tc.id, tc.eco, tc.pkg)]
		if !ok {
			t.Errorf("no record %s %s %s", tc.id, tc.eco, tc.pkg)
			continue
		}
		var fixed string
		if len(r.Ranges) > 0 {
			fixed = r.Ranges[0].Fixed
		}
		if r.Status != tc.status || fixed != tc.fixed || r.Title != tc.title || r.Severity != tc.severity ||
			r.Published.Format(time.DateOnly) != tc.published || r.Links[0] != "https://security-tracker.debian.org/tracker/"+tc.id {
			t.Errorf("%s %s %s: got status %s fixed %q title %q severity %s published %s links %v",
				tc.id, tc.eco, tc.pkg, r.Status, fixed, r.Title, r.Severity, r.Published, r.Links)
		}
		if tc.aliases != nil && !reflect.DeepEqual(r.Aliases, tc.aliases) {
			t.Errorf("%s: aliases %v, want %v", tc.id, r.Aliases, tc.aliases)
		}
		if tc.id == "DSA-944-1" && len(r.Aliases) != 9 {
			t.Errorf("DSA-944-1: %d aliases, want 9", len(r.Aliases))
		}
	}
}

// TestListParserFeedNames: a feed of downloaded files named "list" (or in
// DSA/ and DLA/ folders) is read by content, and other files are left
// alone.
func TestListParserFeedNames(t *testing.T) {
	dsa := "[29 Mar 2023] DSA-5380-1 xorg-server - security update\n\t{CVE-2023-1393}\n\t[bullseye] - xorg-server 2:1.20.11-1+deb11u6\n"
	dla := "[29 Mar 2023] DLA-3372-1 xorg-server - security update\n\t{CVE-2023-1393}\n\t[buster] - xorg-server 2:1.20.4-1+deb10u9\n"
	feed := fstest.MapFS{
		"list":        {Data: []byte(dsa)},
		"DLA/list":    {Data: []byte(dla)},
		"README":      {Data: []byte("not a list\n")},
		"DTSA/list":   {Data: []byte("[August 26th, 2005] DTSA-1-1 kismet - various\n\t[etch] - kismet 2005.08.R1-0.1etch1 (high)\n")},
		"sid-only":    {Data: []byte("[1 Jan 2024] DSA-9999-1 foo - security update\n\t[sid] - foo 1.0-1\n")},
		"empty/.keep": {Data: nil},
	}
	recs, err := debian.ListParser{}.Parse(context.Background(), feed)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.ID+" "+r.Ecosystem+" "+r.Package+" "+r.Ranges[0].Fixed)
	}
	want := []string{"DLA-3372-1 Debian:10 xorg-server 2:1.20.4-1+deb10u9", "DSA-5380-1 Debian:11 xorg-server 2:1.20.11-1+deb11u6"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestListParserBadInput(t *testing.T) {
	for _, tc := range []struct{ name, data string }{
		{"empty", ""},
		{"garbage", "\x00\x01\x02 binary \xff\xfe"},
		{"json", `{"a": 1}`},
		{"body before header", "\t[bullseye] - xorg-server 1.0\n[29 Mar 2023] DSA-1-1 x - y\n"},
		{"release line without version", "[29 Mar 2023] DSA-1-1 x - y\n\t[bullseye] - xorg-server\n"},
		{"release line without dash", "[29 Mar 2023] DSA-1-1 x - y\n\t[bullseye] xorg-server 1.0\n"},
		{"stray top-level text", "[29 Mar 2023] DSA-1-1 x - y\nhello world\n"},
		{"stray indented text", "[29 Mar 2023] DSA-1-1 x - y\n\tsomething else\n"},
		{"nested braces", "[29 Mar 2023] DSA-1-1 x - y\n\t{CVE-2023-1 {CVE-2023-2}}\n"},
		{"line too long", "[29 Mar 2023] DSA-1-1 x - y\n\t{" + strings.Repeat("CVE-2023-1234 ", 200000) + "}\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			feed := fstest.MapFS{"list": {Data: []byte(tc.data)}}
			if recs, err := (debian.ListParser{}).Parse(context.Background(), feed); err == nil {
				t.Errorf("no error; %d records", len(recs))
			}
		})
	}
	// Truncating the real list mid-line never yields an error-free parse
	// that invents data: a cut release line either errors or is dropped.
	dir := testenv.VulnData(t, "debian-security-tracker")
	raw, err := os.ReadFile(filepath.Join(dir, "data/DSA/list"))
	if err != nil {
		t.Fatal(err)
	}
	cut := raw[:bytes.Index(raw, []byte("[bullseye] - xorg-server"))+len("[bullseye] - xorg-se")]
	if _, err := debian.ParseList(context.Background(), bytes.NewReader(cut)); err == nil {
		t.Error("truncated release line: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (debian.ListParser{}).Parse(ctx, os.DirFS(dir)); err == nil {
		t.Error("cancelled context: no error")
	}
}

func FuzzDSAList(f *testing.F) {
	dir := testenv.VulnData(f, "debian-security-tracker")
	for _, name := range []string{"data/DSA/list", "data/DLA/list"} {
		raw, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			f.Fatal(err)
		}
		// Seeds: the head of each list and a stretch of old advisories
		// with tags and notes.
		f.Add(raw[:4000])
		if i := bytes.Index(raw, []byte("DSA-944-1")); i > 0 {
			f.Add(raw[i-14 : i+3000])
		}
	}
	f.Add([]byte("[17 Jan 2006] DSA-1-1 x - y\n\t{CVE-2005-1\n\t CVE-2005-2}\n\t[woody] - x <unfixed> (note)\n\tNOTE: n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := debian.ParseList(context.Background(), bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.ID == "" || r.Package == "" || !strings.HasPrefix(r.Ecosystem, "Debian:") {
				t.Fatalf("incomplete record %+v", r)
			}
			switch r.Status {
			case vuln.StatusFixed:
				if len(r.Ranges) != 1 || r.Ranges[0].Fixed == "" {
					t.Fatalf("fixed record without a fix: %+v", r)
				}
			case vuln.StatusUnfixed, vuln.StatusWontFix, vuln.StatusNotAffected:
				if len(r.Ranges) != 0 {
					t.Fatalf("%s record with ranges: %+v", r.Status, r)
				}
			default:
				t.Fatalf("bad status %q", r.Status)
			}
		}
	})
}
