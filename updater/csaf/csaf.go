// Package csaf parses OASIS CSAF 2.0 documents of RPM distributions, as
// Red Hat (RHEL, UBI) and CIQ (Rocky Linux) publish them: security
// advisories (category csaf_security_advisory: RHSA, CRLSA, …) and
// per-CVE VEX documents (csaf_vex). It registers the source type "csaf".
//
// A feed is any mix of JSON documents, tar archives and zstd-compressed
// tar archives (Red Hat's csaf_vex_YYYY-MM-DD.tar.zst, a tar.zst of
// github.com/ctrliq/advisories), in a directory, a zip archive or as one
// downloaded file. Archives are streamed, never unpacked to disk, every
// entry within Limits.DocumentBytes and the decompressed stream within
// Limits.FeedBytes and Limits.Files entries.
//
// Products. A product_status id names a relationship (default_component_of)
// that ties an RPM component (a product_version with a purl, or named as a
// NEVRA "openssl-1:3.2.2-6.el9_5.1.x86_64", or a bare package name in VEX
// statements) to a platform product. Platforms map to ecosystems:
// "Rocky Linux from CIQ 9.6", "Rocky Linux 9.8 from CIQ" and "Rocky Linux 9"
// to "Rocky Linux:9" (a platform named without a release takes it from the
// package's ".elN"); Red Hat Enterprise Linux products (by CPE:
// enterprise_linux and its EUS/AUS/E4S/TUS/ELS streams, or by name) to
// "Red Hat:N". CIQ's LTS, FIPS and Bridge products (their own builds, with
// release tags such as ".ciqlts" that no Rocky Linux image installs) and
// Red Hat's layered products are skipped and counted.
//
// Statuses, per CVE and binary or source RPM name:
//
//   - fixed: a record fixed at the component's [epoch:]version-release
//     (architecture stripped), one per (document, ecosystem, package) with
//     the smallest fixed EVR of the document's products in that ecosystem.
//     An advisory's record has the advisory's id and the CVEs it fixes for
//     that package in CVEs; a VEX document's has the CVE as id.
//   - known_affected: an unfixed record (wont-fix when a remediation of
//     category no_fix_planned covers it).
//   - known_not_affected: a not-affected record with the flag label as
//     Justification ("vulnerable_code_not_present").
//   - under_investigation: skipped and counted.
//
// Module streams: where the document names the stream (Red Hat: the purl's
// rpmmod, a product id's "::ruby:3.1") and the stream's version is a
// prefix of the fixed version ("ruby:2.5" and 2.5.9-111.module+el8…), the
// range is introduced at the stream's version, so that a fix in one stream
// never affects a package of an older stream. CIQ's documents name no
// stream: the ".module+el9…" release is kept as is.
//
// Advisories and VEX documents state the same facts. Within one feed a VEX
// document's fixed statement for (CVE, ecosystem, package) is dropped when
// an advisory of the feed fixes that CVE in that package and ecosystem; a
// not-affected or affected statement for (CVE, ecosystem, package) is kept
// once, a VEX document's over an advisory's (the later one among equals),
// and dropped when the feed fixes that CVE in that package and ecosystem
// (Red Hat lists a source RPM as known_not_affected beside its fixed
// binary of the same name: the fix wins).
package csaf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/osv"
	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/vuln/version"
)

func init() { updater.Register("csaf", Parser{}) }

// Parser is the updater.Parser of CSAF feeds.
type Parser struct{}

// Reasons under which skipped entries are counted (updater.Skip).
const (
	SkipProduct       = "csaf: product not mapped to an ecosystem (CIQ LTS/FIPS/Bridge, layered products)"
	SkipUnresolved    = "csaf: product id not found in the product tree"
	SkipVersion       = "csaf: fixed component without a usable version"
	SkipInvestigation = "csaf: under investigation"
	SkipDocument      = "csaf: document without id or of another category"
	SkipDuplicate     = "csaf: VEX statement repeating an advisory"
)

// Parse implements updater.Parser.
func (p Parser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	recs, err := updater.Collect(ctx, p, feed)
	if err != nil {
		return nil, err
	}
	return mergeAll(recs), nil
}

// Merge implements updater.Merger: the fixes of one advisory id that
// several documents emitted, merged as one document's (see merge).
func (Parser) Merge(parts []vuln.Record) vuln.Record { return merge(parts) }

// mergeAll merges the records of the same key (Merge) and sorts them by
// key.
func mergeAll(recs []vuln.Record) []vuln.Record {
	groups := map[string][]vuln.Record{}
	for _, r := range recs {
		k := r.Key()
		groups[k] = append(groups[k], r)
	}
	out := make([]vuln.Record, 0, len(groups))
	for _, g := range groups {
		out = append(out, merge(g))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key() < out[j].Key() })
	return out
}

// ParseStream implements updater.StreamParser. An advisory's fixed
// records are emitted as its document is read (an advisory id that
// several documents carry is emitted once per document, and merged by
// Merge). The VEX documents of a feed say things of the same (CVE,
// ecosystem, package) across files, and the rules that choose between
// them need every document, so their facts are collected first (a small
// part of the documents: ids, versions, a pointer to the document's
// texts) and their records made one at a time once all are read.
func (p Parser) ParseStream(ctx context.Context, feed fs.FS, emit func(vuln.Record) error) error {
	c, err := collect(ctx, feed, emit)
	if err != nil {
		return err
	}
	if err := c.each(emit); err != nil {
		return err
	}
	for reason, n := range c.skips {
		updater.Skip(ctx, reason, n)
	}
	return nil
}

// collect reads every document of the feed into a collector that emits
// advisories' fixes to emit.
func collect(ctx context.Context, feed fs.FS, emit func(vuln.Record) error) (*collector, error) {
	lim := updater.LimitsOf(feed)
	c := newCollector(emit)
	docs := 0
	err := fs.WalkDir(feed, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("walk %s: %w", p, err)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		kind := kindOf(p)
		if kind == "" {
			return nil
		}
		f, err := feed.Open(p)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer f.Close()
		n, err := readFile(ctx, f, p, kind, lim, c)
		docs += n
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("csaf: %w", err)
	}
	if docs == 0 {
		return nil, errors.New("csaf: no CSAF document in the feed")
	}
	return c, nil
}

// ParseDocument parses one CSAF document (read within
// updater.DefaultLimits) into its records, deduplicated as a feed's are.
func ParseDocument(r io.Reader) ([]vuln.Record, error) {
	var recs []vuln.Record
	collect := func(r vuln.Record) error {
		recs = append(recs, r)
		return nil
	}
	c := newCollector(collect)
	if err := decode(r, "document", updater.DefaultLimits(), c); err != nil {
		return nil, err
	}
	_ = c.each(collect) // appending fails never
	return mergeAll(recs), nil
}

// kindOf says how a feed file is read: "json", "tar", "tar.zst" or "" (not
// read: index.txt, changes.csv, archive_latest.txt, …).
func kindOf(name string) string {
	n := strings.ToLower(name)
	switch {
	case strings.HasSuffix(n, ".json"):
		return "json"
	case strings.HasSuffix(n, ".tar.zst"), strings.HasSuffix(n, ".tzst"):
		return "tar.zst"
	case strings.HasSuffix(n, ".tar"):
		return "tar"
	}
	return ""
}

func readFile(ctx context.Context, f io.Reader, name, kind string, lim updater.Limits, c *collector) (int, error) {
	switch kind {
	case "json":
		ok, err := decodeIfObject(f, name, lim, c)
		if !ok || err != nil {
			return 0, err
		}
		return 1, nil
	case "tar.zst":
		return readTarZst(ctx, f, name, lim, c)
	default:
		return readTar(ctx, f, name, lim, c)
	}
}

// decode reads one document within lim.DocumentBytes and adds it to c.
func decode(r io.Reader, name string, lim updater.Limits, c *collector) error {
	r = limits.Reader(r, lim.DocumentBytes, lim.DocumentError(name))
	var doc document
	if err := json.NewDecoder(updater.NewJSONGuard(r, lim, name)).Decode(&doc); err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	return c.add(&doc)
}

// severityOf maps a Red Hat impact rating.
func severityOf(rating string) vuln.Severity {
	s, _ := osv.RatingSeverity(rating)
	return s
}

// parseTime reads a CSAF date-time, or the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return t.UTC()
}

// sortedSet returns the keys of a set, sorted.
func sortedSet(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// rpmOrder compares EVRs.
var rpmOrder = version.RPM

func sortCVSS(c []vuln.CVSS) []vuln.CVSS {
	slices.SortFunc(c, func(a, b vuln.CVSS) int {
		switch {
		case a.Score != b.Score:
			if a.Score > b.Score {
				return -1
			}
			return 1
		case a.Version != b.Version:
			return strings.Compare(b.Version, a.Version)
		}
		return strings.Compare(a.Vector, b.Vector)
	})
	return slices.CompactFunc(c, func(a, b vuln.CVSS) bool { return a == b })
}
