package debian

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

// ListParser parses the security tracker's advisory lists, data/DSA/list
// (Debian Security Advisories) and data/DLA/list (Debian LTS Advisories):
//
//	[29 Mar 2023] DSA-5380-1 xorg-server - security update
//		{CVE-2023-1393}
//		[bullseye] - xorg-server 2:1.20.11-1+deb11u6
//		NOTE: …
//
// One record per (advisory, release, source package) line: ID the
// advisory id, Aliases its CVE list, Title the header's title (the text
// after "package - "), Published its date, Ranges the fixed version.
// Instead of a version a line may carry a tag:
//
//	<not-affected>                        → not-affected
//	<end-of-life>, <no-dsa>, <ignored>    → wont-fix
//	<unfixed>, <postponed>, <undetermined> → unfixed
//	<removed>, <itp>, others              → no record
//
// A trailing "(…)" note may carry an urgency ("(bug #365910; medium)"),
// used as the severity; otherwise the severity is unknown. Both lists go
// into one feed: every file whose first line is a DSA or DLA header is
// read, whatever its name, so a downloaded "list" and the repository's
// data/DSA/list and data/DLA/list all work. DTSA lists (historic testing
// advisories) are not read.
type ListParser struct{}

var (
	// headerRE matches "[date] ID rest".
	headerRE = regexp.MustCompile(`^\[([^\]]*)\]\s+([A-Z]+-\d+(?:-\d+)?)(?:\s+(.*))?$`)
	// fixRE matches "[codename] - package rest".
	fixRE = regexp.MustCompile(`^\[([^\]]+)\]\s+-\s+(\S+)(?:\s+(.*))?$`)
	// cveRE matches a CVE id.
	cveRE = regexp.MustCompile(`^CVE-\d{4}-\d{4,}$`)
	// titleSepRE separates the package names of a header from its title.
	titleSepRE = regexp.MustCompile(`(?:^|\s)--?\s+`)
)

// Parse implements updater.Parser.
func (ListParser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	return parseFeed(ctx, feed, "debian advisory list", "no DSA or DLA list in the feed", looksLikeList, parseList)
}

// ParseStream implements updater.StreamParser.
func (ListParser) ParseStream(ctx context.Context, feed fs.FS, emit func(vuln.Record) error) error {
	return streamFeed(ctx, feed, "debian advisory list", "no DSA or DLA list in the feed", looksLikeList, parseList, emit)
}

// Merge implements updater.Merger: of the records of one key, the first
// (as Parse keeps).
func (ListParser) Merge(parts []vuln.Record) vuln.Record { return parts[0] }

// ParseList parses one DSA or DLA list.
func ParseList(ctx context.Context, r io.Reader) ([]vuln.Record, error) {
	recs, err := parseList(ctx, r, "list", updater.DefaultLimits())
	if err != nil {
		return nil, fmt.Errorf("debian advisory list: %w", err)
	}
	return dedupe(recs), nil
}

// looksLikeList reports whether the first non-empty line is a DSA or DLA
// header.
func looksLikeList(br *bufio.Reader) bool {
	head, _ := br.Peek(4096)
	head = bytes.TrimLeft(head, " \t\r\n")
	line, _, _ := bytes.Cut(head, []byte("\n"))
	m := headerRE.FindSubmatch(bytes.TrimRight(line, " \t\r"))
	return m != nil && (bytes.HasPrefix(m[2], []byte("DSA-")) || bytes.HasPrefix(m[2], []byte("DLA-")))
}

// advisory is the header and CVE list of the advisory being read.
type advisory struct {
	id, title string
	published time.Time
	cves      []string
	inCVEs    bool // inside a "{…" list not yet closed
}

// skipBadFix is the reason under which a release line whose version is
// not a Debian version is counted (updater.Skip).
const skipBadFix = "debian advisory list: release line with a version that is not a Debian version"

// maxLine bounds one line of a list (the longest real ones are CVE lists
// of a few hundred bytes).
const maxLine = 1 << 20

// parseList reads a list line by line: memory is bounded by a line
// (maxLine) and the records, which the file's bound bounds.
func parseList(ctx context.Context, r io.Reader, _ string, _ updater.Limits) ([]vuln.Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		recs    []vuln.Record
		adv     *advisory
		lineNo  int
		skipped int
		bad     int
	)
	for sc.Scan() {
		lineNo++
		if lineNo%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		raw := strings.TrimRight(sc.Text(), " \t\r")
		line := strings.TrimSpace(raw)
		switch {
		case line == "":
			continue
		case raw[0] != ' ' && raw[0] != '\t':
			m := headerRE.FindStringSubmatch(line)
			if m == nil {
				return nil, fmt.Errorf("line %d: not an advisory header: %q", lineNo, clip(line))
			}
			adv = &advisory{id: m[2], title: title(m[3])}
			if t, err := time.Parse("2 Jan 2006", strings.TrimSpace(m[1])); err == nil {
				adv.published = t
			}
			continue
		case adv == nil:
			return nil, fmt.Errorf("line %d: %q before the first advisory header", lineNo, clip(line))
		case adv.inCVEs || strings.HasPrefix(line, "{"):
			list := strings.TrimPrefix(line, "{")
			list, closed := strings.CutSuffix(list, "}")
			if strings.ContainsAny(list, "{}") {
				return nil, fmt.Errorf("line %d: malformed CVE list %q", lineNo, clip(line))
			}
			adv.inCVEs = !closed
			for _, id := range strings.Fields(list) {
				if cveRE.MatchString(id) && !slices.Contains(adv.cves, id) {
					adv.cves = append(adv.cves, id)
				}
			}
		case strings.HasPrefix(line, "NOTE:"):
		case strings.HasPrefix(line, "["):
			m := fixRE.FindStringSubmatch(line)
			if m == nil || strings.TrimSpace(m[3]) == "" {
				return nil, fmt.Errorf("line %d: not a release line: %q", lineNo, clip(line))
			}
			rec, ok, badVersion := fixRecord(adv, m[1], m[2], m[3])
			if !ok {
				skipped++
				if badVersion {
					bad++
				}
				continue
			}
			recs = append(recs, rec)
		default:
			return nil, fmt.Errorf("line %d: unrecognised line %q", lineNo, clip(line))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	if adv == nil {
		return nil, errors.New("no advisory header")
	}
	if skipped > 0 {
		slog.Debug("debian advisory list: release lines skipped (unknown codename, tag or unusable version)", "count", skipped)
	}
	updater.Skip(ctx, skipBadFix, bad)
	return recs, nil
}

// fixRecord builds the record of one "[codename] - package rest" line; ok
// is false when the line gives nothing to match on, badVersion when that
// is because its version is not a Debian version.
func fixRecord(adv *advisory, codename, pkg, rest string) (rec vuln.Record, ok, badVersion bool) {
	eco := ecosystem(codename)
	if eco == "" {
		return vuln.Record{}, false, false
	}
	ver, note, _ := strings.Cut(strings.TrimSpace(rest), " ")
	note = strings.TrimSpace(note)
	rec = vuln.Record{
		ID:        adv.id,
		Aliases:   append([]string(nil), adv.cves...),
		Ecosystem: eco,
		Package:   pkg,
		Title:     adv.title,
		Links:     []string{trackerURL + adv.id},
		Published: adv.published,
	}
	if u := noteUrgency(note); u != "" {
		rec.Severity, rec.SourceSeverity = severity(u), u
	}
	if strings.HasPrefix(ver, "<") {
		switch strings.Trim(ver, "<>") {
		case "not-affected":
			rec.Status = vuln.StatusNotAffected
		case "end-of-life", "no-dsa", "ignored":
			rec.Status = vuln.StatusWontFix
		case "unfixed", "postponed", "undetermined":
			rec.Status = vuln.StatusUnfixed
		default:
			return vuln.Record{}, false, false
		}
		return rec, true, false
	}
	if !validVersion(ver) {
		return vuln.Record{}, false, true
	}
	rec.Status = vuln.StatusFixed
	rec.Ranges = []vuln.Range{{Type: vuln.RangeEcosystem, Fixed: ver}}
	return rec, true, false
}

// title returns the title part of a header's text after the id:
// "xorg-server - security update" → "security update". A header without
// the separator is all title ("jessie end-of-life").
func title(s string) string {
	s = strings.TrimSpace(s)
	if loc := titleSepRE.FindStringIndex(s); loc != nil {
		if t := strings.TrimSpace(s[loc[1]:]); t != "" {
			return t
		}
	}
	return s
}

// noteUrgency finds an urgency word in a release line's "(…)" note.
func noteUrgency(note string) string {
	note = strings.TrimSuffix(strings.TrimPrefix(note, "("), ")")
	for _, part := range strings.FieldsFunc(note, func(r rune) bool { return r == ';' || r == ',' }) {
		switch p := strings.ToLower(strings.TrimSpace(part)); p {
		case "unimportant", "low", "medium", "high":
			return p
		}
	}
	return ""
}

// clip shortens a line quoted in an error.
func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "…"
	}
	return s
}
