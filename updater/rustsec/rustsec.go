// Package rustsec parses the RustSec advisory database
// (github.com/rustsec/advisory-db): one Markdown file per advisory,
// crates/CRATE/RUSTSEC-YYYY-NNNN.md, whose first block is a ```toml fence
// holding the advisory's metadata, followed by its title ("# …") and
// description.
package rustsec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	cvss30 "github.com/pandatix/go-cvss/30"
	cvss31 "github.com/pandatix/go-cvss/31"
	cvss40 "github.com/pandatix/go-cvss/40"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

// Type is the source type the parser is registered under.
const Type = "rustsec"

func init() { updater.Register(Type, Parser{}) }

// Parser parses the RustSec advisory database into one record per
// advisory, in ecosystem "crates.io":
//
//   - Affected versions are those that no requirement of [versions]
//     patched or unaffected matches. They are turned into SEMVER ranges as
//     RustSec's own OSV export does (rustsec crate, osv module): each
//     requirement (">= 1.2.3", "< 0.3", "^0.9.1", "~1.2", "=1.0.0", "1.2",
//     and two-sided ones such as ">= 1.5.1, < 1.6.0") is an interval of
//     unaffected versions; the gaps between them, in semver order, are the
//     affected ranges. "^0.9.1" is [0.9.1, 0.10.0-0): "-0" is the lowest
//     pre-release, so 0.10.0-alpha is outside the unaffected interval.
//     An exclusive bound becomes the next semver version: "> 1.2.3" patched
//     gives fixed "1.2.4-0", "<= 1.2.3" unaffected gives introduced
//     "1.2.4-0"; these are exact, if unusual to read. Overlapping
//     requirements are merged (RustSec rejects them; merging keeps the
//     result right anyway). No requirements at all: every version is
//     affected.
//   - Status is fixed when some range has a fix, otherwise unfixed.
//   - Withdrawn advisories are skipped (an advisory that disappears is a
//     removal in the update's diff).
//   - Informational advisories (informational = "unmaintained", "unsound",
//     "notice") are kept: an unmaintained or unsound crate is worth
//     knowing about. Their SourceSeverity is the informational kind, and
//     unless a CVSS vector rates them their Severity is negligible, so that
//     policies on severity do not treat them as vulnerabilities.
//   - Severity otherwise comes from the CVSS vector (3.0, 3.1 or 4.0):
//     the base score's qualitative rating; none gives unknown.
//   - The rust/ collection (advisories against the Rust toolchain: std,
//     cargo, rustdoc, versioned as toolchain releases) is skipped: those
//     packages are not crates.io crates, and "cargo" would wrongly match the
//     cargo library crate.
//
// Files are the *.md files of the feed that begin with a ```toml fence;
// other Markdown (README, CONTRIBUTING) is ignored. Each is read within
// Limits.DocumentBytes and its TOML metadata within Limits.YAMLBytes
// (updater.LimitsOf). A file whose metadata does not parse or lacks an id
// or package makes the whole feed an error. An advisory with a version
// requirement that cannot be read (an empty one among them) is skipped
// and counted (updater.Skip): dropping only the requirement would widen
// the affected versions, and the rest of the database is good.
type Parser struct{}

// advisoryFile is the TOML metadata of one advisory.
type advisoryFile struct {
	Advisory struct {
		ID            string   `toml:"id"`
		Package       string   `toml:"package"`
		Date          string   `toml:"date"`
		URL           string   `toml:"url"`
		Aliases       []string `toml:"aliases"`
		References    []string `toml:"references"`
		CVSS          string   `toml:"cvss"`
		Informational string   `toml:"informational"`
		Withdrawn     string   `toml:"withdrawn"`
	} `toml:"advisory"`
	Versions struct {
		Patched    []string `toml:"patched"`
		Unaffected []string `toml:"unaffected"`
	} `toml:"versions"`
}

// Parse implements updater.Parser.
func (Parser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	lim := updater.LimitsOf(feed)
	var recs []vuln.Record
	found, bad := 0, 0
	err := fs.WalkDir(feed, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() || !strings.HasSuffix(p, ".md") {
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		b, err := readFile(feed, p, lim)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		if !isAdvisory(b) {
			return nil
		}
		found++
		if toolchain(p) {
			return nil
		}
		rec, ok, err := parseAdvisory(b, p, lim)
		if errors.Is(err, errRequirement) {
			bad++
			slog.Debug("rustsec: advisory with an unreadable version requirement skipped", "file", p, "err", err)
			return nil
		}
		if err != nil {
			return fmt.Errorf("parse %s: %w", p, err)
		}
		if ok {
			recs = append(recs, rec)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if found == 0 {
		return nil, errors.New("rustsec: no advisories in the feed")
	}
	updater.Skip(ctx, skipRequirement, bad)
	return recs, nil
}

// skipRequirement is the reason under which an advisory skipped for a
// version requirement that cannot be read is counted.
const skipRequirement = "rustsec: advisory with a version requirement that cannot be read"

// errRequirement is wrapped by the error of a version requirement that
// cannot be read.
var errRequirement = errors.New("version requirement")

// readFile reads one file of the feed within lim.DocumentBytes.
func readFile(feed fs.FS, p string, lim updater.Limits) ([]byte, error) {
	f, err := feed.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return limits.ReadAll(f, lim.DocumentBytes, lim.DocumentError(p))
}

const fence = "```toml"

// isAdvisory reports whether a Markdown file begins with a TOML fence.
func isAdvisory(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	return bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte(fence))
}

// toolchain reports whether an advisory file belongs to the rust/
// collection (rust/std/CVE-….md), whatever directory holds the database.
func toolchain(p string) bool {
	dir := path.Dir(path.Dir(p))
	return path.Base(dir) == "rust"
}

// split returns the TOML metadata and the Markdown body of an advisory.
func split(b []byte) (meta, body string, err error) {
	s := strings.ReplaceAll(string(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))), "\r\n", "\n")
	s = strings.TrimLeft(s, " \t\n")
	rest, ok := strings.CutPrefix(s, fence)
	if !ok {
		return "", "", errors.New("no ```toml fence")
	}
	nl := strings.IndexByte(rest, '\n')
	if nl < 0 {
		return "", "", errors.New("unterminated ```toml fence")
	}
	rest = rest[nl+1:]
	if strings.HasPrefix(rest, "```") {
		return "", "", errors.New("empty ```toml fence")
	}
	end := strings.Index(rest, "\n```")
	if end < 0 {
		return "", "", errors.New("unterminated ```toml fence")
	}
	meta = rest[:end+1]
	body = rest[end+len("\n```"):]
	if i := strings.IndexByte(body, '\n'); i >= 0 {
		body = body[i+1:]
	} else {
		body = ""
	}
	return meta, body, nil
}

// ParseAdvisory parses one advisory file, within the default bounds
// (updater.DefaultLimits). ok is false for a withdrawn advisory.
func ParseAdvisory(b []byte) (rec vuln.Record, ok bool, err error) {
	lim := updater.DefaultLimits()
	if int64(len(b)) > lim.DocumentBytes {
		return vuln.Record{}, false, lim.DocumentError("advisory")
	}
	return parseAdvisory(b, "advisory", lim)
}

func parseAdvisory(b []byte, name string, lim updater.Limits) (rec vuln.Record, ok bool, err error) {
	meta, body, err := split(b)
	if err != nil {
		return vuln.Record{}, false, err
	}
	if int64(len(meta)) > lim.YAMLBytes {
		// The TOML decoder builds a tree of the metadata first.
		return vuln.Record{}, false, limits.New("TOML metadata of "+name, lim.YAMLBytes, "bytes", updater.KeyMaxYAMLBytes)
	}
	var f advisoryFile
	if _, err := toml.Decode(meta, &f); err != nil {
		return vuln.Record{}, false, fmt.Errorf("metadata: %w", err)
	}
	a := f.Advisory
	a.ID, a.Package = strings.TrimSpace(a.ID), strings.TrimSpace(a.Package)
	switch {
	case a.ID == "":
		return vuln.Record{}, false, errors.New("no advisory id")
	case a.Package == "":
		return vuln.Record{}, false, fmt.Errorf("%s: no package", a.ID)
	}
	if strings.TrimSpace(a.Withdrawn) != "" {
		return vuln.Record{}, false, nil
	}
	ranges, err := AffectedRanges(f.Versions.Patched, f.Versions.Unaffected)
	if err != nil {
		return vuln.Record{}, false, fmt.Errorf("%s: %w: %w", a.ID, errRequirement, err)
	}
	rec = vuln.Record{
		ID:        a.ID,
		Aliases:   aliases(a.ID, a.Aliases),
		Ecosystem: vuln.EcosystemCrates,
		Package:   a.Package,
		Ranges:    ranges,
		Status:    vuln.StatusUnfixed,
	}
	for _, r := range ranges {
		if r.Fixed != "" {
			rec.Status = vuln.StatusFixed
		}
	}
	rec.Title, rec.Description = titleAndDescription(body)
	if t, err := time.Parse(time.DateOnly, strings.TrimSpace(a.Date)); err == nil {
		rec.Published = t
	}
	rec.Links = links(a.ID, a.URL, a.References)
	if v := strings.TrimSpace(a.CVSS); v != "" {
		c, sev, err := rateCVSS(v)
		if err != nil {
			return vuln.Record{}, false, fmt.Errorf("%s: cvss: %w", a.ID, err)
		}
		rec.CVSS = []vuln.CVSS{c}
		rec.Severity, rec.SourceSeverity = sev, strings.ToLower(sev.String())
	}
	if info := strings.TrimSpace(a.Informational); info != "" {
		rec.SourceSeverity = info
		if rec.Severity == vuln.SeverityUnknown {
			rec.Severity = vuln.SeverityNegligible
		}
	}
	return rec, true, nil
}

// aliases returns the advisory's other ids, CVE ids first, without
// duplicates or the id itself.
func aliases(id string, list []string) []string {
	var cves, others []string
	seen := map[string]bool{id: true}
	for _, a := range list {
		a = strings.TrimSpace(a)
		if a == "" || seen[a] {
			continue
		}
		seen[a] = true
		if strings.HasPrefix(a, "CVE-") {
			cves = append(cves, a)
		} else {
			others = append(others, a)
		}
	}
	slices.Sort(cves)
	slices.Sort(others)
	return append(cves, others...)
}

// titleAndDescription splits the Markdown body into its first "# "
// heading and the text after it.
func titleAndDescription(body string) (title, desc string) {
	lines := strings.Split(body, "\n")
	for i, l := range lines {
		if t, ok := strings.CutPrefix(strings.TrimSpace(l), "# "); ok {
			return strings.TrimSpace(t), strings.TrimSpace(strings.Join(lines[i+1:], "\n"))
		}
	}
	return "", strings.TrimSpace(body)
}

// links returns the advisory's page on rustsec.org, its url and its
// references, without duplicates.
func links(id, url string, refs []string) []string {
	out := []string{"https://rustsec.org/advisories/" + id + ".html"}
	for _, l := range append([]string{url}, refs...) {
		l = strings.TrimSpace(l)
		if l != "" && !slices.Contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// rateCVSS parses a CVSS 3.0, 3.1 or 4.0 vector and rates its base score.
func rateCVSS(vector string) (vuln.CVSS, vuln.Severity, error) {
	var c vuln.CVSS
	switch {
	case strings.HasPrefix(vector, "CVSS:3.0/"):
		v, err := cvss30.ParseVector(vector)
		if err != nil {
			return c, 0, err
		}
		c = vuln.CVSS{Version: "3.0", Vector: vector, Score: v.BaseScore()}
	case strings.HasPrefix(vector, "CVSS:3.1/"):
		v, err := cvss31.ParseVector(vector)
		if err != nil {
			return c, 0, err
		}
		c = vuln.CVSS{Version: "3.1", Vector: vector, Score: v.BaseScore()}
	case strings.HasPrefix(vector, "CVSS:4.0/"):
		v, err := cvss40.ParseVector(vector)
		if err != nil {
			return c, 0, err
		}
		c = vuln.CVSS{Version: "4.0", Vector: vector, Score: v.Score()}
	default:
		return c, 0, fmt.Errorf("unsupported vector %q", vector)
	}
	return c, severity(c.Score), nil
}

// severity is the CVSS qualitative rating of a score (a score of 0, "none",
// is negligible).
func severity(score float64) vuln.Severity {
	switch {
	case score >= 9:
		return vuln.SeverityCritical
	case score >= 7:
		return vuln.SeverityHigh
	case score >= 4:
		return vuln.SeverityMedium
	case score >= 0.1:
		return vuln.SeverityLow
	}
	return vuln.SeverityNegligible
}
