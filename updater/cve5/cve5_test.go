package cve5_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/cve5"
	"github.com/lapps/lapps/vuln"
)

// tree is the hand-written cvelistV5 fixture (testdata/README.md).
const tree = "testdata/cvelistV5"

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

// want are the records of the fixture, by id.
var want = map[string]vuln.Record{
	"CVE-2021-44228": {
		Title:       "Apache Log4j2 JNDI features do not protect against attacker controlled LDAP and other JNDI related endpoints",
		Description: "Apache Log4j2 2.0-beta9 through 2.15.0 (excluding security releases 2.12.2, 2.12.3, and 2.3.1) JNDI features used in configuration, log messages, and parameters do not protect against attacker controlled LDAP and other JNDI related endpoints.",
		Severity:    vuln.SeverityCritical, SourceSeverity: "CRITICAL",
		CVSS:      []vuln.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", Score: 10}},
		Published: ts("2021-12-10T00:00:00Z"), Modified: ts("2025-02-04T14:25:37.215Z"),
	},
	"CVE-2024-3094": {
		Title:       "Xz: malicious code in distributed source",
		Description: "Malicious code was discovered in the upstream tarballs of xz, starting with version 5.6.0.",
		Severity:    vuln.SeverityCritical, SourceSeverity: "CRITICAL",
		CVSS:      []vuln.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H", Score: 10}},
		Published: ts("2024-03-29T16:51:12.588Z"), Modified: ts("2025-02-13T17:47:26.129Z"),
	},
	"CVE-2023-44487": {
		Description: "The HTTP/2 protocol allows a denial of service (server resource consumption) because request cancellation can reset many streams quickly, as exploited in the wild in August through October 2023.",
		Severity:    vuln.SeverityHigh, SourceSeverity: "HIGH",
		CVSS:      []vuln.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H", Score: 7.5}},
		Published: ts("2023-10-10T00:00:00Z"), Modified: ts("2025-02-13T17:08:19.734Z"),
	},
	"CVE-2024-7589": {
		Title:       "Example Shop Admin Panel product.php sql injection",
		Description: "A vulnerability classified as critical was found in Example Shop 1.0. Affected is an unknown function of the file /admin/product.php. The manipulation of the argument id leads to sql injection.",
		// The best score is the newest version's, the CNA's before the
		// ADP's: CVSS 4.0 medium, though the ADP's 3.1 says critical.
		Severity: vuln.SeverityMedium, SourceSeverity: "MEDIUM",
		CVSS: []vuln.CVSS{
			{Version: "4.0", Vector: "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:N/VC:L/VI:L/VA:L/SC:N/SI:N/SA:N", Score: 5.3},
			{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:L", Score: 6.3},
			{Version: "3.1", Vector: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", Score: 9.8},
			{Version: "3.0", Vector: "CVSS:3.0/AV:N/AC:L/PR:L/UI:N/S:U/C:L/I:L/A:L", Score: 6.3},
			{Version: "2.0", Vector: "AV:N/AC:L/Au:S/C:P/I:P/A:P", Score: 6.5},
		},
		Published: ts("2024-08-08T13:31:05.123Z"), Modified: ts("2024-08-08T14:02:11.456Z"),
	},
	"CVE-2014-0160": {
		Description: "The (1) TLS and (2) DTLS implementations in OpenSSL 1.0.1 before 1.0.1g do not properly handle Heartbeat Extension packets, which allows remote attackers to obtain sensitive information from process memory via crafted packets that trigger a buffer over-read, as demonstrated by reading private keys, related to d1_both.c and t1_lib.c, aka the Heartbleed bug.",
		Published:   ts("2014-04-07T00:00:00Z"), Modified: ts("2024-08-06T09:05:39.326Z"),
	},
}

// wantSkipped is what the fixture skips.
var wantSkipped = map[string]int{cve5.SkipRejected: 1, cve5.SkipBadCVSS: 1}

func wantRecord(id string) vuln.Record {
	r := want[id]
	r.ID, r.Package, r.Ecosystem, r.Status = id, id, vuln.EcosystemEnrichment, vuln.StatusUnfixed
	r.Links = []string{"https://www.cve.org/CVERecord?id=" + id}
	return r
}

// zipTree zips a directory under prefix.
func zipTree(t testing.TB, dir, prefix string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.Create(path.Join(prefix, filepath.ToSlash(rel)))
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// zipOf zips named contents; stored entries are not compressed.
func zipOf(t testing.TB, stored bool, files ...any) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := 0; i < len(files); i += 2 {
		m := zip.Deflate
		if stored {
			m = zip.Store
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: files[i].(string), Method: m})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.Write(files[i+1].([]byte)); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
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

var ids = []string{"CVE-2021-44228", "CVE-2024-3094", "CVE-2023-44487", "CVE-2024-7589", "CVE-2014-0160", "CVE-2023-52001"}

// TestFeedForms imports the fixture as a tree (a directory), as the zip of
// the tree (GitHub's archive of the main branch, under cvelistV5-main/),
// and as the release zip holding cves.zip, into a real store, and reads
// the records back as the matcher does (by ecosystem and id).
func TestFeedForms(t *testing.T) {
	ctx := context.Background()
	abs, err := filepath.Abs(tree)
	if err != nil {
		t.Fatal(err)
	}
	for name, p := range map[string]func(t *testing.T) string{
		"tree": func(t *testing.T) string { return abs },
		"zip":  func(t *testing.T) string { return write(t, "main.zip", zipTree(t, abs, "cvelistV5-main")) },
		"release zip holding cves.zip": func(t *testing.T) string {
			return write(t, "2025-08-25_all_CVEs_at_midnight.zip", zipOf(t, false, "cves.zip", zipTree(t, abs, "")))
		},
	} {
		t.Run(name, func(t *testing.T) {
			st := openStore(t)
			run, err := updater.Import(ctx, st, "cve5", p(t), "cve5", quiet)
			if err != nil {
				t.Fatal(err)
			}
			_ = run
			got, err := st.Records(ctx, vuln.EcosystemEnrichment, ids)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) {
				t.Fatalf("%d records, want %d", len(got), len(want))
			}
			for _, r := range got {
				w := wantRecord(r.ID)
				w.Source = "cve5"
				if !reflect.DeepEqual(r, w) {
					t.Errorf("%s:\n got %+v\nwant %+v", r.ID, r, w)
				}
			}
		})
	}
}

// TestParse parses the tree directly: records and skips.
func TestParse(t *testing.T) {
	sk := &updater.Skips{}
	recs, err := cve5.Parser{}.Parse(updater.WithSkips(context.Background(), sk), os.DirFS(tree))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(want) {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		if w := wantRecord(r.ID); !reflect.DeepEqual(r, w) {
			t.Errorf("%s:\n got %+v\nwant %+v", r.ID, r, w)
		}
	}
	if got := sk.Counts(); !reflect.DeepEqual(got, wantSkipped) {
		t.Errorf("skipped %v, want %v", got, wantSkipped)
	}
}

// TestParseRecord: single documents, kept, skipped and refused.
func TestParseRecord(t *testing.T) {
	rec := func(id, state, cna string) string {
		return fmt.Sprintf(`{"dataType":"CVE_RECORD","cveMetadata":{"cveId":%q,"state":%q,"datePublished":"2024-01-02T03:04:05"},"containers":{"cna":{%s}}}`, id, state, cna)
	}
	for _, tc := range []struct {
		name, doc string
		skip      string
		err       string
		check     func(t *testing.T, r vuln.Record)
	}{
		{name: "lower case id", doc: rec("cve-2024-12345", "PUBLISHED", ""), check: func(t *testing.T, r vuln.Record) {
			if r.ID != "CVE-2024-12345" || r.Package != r.ID || !r.Published.Equal(ts("2024-01-02T03:04:05Z")) {
				t.Errorf("%+v", r)
			}
		}},
		{name: "rejected", doc: rec("CVE-2024-12345", "REJECTED", ""), skip: cve5.SkipRejected},
		{name: "bad id", doc: rec("CVE-24-1", "PUBLISHED", ""), skip: cve5.SkipBadID},
		{name: "no id", doc: `{"containers":{}}`, skip: cve5.SkipBadID},
		{name: "rating from the score without baseSeverity", doc: rec("CVE-2024-12345", "PUBLISHED", `"metrics":[{"cvssV2_0":{"version":"2.0","baseScore":10,"vectorString":"AV:N/AC:L/Au:N/C:C/I:C/A:C"}}]`),
			check: func(t *testing.T, r vuln.Record) {
				if r.Severity != vuln.SeverityHigh || r.SourceSeverity != "" || len(r.CVSS) != 1 || r.CVSS[0].Score != 10 {
					t.Errorf("%+v", r) // v2 has no critical
				}
			}},
		{name: "score out of range: the vector's", doc: rec("CVE-2024-12345", "PUBLISHED", `"metrics":[{"cvssV3_1":{"baseScore":99,"vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}]`),
			check: func(t *testing.T, r vuln.Record) {
				if len(r.CVSS) != 1 || r.CVSS[0].Score != 9.8 || r.Severity != vuln.SeverityCritical {
					t.Errorf("%+v", r)
				}
			}},
		{name: "version mismatch skipped", doc: rec("CVE-2024-12345", "PUBLISHED", `"metrics":[{"cvssV4_0":{"baseScore":9,"vectorString":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}},{"cvssV3_1":"x"}]`),
			check: func(t *testing.T, r vuln.Record) {
				if len(r.CVSS) != 0 || r.Severity != vuln.SeverityUnknown {
					t.Errorf("%+v", r)
				}
			}},
		{name: "no English description", doc: rec("CVE-2024-12345", "PUBLISHED", `"descriptions":[{"lang":"de","value":"Beschreibung"}]`),
			check: func(t *testing.T, r vuln.Record) {
				if r.Description != "Beschreibung" {
					t.Errorf("%+v", r)
				}
			}},
		{name: "not a CVE record", doc: `{"dataType":"CVE_RECORD_LIST"}`, err: "dataType"},
		{name: "garbage", doc: "<html>", err: "invalid character"},
		{name: "wrong type", doc: `{"containers":{"adp":{}}}`, err: "cannot unmarshal"},
		{name: "deep", doc: `{"x":` + strings.Repeat("[", 100), err: "max_json_depth"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, skip, err := cve5.ParseRecord([]byte(tc.doc))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || skip != tc.skip {
				t.Fatalf("skip %q, error %v; want skip %q", skip, err, tc.skip)
			}
			if tc.check != nil {
				tc.check(t, r)
			}
		})
	}
}

// TestHostile: after the fixture is imported, every feed crossing a
// bound, a corrupt record and a zip nested too deep are failed runs that
// leave the records as they were.
func TestHostile(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	abs, _ := filepath.Abs(tree)
	if _, err := updater.Import(ctx, st, "cve5", abs, "cve5", quiet); err != nil {
		t.Fatal(err)
	}
	lookup := func() []vuln.Record {
		recs, err := st.Records(ctx, vuln.EcosystemEnrichment, ids)
		if err != nil {
			t.Fatal(err)
		}
		return recs
	}
	before := lookup()
	if len(before) != len(want) {
		t.Fatalf("%d records", len(before))
	}
	record := func(id, desc string) []byte {
		return []byte(fmt.Sprintf(`{"dataType":"CVE_RECORD","cveMetadata":{"cveId":%q,"state":"PUBLISHED"},"containers":{"cna":{"descriptions":[{"lang":"en","value":%q}]}}}`, id, desc))
	}
	many := func(n int) []any {
		var fs []any
		for i := range n {
			id := fmt.Sprintf("CVE-2024-%05d", 10000+i)
			fs = append(fs, "cves/2024/10xxx/"+id+".json", record(id, "d"))
		}
		return fs
	}
	big := record("CVE-2024-10000", strings.Repeat("d", 2<<20))
	noise := make([]byte, 2<<20)
	if _, err := rand.Read(noise); err != nil {
		t.Fatal(err)
	}
	inner := zipOf(t, false, many(5)...)
	for _, tc := range []struct {
		name string
		data []byte
		lim  updater.Limits
		key  string
		want string
	}{
		{name: "records past max_records", data: zipOf(t, false, many(11)...), lim: updater.Limits{Records: 10}, key: updater.KeyMaxRecords},
		{name: "record past max_document_bytes", data: zipOf(t, false, "CVE-2024-10000.json", big), lim: updater.Limits{DocumentBytes: 1 << 20}, key: updater.KeyMaxDocumentBytes},
		{name: "string past max_token_bytes", data: zipOf(t, false, "CVE-2024-10000.json", big), lim: updater.Limits{TokenBytes: 1 << 20}, key: updater.KeyMaxTokenBytes},
		{name: "nesting past max_json_depth", data: zipOf(t, false, "CVE-2024-10000.json", []byte(`{"x":`+strings.Repeat("[", 100))), key: updater.KeyMaxJSONDepth},
		{name: "files past max_files", data: zipOf(t, false, many(11)...), lim: updater.Limits{Files: 10}, key: updater.KeyMaxFiles},
		{name: "nested zip past max_files", data: zipOf(t, false, "cves.zip", zipOf(t, false, many(11)...)), lim: updater.Limits{Files: 10}, key: updater.KeyMaxFiles},
		{name: "nested zip past max_file_bytes", data: zipOf(t, true, "cves.zip", zipOf(t, true, "noise", noise)), lim: updater.Limits{FileBytes: 1 << 20}, key: updater.KeyMaxFileBytes},
		{name: "nested records past max_feed_bytes", data: zipOf(t, false, "cves.zip", zipOf(t, false, "CVE-2024-10000.json", big)), lim: updater.Limits{FeedBytes: 1 << 20}, key: updater.KeyMaxFeedBytes},
		{name: "zip nested three deep", data: zipOf(t, false, "a.zip", zipOf(t, false, "b.zip", zipOf(t, false, "c.zip", inner))), want: "nested more than 2 deep"},
		{name: "corrupt record", data: zipOf(t, false, "cves/2024/10xxx/CVE-2024-10000.json", []byte("<html>")), want: "CVE-2024-10000.json"},
		{name: "corrupt nested zip", data: zipOf(t, false, "cves.zip", []byte("PK\x03\x04garbage")), want: "cves.zip"},
		{name: "no record", data: zipOf(t, false, "README.md", []byte("# CVE")), want: "no CVE record"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := updater.Import(ctx, st, "cve5", write(t, "feed.zip", tc.data), "cve5", quiet, updater.WithLimits(tc.lim))
			if tc.key != "" {
				var le *limits.Error
				if !errors.As(err, &le) || le.Key != tc.key {
					t.Fatalf("error %v, want a *limits.Error naming %s", err, tc.key)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if after := lookup(); !reflect.DeepEqual(after, before) {
				t.Errorf("records changed by a failed run: %d before, %d after", len(before), len(after))
			}
		})
	}
}
