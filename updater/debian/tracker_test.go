package debian_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/debian"
	"github.com/lapps/lapps/vuln"
)

// trackerSample is the tracker JSON sample kept by anchore/vunnel (a
// trimmed real export).
func trackerSample(tb testing.TB) []byte {
	tb.Helper()
	p := testenv.VulnData(tb, "vunnel-format-samples", "tests", "unit", "providers", "debian", "test-fixtures", "input", "debian.json")
	raw, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return raw
}

func TestTrackerParserRealSample(t *testing.T) {
	raw := trackerSample(t)
	p, err := updater.Lookup("debian-tracker")
	if err != nil {
		t.Fatal(err)
	}
	// Served as the upstream URL's last element names it.
	recs, err := p.Parse(context.Background(), fstest.MapFS{"json": {Data: raw}})
	if err != nil {
		t.Fatal(err)
	}

	// Expected: one record per release entry of a numbered release
	// (not sid), except resolved entries without a fixed version.
	var doc map[string]map[string]struct {
		Releases json.RawMessage `json:"releases"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	want := 0
	for _, issues := range doc {
		for _, is := range issues {
			var rels map[string]map[string]any
			_ = json.Unmarshal(is.Releases, &rels) // [] for none
			for codename, rel := range rels {
				if codename == "sid" {
					continue
				}
				if rel["status"] == "resolved" && rel["fixed_version"] == nil {
					continue
				}
				want++
			}
		}
	}
	if len(recs) != want || want == 0 {
		t.Errorf("%d records, want %d", len(recs), want)
	}

	m := byKey(recs)
	for _, tc := range []struct {
		id, eco, pkg string
		status       vuln.Status
		fixed        string
		severity     vuln.Severity
		srcSeverity  string
	}{
		// chromium CVE-2022-0456: bullseye resolved 98.0.4758.80-1~deb11u1;
		// buster and stretch open with urgency end-of-life.
		{"CVE-2022-0456", "Debian:11", "chromium", vuln.StatusFixed, "98.0.4758.80-1~deb11u1", vuln.SeverityUnknown, "not yet assigned"},
		{"CVE-2022-0456", "Debian:12", "chromium", vuln.StatusFixed, "98.0.4758.80-1", vuln.SeverityUnknown, "not yet assigned"},
		{"CVE-2022-0456", "Debian:10", "chromium", vuln.StatusWontFix, "", vuln.SeverityUnknown, "end-of-life"},
		{"CVE-2022-0456", "Debian:9", "chromium", vuln.StatusWontFix, "", vuln.SeverityUnknown, "end-of-life"},
		// prototypejs CVE-2007-2383: fixed_version "0", urgency unimportant.
		{"CVE-2007-2383", "Debian:10", "prototypejs", vuln.StatusNotAffected, "", vuln.SeverityNegligible, "unimportant"},
		// prototypejs CVE-2008-7220: urgency "high**" (from NVD).
		{"CVE-2008-7220", "Debian:9", "prototypejs", vuln.StatusFixed, "1.6.0.2-1", vuln.SeverityHigh, "high**"},
		{"CVE-2025-53603", "Debian:12", "sope", vuln.StatusFixed, "5.8.0-1+deb12u1", vuln.SeverityUnknown, "not yet assigned"},
		{"CVE-2025-53603", "Debian:13", "sope", vuln.StatusFixed, "5.12.1-2", vuln.SeverityUnknown, "not yet assigned"},
	} {
		r, ok := m[key(tc.id, tc.eco, tc.pkg)]
		if !ok {
			t.Errorf("no record %s %s %s", tc.id, tc.eco, tc.pkg)
			continue
		}
		var fixed string
		if len(r.Ranges) > 0 {
			fixed = r.Ranges[0].Fixed
		}
		if r.Status != tc.status || fixed != tc.fixed || r.Severity != tc.severity || r.SourceSeverity != tc.srcSeverity {
			t.Errorf("%s %s %s: status %s fixed %q severity %s (%q)", tc.id, tc.eco, tc.pkg, r.Status, fixed, r.Severity, r.SourceSeverity)
		}
		if r.Links[0] != "https://security-tracker.debian.org/tracker/"+tc.id {
			t.Errorf("%s: links %v", tc.id, r.Links)
		}
	}
	if r := m[key("CVE-2025-53603", "Debian:12", "sope")]; !strings.HasPrefix(r.Description, "In Alinto SOPE SOGo") ||
		!reflect.DeepEqual(r.Links[1:], []string{"https://bugs.debian.org/1108798"}) {
		t.Errorf("sope: description %q links %v", r.Description, r.Links)
	}
	for _, r := range recs {
		if r.Package == "chromium-browser" {
			t.Errorf("record for an issue with an empty release list: %+v", r)
		}
	}
}

// TestTrackerStatuses covers the status mapping on entries the sample
// lacks (no-dsa, ignored, postponed, undetermined, unimportant).
func TestTrackerStatuses(t *testing.T) {
	for _, tc := range []struct {
		name, release string
		status        vuln.Status
		fixed         string
	}{
		{"resolved with version", `{"status":"resolved","fixed_version":"1.2-3","urgency":"low"}`, vuln.StatusFixed, "1.2-3"},
		{"resolved zero", `{"status":"resolved","fixed_version":"0","urgency":"unimportant"}`, vuln.StatusNotAffected, ""},
		{"open", `{"status":"open","urgency":"medium"}`, vuln.StatusUnfixed, ""},
		{"open with sid fix", `{"status":"open","fixed_version":"2.0-1","urgency":"medium"}`, vuln.StatusUnfixed, ""},
		{"undetermined", `{"status":"undetermined","urgency":"not yet assigned"}`, vuln.StatusUnfixed, ""},
		{"no-dsa", `{"status":"open","urgency":"low","nodsa":"Minor issue","nodsa_reason":""}`, vuln.StatusWontFix, ""},
		{"ignored", `{"status":"open","urgency":"low","nodsa":"Minor issue","nodsa_reason":"ignored"}`, vuln.StatusWontFix, ""},
		{"postponed", `{"status":"open","urgency":"low","nodsa":"Minor issue","nodsa_reason":"postponed"}`, vuln.StatusUnfixed, ""},
		{"unimportant", `{"status":"open","urgency":"unimportant"}`, vuln.StatusWontFix, ""},
		{"end-of-life", `{"status":"open","urgency":"end-of-life"}`, vuln.StatusWontFix, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			doc := fmt.Sprintf(`{"foo":{"CVE-2024-1":{"description":"d","releases":{"bookworm":%s,"sid":%s}}}}`, tc.release, tc.release)
			recs, err := debian.ParseTracker(context.Background(), strings.NewReader(doc))
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != 1 {
				t.Fatalf("%d records, want 1 (sid has none): %+v", len(recs), recs)
			}
			r := recs[0]
			var fixed string
			if len(r.Ranges) > 0 {
				fixed = r.Ranges[0].Fixed
			}
			if r.Status != tc.status || fixed != tc.fixed || r.Ecosystem != "Debian:12" || r.Package != "foo" || r.ID != "CVE-2024-1" {
				t.Errorf("got %+v", r)
			}
		})
	}
}

func TestTrackerBadInput(t *testing.T) {
	raw := trackerSample(t)
	for _, tc := range []struct{ name, data string }{
		{"truncated", string(raw[:len(raw)/2])},
		{"trailing garbage", string(raw) + "xx"},
		{"two objects", string(raw) + string(raw)},
		{"issue not an object", `{"foo":{"CVE-2024-1":"x"}}`},
		{"package not an object", `{"foo":[1,2]}`},
		{"releases wrong type", `{"foo":{"CVE-2024-1":{"releases":"x"}}}`},
		{"releases non-empty list", `{"foo":{"CVE-2024-1":{"releases":[{"status":"open"}]}}}`},
		{"status wrong type", `{"foo":{"CVE-2024-1":{"releases":{"bookworm":{"status":1}}}}}`},
		{"empty package name", `{"":{"CVE-2024-1":{"releases":{}}}}`},
		{"empty issue id", `{"foo":{"":{"releases":{}}}}`},
		{"debianbug not a number", `{"foo":{"CVE-2024-1":{"debianbug":"abc"}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if recs, err := (debian.TrackerParser{}).Parse(context.Background(), fstest.MapFS{"json": {Data: []byte(tc.data)}}); err == nil {
				t.Errorf("no error; %d records", len(recs))
			}
		})
	}
	for _, tc := range []struct{ name, data string }{
		{"empty", ""},
		{"garbage", "\x00\x01garbage"},
		{"json list", "[1,2,3]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := (debian.TrackerParser{}).Parse(context.Background(), fstest.MapFS{"json": {Data: []byte(tc.data)}}); err == nil {
				t.Error("no error for a feed without a tracker object")
			}
		})
	}
}

// syntheticTracker builds a tracker export of about size bytes from the
// real sample, renaming its packages so that each copy is distinct.
func syntheticTracker(tb testing.TB, size int) []byte {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(trackerSample(tb), &doc); err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	buf.WriteString("{")
	for i := 0; buf.Len() < size; i++ {
		for name, v := range doc {
			if buf.Len() > 1 {
				buf.WriteString(",")
			}
			fmt.Fprintf(&buf, "%q:", fmt.Sprintf("%s-%d", name, i))
			buf.Write(v)
		}
	}
	buf.WriteString("}")
	return buf.Bytes()
}

// BenchmarkTrackerFullSize parses a synthetic export of the real one's
// size (about 60 MB).
func BenchmarkTrackerFullSize(b *testing.B) {
	data := syntheticTracker(b, 60<<20)
	b.SetBytes(int64(len(data)))
	b.ResetTimer()
	for b.Loop() {
		recs, err := debian.ParseTracker(context.Background(), bytes.NewReader(data))
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(recs)), "records")
	}
}

func BenchmarkDSADLALists(b *testing.B) {
	dir := testenv.VulnData(b, "debian-security-tracker")
	feed := os.DirFS(dir)
	for b.Loop() {
		if _, err := (debian.ListParser{}).Parse(context.Background(), feed); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzTrackerJSON(f *testing.F) {
	raw := trackerSample(f)
	f.Add(raw)
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil {
		f.Fatal(err)
	}
	for name, v := range doc {
		f.Add([]byte(fmt.Sprintf("{%q:%s}", name, v)))
	}
	f.Add([]byte(`{"foo":{"CVE-2024-1":{"releases":{"bookworm":{"status":"open","nodsa":"x","nodsa_reason":"postponed"}}}}}`))
	f.Add([]byte(`{"foo":{"CVE-2024-1":{"releases":{"bookworm":{"status":"resolved","fixed_version":""}}}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := debian.ParseTracker(context.Background(), bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.ID == "" || r.Package == "" || !strings.HasPrefix(r.Ecosystem, "Debian:") {
				t.Fatalf("incomplete record %+v", r)
			}
			if (r.Status == vuln.StatusFixed) != (len(r.Ranges) == 1 && r.Ranges[0].Fixed != "") {
				t.Fatalf("status %s with ranges %v", r.Status, r.Ranges)
			}
		}
	})
}
