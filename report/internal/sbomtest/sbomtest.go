// Package sbomtest builds image reports from the real test images and the
// shared vulnerability data, for the tests of the report formats, and
// validates documents against the official JSON schemas in
// ../shared/specs.
package sbomtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/all" // every source type
)

var (
	mu      sync.Mutex
	local   *service.Local
	reports = map[string][]byte{} // tag → JSON report
)

// Report scans the tag (debian-bookworm-mid, debian-bookworm-fat) of the
// Debian test image layout with the Go vulnerability database and the
// GitHub advisory database loaded (the shared data has none for Debian
// 12), and
// returns a fresh copy of the report. The data is loaded once per test
// binary, each image scanned once.
func Report(tb testing.TB, tag string) *report.Report {
	tb.Helper()
	images := testenv.Images(tb)
	mu.Lock()
	defer mu.Unlock()
	if _, ok := reports[tag]; !ok {
		if local == nil {
			v := testenv.VulnData(tb)
			dir, err := os.MkdirTemp("", "lapps-sbomtest-")
			if err != nil {
				tb.Fatal(err)
			}
			st, err := sqlite.Open(context.Background(), filepath.Join(dir, "lapps.db"))
			if err != nil {
				tb.Fatal(err)
			}
			l := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources([]updater.Source{
				{Name: "go-vulndb", Type: "osv", Path: filepath.Join(v, "golang-vulndb", "data", "osv")},
				{Name: "ghsa", Type: "osv", Path: filepath.Join(v, "github-advisory-database", "advisories")},
			}))
			res, err := l.UpdateVulnDB(context.Background(), nil)
			if err != nil {
				tb.Fatal(err)
			}
			for _, r := range res {
				if r.Error != "" {
					tb.Fatalf("update %s: %s", r.Source, r.Error)
				}
			}
			local = l
		}
		ref := "oci:" + filepath.Join(images, "debian", "oci") + ":" + tag
		r, err := local.ScanImage(context.Background(), service.ScanRequest{Image: ref})
		if err != nil {
			tb.Fatal(err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			tb.Fatal(err)
		}
		reports[tag] = b
	}
	var r report.Report
	if err := json.Unmarshal(reports[tag], &r); err != nil {
		tb.Fatal(err)
	}
	return &r
}

// Schema compiles the official JSON schema at specs/rel (under the shared
// directory), with every other schema of that specs directory registered
// as a resource under its $id, so that references resolve without the
// network.
func Schema(tb testing.TB, rel string, others ...string) *jsonschema.Schema {
	tb.Helper()
	specs := filepath.Join(testenv.Shared(tb), "specs")
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	for _, o := range append([]string{rel}, others...) {
		f, err := os.Open(filepath.Join(specs, o))
		if err != nil {
			testenv.Missing(tb, "schema %s: %v", o, err)
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			tb.Fatalf("schema %s: %v", o, err)
		}
		url := "file:///" + filepath.ToSlash(o)
		if m, ok := doc.(map[string]any); ok {
			if id, ok := m["$id"].(string); ok && id != "" {
				url = id
			}
		}
		if err := c.AddResource(url, doc); err != nil {
			tb.Fatalf("schema %s: %v", o, err)
		}
		if o == rel {
			rel = url
		}
	}
	s, err := c.Compile(rel)
	if err != nil {
		tb.Fatalf("compile %s: %v", rel, err)
	}
	return s
}

// Validate validates the JSON document doc against s.
func Validate(s *jsonschema.Schema, doc []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return fmt.Errorf("not JSON: %w", err)
	}
	return s.Validate(v)
}

// BenchWrite times write against report.WriteJSON on the report of the
// Debian fat image, alternating the two in each iteration, and reports
// each one's time per write and their ratio (format/json) as metrics. The
// document is validated against s first.
func BenchWrite(b *testing.B, s *jsonschema.Schema, name string, write func(io.Writer, *report.Report) error) {
	r := Report(b, "debian-bookworm-fat")
	b.Logf("debian-bookworm-fat: %d packages, %d OS-owned, %d findings", len(r.Packages), len(r.OSOwnedPackages), len(r.Vulnerabilities))
	var doc bytes.Buffer
	if err := write(&doc, r); err != nil {
		b.Fatal(err)
	}
	if err := Validate(s, doc.Bytes()); err != nil {
		b.Fatalf("the fat image's %s document is invalid: %v", name, err)
	}
	var jsonTime, fmtTime time.Duration
	var jsonBytes, fmtBytes int
	n := 0
	for b.Loop() {
		var buf bytes.Buffer
		t0 := time.Now()
		if err := report.WriteJSON(&buf, r); err != nil {
			b.Fatal(err)
		}
		t1 := time.Now()
		jsonBytes = buf.Len()
		buf.Reset()
		if err := write(&buf, r); err != nil {
			b.Fatal(err)
		}
		fmtTime += time.Since(t1)
		jsonTime += t1.Sub(t0)
		fmtBytes = buf.Len()
		n++
	}
	b.ReportMetric(float64(jsonTime.Nanoseconds())/float64(n), "json-ns/write")
	b.ReportMetric(float64(fmtTime.Nanoseconds())/float64(n), name+"-ns/write")
	b.ReportMetric(float64(fmtTime)/float64(jsonTime), name+"/json")
	b.ReportMetric(float64(jsonBytes), "json-bytes")
	b.ReportMetric(float64(fmtBytes), name+"-bytes")
}
