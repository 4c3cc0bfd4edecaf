package all_test

import (
	"bytes"
	"encoding/json"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/openvex/go-vex/pkg/vex"
	gosarif "github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/lapps/lapps/report"
	_ "github.com/lapps/lapps/report/all"
	"github.com/lapps/lapps/report/openvex"
	"github.com/lapps/lapps/report/sarif"
	"github.com/lapps/lapps/report/template"
)

// TestSARIFRealReports writes the mid and fat images' reports as SARIF,
// validates them against the SARIF 2.1.0 schema, decodes them back
// through go-sarif and compares the counts with the JSON report's.
func TestSARIFRealReports(t *testing.T) {
	s := schema(t, "sarif", "sarif-schema-2.1.0.json")
	for _, name := range []string{"mid", "fat"} {
		t.Run(name, func(t *testing.T) {
			r := realReport(t, name)
			if len(r.Vulnerabilities) == 0 {
				t.Fatal("no findings: the test would prove nothing")
			}
			var b bytes.Buffer
			if err := report.Write(&b, r, "sarif"); err != nil {
				t.Fatal(err)
			}
			validate(t, s, b.Bytes())
			log, err := gosarif.FromBytes(b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			if len(log.Runs) != 1 {
				t.Fatalf("%d runs, want 1", len(log.Runs))
			}
			run := log.Runs[0]
			ids := map[string]bool{}
			prints := map[string]bool{}
			for _, f := range r.Vulnerabilities {
				ids[f.ID] = true
				prints[strings.Join([]string{f.ID, f.PackageKind, f.Package, f.DBPath}, "|")] = true
			}
			// The checks' findings follow the vulnerabilities', one rule
			// per check id.
			checkIDs := map[string]bool{}
			for _, f := range r.ConfigFindings {
				checkIDs[f.ID] = true
			}
			for _, s := range r.Secrets {
				checkIDs["secret/"+s.Rule] = true
			}
			if len(run.Results) != len(r.Vulnerabilities)+len(r.ConfigFindings)+len(r.Secrets) || len(run.Tool.Driver.Rules) != len(ids)+len(checkIDs) {
				t.Fatalf("%d results, %d rules; the report has %d findings of %d ids, %d checks' findings of %d ids", len(run.Results), len(run.Tool.Driver.Rules), len(r.Vulnerabilities), len(ids), len(r.ConfigFindings)+len(r.Secrets), len(checkIDs))
			}
			seen := map[string]bool{}
			for i, res := range run.Results[:len(r.Vulnerabilities)] {
				f := r.Vulnerabilities[i]
				rule := run.Tool.Driver.Rules[*res.RuleIndex]
				if rule.ID != *res.RuleID || rule.ID != f.ID {
					t.Fatalf("result %d: rule %s at index %d, ruleId %s, finding %s", i, rule.ID, *res.RuleIndex, *res.RuleID, f.ID)
				}
				if want := map[string]string{"critical": "error", "high": "error", "medium": "warning"}[f.Severity.String()]; want != "" && *res.Level != want {
					t.Errorf("%s: level %s for %s", f.ID, *res.Level, f.Severity)
				}
				uri := *res.Locations[0].PhysicalLocation.ArtifactLocation.URI
				if f.PackageKind == "deb" && uri != "debian-bookworm-"+name {
					// An oci: layout's image is named by its tag.
					t.Errorf("%s: deb package located at %q", f.ID, uri)
				}
				if f.PackageKind != "deb" && f.DBPath != "" && uri != strings.TrimPrefix(f.DBPath, "/") {
					t.Errorf("%s: %s located at %q, read from %q", f.ID, f.Package, uri, f.DBPath)
				}
				if !strings.Contains(*res.Message.Text, f.Package) || !strings.Contains(*res.Message.Text, f.InstalledVersion) {
					t.Errorf("message %q names neither package nor version", *res.Message.Text)
				}
				seen[res.PartialFingerprints["lapps/v1"].(string)] = true
			}
			if len(seen) != len(prints) {
				t.Errorf("%d distinct fingerprints for %d distinct findings", len(seen), len(prints))
			}
			for _, rule := range run.Tool.Driver.Rules {
				if rule.Help == nil || rule.Help.Markdown == nil || len(*rule.Help.Text) > sarif.MaxHelp {
					t.Fatalf("rule %s: help missing or too long", rule.ID)
				}
				tags, _ := rule.Properties["tags"].([]any)
				if len(tags) != 2 || tags[0] != "security" {
					t.Errorf("rule %s: tags %v", rule.ID, tags)
				}
			}
			var again bytes.Buffer
			if err := report.Write(&again, r, "sarif"); err != nil || !bytes.Equal(again.Bytes(), b.Bytes()) {
				t.Errorf("a second write differs (%v)", err)
			}
		})
	}
}

// TestOpenVEXRealReports writes the images' reports as OpenVEX, validates
// them against the OpenVEX schema and decodes them back through go-vex.
func TestOpenVEXRealReports(t *testing.T) {
	s := schema(t, "openvex", "openvex_json_schema.json")
	for _, name := range []string{"mid", "fat"} {
		t.Run(name, func(t *testing.T) {
			r := realReport(t, name)
			var b bytes.Buffer
			if err := report.Write(&b, r, "openvex"); err != nil {
				t.Fatal(err)
			}
			validate(t, s, b.Bytes())
			doc, err := vex.Parse(b.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			affected, notAffected := 0, 0
			for _, st := range doc.Statements {
				switch st.Status {
				case vex.StatusAffected:
					affected++
					if st.ActionStatement == "" {
						t.Errorf("%s: affected without action statement", st.Vulnerability.Name)
					}
				case vex.StatusNotAffected:
					notAffected++
				}
			}
			if affected != len(r.Vulnerabilities) || notAffected != len(r.NotAffected) {
				t.Fatalf("%d affected, %d not affected; the report has %d findings, %d not affected", affected, notAffected, len(r.Vulnerabilities), len(r.NotAffected))
			}
			if !doc.Timestamp.Equal(r.GeneratedAt.Truncate(time.Second)) || !strings.HasPrefix(doc.ID, "https://openvex.dev/docs/") {
				t.Errorf("timestamp %v (report %v), id %s", doc.Timestamp, r.GeneratedAt, doc.ID)
			}
			var again bytes.Buffer
			if err := openvex.Write(&again, r); err != nil || !bytes.Equal(again.Bytes(), b.Bytes()) {
				t.Errorf("a second write differs (%v)", err)
			}
		})
	}
}

// TestShippedTemplatesRealReports runs @gitlab and @markdown over the
// images' reports.
func TestShippedTemplatesRealReports(t *testing.T) {
	gl, err := template.Load("@gitlab")
	if err != nil {
		t.Fatal(err)
	}
	md, err := template.Load("@markdown")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"mid", "fat"} {
		t.Run(name, func(t *testing.T) {
			r := realReport(t, name)
			var b bytes.Buffer
			if err := gl.Execute(&b, r); err != nil {
				t.Fatal(err)
			}
			checkGitLab(t, b.Bytes(), len(r.Vulnerabilities))
			b.Reset()
			if err := md.Execute(&b, r); err != nil {
				t.Fatal(err)
			}
			rows := strings.Count(b.String(), "\n| ") - 2 // less the header and separator rows
			if want := min(len(r.Vulnerabilities), 200); rows != want {
				t.Errorf("markdown: %d rows, want %d", rows, want)
			}
		})
	}
}

// checkGitLab checks a container-scanning report's shape against GitLab's
// schema 15.x (security-report-schemas, container-scanning-report-format):
// the required keys, the severities and the time format.
func checkGitLab(t *testing.T, b []byte, findings int) {
	t.Helper()
	var doc struct {
		Version string `json:"version"`
		Scan    struct {
			Analyzer, Scanner struct {
				ID, Name, Version string
				Vendor            struct{ Name string }
			}
			Type, StartTime, EndTime, Status string
		}
		Vulnerabilities []struct {
			ID          string `json:"id"`
			Severity    string `json:"severity"`
			Identifiers []struct{ Type, Name, Value string }
			Location    struct {
				Dependency struct {
					Package struct{ Name string }
					Version string
				}
				OperatingSystem string `json:"operating_system"`
				Image           string
			}
		}
		Remediations []any `json:"remediations"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("@gitlab: not JSON: %v", err)
	}
	var raw map[string]json.RawMessage
	json.Unmarshal(b, &raw)
	var scan map[string]json.RawMessage
	json.Unmarshal(raw["scan"], &scan)
	for _, k := range []string{"start_time", "end_time"} {
		var s string
		json.Unmarshal(scan[k], &s)
		if _, err := time.Parse("2006-01-02T15:04:05", s); err != nil {
			t.Errorf("scan.%s %q: %v", k, s, err)
		}
	}
	if !strings.HasPrefix(doc.Version, "15.") || doc.Scan.Type != "container_scanning" || doc.Scan.Status != "success" ||
		doc.Scan.Analyzer.ID == "" || doc.Scan.Scanner.Vendor.Name == "" || doc.Remediations == nil {
		t.Errorf("@gitlab: header %+v", doc.Scan)
	}
	if len(doc.Vulnerabilities) != findings {
		t.Fatalf("@gitlab: %d vulnerabilities, want %d", len(doc.Vulnerabilities), findings)
	}
	ids := map[string]bool{}
	for _, v := range doc.Vulnerabilities {
		ids[v.ID] = true
		if !slices.Contains([]string{"Info", "Unknown", "Low", "Medium", "High", "Critical"}, v.Severity) ||
			len(v.Identifiers) == 0 || v.Identifiers[0].Value == "" || v.Location.Dependency.Package.Name == "" ||
			v.Location.Image == "" || v.Location.OperatingSystem == "" {
			t.Fatalf("@gitlab: vulnerability %+v", v)
		}
	}
	if len(ids) != findings {
		t.Errorf("@gitlab: %d distinct ids for %d findings", len(ids), findings)
	}
}

// BenchmarkFormats writes the fat image's report in every registered
// format (the template format with @gitlab and @markdown) and reports
// each one's time as a ratio to JSON's in the same run
// (metric FORMAT/json).
func BenchmarkFormats(b *testing.B) {
	r := realReport(b, "fat")
	gl, _ := template.Load("@gitlab")
	md, _ := template.Load("@markdown")
	type w struct {
		name string
		fn   func(io.Writer) error
	}
	var ws []w
	for _, name := range report.Formats {
		if name == "template" {
			ws = append(ws, w{"template@gitlab", func(out io.Writer) error { return gl.Execute(out, r) }},
				w{"template@markdown", func(out io.Writer) error { return md.Execute(out, r) }})
			continue
		}
		f, _ := report.LookupFormat(name)
		ws = append(ws, w{name, func(out io.Writer) error { return f.Write(out, r) }})
	}
	took := make([]time.Duration, len(ws))
	size := make([]int, len(ws))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for j, x := range ws {
			var buf bytes.Buffer
			t0 := time.Now()
			if err := x.fn(&buf); err != nil {
				b.Fatalf("%s: %v", x.name, err)
			}
			took[j] += time.Since(t0)
			size[j] = buf.Len()
		}
	}
	var base time.Duration
	for j, x := range ws {
		if x.name == "json" {
			base = took[j]
		}
	}
	for j, x := range ws {
		b.ReportMetric(float64(took[j])/float64(base), x.name+"/json")
		b.ReportMetric(float64(took[j].Microseconds())/float64(b.N), x.name+"-µs/op")
		b.Logf("%s: %d bytes, %.2f× json", x.name, size[j], float64(took[j])/float64(base))
	}
	b.Logf("fat report: %d packages, %d findings", len(r.Packages), len(r.Vulnerabilities))
}
