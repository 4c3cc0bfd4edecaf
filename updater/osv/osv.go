// Package osv parses vulnerability records in the OSV format
// (https://ossf.github.io/osv-schema/), as JSON or YAML: OSV.dev's
// per-ecosystem exports (all.zip), the Go vulnerability database, the PyPA
// advisory database (OSV as YAML), GitHub's advisory database, and the
// OSV records of Ubuntu, AlmaLinux, Rocky Linux, Wolfi and Chainguard. It
// registers the source type "osv".
package osv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/vuln/version"
)

func init() { updater.Register("osv", Parser{}) }

// Parser parses OSV feeds: every .json, .yaml and .yml file of the feed
// (hidden files and directories skipped) is one OSV record, or a list of
// records. Index files that sit beside the records are recognised and
// skipped: a list of {id, modified} entries (Chainguard's all.json, the Go
// vulnerability database's index/vulns.json and index/modules.json) and the
// Go database's index/db.json ({"modified": …}). Any other file that does
// not parse as OSV is an error naming the file: a corrupt feed must not
// replace good data. A feed without any OSV file is an error too.
//
// Each record gives one vuln.Record per affected package:
//
//   - Ecosystem: normalised with vuln.NormalizeEcosystem ("Ubuntu:22.04:LTS"
//     → "Ubuntu:22.04", "AlmaLinux:9.3" → "AlmaLinux:9"); Package: the
//     package name, PEP 503-normalised for PyPI and lower-cased for NuGet
//     and Packagist, as the matcher looks them up. Ubuntu names the source
//     package (its binaries are in ecosystem_specific) and so does the
//     record. Go's "stdlib" and "toolchain" are kept as they are.
//   - Ranges: ECOSYSTEM and SEMVER ranges, one vuln.Range per
//     introduced…fixed or introduced…last_affected pair (an unclosed
//     introduced has no upper bound); GIT ranges are dropped. Versions:
//     the explicit versions[]. An affected entry whose ranges are all GIT
//     (or of unknown types) and that lists no versions cannot be matched
//     and gives no record; one with no ranges and no versions affects
//     every version.
//   - Status: fixed when a range carries a fix, else unfixed.
//   - Withdrawn records give nothing, so the next update operation
//     removes them.
//   - Aliases: aliases[], upstream[] and the CVE ids of related[] (CVE
//     first), so the same CVE from two sources is one finding.
//   - Severity: the source's own rating when it has one (affected-level
//     ecosystem_specific/database_specific severity, urgency or
//     ubuntu_priority; a severity[] entry of type "Ubuntu"; GHSA's
//     database_specific.severity; the "Important:" prefix of AlmaLinux,
//     Rocky and Red Hat summaries), kept as SourceSeverity; otherwise the
//     rating of the CVSS base score of the newest CVSS version given.
//     CVSS vectors are kept with their scores.
//   - Title: the summary, or the first line of details; Description:
//     details; Links: references[] and database_specific.url.
type Parser struct{}

// Parse implements updater.Parser. Each file is read within the feed's
// bounds (updater.LimitsOf): Limits.DocumentBytes (Limits.YAMLBytes for
// YAML), JSON through an updater.JSONGuard. Malformed ranges and versions
// are skipped and counted with updater.Skip (see Records).
func (p Parser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	return updater.Collect(ctx, p, feed)
}

// window is the number of files ParseStream decodes in parallel before
// emitting their records in file order: enough to keep every core busy,
// few enough that their records take little memory.
const window = 256

// ParseStream implements updater.StreamParser: Parse, emitting the
// records of each window of files in file order as they are decoded.
func (Parser) ParseStream(ctx context.Context, feed fs.FS, emit func(vuln.Record) error) error {
	lim := updater.LimitsOf(feed)
	files, err := osvFiles(feed)
	if err != nil {
		return fmt.Errorf("osv: %w", err)
	}
	if len(files) == 0 {
		return errors.New("osv: no .json, .yaml or .yml file in the feed")
	}
	var total skipCounts
	for lo := 0; lo < len(files); lo += window {
		chunk := files[lo:min(lo+window, len(files))]
		// Decoding dominates; files are parsed in parallel and their
		// records emitted in file order, so the result does not depend
		// on timing.
		results := make([][]vuln.Record, len(chunk))
		errs := make([]error, len(chunk))
		skips := make([]skipCounts, len(chunk))
		var next int
		var mu sync.Mutex
		var wg sync.WaitGroup
		workers := min(runtime.GOMAXPROCS(0), len(chunk))
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					mu.Lock()
					i := next
					next++
					mu.Unlock()
					if i >= len(chunk) || ctx.Err() != nil {
						return
					}
					results[i], errs[i] = parseFileSafe(feed, chunk[i], lim, &skips[i])
				}
			}()
		}
		wg.Wait()
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("osv: %w", err)
		}
		for i, err := range errs {
			if err != nil {
				return fmt.Errorf("osv: %w", err)
			}
			total.add(&skips[i])
			for _, r := range results[i] {
				if err := emit(r); err != nil {
					return fmt.Errorf("osv: %w", err)
				}
			}
			results[i] = nil
		}
	}
	total.report(ctx)
	return nil
}

// parseFileSafe is parseFile with a panic turned into an error: the
// workers are goroutines of their own, where a panic would end the
// process before the run could recover it.
func parseFileSafe(feed fs.FS, name string, lim updater.Limits, sk *skipCounts) (recs []vuln.Record, err error) {
	defer func() {
		if v := recover(); v != nil {
			recs, err = nil, fmt.Errorf("%s: %w: %v", name, updater.ErrPanic, v)
		}
	}()
	return parseFile(feed, name, lim, sk)
}

// osvFiles lists the feed's candidate files in lexical order.
func osvFiles(feed fs.FS) ([]string, error) {
	var files []string
	err := fs.WalkDir(feed, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if p != "." && strings.HasPrefix(d.Name(), ".") {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !d.Type().IsRegular() {
			return nil
		}
		switch strings.ToLower(path.Ext(p)) {
		case ".json", ".yaml", ".yml":
			files = append(files, p)
		}
		return nil
	})
	return files, err
}

// readHintCap caps the buffer allocated up front from the size a file
// claims (a zip entry's header can claim anything): every real record
// fits, a false claim costs little.
const readHintCap = 1 << 20

// parseFile parses one file of the feed within lim.
func parseFile(feed fs.FS, name string, lim updater.Limits, sk *skipCounts) ([]vuln.Record, error) {
	f, err := feed.Open(name)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	yml := isYAML(name)
	r := limits.Reader(f, lim.DocumentBytes, lim.DocumentError(name))
	if yml {
		r = limits.Reader(r, lim.YAMLBytes, lim.YAMLError(name))
	} else {
		r = updater.NewJSONGuard(r, lim, name)
	}
	// Read into a buffer of the file's size (up to readHintCap) rather
	// than letting ReadAll grow one: it halves the bytes allocated over a
	// large feed.
	var buf bytes.Buffer
	if fi, err := f.Stat(); err == nil && fi.Size() > 0 {
		buf.Grow(int(min(fi.Size(), readHintCap)) + bytes.MinRead)
	}
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	recs, err := parseDocument(buf.Bytes(), yml, sk)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return recs, nil
}

func isYAML(name string) bool {
	ext := strings.ToLower(path.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// ParseDocument parses one OSV document, JSON or YAML: a record, or a list
// of records. An index document (see Parser) gives no records and no
// error. The document is bounded as Parser bounds a file, with the default
// limits (updater.DefaultLimits).
func ParseDocument(data []byte, isYAML bool) ([]vuln.Record, error) {
	lim := updater.DefaultLimits()
	if isYAML && int64(len(data)) > lim.YAMLBytes {
		return nil, lim.YAMLError("")
	}
	if !isYAML {
		if int64(len(data)) > lim.DocumentBytes {
			return nil, lim.DocumentError("")
		}
		if _, err := io.Copy(io.Discard, updater.NewJSONGuard(bytes.NewReader(data), lim, "")); err != nil {
			return nil, err
		}
	}
	return parseDocument(data, isYAML, nil)
}

// parseDocument is ParseDocument without the bounds (the caller read the
// data within them), counting what it skips into sk (nil: not counted).
func parseDocument(data []byte, isYAML bool, sk *skipCounts) (_ []vuln.Record, err error) {
	defer func() {
		// The YAML decoder is third-party code fed untrusted input.
		if v := recover(); v != nil {
			err = fmt.Errorf("%w while decoding: %v", updater.ErrPanic, v)
		}
	}()
	var docs []Record
	list := false
	if isYAML {
		var n yaml.Node
		if err := yaml.Unmarshal(data, &n); err != nil {
			return nil, fmt.Errorf("yaml: %w", err)
		}
		if n.Kind == 0 {
			return nil, errors.New("empty document")
		}
		doc := &n
		if doc.Kind == yaml.DocumentNode && len(doc.Content) == 1 {
			doc = doc.Content[0]
		}
		switch doc.Kind {
		case yaml.SequenceNode:
			list = true
			if err := doc.Decode(&docs); err != nil {
				return nil, fmt.Errorf("yaml: %w", err)
			}
		case yaml.MappingNode:
			var r Record
			if err := doc.Decode(&r); err != nil {
				return nil, fmt.Errorf("yaml: %w", err)
			}
			docs = []Record{r}
		default:
			return nil, errors.New("yaml: not an OSV record (neither a mapping nor a list)")
		}
	} else {
		trimmed := bytes.TrimLeft(data, " \t\r\n\ufeff")
		switch {
		case len(trimmed) == 0:
			return nil, errors.New("empty document")
		case trimmed[0] == '[':
			list = true
			if err := json.Unmarshal(trimmed, &docs); err != nil {
				return nil, fmt.Errorf("json: %w", err)
			}
		case trimmed[0] == '{':
			var r Record
			if err := json.Unmarshal(trimmed, &r); err != nil {
				return nil, fmt.Errorf("json: %w", err)
			}
			docs = []Record{r}
		default:
			return nil, errors.New("json: not an OSV record (neither an object nor a list)")
		}
	}
	if isIndex(docs, list) {
		return nil, nil
	}
	var out []vuln.Record
	for i := range docs {
		rs, err := docs[i].records(sk)
		if err != nil {
			if len(docs) > 1 {
				return nil, fmt.Errorf("record %d: %w", i, err)
			}
			return nil, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// isIndex reports whether decoded documents are an index rather than
// records: entries without affected packages, summary or details that
// carry only an id and modification time (Chainguard's all.json, the Go
// database's index/vulns.json), a module path (index/modules.json), or,
// alone and not in a list, only a modification time (index/db.json).
func isIndex(docs []Record, list bool) bool {
	for i := range docs {
		d := &docs[i]
		if len(d.Affected) > 0 || d.Summary != "" || d.Details != "" || d.Withdrawn != "" {
			return false
		}
		switch {
		case list && (d.ID != "" || d.IndexPath != ""):
		case !list && d.ID == "" && d.Modified != "":
		default:
			return false
		}
	}
	return true
}

// Record is an OSV record, as far as lapps reads it.
type Record struct {
	SchemaVersion    string      `json:"schema_version" yaml:"schema_version"`
	ID               string      `json:"id" yaml:"id"`
	Modified         string      `json:"modified" yaml:"modified"`
	Published        string      `json:"published" yaml:"published"`
	Withdrawn        string      `json:"withdrawn" yaml:"withdrawn"`
	Aliases          []string    `json:"aliases" yaml:"aliases"`
	Upstream         []string    `json:"upstream" yaml:"upstream"`
	Related          []string    `json:"related" yaml:"related"`
	Summary          string      `json:"summary" yaml:"summary"`
	Details          string      `json:"details" yaml:"details"`
	Severity         []Severity  `json:"severity" yaml:"severity"`
	Affected         []Affected  `json:"affected" yaml:"affected"`
	References       []Reference `json:"references" yaml:"references"`
	DatabaseSpecific Specific    `json:"database_specific" yaml:"database_specific"`
	// IndexPath is the module path of an entry of the Go vulnerability
	// database's index/modules.json, read only to recognise that index.
	IndexPath string `json:"path" yaml:"path"`
}

// Severity is one entry of severity[].
type Severity struct {
	Type  string `json:"type" yaml:"type"`
	Score string `json:"score" yaml:"score"`
}

// Affected is one entry of affected[].
type Affected struct {
	Package           Package    `json:"package" yaml:"package"`
	Severity          []Severity `json:"severity" yaml:"severity"`
	Ranges            []Range    `json:"ranges" yaml:"ranges"`
	Versions          []string   `json:"versions" yaml:"versions"`
	EcosystemSpecific Specific   `json:"ecosystem_specific" yaml:"ecosystem_specific"`
	DatabaseSpecific  Specific   `json:"database_specific" yaml:"database_specific"`
}

// Specific is what lapps reads of a database_specific or
// ecosystem_specific object: the source's own rating and the record's
// page. Other members are skipped unread: decoded into a map[string]any,
// those free-form objects would take about 30 bytes of memory per byte of
// a hostile record.
type Specific struct {
	Severity       Text `json:"severity" yaml:"severity"`
	UbuntuPriority Text `json:"ubuntu_priority" yaml:"ubuntu_priority"`
	Urgency        Text `json:"urgency" yaml:"urgency"`
	URL            Text `json:"url" yaml:"url"`
}

// Text is a member that is read when it is a string: any other value
// (a number, an object, null) reads as "".
type Text string

// UnmarshalJSON implements json.Unmarshaler.
func (t *Text) UnmarshalJSON(b []byte) error {
	*t = ""
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = Text(s)
	}
	return nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (t *Text) UnmarshalYAML(n *yaml.Node) error {
	*t = ""
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str" {
		*t = Text(n.Value)
	}
	return nil
}

// first returns the first of values that is not blank, trimmed.
func first(values ...Text) string {
	for _, v := range values {
		if s := strings.TrimSpace(string(v)); s != "" {
			return s
		}
	}
	return ""
}

// Package names the affected package.
type Package struct {
	Ecosystem string `json:"ecosystem" yaml:"ecosystem"`
	Name      string `json:"name" yaml:"name"`
	PURL      string `json:"purl" yaml:"purl"`
}

// Range is one entry of ranges[].
type Range struct {
	Type   string  `json:"type" yaml:"type"`
	Repo   string  `json:"repo" yaml:"repo"`
	Events []Event `json:"events" yaml:"events"`
}

// Event is one event of a range.
type Event struct {
	Introduced   string `json:"introduced" yaml:"introduced"`
	Fixed        string `json:"fixed" yaml:"fixed"`
	LastAffected string `json:"last_affected" yaml:"last_affected"`
	Limit        string `json:"limit" yaml:"limit"`
}

// Reference is one entry of references[].
type Reference struct {
	Type string `json:"type" yaml:"type"`
	URL  string `json:"url" yaml:"url"`
}

// Records converts the record into one vuln.Record per affected package;
// a withdrawn record gives none. Malformed ranges never widen to every
// version: a range with an empty event ({"fixed": ""}), an event setting
// several of introduced, fixed and last_affected, no events, or a version
// the ecosystem's ordering cannot parse is skipped, as is an empty entry
// of versions[]; an affected package left without any valid range or
// version, when it had some, gives no record. (One with neither ranges
// nor versions affects every version, as OSV says.)
func (r *Record) Records() ([]vuln.Record, error) { return r.records(nil) }

// records is Records counting what it skips into sk (nil: not counted).
func (r *Record) records(sk *skipCounts) ([]vuln.Record, error) {
	id := strings.TrimSpace(r.ID)
	if id == "" {
		return nil, errors.New("record without an id")
	}
	if strings.TrimSpace(r.Withdrawn) != "" {
		return nil, nil
	}
	aliases, cves, related := r.identity(id)
	base := vuln.Record{
		ID:          id,
		Aliases:     aliases,
		CVEs:        cves,
		Related:     related,
		Title:       title(r.Summary, r.Details),
		Description: strings.TrimSpace(r.Details),
		Links:       r.links(),
		Published:   parseTime(r.Published),
		Modified:    parseTime(r.Modified),
	}
	recordCVSS, recordRating := ratings(r.Severity)
	if recordRating == "" {
		recordRating = first(r.DatabaseSpecific.Severity, r.DatabaseSpecific.UbuntuPriority)
	}
	var out []vuln.Record
	for i := range r.Affected {
		a := &r.Affected[i]
		eco, ok := vuln.NormalizeEcosystem(a.Package.Ecosystem)
		name := vuln.NormalizeName(eco, a.Package.Name)
		if !ok || name == "" {
			continue // a GIT-only entry of a repository, without a package
		}
		rec := base
		rec.Ecosystem, rec.Package = eco, name
		rec.Aliases = cloneStrings(base.Aliases)
		rec.CVEs = cloneStrings(base.CVEs)
		rec.Related = cloneStrings(base.Related)
		rec.Links = cloneStrings(base.Links)
		var matchable, malformed bool
		rec.Ranges, matchable, malformed = ranges(eco, a.Ranges, sk)
		var emptyVersions int
		rec.Versions, emptyVersions = versions(a.Versions)
		sk.count(skipEmptyVersion, emptyVersions)
		switch {
		case len(rec.Ranges) > 0 || len(rec.Versions) > 0:
		case len(a.Ranges) == 0 && len(a.Versions) == 0:
			// Neither ranges nor versions: every version.
		case !matchable && !malformed && emptyVersions == 0:
			continue // GIT ranges only: nothing lapps compares
		default:
			// Every range and version it had was malformed: the record
			// must not become "every version".
			sk.count(skipRecord, 1)
			continue
		}
		rec.Status = vuln.StatusUnfixed
		for _, rg := range rec.Ranges {
			if rg.Fixed != "" {
				rec.Status = vuln.StatusFixed
				break
			}
		}
		cvss, rating := ratings(a.Severity)
		if len(cvss) == 0 {
			cvss = recordCVSS
		}
		if rating == "" {
			rating = first(a.EcosystemSpecific.Severity, a.EcosystemSpecific.UbuntuPriority, a.EcosystemSpecific.Urgency)
		}
		if rating == "" {
			rating = first(a.DatabaseSpecific.Severity, a.DatabaseSpecific.UbuntuPriority, a.DatabaseSpecific.Urgency)
		}
		if rating == "" {
			rating = recordRating
		}
		if rating == "" && redHatLike(eco) {
			rating = summaryRating(r.Summary)
		}
		rec.CVSS = cloneCVSS(cvss)
		rec.Severity, rec.SourceSeverity = severity(rating, cvss)
		out = append(out, rec)
	}
	return out, nil
}

// identity sorts the ids a record names into its aliases (other names of
// the same vulnerability: aliases and upstream), the CVEs it fixes, and
// the related ids. OSV "related" never makes an alias: related records are
// other vulnerabilities. A distribution advisory (vuln.IsAdvisoryID:
// ALSA-…, RHSA-…, DSA-…) is not itself a vulnerability, so the CVE ids it
// names, among its aliases, upstream or related, are the CVEs it fixes,
// and neither aliases nor related.
func (r *Record) identity(id string) (aliases, cves, related []string) {
	all := make([]string, 0, len(r.Aliases)+len(r.Upstream))
	all = append(all, r.Aliases...)
	all = append(all, r.Upstream...)
	rel := slices.Clone(r.Related)
	if vuln.IsAdvisoryID(id) {
		all = slices.DeleteFunc(all, func(a string) bool {
			if a = strings.TrimSpace(a); vuln.IsCVE(a) {
				cves = append(cves, a)
				return true
			}
			return false
		})
		rel = slices.DeleteFunc(rel, func(a string) bool {
			if a = strings.TrimSpace(a); vuln.IsCVE(a) {
				cves = append(cves, a)
				return true
			}
			return false
		})
	}
	aliases = updater.SortAliases(id, all)
	cves = updater.SortAliases(id, cves)
	// An id both alias and related is an alias.
	rel = slices.DeleteFunc(rel, func(a string) bool { return slices.Contains(aliases, strings.TrimSpace(a)) })
	related = updater.SortAliases(id, rel)
	return aliases, cves, related
}

// links returns the reference URLs, and the database's own page.
func (r *Record) links() []string {
	var out []string
	seen := map[string]bool{"": true}
	add := func(u string) {
		u = strings.TrimSpace(u)
		if !seen[u] {
			seen[u] = true
			out = append(out, u)
		}
	}
	add(string(r.DatabaseSpecific.URL))
	for _, ref := range r.References {
		add(ref.URL)
	}
	return out
}

// Reasons under which Parse counts what it skips (updater.Skip).
const (
	skipEmptyEvent       = "osv: range with an empty event"
	skipEventFields      = "osv: range with an event setting several of introduced, fixed, last_affected"
	skipNoEvents         = "osv: range without introduced, fixed or last_affected events"
	skipBadVersion       = "osv: range with a version the ecosystem cannot order"
	skipEmptyVersion     = "osv: empty entry of versions"
	skipRecord           = "osv: affected package left without a valid range or version"
	numSkipReasons   int = 6
)

var skipReasons = [numSkipReasons]string{skipEmptyEvent, skipEventFields, skipNoEvents, skipBadVersion, skipEmptyVersion, skipRecord}

// skipCounts counts skipped entries by reason; one per file, so that the
// parallel workers need no lock. A nil *skipCounts counts nothing.
type skipCounts [numSkipReasons]int

func (c *skipCounts) count(reason string, n int) {
	if c == nil {
		return
	}
	for i, r := range skipReasons {
		if r == reason {
			c[i] += n
			return
		}
	}
}

func (c *skipCounts) add(o *skipCounts) {
	for i := range c {
		c[i] += o[i]
	}
}

func (c *skipCounts) report(ctx context.Context) {
	for i, r := range skipReasons {
		updater.Skip(ctx, r, c[i])
	}
}

// ordering returns the ordering a range of type typ in ecosystem eco is
// compared with, as the matcher chooses it (version.ForRange); nil when
// lapps has none (the range is kept unchecked: the matcher skips what it
// cannot parse).
func ordering(eco, typ string) version.Ordering {
	o, _ := version.For(eco)
	return version.ForRange(o, typ)
}

// ranges converts ECOSYSTEM and SEMVER ranges, skipping malformed ones
// (see Records), counted into sk. matchable is false when the entry has
// ranges and none of them is of a type lapps compares (GIT only);
// malformed is true when a range was skipped as malformed.
func ranges(eco string, in []Range, sk *skipCounts) (out []vuln.Range, matchable, malformed bool) {
	if len(in) == 0 {
		return nil, true, false
	}
	for _, r := range in {
		var typ string
		switch strings.ToUpper(strings.TrimSpace(r.Type)) {
		case vuln.RangeEcosystem:
			typ = vuln.RangeEcosystem
		case vuln.RangeSemver:
			typ = vuln.RangeSemver
		default:
			continue
		}
		matchable = true
		rs, reason := convertRange(typ, ordering(eco, typ), r.Events)
		if reason != "" {
			sk.count(reason, 1)
			malformed = true
			continue
		}
		out = append(out, rs...)
	}
	return out, matchable, malformed
}

// convertRange turns the events of one range into intervals: one per
// introduced…fixed or introduced…last_affected pair (an unclosed
// introduced has no upper bound). A malformed range gives no interval and
// the reason.
func convertRange(typ string, ord version.Ordering, events []Event) ([]vuln.Range, string) {
	var out []vuln.Range
	var cur vuln.Range
	open, emitted := false, 0
	valid := func(v string) bool {
		if ord == nil {
			return true
		}
		_, err := ord.Parse(v)
		return err == nil
	}
	closeWith := func(fixed, last string) {
		if !open {
			if emitted > 0 {
				return // a second fix of an already closed interval
			}
			cur = vuln.Range{Type: typ, Introduced: "0"}
		}
		cur.Fixed, cur.LastAffected = fixed, last
		out = append(out, cur)
		open = false
		emitted++
	}
	for _, ev := range events {
		intro, fixed := strings.TrimSpace(ev.Introduced), strings.TrimSpace(ev.Fixed)
		last, limit := strings.TrimSpace(ev.LastAffected), strings.TrimSpace(ev.Limit)
		set := 0
		for _, v := range [...]string{intro, fixed, last, limit} {
			if v != "" {
				set++
			}
		}
		switch {
		case set == 0:
			// {"fixed": ""}: which bound was meant is unknown; dropping
			// the event would leave the range open above.
			return nil, skipEmptyEvent
		case set > 1:
			return nil, skipEventFields
		case intro != "":
			if intro != "0" && !valid(intro) {
				return nil, skipBadVersion
			}
			if !open {
				cur = vuln.Range{Type: typ, Introduced: intro}
				open = true
			}
		case fixed != "":
			if !valid(fixed) {
				return nil, skipBadVersion
			}
			closeWith(fixed, "")
		case last != "":
			if !valid(last) {
				return nil, skipBadVersion
			}
			closeWith("", last)
		}
	}
	if open {
		out = append(out, cur)
	}
	if len(out) == 0 {
		return nil, skipNoEvents
	}
	return out, ""
}

// versions returns the explicit versions, trimmed and without duplicates,
// and the number of empty entries left out.
func versions(in []string) (out []string, empty int) {
	seen := map[string]bool{}
	for _, v := range in {
		v = strings.TrimSpace(v)
		if v == "" {
			empty++
			continue
		}
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out, empty
}

// ratings returns the CVSS ratings of a severity[] list and the source's
// own rating (a severity entry of type "Ubuntu"). Vectors that do not
// parse are kept without a score.
func ratings(sev []Severity) ([]vuln.CVSS, string) {
	var cvss []vuln.CVSS
	rating := ""
	seen := map[string]bool{}
	for _, s := range sev {
		score := strings.TrimSpace(s.Score)
		switch strings.ToUpper(strings.TrimSpace(s.Type)) {
		case "CVSS_V2", "CVSS_V3", "CVSS_V4":
			if score == "" || seen[score] {
				continue
			}
			seen[score] = true
			c, err := ParseCVSS(score)
			if err != nil {
				c = vuln.CVSS{Version: cvssVersion(s.Type, score), Vector: score}
			}
			cvss = append(cvss, c)
		case "UBUNTU":
			if rating == "" {
				rating = score
			}
		}
	}
	return cvss, rating
}

func cvssVersion(typ, vector string) string {
	if strings.HasPrefix(vector, "CVSS:") {
		v, _, _ := strings.Cut(strings.TrimPrefix(vector, "CVSS:"), "/")
		return v
	}
	switch strings.ToUpper(typ) {
	case "CVSS_V2":
		return "2.0"
	case "CVSS_V4":
		return "4.0"
	}
	return "3.1"
}

// severity decides the normalised severity: the source's rating when it
// means something, else the CVSS rating of the newest version given (its
// highest score).
func severity(rating string, cvss []vuln.CVSS) (vuln.Severity, string) {
	rating = strings.TrimSpace(rating)
	if s, ok := RatingSeverity(rating); ok {
		return s, rating
	}
	var best *vuln.CVSS
	for i := range cvss {
		c := &cvss[i]
		if c.Score == 0 && c.Vector != "" {
			if _, err := ParseCVSS(c.Vector); err != nil {
				continue // unparsable vector: no score to go by
			}
		}
		if best == nil || c.Version > best.Version || (c.Version == best.Version && c.Score > best.Score) {
			best = c
		}
	}
	if best == nil {
		return vuln.SeverityUnknown, rating
	}
	return CVSSSeverity(*best), rating
}

// redHatLike reports whether an ecosystem's advisories carry Red Hat's
// rating as the prefix of their summary (the registry's RatingInSummary).
func redHatLike(eco string) bool {
	e, _ := vuln.EcosystemOf(eco)
	return e.RatingInSummary
}

// maxTitle bounds a title made from details.
const maxTitle = 160

// title returns the summary, or the first line of details, shortened.
func title(summary, details string) string {
	if s := strings.TrimSpace(summary); s != "" {
		return s
	}
	line, _, _ := strings.Cut(strings.TrimSpace(details), "\n")
	line = strings.TrimSpace(line)
	if utf8.RuneCountInString(line) <= maxTitle {
		return line
	}
	runes := []rune(line)[:maxTitle]
	cut := string(runes)
	if i := strings.LastIndexByte(cut, ' '); i > maxTitle/2 {
		cut = cut[:i]
	}
	return strings.TrimRight(cut, " ,.;:") + "…"
}

// parseTime parses an OSV timestamp (RFC 3339); the zero time stands for
// absent or unparsable values and for Go's "0001-01-01T00:00:00Z".
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04:05Z07:00", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			if t.Year() <= 1 {
				return time.Time{}
			}
			return t.UTC()
		}
	}
	return time.Time{}
}

func cloneStrings(s []string) []string {
	if s == nil {
		return nil
	}
	return append([]string(nil), s...)
}

func cloneCVSS(c []vuln.CVSS) []vuln.CVSS {
	if c == nil {
		return nil
	}
	return append([]vuln.CVSS(nil), c...)
}
