// Package ubuntu parses the Ubuntu CVE tracker ("ubuntu-uct"): the text
// files of https://git.launchpad.net/ubuntu-cve-tracker (active/CVE-*,
// retired/CVE-*), one per CVE, with the state of every source package in
// every Ubuntu release. (Ubuntu's OSV records are read by the OSV parser.)
package ubuntu

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/vuln/version"
)

func init() { updater.Register("ubuntu-uct", UCTParser{}) }

// UCTParser parses Ubuntu CVE tracker files:
//
//	Candidate: CVE-2019-1551
//	PublicDate: 2019-12-06 18:15:00 UTC
//	References:
//	 https://www.openssl.org/news/secadv/20191206.txt
//	Description:
//	 There is an overflow bug …
//	Priority: low
//	CVSS:
//	 nvd: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:L/I:N/A:N
//
//	Patches_openssl:
//	upstream_openssl: needs-triage
//	trusty/esm_openssl: released (1.0.1f-1ubuntu2.27+esm1)
//	xenial_openssl: needed
//	Priority_openssl: medium
//
// One record per (CVE, release, source package). Releases: a codename
// gives "Ubuntu:<version>" (trusty → Ubuntu:14.04, including end-of-life
// codenames older than vuln.UbuntuRelease knows); "<codename>/esm" and
// "esm-*/<codename>" give "Ubuntu:Pro:<version>" (the Expanded Security
// Maintenance archive). "devel" (whichever release is in development at
// the time of the snapshot), "upstream", "product", snap and phone/core
// overlays ("vivid/ubuntu-core") give no record.
//
// Statuses:
//
//	released, released-esm (version)          → fixed in version
//	needs-triage, needed, deferred, pending    → unfixed
//	ignored (reason)                           → wont-fix
//	not-affected                               → not-affected
//	DNE (the package does not exist there)     → no record
//
// "pending (version)" means a fix is prepared but not yet published; as in
// Trivy it stays unfixed (the version is not in the archive). A released
// line without a usable version gives no record. Severity: the
// per-package "Priority_<src>_<release>:" or "Priority_<src>:" line,
// else the file's "Priority:" (negligible, low, medium, high, critical;
// "untriaged" is unknown).
type UCTParser struct{}

// cveFileRE matches the name of a tracker file.
var cveFileRE = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)

// Parse implements updater.Parser: every file named CVE-YYYY-NNNN in the
// feed is read (active/, retired/ and ignored/ alike), each within
// Limits.DocumentBytes (updater.LimitsOf); a feed with none is an error.
// A released line without a usable version is skipped and counted
// (updater.Skip).
func (p UCTParser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	recs, err := updater.Collect(ctx, p, feed)
	if err != nil {
		return nil, err
	}
	return dedupe(recs), nil
}

// Merge implements updater.Merger: of the records of one key, the first
// (as Parse keeps).
func (UCTParser) Merge(parts []vuln.Record) vuln.Record { return parts[0] }

// ParseStream implements updater.StreamParser: Parse, emitting the
// records of each file as it is read.
func (UCTParser) ParseStream(ctx context.Context, feed fs.FS, emit func(vuln.Record) error) error {
	lim := updater.LimitsOf(feed)
	found, bad := 0, 0
	err := fs.WalkDir(feed, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if !d.Type().IsRegular() || !cveFileRE.MatchString(path.Base(p)) {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := feed.Open(p)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer f.Close()
		br := bufio.NewReader(limits.Reader(f, lim.DocumentBytes, lim.DocumentError(p)))
		if head, _ := br.Peek(1); len(head) == 1 && head[0] == '{' {
			// JSON named after a CVE (vunnel's normalised form, Ubuntu's
			// OSV) is some other format, not a tracker file.
			slog.Debug("ubuntu cve tracker: skipping JSON file", "file", p)
			return nil
		}
		found++
		rs, n, err := parseUCT(br)
		if err != nil {
			return fmt.Errorf("parse %s: %w", p, err)
		}
		bad += n
		for _, r := range rs {
			if err := emit(r); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ubuntu cve tracker: %w", err)
	}
	if found == 0 {
		return errors.New("ubuntu cve tracker: no CVE-YYYY-NNNN file in the feed")
	}
	updater.Skip(ctx, skipBadFix, bad)
	return nil
}

// skipBadFix is the reason under which a released line without a usable
// version is counted.
const skipBadFix = "ubuntu cve tracker: released without a usable version"

// ParseUCT parses one tracker file, within the default
// Limits.DocumentBytes (updater.DefaultLimits).
func ParseUCT(r io.Reader) ([]vuln.Record, error) {
	lim := updater.DefaultLimits()
	recs, _, err := parseUCT(limits.Reader(r, lim.DocumentBytes, lim.DocumentError("CVE file")))
	if err != nil {
		return nil, fmt.Errorf("ubuntu cve tracker: %w", err)
	}
	return dedupe(recs), nil
}

// field is one "Key: value" of a file with its continuation lines.
type field struct {
	value string
	more  []string
}

// text is the value and its continuation lines joined by spaces.
func (f *field) text() string {
	parts := make([]string, 0, 1+len(f.more))
	if f.value != "" {
		parts = append(parts, f.value)
	}
	parts = append(parts, f.more...)
	return strings.Join(parts, " ")
}

// lines is the value and its continuation lines, empty ones left out.
func (f *field) lines() []string {
	var out []string
	for _, l := range append([]string{f.value}, f.more...) {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// readFields splits a file into its fields, in order, keeping the last of
// a key given twice.
func readFields(r io.Reader) (map[string]*field, []string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4<<10), 1<<20)
	fields := map[string]*field{}
	var (
		order []string
		cur   *field
		n     int
	)
	for sc.Scan() {
		n++
		raw := strings.TrimRight(sc.Text(), " \t\r")
		if raw == "" {
			cur = nil
			continue
		}
		if raw[0] == ' ' || raw[0] == '\t' {
			if cur != nil {
				cur.more = append(cur.more, strings.TrimSpace(raw))
			}
			continue
		}
		key, value, ok := strings.Cut(raw, ":")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			// Stray lines ("-- Tags_xen: …") carry nothing a record needs.
			cur = nil
			continue
		}
		if _, dup := fields[key]; !dup {
			order = append(order, key)
		}
		cur = &field{value: strings.TrimSpace(value)}
		fields[key] = cur
	}
	if err := sc.Err(); err != nil {
		return nil, nil, fmt.Errorf("line %d: %w", n+1, err)
	}
	return fields, order, nil
}

// parseUCT parses one file; bad counts its released lines without a
// usable version.
func parseUCT(r io.Reader) (recs []vuln.Record, bad int, err error) {
	fields, order, err := readFields(r)
	if err != nil {
		return nil, 0, err
	}
	cand, ok := fields["Candidate"]
	if !ok {
		return nil, 0, errors.New("no Candidate field: not an Ubuntu CVE tracker file")
	}
	id := strings.TrimSpace(cand.value)
	if id == "" || strings.ContainsAny(id, " \t") {
		return nil, 0, fmt.Errorf("bad Candidate %q", id)
	}
	base := vuln.Record{
		ID:        id,
		Published: publicDate(fields["PublicDate"]),
		Links:     []string{"https://ubuntu.com/security/" + id},
	}
	if f := fields["Ubuntu-Description"]; f != nil && f.text() != "" {
		base.Description = f.text()
	} else if f := fields["Description"]; f != nil {
		base.Description = f.text()
	}
	if f := fields["References"]; f != nil {
		for _, l := range f.lines() {
			if (strings.HasPrefix(l, "https://") || strings.HasPrefix(l, "http://")) && !slices.Contains(base.Links, l) {
				base.Links = append(base.Links, l)
			}
		}
	}
	if f := fields["CVSS"]; f != nil {
		base.CVSS = cvss(f.lines())
	}
	globalPriority := ""
	if f := fields["Priority"]; f != nil {
		globalPriority = f.value
	}

	for _, key := range order {
		rel, src, ok := strings.Cut(key, "_")
		if !ok || src == "" {
			continue
		}
		eco := releaseEcosystem(rel)
		if eco == "" {
			continue // upstream, Patches, Priority, Tags, devel, …
		}
		status, note := statusOf(fields[key].value)
		rec := base
		rec.Ecosystem, rec.Package = eco, src
		rec.Links = slices.Clone(base.Links)
		rec.CVSS = slices.Clone(base.CVSS)
		switch status {
		case "released", "released-esm":
			// "released (0.27-1+deb7u1build0.12.04.1, 0.28-1+deb8u1)":
			// the first version is the release's own.
			v, _, _ := strings.Cut(strings.TrimSpace(note), ",")
			if f := strings.Fields(v); len(f) > 0 {
				v = f[0]
			} else {
				bad++
				continue
			}
			if !validVersion(v) {
				bad++
				continue
			}
			rec.Status = vuln.StatusFixed
			rec.Ranges = []vuln.Range{{Type: vuln.RangeEcosystem, Fixed: v}}
		case "needs-triage", "needed", "deferred", "pending":
			rec.Status = vuln.StatusUnfixed
		case "ignored":
			rec.Status = vuln.StatusWontFix
		case "not-affected":
			rec.Status = vuln.StatusNotAffected
		default: // DNE and anything unknown
			continue
		}
		prio := globalPriority
		if f := fields["Priority_"+src]; f != nil && f.value != "" {
			prio = f.value
		}
		if f := fields["Priority_"+src+"_"+rel]; f != nil && f.value != "" {
			prio = f.value
		}
		rec.SourceSeverity = prio
		rec.Severity = priority(prio)
		recs = append(recs, rec)
	}
	return recs, bad, nil
}

// statusOf splits "released (1.2-3)", "deferred [2019-04-10]" or "DNE"
// into the status and its note.
func statusOf(v string) (status, note string) {
	v = strings.TrimSpace(v)
	status, note, _ = strings.Cut(v, " ")
	if i := strings.IndexAny(status, "(["); i > 0 {
		status, note = status[:i], status[i:]+" "+note
	}
	note = strings.TrimSpace(note)
	note = strings.TrimLeft(note, "([")
	if i := strings.IndexAny(note, ")]"); i >= 0 {
		note = note[:i]
	}
	return strings.ToLower(status), strings.TrimSpace(note)
}

// validVersion reports whether v is a Debian version that, as policy
// asks, starts with a digit (after an epoch): dpkg itself accepts "not"
// from "released (not a version)".
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

// oldReleases are end-of-life Ubuntu codenames that vuln.UbuntuRelease
// does not know; the tracker still has lines for them.
var oldReleases = map[string]string{
	"warty": "4.10", "hoary": "5.04", "breezy": "5.10", "dapper": "6.06",
	"edgy": "6.10", "feisty": "7.04", "gutsy": "7.10", "hardy": "8.04",
	"intrepid": "8.10", "jaunty": "9.04", "karmic": "9.10", "lucid": "10.04",
	"maverick": "10.10", "natty": "11.04", "oneiric": "11.10", "quantal": "12.10",
	"raring": "13.04", "saucy": "13.10", "utopic": "14.10", "vivid": "15.04",
	"wily": "15.10", "yakkety": "16.10", "zesty": "17.04", "artful": "17.10",
}

// releaseNumber returns the version of a codename, or "".
func releaseNumber(codename string) string {
	if v := vuln.UbuntuRelease(codename); v != "" {
		return v
	}
	return oldReleases[strings.ToLower(codename)]
}

// releaseEcosystem maps a tracker release name to an ecosystem (see
// UCTParser), or "".
func releaseEcosystem(rel string) string {
	a, b, slash := strings.Cut(rel, "/")
	if !slash {
		if v := releaseNumber(rel); v != "" {
			return "Ubuntu:" + v
		}
		return ""
	}
	switch {
	case b == "esm":
		if v := releaseNumber(a); v != "" {
			return "Ubuntu:Pro:" + v
		}
	case strings.HasPrefix(a, "esm"):
		if v := releaseNumber(b); v != "" {
			return "Ubuntu:Pro:" + v
		}
	}
	return ""
}

// priority maps a tracker priority to a severity.
func priority(p string) vuln.Severity {
	s, ok := vuln.ParseSeverity(strings.ToLower(strings.TrimSpace(p)))
	if !ok {
		return vuln.SeverityUnknown
	}
	return s
}

// publicDate parses "2019-12-06 18:15:00 UTC", "2019-12-06 18:15:00" or
// "2019-12-06"; a date in no known form is left zero.
func publicDate(f *field) time.Time {
	if f == nil {
		return time.Time{}
	}
	v := strings.TrimSpace(f.value)
	for _, layout := range []string{"2006-01-02 15:04:05 MST", "2006-01-02 15:04:05 -0700", "2006-01-02 15:04:05", "2006-01-02"} {
		if t, err := time.Parse(layout, v); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}

// cvss reads the "source: vector [score severity]" lines of a CVSS field.
func cvss(lines []string) []vuln.CVSS {
	var out []vuln.CVSS
	for _, l := range lines {
		_, rest, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		parts := strings.Fields(rest)
		if len(parts) == 0 {
			continue
		}
		c := vuln.CVSS{Vector: parts[0]}
		switch {
		case strings.HasPrefix(c.Vector, "CVSS:"):
			ver, _, _ := strings.Cut(strings.TrimPrefix(c.Vector, "CVSS:"), "/")
			c.Version = ver
		case strings.HasPrefix(c.Vector, "AV:"):
			c.Version = "2.0"
		default:
			continue
		}
		if len(parts) > 1 {
			if s, err := strconv.ParseFloat(strings.TrimPrefix(parts[1], "["), 64); err == nil && s >= 0 && s <= 10 {
				c.Score = s
			}
		}
		if !slices.ContainsFunc(out, func(o vuln.CVSS) bool { return o.Vector == c.Vector }) {
			out = append(out, c)
		}
	}
	return out
}

// dedupe sorts records by key and keeps the first of each key.
func dedupe(recs []vuln.Record) []vuln.Record {
	sort.SliceStable(recs, func(i, j int) bool {
		a, b := &recs[i], &recs[j]
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		if a.Ecosystem != b.Ecosystem {
			return a.Ecosystem < b.Ecosystem
		}
		return a.Package < b.Package
	})
	out := recs[:0]
	for i := range recs {
		if n := len(out); n > 0 && out[n-1].ID == recs[i].ID && out[n-1].Ecosystem == recs[i].Ecosystem && out[n-1].Package == recs[i].Package {
			continue
		}
		out = append(out, recs[i])
	}
	if n := len(recs) - len(out); n > 0 {
		slog.Debug("ubuntu cve tracker: duplicate records dropped", "count", n)
	}
	return out
}
