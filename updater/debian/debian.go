// Package debian parses the Debian security team's own data into
// vulnerability records:
//
//   - "debian-tracker": the security tracker's JSON export
//     (https://security-tracker.debian.org/tracker/data/json), one record
//     per (CVE, release, source package); see TrackerParser.
//   - "debian-dsa": the DSA and DLA list text files of the tracker's
//     repository (data/DSA/list, data/DLA/list), one record per (advisory,
//     release, source package); see ListParser.
//
// Releases are named by codename in both; a record's ecosystem is
// "Debian:<release number>" (vuln.DebianRelease). Codenames without a
// release number ("sid", "experimental", a codename newer than lapps
// knows) produce no record: no image identifies itself with them in a way
// the matcher could use.
package debian

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/vuln/version"
)

func init() {
	updater.Register("debian-tracker", TrackerParser{})
	updater.Register("debian-dsa", ListParser{})
}

// trackerURL is where the security tracker shows a CVE, DSA or DLA.
const trackerURL = "https://security-tracker.debian.org/tracker/"

// ecosystem returns "Debian:<n>" for a release codename, or "" when the
// codename has no release number.
func ecosystem(codename string) string {
	n := vuln.DebianRelease(strings.TrimSpace(codename))
	if n == "" {
		return ""
	}
	return "Debian:" + n
}

// severity maps a tracker urgency to a normalised severity. The tracker
// writes "unimportant", "low", "medium", "high", "not yet assigned" and
// "end-of-life", and marks urgencies it took from NVD rather than set
// itself with one or two trailing asterisks ("high**"); those count as the
// same level.
func severity(urgency string) vuln.Severity {
	switch strings.TrimRight(strings.ToLower(strings.TrimSpace(urgency)), "*") {
	case "unimportant":
		return vuln.SeverityNegligible
	case "low":
		return vuln.SeverityLow
	case "medium":
		return vuln.SeverityMedium
	case "high":
		return vuln.SeverityHigh
	}
	return vuln.SeverityUnknown
}

// validVersion reports whether v is a Debian version that, as policy asks,
// starts with a digit (after an epoch); dpkg itself accepts words.
func validVersion(v string) bool {
	up := v
	if _, after, ok := strings.Cut(v, ":"); ok {
		up = after
	}
	if up == "" || up[0] < '0' || up[0] > '9' {
		return false
	}
	_, err := version.Dpkg.Parse(v)
	return err == nil
}

// parseFeed parses every regular file of feed that sniff recognises with
// parse, and merges the records; a feed with no such file is an error
// (none says what was missing). Both Debian parsers read their feeds so,
// within the feed's bounds (updater.LimitsOf), which parse applies to what
// it decodes; the name parse is given is the file's path in the feed.
func parseFeed(ctx context.Context, feed fs.FS, what, none string, sniff func(*bufio.Reader) bool,
	parse func(ctx context.Context, r io.Reader, name string, lim updater.Limits) ([]vuln.Record, error)) ([]vuln.Record, error) {
	var recs []vuln.Record
	err := streamFeed(ctx, feed, what, none, sniff, parse, func(r vuln.Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return dedupe(recs), nil
}

// streamFeed is parseFeed handing the records of each file to emit, not
// merged (updater.StreamParser).
func streamFeed(ctx context.Context, feed fs.FS, what, none string, sniff func(*bufio.Reader) bool,
	parse func(ctx context.Context, r io.Reader, name string, lim updater.Limits) ([]vuln.Record, error), emit func(vuln.Record) error) error {
	lim := updater.LimitsOf(feed)
	found := 0
	err := fs.WalkDir(feed, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", path, err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := feed.Open(path)
		if err != nil {
			return fmt.Errorf("open %s: %w", path, err)
		}
		defer f.Close()
		br := bufio.NewReaderSize(f, 1<<16)
		if !sniff(br) {
			return nil
		}
		found++
		rs, err := parse(ctx, br, path, lim)
		if err != nil {
			return fmt.Errorf("parse %s: %w", path, err)
		}
		for _, r := range rs {
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	if found == 0 {
		return fmt.Errorf("%s: %s", what, none)
	}
	return nil
}
