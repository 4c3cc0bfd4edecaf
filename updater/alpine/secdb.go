// Package alpine parses the Alpine secdb ("alpine-secdb"): the fix-only
// vulnerability data Alpine publishes per release and repository at
// https://secdb.alpinelinux.org/ (v3.N/main.json, v3.N/community.json), in
// the YAML form of the deprecated alpine-secdb repository (v3.N/main.yaml),
// and in the identical JSON shape Wolfi (packages.wolfi.dev) and
// Chainguard publish as security.json.
package alpine

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
	"path"
	"regexp"
	"slices"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/vuln/version"
)

func init() { updater.Register("alpine-secdb", Parser{}) }

// Parser parses secdb documents:
//
//	distroversion: v3.11          # absent or "rolling" for Wolfi/Chainguard
//	reponame: main
//	urlprefix: http://dl-cdn.alpinelinux.org/alpine
//	packages:
//	  - pkg:
//	      name: ansible           # origin (source) package
//	      secfixes:
//	        2.9.3-r0: [CVE-2019-14904, CVE-2019-14905]
//	        "0": [CVE-2019-1234]  # never affected in Alpine
//
// One record per (vulnerability id, ecosystem, origin package), fixed in
// the version it is listed under; a "0" key gives a not-affected record.
//
// Ecosystem: "Alpine:v3.N" from distroversion. A document without a
// numbered distroversion (Wolfi and Chainguard write none, or "rolling")
// is placed by its urlprefix or apkurl host (packages.wolfi.dev → "Wolfi",
// *.cgr.dev or a chainguard host → "Chainguard"), then by its location in
// the feed (a "v3.N" directory, a path naming wolfi or chainguard); one
// that cannot be placed is an error. "edge" documents are skipped: no
// image's os-release names edge as a release the matcher could use.
//
// Entries are cleaned as the data needs: several ids in one string
// ("CVE-2017-8904 XSA-214": one record per CVE, the other ids its
// aliases), comments ("CVE-2018-5740 (BGP)"), "CVE_2019-2426",
// "CVE-2017-17434-1" (a part number) and ".patch" suffixes, placeholder
// ids ("CVE-????-?????") dropped. An entry without any CVE uses its first
// id (XSA-207, GHSA-…, wnpa-sec-2017-18, spelled as given) as the record
// id.
//
// The same id listed under several versions of one package (wpa_supplicant
// CVE-2017-13077 under 2.6-r7 and 2.7-r0): secfixes carries the history of
// every branch the APKBUILD went through, so the smaller version is a
// backport and the larger the upstream fix; both are fixed builds. The
// smallest version (apk ordering) is kept: choosing the largest would
// report the backported build as vulnerable. A real fix wins over "0".
// A fixed version apk cannot parse (secdb typos such as "4.10-1-r1") is
// skipped with a warning: it could never be compared with an installed
// version.
type Parser struct{}

// document is one secdb file.
type document struct {
	DistroVersion string    `json:"distroversion" yaml:"distroversion"`
	RepoName      string    `json:"reponame" yaml:"reponame"`
	URLPrefix     string    `json:"urlprefix" yaml:"urlprefix"`
	APKURL        string    `json:"apkurl" yaml:"apkurl"`
	Packages      []pkgWrap `json:"packages" yaml:"packages"`
}

type pkgWrap struct {
	Pkg struct {
		Name     string              `json:"name" yaml:"name"`
		SecFixes map[string][]string `json:"secfixes" yaml:"secfixes"`
	} `json:"pkg" yaml:"pkg"`
}

var (
	cveRE   = regexp.MustCompile(`^CVE-\d{4}-\d{4,}`)
	otherRE = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9._:-]*[0-9][A-Za-z0-9._:-]*$`)
	vRE     = regexp.MustCompile(`^v\d+\.\d+`)
)

// Parse implements updater.Parser: every .json, .yaml or .yml file of the
// feed, and every file without one of those extensions whose content looks
// like a secdb document, is read; a feed with none is an error. Documents
// are read within the feed's bounds (updater.LimitsOf): a JSON document
// within Limits.DocumentBytes through an updater.JSONGuard, a YAML
// document within Limits.YAMLBytes. Fixed versions that apk cannot parse
// (an empty key among them) are skipped and counted with updater.Skip.
func (p Parser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	recs, err := updater.Collect(ctx, p, feed)
	if err != nil {
		return nil, err
	}
	return merge(recs), nil
}

// Merge implements updater.Merger: the records of one key folded as
// Parse folds them.
func (Parser) Merge(parts []vuln.Record) vuln.Record { return merge(parts)[0] }

// ParseStream implements updater.StreamParser: Parse, emitting the
// records of each document as it is read, not merged.
func (Parser) ParseStream(ctx context.Context, feed fs.FS, emit func(vuln.Record) error) error {
	lim := updater.LimitsOf(feed)
	found := 0
	bad := 0
	err := fs.WalkDir(feed, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		ext := strings.ToLower(path.Ext(p))
		known := ext == ".json" || ext == ".yaml" || ext == ".yml"
		if !known && ext != "" {
			return nil // README.md and the like
		}
		f, err := feed.Open(p)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer f.Close()
		br := bufio.NewReaderSize(f, 64<<10)
		if !known {
			head, _ := br.Peek(4096)
			if !looksLikeSecDB(head) {
				return nil
			}
		}
		found++
		rs, n, err := readSecDB(br, p, lim)
		if err != nil {
			return err
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
		return fmt.Errorf("alpine secdb: %w", err)
	}
	if found == 0 {
		return errors.New("alpine secdb: no secdb document in the feed")
	}
	updater.Skip(ctx, "alpine secdb: fixed version that is not an apk version", bad)
	return nil
}

// looksLikeSecDB sniffs the head of a file without a telling extension.
func looksLikeSecDB(head []byte) bool {
	if len(head) > 4096 {
		head = head[:4096]
	}
	return bytes.Contains(head, []byte("packages")) &&
		(bytes.Contains(head, []byte("distroversion")) || bytes.Contains(head, []byte("reponame")) ||
			bytes.Contains(head, []byte("secfixes")))
}

// ParseSecDB parses one secdb document, JSON or YAML, within the default
// bounds (updater.DefaultLimits); name is its path in the feed, used to
// place a document without a distroversion and in errors.
func ParseSecDB(data []byte, name string) ([]vuln.Record, error) {
	recs, _, err := readSecDB(bytes.NewReader(data), name, updater.DefaultLimits())
	return recs, err
}

// readSecDB reads and parses one document within lim; bad counts the
// fixed versions skipped.
func readSecDB(r io.Reader, name string, lim updater.Limits) (recs []vuln.Record, bad int, err error) {
	doc, err := decode(r, name, lim)
	if err != nil {
		return nil, 0, fmt.Errorf("parse %s: %w", name, err)
	}
	return secdbRecords(doc, name)
}

// secdbRecords turns a decoded document into records.
func secdbRecords(doc document, name string) ([]vuln.Record, int, error) {
	if doc.DistroVersion == "" && doc.RepoName == "" && doc.URLPrefix == "" && doc.APKURL == "" && len(doc.Packages) == 0 {
		return nil, 0, fmt.Errorf("parse %s: not a secdb document (no distroversion, reponame, urlprefix or packages)", name)
	}
	eco, err := ecosystemOf(doc, name)
	if err != nil {
		return nil, 0, fmt.Errorf("parse %s: %w", name, err)
	}
	if eco == "" {
		slog.Info("alpine secdb: skipping edge document", "file", name)
		return nil, 0, nil
	}
	var (
		recs       []vuln.Record
		skipped    int
		badVersion []string
	)
	for i, pw := range doc.Packages {
		pkg := strings.TrimSpace(pw.Pkg.Name)
		if pkg == "" {
			if len(pw.Pkg.SecFixes) == 0 {
				continue
			}
			return nil, 0, fmt.Errorf("parse %s: package %d has secfixes but no name", name, i)
		}
		for ver, entries := range pw.Pkg.SecFixes {
			ver = strings.TrimSpace(ver)
			notAffected := ver == "0"
			if !notAffected {
				if _, err := version.APK.Parse(ver); err != nil {
					// secdb has typos ("4.10-1-r1", "2.7.16-33"): a fix
					// in a version apk cannot order matches nothing, and
					// an empty one must not become "every version".
					badVersion = append(badVersion, pkg+" "+ver)
					continue
				}
			}
			for _, e := range entries {
				ids, aliases := splitIDs(e)
				if len(ids) == 0 {
					skipped++
					continue
				}
				for _, id := range ids {
					r := vuln.Record{
						ID:        id,
						Ecosystem: eco,
						Package:   pkg,
						Status:    vuln.StatusFixed,
					}
					if len(aliases) > 0 {
						r.Aliases = slices.Clone(aliases)
					}
					if notAffected {
						r.Status = vuln.StatusNotAffected
					} else {
						r.Ranges = []vuln.Range{{Type: vuln.RangeEcosystem, Fixed: ver}}
					}
					if strings.HasPrefix(eco, "Alpine:") {
						r.Links = []string{"https://security.alpinelinux.org/vuln/" + id}
					}
					recs = append(recs, r)
				}
			}
		}
	}
	if len(badVersion) > 0 {
		sort.Strings(badVersion)
		slog.Debug("alpine secdb: fixed versions that are not apk versions skipped", "file", name, "versions", badVersion)
	}
	if skipped > 0 {
		slog.Debug("alpine secdb: entries skipped (no usable id or version)", "file", name, "count", skipped)
	}
	return merge(recs), len(badVersion), nil
}

// decode reads a document as JSON when it starts with '{', as YAML
// otherwise, within lim: JSON through an updater.JSONGuard and at most
// lim.DocumentBytes, YAML at most lim.YAMLBytes (read whole before the
// decoder sees it: a YAML node tree takes about a hundred times the
// input). The YAML decoder is third-party code fed untrusted input: a
// panic in it becomes an error; its own protection against alias
// expansion (billion laughs) stays on.
func decode(r io.Reader, name string, lim updater.Limits) (doc document, err error) {
	br := bufio.NewReader(limits.Reader(r, lim.DocumentBytes, lim.DocumentError(name)))
	if bom, _ := br.Peek(3); bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	var first byte
	for {
		c, err := br.ReadByte()
		if err == io.EOF {
			return doc, errors.New("empty document")
		}
		if err != nil {
			return doc, err
		}
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			first = c
			_ = br.UnreadByte()
			break
		}
	}
	if first == '{' {
		dec := json.NewDecoder(updater.NewJSONGuard(br, lim, name))
		if err := dec.Decode(&doc); err != nil {
			return doc, fmt.Errorf("json: %w", err)
		}
		if _, err := dec.Token(); err != io.EOF {
			var se *json.SyntaxError
			if err != nil && !errors.As(err, &se) {
				return doc, fmt.Errorf("json: %w", err) // a bound, a read error
			}
			return doc, errors.New("json: trailing data after the document")
		}
		return doc, nil
	}
	data, err := limits.ReadAll(br, lim.YAMLBytes, lim.YAMLError(name))
	if err != nil {
		return doc, err
	}
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("yaml: decoder panic: %v", p)
		}
	}()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		return doc, fmt.Errorf("yaml: %w", err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		return doc, errors.New("yaml: more than one document")
	}
	return doc, nil
}

// ecosystemOf places a document (see Parser); "" with no error means an
// edge document.
func ecosystemOf(doc document, name string) (string, error) {
	dv := strings.TrimSpace(doc.DistroVersion)
	switch {
	case vRE.MatchString(dv):
		e, _ := vuln.NormalizeEcosystem("Alpine:" + dv)
		return e, nil
	case strings.EqualFold(dv, "edge"):
		return "", nil
	}
	for _, u := range []string{doc.URLPrefix, doc.APKURL} {
		u = strings.ToLower(u)
		switch {
		case strings.Contains(u, "wolfi.dev"):
			return "Wolfi", nil
		case strings.Contains(u, "cgr.dev"), strings.Contains(u, "chainguard"):
			return "Chainguard", nil
		}
	}
	for _, elem := range strings.Split(strings.ToLower(name), "/") {
		switch {
		case vRE.MatchString(elem):
			e, _ := vuln.NormalizeEcosystem("Alpine:" + elem)
			return e, nil
		case elem == "edge":
			return "", nil
		case strings.Contains(elem, "wolfi"):
			return "Wolfi", nil
		case strings.Contains(elem, "chainguard"):
			return "Chainguard", nil
		}
	}
	return "", fmt.Errorf("cannot tell the distribution: distroversion %q, urlprefix %q", dv, doc.URLPrefix)
}

// splitIDs cleans one secfixes entry into its CVE ids and its other ids
// (see Parser). With no CVE the first other id is the record id.
func splitIDs(entry string) (ids, aliases []string) {
	if i := strings.IndexAny(entry, "(#"); i >= 0 {
		entry = entry[:i]
	}
	var others []string
	for _, tok := range strings.Fields(entry) {
		tok = strings.Trim(tok, ",;:")
		if up := strings.ToUpper(tok); strings.HasPrefix(up, "CVE") {
			if strings.HasPrefix(up, "CVE_") {
				up = "CVE-" + up[len("CVE_"):]
			}
			if m := cveRE.FindString(up); m != "" && !slices.Contains(ids, m) {
				ids = append(ids, m)
			}
			continue // a placeholder such as CVE-????-?????
		}
		tok = strings.TrimSuffix(tok, ".patch")
		if otherRE.MatchString(tok) && !slices.Contains(others, tok) {
			others = append(others, tok)
		}
	}
	if len(ids) == 0 && len(others) > 0 {
		return others[:1], others[1:]
	}
	if len(others) == 0 {
		return ids, nil
	}
	return ids, others
}

// merge sorts records by key and folds records of the same key: the
// smallest fixed version wins, a fix wins over not-affected, aliases are
// united.
func merge(recs []vuln.Record) []vuln.Record {
	sort.SliceStable(recs, func(i, j int) bool { return lessKey(&recs[i], &recs[j]) })
	out := recs[:0]
	for i := range recs {
		r := recs[i]
		if len(out) == 0 || !sameKey(&out[len(out)-1], &r) {
			out = append(out, r)
			continue
		}
		last := &out[len(out)-1]
		for _, a := range r.Aliases {
			if !slices.Contains(last.Aliases, a) {
				last.Aliases = append(append([]string(nil), last.Aliases...), a)
			}
		}
		if r.Status != vuln.StatusFixed {
			continue
		}
		if last.Status != vuln.StatusFixed || fixedBefore(r.Ranges[0].Fixed, last.Ranges[0].Fixed) {
			last.Status, last.Ranges = r.Status, r.Ranges
		}
	}
	return out
}

// fixedBefore reports whether apk version a sorts before b.
func fixedBefore(a, b string) bool {
	c, err := version.Compare(version.APK, a, b)
	return err == nil && c < 0
}

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
