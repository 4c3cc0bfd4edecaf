package all_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/lapps/lapps/indexer"
	ixall "github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/all"
)

var (
	realOnce    sync.Once
	realReports map[string]*report.Report
	realErr     error
)

// realReport returns the report of a Debian test image ("mid", "fat")
// scanned against the shared Debian, Go and GitHub data; the data is
// loaded and both images scanned once per test binary.
func realReport(tb testing.TB, name string) *report.Report {
	tb.Helper()
	images := testenv.Images(tb)
	v := testenv.VulnData(tb)
	realOnce.Do(func() {
		ctx := context.Background()
		dir, err := os.MkdirTemp("", "lapps-formats-")
		if err != nil {
			realErr = err
			return
		}
		st, err := sqlite.Open(ctx, filepath.Join(dir, "lapps.db"))
		if err != nil {
			realErr = err
			return
		}
		local := service.NewLocal(st, indexer.New(ixall.Catalogers()), service.WithSources([]updater.Source{
			{Name: "debian-dsa", Type: "debian-dsa", Path: filepath.Join(v, "debian-security-tracker", "data")},
			{Name: "go-vulndb", Type: "osv", Path: filepath.Join(v, "golang-vulndb", "data", "osv")},
			{Name: "ghsa", Type: "osv", Path: filepath.Join(v, "github-advisory-database", "advisories")},
		}))
		defer local.Close()
		defer os.RemoveAll(dir)
		if res, err := local.UpdateVulnDB(ctx, nil); err != nil {
			realErr = err
			return
		} else {
			for _, r := range res {
				if r.Error != "" {
					realErr = os.ErrInvalid
					tb.Logf("update %s: %s", r.Source, r.Error)
					return
				}
			}
		}
		realReports = map[string]*report.Report{}
		for _, n := range []string{"mid", "fat"} {
			ref := "oci:" + filepath.Join(images, "debian", "oci") + ":debian-bookworm-" + n
			r, err := local.ScanImage(ctx, service.ScanRequest{Image: ref})
			if err != nil {
				realErr = err
				return
			}
			realReports[n] = r
		}
	})
	if realErr != nil {
		tb.Fatalf("building the real reports: %v", realErr)
	}
	// A copy, so that a test cannot change another's report.
	b, err := json.Marshal(realReports[name])
	if err != nil {
		tb.Fatal(err)
	}
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		tb.Fatal(err)
	}
	return &r
}

// schema compiles a JSON schema of ../shared/specs.
func schema(tb testing.TB, elem ...string) *jsonschema.Schema {
	tb.Helper()
	p := filepath.Join(append([]string{testenv.Shared(tb), "specs"}, elem...)...)
	f, err := os.Open(p)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		tb.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(p, doc); err != nil {
		tb.Fatal(err)
	}
	s, err := c.Compile(p)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// validate checks a document against a schema.
func validate(tb testing.TB, s *jsonschema.Schema, doc []byte) {
	tb.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Validate(v); err != nil {
		tb.Fatalf("not valid: %v", err)
	}
}
