// Package cve5 parses CVE records in the CVE JSON 5 format ("cve5"), as
// CVEProject publishes the CVE List in its cvelistV5 repository: a tree
// cves/YYYY/NNxxx/CVE-YYYY-NNNN.json, the zip of that tree, or the daily
// release zip holding cves.zip. Its records enrich findings with the
// severity and CVSS of the CVE's CNA and of its ADP containers (CISA's
// "Vulnrichment" scores many CVEs their CNA left unscored).
package cve5

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"time"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/osv"
	"github.com/lapps/lapps/vuln"
)

func init() { updater.Register("cve5", Parser{}) }

// Reasons under which records and metrics are counted (updater.Skip).
const (
	SkipRejected  = "cve5: rejected CVE record"
	SkipBadID     = "cve5: record whose cveMetadata.cveId is not a CVE id"
	SkipDuplicate = "cve5: record repeating a CVE id"
	SkipBadCVSS   = "cve5: CVSS metric with an invalid vector or score"
)

// maxZipNesting bounds zips inside zips: the release zip holds cves.zip,
// which holds the records; a zip deeper than that is not read.
const maxZipNesting = 2

// Parser parses CVE JSON 5 records:
//
//	{"dataType": "CVE_RECORD", "dataVersion": "5.1",
//	 "cveMetadata": {"cveId": "CVE-2024-3094", "state": "PUBLISHED",
//	   "datePublished": "…", "dateUpdated": "…"},
//	 "containers": {
//	   "cna": {"title": "…", "descriptions": [{"lang": "en", "value": "…"}],
//	     "metrics": [{"cvssV3_1": {"version": "3.1", "vectorString": "CVSS:3.1/…",
//	       "baseScore": 10, "baseSeverity": "CRITICAL"}}]},
//	   "adp": [{"title": "CISA ADP Vulnrichment", "metrics": [{"cvssV3_1": {…}}, {"other": {…}}]}]}}
//
// One record per CVE: Ecosystem vuln.EcosystemEnrichment, Package and ID
// the cveId (upper case), Status unfixed (the record says nothing a
// matcher could use of fixes; no installed package matches an enrichment
// record). Title and Description (the English one, else the first) come
// from the CNA container, never from an ADP's title ("CVE Program
// Container" names the container); Published and Modified are
// cveMetadata's datePublished and dateUpdated. CVSS: every cvssV4_0,
// cvssV3_1, cvssV3_0 and cvssV2_0 of the CNA's metrics and of every ADP's
// metrics, each vector checked with osv.ParseCVSS (an invalid one is
// skipped and counted), its baseScore kept when it is in [0,10] (else the
// vector's computed score), newest version first and the CNA's before the
// ADPs'. Severity is that of the best of them (the first): its
// baseSeverity (SourceSeverity) when it is a rating, else the band of
// its score.
//
// Rejected records (state REJECTED) give nothing and are counted; so is a
// record whose cveId is not a CVE id, and a second record of one CVE.
//
// Every file named CVE-YYYY-N….json in the feed is a record, read whole
// within Limits.DocumentBytes through an updater.JSONGuard; other files
// (cves/delta.json, deltaLog.json, READMEs) are passed over. A .zip file
// in the feed is opened as a tree (updater.OpenNestedZip: spooled within
// the feed's bounds), two levels deep at most. At most Limits.Records
// records are kept. A record file that is not JSON is an error naming the
// file: a corrupt feed must not replace good data. A feed without any
// record is an error.
type Parser struct{}

var (
	fileRE = regexp.MustCompile(`(?i)^CVE-\d{4}-\d{4,}\.json$`)
)

// document is what the parser reads of a CVE record.
type document struct {
	DataType    string `json:"dataType"`
	CVEMetadata struct {
		CVEID         string `json:"cveId"`
		State         string `json:"state"`
		DatePublished string `json:"datePublished"`
		DateUpdated   string `json:"dateUpdated"`
	} `json:"cveMetadata"`
	Containers struct {
		CNA container   `json:"cna"`
		ADP []container `json:"adp"`
	} `json:"containers"`
}

type container struct {
	Title        string `json:"title"`
	Descriptions []struct {
		Lang  string `json:"lang"`
		Value string `json:"value"`
	} `json:"descriptions"`
	Metrics []map[string]json.RawMessage `json:"metrics"`
}

// cvssBlock is one cvssV*_* object of a metric.
type cvssBlock struct {
	Version      string   `json:"version"`
	VectorString string   `json:"vectorString"`
	BaseScore    *float64 `json:"baseScore"`
	BaseSeverity string   `json:"baseSeverity"`
}

// metricKeys are the CVSS keys of a metric, newest version first, with
// their versions.
var metricKeys = []struct{ key, version string }{
	{"cvssV4_0", "4.0"}, {"cvssV3_1", "3.1"}, {"cvssV3_0", "3.0"}, {"cvssV2_0", "2.0"},
}

// run is the state of one parse.
type run struct {
	ctx   context.Context
	lim   updater.Limits
	recs  []vuln.Record
	seen  map[string]bool
	skips map[string]int
	found int
}

// Parse implements updater.Parser.
func (Parser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	r := &run{ctx: ctx, lim: updater.LimitsOf(feed), seen: map[string]bool{}, skips: map[string]int{}}
	if err := r.walk(feed, "", 0); err != nil {
		return nil, fmt.Errorf("cve5: %w", err)
	}
	if r.found == 0 {
		return nil, errors.New("cve5: no CVE record (CVE-YYYY-N.json) in the feed")
	}
	for reason, n := range r.skips {
		updater.Skip(ctx, reason, n)
	}
	return r.recs, nil
}

// walk reads the records of fsys, whose files are named prefix/… in
// errors; nested zips are opened up to maxZipNesting deep.
func (r *run) walk(fsys fs.FS, prefix string, depth int) error {
	return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		name := path.Join(prefix, p)
		if err != nil {
			return fmt.Errorf("walk %s: %w", name, err)
		}
		if err := r.ctx.Err(); err != nil {
			return err
		}
		if d.IsDir() && p != "." && strings.HasPrefix(d.Name(), ".") {
			return fs.SkipDir // .git, .github
		}
		if !d.Type().IsRegular() {
			return nil
		}
		base := path.Base(p)
		switch {
		case strings.EqualFold(path.Ext(base), ".zip"):
			if depth >= maxZipNesting {
				return fmt.Errorf("%s: a zip archive nested more than %d deep", name, maxZipNesting)
			}
			sub, closeFn, err := updater.OpenNestedZip(fsys, p, "")
			if err != nil {
				return fmt.Errorf("open %s: %w", name, err)
			}
			defer closeFn()
			return r.walk(sub, name, depth+1)
		case fileRE.MatchString(base):
			return r.file(fsys, p, name)
		}
		return nil
	})
}

// file reads one record file.
func (r *run) file(fsys fs.FS, p, name string) error {
	r.found++
	f, err := fsys.Open(p)
	if err != nil {
		return fmt.Errorf("open %s: %w", name, err)
	}
	defer f.Close()
	rd := updater.NewJSONGuard(limits.Reader(f, r.lim.DocumentBytes, r.lim.DocumentError(name)), r.lim, name)
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(rd); err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	rec, reason, err := parse(buf.Bytes())
	if err != nil {
		return fmt.Errorf("parse %s: %w", name, err)
	}
	if reason == "" && r.seen[rec.ID] {
		reason = SkipDuplicate
	}
	if reason != "" {
		r.skips[reason]++
		return nil
	}
	for _, s := range rec.skipped {
		r.skips[s]++
	}
	if len(r.recs) >= r.lim.Records {
		return r.lim.RecordsError("CVE records of the feed")
	}
	r.seen[rec.ID] = true
	r.recs = append(r.recs, rec.Record)
	return nil
}

// parsed is a record with the reasons of the metrics it skipped.
type parsed struct {
	vuln.Record
	skipped []string
}

// ParseRecord parses one CVE JSON 5 document within the default bounds
// (updater.DefaultLimits). skip is the reason the record gives nothing
// (SkipRejected, SkipBadID), or "".
func ParseRecord(data []byte) (rec vuln.Record, skip string, err error) {
	lim := updater.DefaultLimits()
	if int64(len(data)) > lim.DocumentBytes {
		return vuln.Record{}, "", lim.DocumentError("")
	}
	if _, err := io.Copy(io.Discard, updater.NewJSONGuard(bytes.NewReader(data), lim, "")); err != nil {
		return vuln.Record{}, "", err
	}
	p, skip, err := parse(data)
	return p.Record, skip, err
}

// parse parses one document read within the bounds.
func parse(data []byte) (parsed, string, error) {
	var doc document
	if err := json.Unmarshal(data, &doc); err != nil {
		return parsed{}, "", err
	}
	if doc.DataType != "" && doc.DataType != "CVE_RECORD" {
		return parsed{}, "", fmt.Errorf("dataType %q is not CVE_RECORD", doc.DataType)
	}
	m := doc.CVEMetadata
	if strings.EqualFold(strings.TrimSpace(m.State), "REJECTED") {
		return parsed{}, SkipRejected, nil
	}
	id, ok := vuln.CVEID(m.CVEID)
	if !ok {
		return parsed{}, SkipBadID, nil
	}
	cna := doc.Containers.CNA
	out := parsed{Record: vuln.Record{
		ID:          id,
		Ecosystem:   vuln.EcosystemEnrichment,
		Package:     id,
		Status:      vuln.StatusUnfixed,
		Title:       strings.TrimSpace(cna.Title),
		Description: description(cna),
		Links:       []string{"https://www.cve.org/CVERecord?id=" + id},
		Published:   parseTime(m.DatePublished),
		Modified:    parseTime(m.DateUpdated),
	}}
	containers := append([]container{cna}, doc.Containers.ADP...)
	var best *cvssBlock
	seen := map[vuln.CVSS]bool{}
	for _, k := range metricKeys {
		for _, c := range containers {
			for _, metric := range c.Metrics {
				raw, ok := metric[k.key]
				if !ok {
					continue
				}
				var b cvssBlock
				if err := json.Unmarshal(raw, &b); err != nil {
					out.skipped = append(out.skipped, SkipBadCVSS)
					continue
				}
				cv, ok := rating(b, k.version)
				if !ok {
					out.skipped = append(out.skipped, SkipBadCVSS)
					continue
				}
				if best == nil {
					best = &b
					out.SourceSeverity = strings.TrimSpace(b.BaseSeverity)
					if s, ok := osv.RatingSeverity(out.SourceSeverity); ok {
						out.Severity = s
					} else {
						out.Severity = osv.CVSSSeverity(cv)
					}
				}
				if !seen[cv] {
					seen[cv] = true
					out.CVSS = append(out.CVSS, cv)
				}
			}
		}
	}
	return out, "", nil
}

// rating checks one CVSS block of version v: its vector must parse as
// that version; its baseScore, when in [0,10], is kept, else the score the
// vector gives.
func rating(b cvssBlock, v string) (vuln.CVSS, bool) {
	cv, err := osv.ParseCVSS(b.VectorString)
	if err != nil || cv.Version != v {
		return vuln.CVSS{}, false
	}
	if b.BaseScore != nil && *b.BaseScore >= 0 && *b.BaseScore <= 10 {
		cv.Score = *b.BaseScore
	}
	return cv, true
}

// description returns the container's English description, else its
// first.
func description(c container) string {
	for _, d := range c.Descriptions {
		l := strings.ToLower(strings.TrimSpace(d.Lang))
		if l == "en" || strings.HasPrefix(l, "en-") || strings.HasPrefix(l, "en_") {
			return strings.TrimSpace(d.Value)
		}
	}
	if len(c.Descriptions) > 0 {
		return strings.TrimSpace(c.Descriptions[0].Value)
	}
	return ""
}

// parseTime parses a CVE JSON 5 timestamp ("2024-03-29T15:51:12.824Z",
// or without a zone: UTC); zero when it does not parse.
func parseTime(s string) time.Time {
	s = strings.TrimSpace(s)
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", time.DateOnly} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC()
		}
	}
	return time.Time{}
}
