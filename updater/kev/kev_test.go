package kev_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/kev"
	"github.com/lapps/lapps/vuln"
)

func realCatalog(t testing.TB) string {
	return filepath.Join(testenv.VulnData(t, "cisa-kev"), "known_exploited_vulnerabilities.json")
}

// TestRealCatalog parses the real snapshot and checks every record
// against the catalogue decoded independently (whole, with a map).
func TestRealCatalog(t *testing.T) {
	raw, err := os.ReadFile(realCatalog(t))
	if err != nil {
		t.Fatal(err)
	}
	// The oracle: the whole catalogue decoded at once, string fields only
	// (cwes is an array), trimmed.
	var loose struct {
		Count           int              `json:"count"`
		Vulnerabilities []map[string]any `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(raw, &loose); err != nil {
		t.Fatal(err)
	}
	var oracle struct {
		Count           int
		Vulnerabilities []map[string]string
	}
	oracle.Count = loose.Count
	for _, v := range loose.Vulnerabilities {
		m := map[string]string{}
		for k, x := range v {
			if s, ok := x.(string); ok {
				m[k] = strings.TrimSpace(s) // 50 entries have stray spaces
			}
		}
		oracle.Vulnerabilities = append(oracle.Vulnerabilities, m)
	}
	recs, skipped, err := kev.ParseCatalog(context.Background(), bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if len(skipped) != 0 {
		t.Errorf("skipped %v in the real catalogue", skipped)
	}
	if len(recs) != oracle.Count || len(recs) != len(oracle.Vulnerabilities) {
		t.Fatalf("%d records, catalogue count %d, %d entries", len(recs), oracle.Count, len(oracle.Vulnerabilities))
	}
	ransomware := 0
	for i, r := range recs {
		o := oracle.Vulnerabilities[i]
		if r.ID != o["cveID"] || r.Package != r.ID || r.Ecosystem != vuln.EcosystemEnrichment || r.Status != vuln.StatusUnfixed {
			t.Fatalf("record %d: %+v for entry %v", i, r, o["cveID"])
		}
		ke := r.KnownExploited
		want := vuln.KnownExploited{Catalog: "CISA KEV", DateAdded: o["dateAdded"], DueDate: o["dueDate"],
			RansomwareUse: o["knownRansomwareCampaignUse"] == "Known", Name: o["vulnerabilityName"], RequiredAction: o["requiredAction"]}
		if ke == nil || *ke != want {
			t.Fatalf("%s: known_exploited %+v, want %+v", r.ID, ke, want)
		}
		if r.Title != o["vulnerabilityName"] || r.Description != o["shortDescription"] || r.Published.Format("2006-01-02") != o["dateAdded"] {
			t.Fatalf("%s: title %q description %q published %s", r.ID, r.Title, r.Description, r.Published)
		}
		if ke.RansomwareUse {
			ransomware++
		}
	}
	if ransomware == 0 || ransomware == len(recs) {
		t.Errorf("%d of %d with ransomware use: the flag is not read", ransomware, len(recs))
	}
	t.Logf("%d records, %d known ransomware use", len(recs), ransomware)
}

func doc(entries ...string) string {
	return `{"title":"CISA Catalog","catalogVersion":"2025.08.25","count":99999,"vulnerabilities":[` + strings.Join(entries, ",") + `]}`
}

func ent(id, added string) string {
	return fmt.Sprintf(`{"cveID":%q,"vulnerabilityName":"N %s","dateAdded":%q,"shortDescription":"D","requiredAction":"A","dueDate":"2025-09-15","knownRansomwareCampaignUse":"Known","cwes":["CWE-59"],"notes":""}`, id, id, added)
}

// TestParse: what is kept, skipped and refused.
func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		doc     string
		ids     []string
		skipped map[string]int
		err     string
	}{
		{name: "one entry", doc: doc(ent("CVE-2025-48384", "2025-08-25")), ids: []string{"CVE-2025-48384"}},
		{name: "lower case id", doc: doc(ent(" cve-2021-44228 ", "2021-12-10")), ids: []string{"CVE-2021-44228"}},
		{name: "bad ids skipped", doc: doc(ent("CVE-21-1", "2025-01-01"), ent("GHSA-xxxx", "2025-01-01"), ent("", "2025-01-01"), ent("CVE-2024-1234", "2025-01-01")),
			ids: []string{"CVE-2024-1234"}, skipped: map[string]int{kev.SkipBadID: 3}},
		{name: "duplicate skipped", doc: doc(ent("CVE-2024-1234", "2025-01-01"), ent("CVE-2024-1234", "2025-02-01")),
			ids: []string{"CVE-2024-1234"}, skipped: map[string]int{kev.SkipDuplicate: 1}},
		{name: "bad date skipped", doc: doc(ent("CVE-2024-1234", "yesterday"), ent("CVE-2024-1235", "2025-01-01")),
			ids: []string{"CVE-2024-1235"}, skipped: map[string]int{kev.SkipBadDate: 1}},
		{name: "members after the array", doc: `{"vulnerabilities":[` + ent("CVE-2024-1234", "2025-01-01") + `],"extra":{"a":[1,2,{"b":null}]}}`, ids: []string{"CVE-2024-1234"}},
		{name: "empty catalogue", doc: doc()},
		{name: "schema is no catalogue", doc: `{"$schema":"x","properties":{"vulnerabilities":{"type":"array"}}}`, err: "not a catalogue"},
		{name: "schema-like member", doc: `{"vulnerabilities":{"type":"array"}}`, err: "not a catalogue"},
		{name: "not an array", doc: `{"vulnerabilities":"x"}`, err: "want an array"},
		{name: "entry not an object", doc: `{"vulnerabilities":[1]}`, err: "vulnerabilities[0]"},
		{name: "truncated", doc: doc(ent("CVE-2024-1234", "2025-01-01"))[:120], err: "unexpected EOF"},
		{name: "garbage", doc: "<html>", err: "invalid character"},
		{name: "trailing data", doc: doc() + "{}", err: "data after the catalogue"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, skipped, err := kev.ParseCatalog(context.Background(), strings.NewReader(tc.doc))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, r := range recs {
				ids = append(ids, r.ID)
			}
			if !reflect.DeepEqual(ids, tc.ids) {
				t.Errorf("ids %v, want %v", ids, tc.ids)
			}
			if len(skipped) == 0 {
				skipped = nil
			}
			if !reflect.DeepEqual(skipped, tc.skipped) {
				t.Errorf("skipped %v, want %v", skipped, tc.skipped)
			}
		})
	}
}

// TestFeed: a feed's catalogue is found beside its schema and licence; a
// feed without one is an error; skips are counted into the run.
func TestFeed(t *testing.T) {
	ctx := context.Background()
	feed := fstest.MapFS{
		"LICENSE": {Data: []byte("CC0")},
		"known_exploited_vulnerabilities_schema.json": {Data: []byte(`{"$schema":"x","properties":{"vulnerabilities":{"items":{}}}}`)},
		"known_exploited_vulnerabilities.json":        {Data: []byte(doc(ent("CVE-2024-1234", "2025-01-01"), ent("bad", "2025-01-01")))},
	}
	sk := &updater.Skips{}
	recs, err := kev.Parser{}.Parse(updater.WithSkips(ctx, sk), feed)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if got := sk.Counts(); got[kev.SkipBadID] != 1 {
		t.Errorf("skips %v", got)
	}
	delete(feed, "known_exploited_vulnerabilities.json")
	if _, err := (kev.Parser{}).Parse(ctx, feed); err == nil || !strings.Contains(err.Error(), "no catalogue") {
		t.Fatalf("feed without a catalogue: %v", err)
	}
	feed["x.json"] = &fstest.MapFile{Data: []byte("not json")}
	if _, err := (kev.Parser{}).Parse(ctx, feed); err == nil {
		t.Fatal("a .json file that is not JSON parsed")
	}
}

func openStore(t *testing.T) *sqlite.Store {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

var quiet = updater.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))

func write(t *testing.T, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "known_exploited_vulnerabilities.json")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportThenHostile imports the real catalogue into a real store and
// reads a record back as the matcher does (by ecosystem and id); then
// every feed crossing a bound, and garbage, is a failed run that leaves
// the records as they were.
func TestImportThenHostile(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	if _, err := updater.Import(ctx, st, "kev", realCatalog(t), "cisa-kev", quiet); err != nil {
		t.Fatal(err)
	}
	lookup := func() []vuln.Record {
		recs, err := st.Records(ctx, vuln.EcosystemEnrichment, []string{"CVE-2021-44228", "CVE-2025-48384"})
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	before := lookup()
	if len(before) != 2 || before[0].KnownExploited == nil || before[0].Source != "cisa-kev" {
		t.Fatalf("records read back: %+v", before)
	}
	many := make([]string, 11)
	for i := range many {
		many[i] = ent(fmt.Sprintf("CVE-2024-%04d", 1000+i), "2025-01-01")
	}
	big := ent("CVE-2024-1234", "2025-01-01")
	big = strings.Replace(big, `"D"`, `"`+strings.Repeat("d", 2<<20)+`"`, 1)
	for _, tc := range []struct {
		name string
		data []byte
		lim  updater.Limits
		key  string
		want string
	}{
		{name: "entries past max_records", data: []byte(doc(many...)), lim: updater.Limits{Records: 10}, key: updater.KeyMaxRecords},
		{name: "entry past max_document_bytes", data: []byte(doc(big)), lim: updater.Limits{DocumentBytes: 1 << 20}, key: updater.KeyMaxDocumentBytes},
		{name: "string past max_token_bytes", data: []byte(doc(big)), lim: updater.Limits{TokenBytes: 1 << 20}, key: updater.KeyMaxTokenBytes},
		{name: "file past max_file_bytes", data: []byte(doc(big)), lim: updater.Limits{FileBytes: 1 << 20}, key: updater.KeyMaxFileBytes},
		{name: "file past max_feed_bytes", data: []byte(doc(big)), lim: updater.Limits{FeedBytes: 1 << 20}, key: updater.KeyMaxFeedBytes},
		{name: "nesting past max_json_depth", data: []byte(`{"x":` + strings.Repeat("[", 100)), key: updater.KeyMaxJSONDepth},
		{name: "garbage", data: []byte("<html>bad gateway</html>"), want: "invalid character"},
		{name: "truncated", data: []byte(doc(ent("CVE-2024-1234", "2025-01-01")))[:200], want: "unexpected EOF"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := updater.Import(ctx, st, "kev", write(t, tc.data), "cisa-kev", quiet, updater.WithLimits(tc.lim))
			if tc.key != "" {
				var le *limits.Error
				if !errors.As(err, &le) || le.Key != tc.key {
					t.Fatalf("error %v, want a *limits.Error naming %s", err, tc.key)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if after := lookup(); !reflect.DeepEqual(after, before) {
				t.Errorf("records changed by a failed run")
			}
		})
	}
}
