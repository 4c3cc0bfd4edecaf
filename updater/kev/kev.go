// Package kev parses CISA's Known Exploited Vulnerabilities catalogue
// ("kev"): the JSON file CISA publishes at
// https://www.cisa.gov/sites/default/files/feeds/known_exploited_vulnerabilities.json
// (schema: known_exploited_vulnerabilities_schema.json beside it). Its
// records enrich findings: they describe a vulnerability, not a package.
package kev

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"
	"time"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

func init() { updater.Register("kev", Parser{}) }

// Catalog is the KnownExploited.Catalog of the records of this source.
const Catalog = "CISA KEV"

// Reasons under which malformed entries are counted (updater.Skip).
const (
	SkipBadID     = "kev: entry whose cveID is not a CVE id"
	SkipDuplicate = "kev: entry repeating a cveID"
	SkipBadDate   = "kev: entry whose dateAdded is not a date"
)

// Parser parses the catalogue:
//
//	{"title": "…", "catalogVersion": "2025.08.25", "count": 1404,
//	 "vulnerabilities": [{"cveID": "CVE-2025-48384", "vendorProject": "Git",
//	   "product": "Git", "vulnerabilityName": "Git Link Following Vulnerability",
//	   "dateAdded": "2025-08-25", "shortDescription": "…", "requiredAction": "…",
//	   "dueDate": "2025-09-15", "knownRansomwareCampaignUse": "Unknown",
//	   "notes": "…", "cwes": ["CWE-59"]}, …]}
//
// One record per cveID: Ecosystem vuln.EcosystemEnrichment, Package and
// ID the CVE id (upper case), Status unfixed (the catalogue says nothing
// of fixes; no installed package matches an enrichment record),
// KnownExploited{Catalog "CISA KEV", DateAdded, DueDate, RansomwareUse
// (knownRansomwareCampaignUse "Known"), Name (vulnerabilityName),
// RequiredAction}, Title vulnerabilityName, Description shortDescription,
// Published dateAdded.
//
// The catalogue's count is not trusted: the vulnerabilities array is
// decoded one entry at a time through an updater.JSONGuard, each entry
// within Limits.DocumentBytes, at most Limits.Records entries. An entry
// whose cveID is not a CVE id (CVE-YYYY-NNNN…), or whose dateAdded is
// not a date, is skipped and counted (updater.Skip), and so is a second
// entry of one CVE (the first is kept).
//
// Every .json file of the feed, and every file without an extension that
// starts with '{', is read; a JSON object without a top-level
// "vulnerabilities" array (the catalogue's JSON schema, say) is not a
// catalogue and is passed over. A feed without a catalogue is an error,
// and so is a file that is not JSON.
type Parser struct{}

// entry is one element of the vulnerabilities array.
type entry struct {
	CVEID                      string `json:"cveID"`
	VendorProject              string `json:"vendorProject"`
	Product                    string `json:"product"`
	VulnerabilityName          string `json:"vulnerabilityName"`
	DateAdded                  string `json:"dateAdded"`
	ShortDescription           string `json:"shortDescription"`
	RequiredAction             string `json:"requiredAction"`
	DueDate                    string `json:"dueDate"`
	KnownRansomwareCampaignUse string `json:"knownRansomwareCampaignUse"`
}

// skips counts the entries skipped, by reason.
type skips map[string]int

// Parse implements updater.Parser.
func (Parser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	lim := updater.LimitsOf(feed)
	var recs []vuln.Record
	seen := map[string]bool{}
	sk := skips{}
	found := 0
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
		if ext != ".json" && ext != "" {
			return nil
		}
		f, err := feed.Open(p)
		if err != nil {
			return fmt.Errorf("open %s: %w", p, err)
		}
		defer f.Close()
		br := bufio.NewReaderSize(f, 64<<10)
		if ext == "" {
			head, _ := br.Peek(512)
			head = bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xef\xbb\xbf")), " \t\r\n")
			if len(head) == 0 || head[0] != '{' {
				return nil // LICENSE and the like
			}
		}
		ok, err := readCatalog(ctx, br, p, lim, seen, sk, &recs)
		if err != nil {
			return fmt.Errorf("parse %s: %w", p, err)
		}
		if ok {
			found++
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("kev: %w", err)
	}
	if found == 0 {
		return nil, errors.New("kev: no catalogue (a JSON object with a vulnerabilities array) in the feed")
	}
	for reason, n := range sk {
		updater.Skip(ctx, reason, n)
	}
	return recs, nil
}

// ParseCatalog parses one catalogue document within the default bounds
// (updater.DefaultLimits). skipped counts the entries skipped, by reason.
func ParseCatalog(ctx context.Context, r io.Reader) (recs []vuln.Record, skipped map[string]int, err error) {
	sk := skips{}
	ok, err := readCatalog(ctx, r, "catalogue", updater.DefaultLimits(), map[string]bool{}, sk, &recs)
	if err != nil {
		return nil, nil, fmt.Errorf("kev: %w", err)
	}
	if !ok {
		return nil, nil, errors.New("kev: not a catalogue (no vulnerabilities array)")
	}
	return recs, sk, nil
}

// readCatalog reads one JSON document, appending the records of its
// vulnerabilities array to recs; ok is false when the document has no
// such array.
func readCatalog(ctx context.Context, r io.Reader, name string, lim updater.Limits, seen map[string]bool, sk skips, recs *[]vuln.Record) (ok bool, err error) {
	// Depth 1 is the catalogue, 2 the array, 3 and deeper one entry.
	g := updater.NewJSONGuard(r, lim, name).BoundValues(3, lim.DocumentBytes,
		limits.New("an entry of the KEV catalogue "+name, lim.DocumentBytes, "bytes", updater.KeyMaxDocumentBytes))
	dec := json.NewDecoder(g)
	if err := expectDelim(dec, '{'); err != nil {
		return false, err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return false, err
		}
		key, _ := tok.(string)
		if key != "vulnerabilities" {
			if err := skipValue(dec); err != nil {
				return false, fmt.Errorf("%s: %w", key, err)
			}
			continue
		}
		tok, err = dec.Token()
		if err != nil {
			return false, fmt.Errorf("vulnerabilities: %w", err)
		}
		if d, isDelim := tok.(json.Delim); !isDelim || d != '[' {
			if d == '{' {
				// A schema's "vulnerabilities" property, not the array.
				if err := skipRest(dec); err != nil {
					return false, fmt.Errorf("vulnerabilities: %w", err)
				}
				continue
			}
			return false, fmt.Errorf("vulnerabilities: want an array, got %v", tok)
		}
		ok = true
		for i := 0; dec.More(); i++ {
			if i%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return false, err
				}
			}
			var e entry
			if err := dec.Decode(&e); err != nil {
				return false, fmt.Errorf("vulnerabilities[%d]: %w", i, err)
			}
			rec, reason := record(e)
			if reason == "" && seen[rec.ID] {
				reason = SkipDuplicate
			}
			if reason != "" {
				sk[reason]++
				continue
			}
			if len(*recs) >= lim.Records {
				return false, lim.RecordsError("entries of the KEV catalogue " + name)
			}
			seen[rec.ID] = true
			*recs = append(*recs, rec)
		}
		if _, err := dec.Token(); err != nil { // ']'
			return false, fmt.Errorf("vulnerabilities: %w", err)
		}
	}
	if _, err := dec.Token(); err != nil { // '}'
		return false, err
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the catalogue")
		}
		return false, err
	}
	return ok, nil
}

// record turns an entry into a record, or gives the reason to skip it.
func record(e entry) (vuln.Record, string) {
	id, ok := vuln.CVEID(e.CVEID)
	if !ok {
		return vuln.Record{}, SkipBadID
	}
	added := strings.TrimSpace(e.DateAdded)
	published, err := time.Parse(time.DateOnly, added)
	if err != nil {
		return vuln.Record{}, SkipBadDate
	}
	name := strings.TrimSpace(e.VulnerabilityName)
	return vuln.Record{
		ID:          id,
		Ecosystem:   vuln.EcosystemEnrichment,
		Package:     id,
		Status:      vuln.StatusUnfixed,
		Title:       name,
		Description: strings.TrimSpace(e.ShortDescription),
		Published:   published,
		KnownExploited: &vuln.KnownExploited{
			Catalog:        Catalog,
			DateAdded:      added,
			DueDate:        strings.TrimSpace(e.DueDate),
			RansomwareUse:  strings.EqualFold(strings.TrimSpace(e.KnownRansomwareCampaignUse), "Known"),
			Name:           name,
			RequiredAction: strings.TrimSpace(e.RequiredAction),
		},
	}, ""
}

func expectDelim(dec *json.Decoder, want json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); !ok || d != want {
		return fmt.Errorf("want %q, got %v", want, tok)
	}
	return nil
}

// skipValue skips the next value token by token: a skipped value is
// never buffered whole (each token is bounded by the JSONGuard).
func skipValue(dec *json.Decoder) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if d, ok := tok.(json.Delim); ok && (d == '{' || d == '[') {
		return skipRest(dec)
	}
	return nil
}

// skipRest skips to the end of the array or object just opened.
func skipRest(dec *json.Decoder) error {
	for depth := 1; depth > 0; {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				depth++
			} else {
				depth--
			}
		}
	}
	return nil
}
