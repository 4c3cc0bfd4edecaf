package debian

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"slices"
	"sort"
	"strings"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

// TrackerParser parses the Debian security tracker's JSON export:
//
//	{"<source package>": {"<CVE or TEMP id>": {
//	    "description": "…", "scope": "remote", "debianbug": 123,
//	    "releases": {"<codename>": {"status": "resolved|open|undetermined",
//	        "fixed_version": "…", "urgency": "…", "nodsa": "…",
//	        "nodsa_reason": "postponed|ignored|…", "repositories": {…}}}}}}
//
// The export is about 60 MB; it is decoded one issue at a time from a
// token stream, never as a whole, through an updater.JSONGuard: a string
// or number longer than Limits.TokenBytes, nesting deeper than
// Limits.JSONDepth or one issue larger than Limits.DocumentBytes is a
// *limits.Error, so a hostile export cannot make the decoder buffer more.
//
// One record per (issue, release, package), status decided as the tracker
// states it (and as Trivy's and Clair's Debian updaters read it):
//
//	resolved, fixed_version "0"           → not-affected (the release never had the flaw)
//	resolved, fixed_version V             → fixed in V
//	resolved without fixed_version        → no record (nothing to match on)
//	open|undetermined, urgency end-of-life → wont-fix (release out of support for it)
//	open|undetermined, nodsa_reason "ignored" or plain no-dsa → wont-fix
//	open|undetermined, nodsa_reason "postponed" → unfixed (fix deferred to a later update)
//	open|undetermined, urgency unimportant → wont-fix (the team will not fix it)
//	open|undetermined otherwise           → unfixed
//
// "undetermined" (not yet known whether the release is affected) is
// reported as unfixed rather than dropped: the design never silently drops
// a possible vulnerability. Severity comes from the urgency (see
// severity); SourceSeverity keeps the tracker's word.
type TrackerParser struct{}

// trackerIssue is one CVE (or TEMP- issue) of one source package.
type trackerIssue struct {
	Description string          `json:"description"`
	Scope       string          `json:"scope"`
	DebianBug   json.Number     `json:"debianbug"`
	Releases    json.RawMessage `json:"releases"`
}

// trackerRelease is the state of one issue in one release.
type trackerRelease struct {
	Status       string          `json:"status"`
	FixedVersion *string         `json:"fixed_version"`
	Urgency      string          `json:"urgency"`
	NoDSA        json.RawMessage `json:"nodsa"`
	NoDSAReason  string          `json:"nodsa_reason"`
}

// Parse implements updater.Parser: every file of the feed whose content is
// a JSON object is read as a tracker export; a feed with none is an error.
func (TrackerParser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	return parseFeed(ctx, feed, "debian tracker", "no tracker JSON file in the feed", looksLikeJSONObject, parseTracker)
}

// ParseStream implements updater.StreamParser (by file: a tracker
// export is parsed whole).
func (TrackerParser) ParseStream(ctx context.Context, feed fs.FS, emit func(vuln.Record) error) error {
	return streamFeed(ctx, feed, "debian tracker", "no tracker JSON file in the feed", looksLikeJSONObject, parseTracker, emit)
}

// Merge implements updater.Merger: of the records of one key, the first
// (as Parse keeps).
func (TrackerParser) Merge(parts []vuln.Record) vuln.Record { return parts[0] }

// ParseTracker parses one tracker JSON export within the default bounds
// (updater.DefaultLimits).
func ParseTracker(ctx context.Context, r io.Reader) ([]vuln.Record, error) {
	recs, err := parseTracker(ctx, r, "json", updater.DefaultLimits())
	if err != nil {
		return nil, fmt.Errorf("debian tracker: %w", err)
	}
	return dedupe(recs), nil
}

// looksLikeJSONObject reports whether the first non-space byte of r is '{'.
func looksLikeJSONObject(br *bufio.Reader) bool {
	head, _ := br.Peek(512)
	head = bytes.TrimPrefix(head, []byte("\xef\xbb\xbf"))
	head = bytes.TrimLeft(head, " \t\r\n")
	return len(head) > 0 && head[0] == '{'
}

// skipEmptyFix is the reason under which a resolved release entry whose
// fixed_version is empty or not a Debian version is counted
// (updater.Skip): it gives no record rather than one affecting every
// version.
const skipEmptyFix = "debian tracker: resolved release with an empty or unparsable fixed_version"

func parseTracker(ctx context.Context, r io.Reader, name string, lim updater.Limits) ([]vuln.Record, error) {
	// Depth 1 is the export, 2 a package, 3 and deeper one issue.
	g := updater.NewJSONGuard(r, lim, name).BoundValues(3, lim.DocumentBytes,
		limits.New("an issue of the tracker export "+name, lim.DocumentBytes, "bytes", updater.KeyMaxDocumentBytes))
	dec := json.NewDecoder(g)
	if err := expectDelim(dec, '{'); err != nil {
		return nil, err
	}
	var (
		recs        []vuln.Record
		skipped     int
		malformed   int
		issuesTotal int
	)
	for dec.More() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("package name: %w", err)
		}
		pkg, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("package name: unexpected %v", tok)
		}
		pkg = strings.TrimSpace(pkg)
		if pkg == "" {
			return nil, errors.New("empty package name")
		}
		if err := expectDelim(dec, '{'); err != nil {
			return nil, fmt.Errorf("package %q: %w", pkg, err)
		}
		for dec.More() {
			if issuesTotal++; issuesTotal%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return nil, err
				}
			}
			tok, err := dec.Token()
			if err != nil {
				return nil, fmt.Errorf("package %q: issue id: %w", pkg, err)
			}
			id, ok := tok.(string)
			if !ok {
				return nil, fmt.Errorf("package %q: issue id: unexpected %v", pkg, tok)
			}
			var is trackerIssue
			if err := dec.Decode(&is); err != nil {
				return nil, fmt.Errorf("package %q, %s: %w", pkg, id, err)
			}
			rs, n, bad, err := issueRecords(pkg, strings.TrimSpace(id), is)
			if err != nil {
				return nil, fmt.Errorf("package %q, %s: %w", pkg, id, err)
			}
			skipped += n
			malformed += bad
			recs = append(recs, rs...)
		}
		if err := expectDelim(dec, '}'); err != nil {
			return nil, fmt.Errorf("package %q: %w", pkg, err)
		}
	}
	if err := expectDelim(dec, '}'); err != nil {
		return nil, err
	}
	if tok, err := dec.Token(); err != io.EOF {
		var se *json.SyntaxError
		if err != nil && !errors.As(err, &se) {
			return nil, err // a bound, a read error
		}
		return nil, fmt.Errorf("trailing data after the tracker object (%v, %v)", tok, err)
	}
	if skipped > 0 {
		slog.Debug("debian tracker: release entries skipped (unknown codename or unusable version)", "count", skipped)
	}
	updater.Skip(ctx, skipEmptyFix, malformed)
	return recs, nil
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("expected %q: %w", want, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("expected %q, found %v", want, tok)
	}
	return nil
}

// issueRecords turns one issue of one package into its per-release
// records; skipped counts the release entries that give no record, bad
// those of them that are resolved with an empty or unparsable
// fixed_version.
func issueRecords(pkg, id string, is trackerIssue) (recs []vuln.Record, skipped, bad int, err error) {
	if id == "" {
		return nil, 0, 0, errors.New("empty issue id")
	}
	var releases map[string]trackerRelease
	switch raw := bytes.TrimSpace(is.Releases); {
	case len(raw) == 0, string(raw) == "null":
	case raw[0] == '[':
		// The tracker writes an empty list, not an object, for an issue
		// with no release data.
		var list []json.RawMessage
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, 0, 0, fmt.Errorf("releases: %w", err)
		}
		if len(list) != 0 {
			return nil, 0, 0, errors.New("releases: a non-empty list where an object was expected")
		}
	default:
		if err := json.Unmarshal(raw, &releases); err != nil {
			return nil, 0, 0, fmt.Errorf("releases: %w", err)
		}
	}
	links := []string{trackerURL + id}
	if bug := is.DebianBug.String(); bug != "" && bug != "0" {
		links = append(links, "https://bugs.debian.org/"+bug)
	}
	for codename, rel := range releases {
		eco := ecosystem(codename)
		if eco == "" {
			skipped++
			continue
		}
		r := vuln.Record{
			ID:             id,
			Ecosystem:      eco,
			Package:        pkg,
			Severity:       severity(rel.Urgency),
			SourceSeverity: strings.TrimSpace(rel.Urgency),
			Description:    strings.TrimSpace(is.Description),
			Links:          slices.Clone(links),
		}
		status, fixed, ok := releaseStatus(rel)
		if !ok {
			skipped++
			if rel.FixedVersion != nil && strings.EqualFold(strings.TrimSpace(rel.Status), "resolved") {
				bad++
			}
			continue
		}
		r.Status = status
		if fixed != "" {
			r.Ranges = []vuln.Range{{Type: vuln.RangeEcosystem, Fixed: fixed}}
		}
		recs = append(recs, r)
	}
	return recs, skipped, bad, nil
}

// releaseStatus decides the status of one release entry (see
// TrackerParser); ok is false when the entry gives nothing to match on.
func releaseStatus(rel trackerRelease) (status vuln.Status, fixed string, ok bool) {
	var fv string
	if rel.FixedVersion != nil {
		fv = strings.TrimSpace(*rel.FixedVersion)
	}
	urgency := strings.TrimRight(strings.ToLower(strings.TrimSpace(rel.Urgency)), "*")
	switch strings.ToLower(strings.TrimSpace(rel.Status)) {
	case "resolved":
		switch {
		case fv == "0":
			return vuln.StatusNotAffected, "", true
		case fv == "":
			return "", "", false
		}
		if !validVersion(fv) {
			return "", "", false
		}
		return vuln.StatusFixed, fv, true
	case "open", "undetermined":
		// An open issue may name the version that fixed it in sid; that is
		// not a fix for this release, so no range.
		reason := strings.ToLower(strings.TrimSpace(rel.NoDSAReason))
		nodsa := len(rel.NoDSA) > 0 && string(rel.NoDSA) != "null"
		switch {
		case urgency == "end-of-life":
			return vuln.StatusWontFix, "", true
		case reason == "ignored":
			return vuln.StatusWontFix, "", true
		case reason == "postponed":
			return vuln.StatusUnfixed, "", true
		case nodsa:
			return vuln.StatusWontFix, "", true
		case urgency == "unimportant":
			return vuln.StatusWontFix, "", true
		}
		return vuln.StatusUnfixed, "", true
	}
	return "", "", false
}

// dedupe sorts records by key and keeps the first of each key.
func dedupe(recs []vuln.Record) []vuln.Record {
	sort.SliceStable(recs, func(i, j int) bool { return lessKey(&recs[i], &recs[j]) })
	out := recs[:0]
	for i := range recs {
		if len(out) > 0 && sameKey(&out[len(out)-1], &recs[i]) {
			continue
		}
		out = append(out, recs[i])
	}
	return out
}

// lessKey orders records by ID, ecosystem and package: the parts of Key.
func lessKey(a, b *vuln.Record) bool {
	if a.ID != b.ID {
		return a.ID < b.ID
	}
	if a.Ecosystem != b.Ecosystem {
		return a.Ecosystem < b.Ecosystem
	}
	return a.Package < b.Package
}

func sameKey(a, b *vuln.Record) bool {
	return a.ID == b.ID && a.Ecosystem == b.Ecosystem && a.Package == b.Package
}
