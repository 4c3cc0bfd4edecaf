package epss_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
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
	"github.com/lapps/lapps/updater/epss"
	"github.com/lapps/lapps/vuln"
)

// There is no real EPSS file in the shared data: the tests generate CSVs
// in the published format (a comment line with the model version and
// score date, the header cve,epss,percentile, five-decimal scores).

const head = "#model_version:v2025.03.14,score_date:2025-08-25T12:55:00Z\ncve,epss,percentile\n"

func gz(t testing.TB, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := gzip.NewWriter(&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestParse: what is kept, skipped and refused, plain and gzip.
func TestParse(t *testing.T) {
	type rec struct {
		ID         string
		Score, Pct float64
		Date       string
	}
	for _, tc := range []struct {
		name    string
		csv     string
		want    []rec
		skipped map[string]int
		err     string
	}{
		{name: "current format", csv: head + "CVE-1999-0001,0.0123,0.79561\nCVE-2021-44228,0.94358,0.99988\n",
			want: []rec{{"CVE-1999-0001", 0.0123, 0.79561, "2025-08-25"}, {"CVE-2021-44228", 0.94358, 0.99988, "2025-08-25"}}},
		{name: "no comment line", csv: "cve,epss,percentile\nCVE-1999-0001,0.5,0.6\n", want: []rec{{"CVE-1999-0001", 0.5, 0.6, ""}}},
		{name: "columns reordered", csv: "percentile,cve,epss\n0.6,CVE-1999-0001,0.5\n", want: []rec{{"CVE-1999-0001", 0.5, 0.6, ""}}},
		{name: "CRLF, BOM, lower case id, blank lines", csv: "\xef\xbb\xbf" + strings.ReplaceAll(head, "\n", "\r\n") + "\r\ncve-2024-12345,1,0\r\n",
			want: []rec{{"CVE-2024-12345", 1, 0, "2025-08-25"}}},
		{name: "no final newline", csv: head + "CVE-1999-0001,0.1,0.2", want: []rec{{"CVE-1999-0001", 0.1, 0.2, "2025-08-25"}}},
		{name: "bad ids", csv: head + "CVE-99-1,0.1,0.1\nGHSA-x,0.1,0.1\n,0.1,0.1\nCVE-1999-0001,0.1,0.2\n",
			want: []rec{{"CVE-1999-0001", 0.1, 0.2, "2025-08-25"}}, skipped: map[string]int{epss.SkipBadID: 3}},
		{name: "bad scores", csv: head + "CVE-1999-0001,1.5,0.1\nCVE-1999-0002,-0.1,0.1\nCVE-1999-0003,NaN,0.1\nCVE-1999-0004,0.1,x\nCVE-1999-0005,0.1,Inf\nCVE-1999-0006,0.1,0.2\n",
			want: []rec{{"CVE-1999-0006", 0.1, 0.2, "2025-08-25"}}, skipped: map[string]int{epss.SkipBadScore: 5}},
		{name: "short row and duplicate", csv: head + "CVE-1999-0001,0.1\nCVE-1999-0002,0.1,0.2\nCVE-1999-0002,0.3,0.4\n",
			want: []rec{{"CVE-1999-0002", 0.1, 0.2, "2025-08-25"}}, skipped: map[string]int{epss.SkipShortRow: 1, epss.SkipDuplicateCVE: 1}},
		{name: "bad score date", csv: "#model_version:v1,score_date:soon\ncve,epss,percentile\nCVE-1999-0001,0.1,0.2\n", want: []rec{{"CVE-1999-0001", 0.1, 0.2, ""}}},
		{name: "header only", csv: head},
		{name: "empty", csv: "", err: "no header"},
		{name: "comment only", csv: "#model_version:v1\n", err: "no header"},
		{name: "header without epss", csv: "cve,score\nCVE-1999-0001,0.1\n", err: "lacks"},
		{name: "garbage", csv: "<html>\n", err: "lacks"},
		{name: "line too long", csv: head + "CVE-1999-0001,0.1," + strings.Repeat("9", 5000) + "\n", err: "longer than"},
		{name: "line longer than the buffer", csv: head + strings.Repeat("9", 100_000) + "\n", err: "longer than"},
	} {
		for _, compress := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/gzip=%v", tc.name, compress), func(t *testing.T) {
				data := []byte(tc.csv)
				if compress {
					data = gz(t, data)
				}
				recs, skipped, err := epss.ParseCSV(context.Background(), bytes.NewReader(data), updater.Limits{})
				if tc.err != "" {
					if err == nil || !strings.Contains(err.Error(), tc.err) {
						t.Fatalf("error %v, want %q", err, tc.err)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				var got []rec
				for _, r := range recs {
					if r.Package != r.ID || r.Ecosystem != vuln.EcosystemEnrichment || r.EPSS == nil || r.Status != vuln.StatusUnfixed {
						t.Fatalf("bad record %+v", r)
					}
					got = append(got, rec{r.ID, r.EPSS.Score, r.EPSS.Percentile, r.EPSS.Date})
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Errorf("got %v, want %v", got, tc.want)
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
}

// kevIDs are the CVE ids of the real KEV snapshot: real ids for a
// generated EPSS file.
func kevIDs(t testing.TB) []string {
	raw, err := os.ReadFile(filepath.Join(testenv.VulnData(t, "cisa-kev"), "known_exploited_vulnerabilities.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cat struct {
		Vulnerabilities []struct {
			CVEID string `json:"cveID"`
		} `json:"vulnerabilities"`
	}
	if err := json.Unmarshal(raw, &cat); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(cat.Vulnerabilities))
	for i, v := range cat.Vulnerabilities {
		ids[i] = v.CVEID
	}
	return ids
}

// generate writes an EPSS CSV of ids with random five-decimal scores and
// returns it with the scores by id.
func generate(ids []string, seed uint64) ([]byte, map[string][2]float64) {
	rng := rand.New(rand.NewPCG(seed, seed))
	var b bytes.Buffer
	b.Grow(len(ids) * 36)
	b.WriteString(head)
	want := make(map[string][2]float64, len(ids))
	for _, id := range ids {
		s, p := float64(rng.IntN(100_001))/100_000, float64(rng.IntN(100_001))/100_000
		fmt.Fprintf(&b, "%s,%.5f,%.5f\n", id, s, p)
		want[id] = [2]float64{s, p}
	}
	return b.Bytes(), want
}

// genIDs returns n distinct CVE ids spread over the years as the real
// list is.
func genIDs(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("CVE-%d-%d", 1999+i%27, 1000+i/27)
	}
	return ids
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

func write(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestImportThenHostile imports a generated gzip CSV of the KEV
// snapshot's ids into a real store and reads every score back as the
// matcher does (by ecosystem and id); then every feed crossing a bound,
// and garbage, is a failed run that leaves the records as they were.
func TestImportThenHostile(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	ids := kevIDs(t)
	csv, want := generate(ids, 1)
	if _, err := updater.Import(ctx, st, "epss", write(t, "epss_scores-current.csv.gz", gz(t, csv)), "epss", quiet); err != nil {
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
		t.Fatalf("%d records read back, want %d", len(before), len(want))
	}
	for _, r := range before {
		if w := want[r.ID]; r.EPSS == nil || r.EPSS.Score != w[0] || r.EPSS.Percentile != w[1] || r.EPSS.Date != "2025-08-25" || r.Source != "epss" ||
			r.Modified.Format("2006-01-02") != "2025-08-25" {
			t.Fatalf("%s: %+v, want %v", r.ID, r.EPSS, w)
		}
	}
	rows := func(n int) []byte { b, _ := generate(genIDs(n), 2); return b }
	bomb := gz(t, append([]byte(head), bytes.Repeat([]byte("\n"), 64<<20)...)) // 64 MiB in 64 KiB
	for _, tc := range []struct {
		name string
		file string
		data []byte
		lim  updater.Limits
		key  string
		want string
	}{
		{name: "rows past max_records", data: rows(101), lim: updater.Limits{Records: 100}, key: updater.KeyMaxRecords},
		{name: "gzip rows past max_records", file: "x.csv.gz", data: gz(t, rows(101)), lim: updater.Limits{Records: 100}, key: updater.KeyMaxRecords},
		{name: "gzip expanding past max_file_bytes", file: "x.csv.gz", data: bomb, lim: updater.Limits{FileBytes: 16 << 20}, key: updater.KeyMaxFileBytes},
		{name: "plain file past max_file_bytes", data: rows(40_000), lim: updater.Limits{FileBytes: 1 << 20}, key: updater.KeyMaxFileBytes},
		{name: "plain file past max_feed_bytes", data: rows(40_000), lim: updater.Limits{FeedBytes: 1 << 20}, key: updater.KeyMaxFeedBytes},
		{name: "garbage", data: []byte("<html>bad gateway</html>"), want: "no EPSS CSV"},
		{name: "truncated gzip", file: "x.csv.gz", data: gz(t, rows(1000))[:2000], want: "unexpected EOF"},
		{name: "line past the line bound", data: append([]byte(head), bytes.Repeat([]byte("9"), 1<<20)...), want: "longer than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := tc.file
			if name == "" {
				name = "x.csv"
			}
			_, err := updater.Import(ctx, st, "epss", write(t, name, tc.data), "epss", quiet, updater.WithLimits(tc.lim))
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

// TestFeed: files that are neither gzip nor CSV are passed over; skips
// are counted into the run.
func TestFeed(t *testing.T) {
	ctx := context.Background()
	feed := fstest.MapFS{
		"README.md":                  {Data: []byte("# scores")},
		"epss_scores-current.csv.gz": {Data: gz(t, []byte(head+"CVE-1999-0001,0.1,0.2\nbad,0.1,0.2\n"))},
	}
	sk := &updater.Skips{}
	recs, err := epss.Parser{}.Parse(updater.WithSkips(ctx, sk), feed)
	if err != nil || len(recs) != 1 {
		t.Fatalf("%d records, %v", len(recs), err)
	}
	if got := sk.Counts(); got[epss.SkipBadID] != 1 {
		t.Errorf("skips %v", got)
	}
	delete(feed, "epss_scores-current.csv.gz")
	if _, err := (epss.Parser{}).Parse(ctx, feed); err == nil {
		t.Fatal("a feed without a CSV parsed")
	}
}
