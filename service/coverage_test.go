package service

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

// coverageImage is a fabricated image index: nDeb Debian packages of
// release debRelease (or an unknown distribution when it is ""), and the
// language packages given.
func coverageImage(digest, distroID, release string, nDeb int, lang ...vuln.Package) *model.ImageIndex {
	layer := "sha256:" + strings.Repeat("a", 64)
	idx := &model.ImageIndex{
		ManifestDigest: digest, IndexerVersion: indexer.Version,
		Distribution: &vuln.Distribution{ID: distroID, VersionID: release},
		Layers:       []model.LayerInfo{{Digest: layer}},
	}
	kind := vuln.KindDeb
	if distroID == "alpine" {
		kind = vuln.KindAPK
	}
	for i := range nDeb {
		name := fmt.Sprintf("pkg%03d", i)
		idx.Packages = append(idx.Packages, vuln.Package{Name: name, Version: "1.0-1", SourceName: name, Kind: kind, Layer: layer})
	}
	for _, p := range lang {
		p.Layer = layer
		idx.Packages = append(idx.Packages, p)
	}
	return idx
}

// fabricatedStore is a store holding, as current data:
//   - debian-tracker: Debian:11 and Debian:12 records, the newest
//     modified 2026-01-01 (one affects pkg000 1.0-1 of Debian 12);
//   - alpine-secdb: Alpine:v3.11 records, dated 2020;
//   - go-vulndb: Go records without any date;
//   - kev: enrichment records.
func fabricatedStore(t *testing.T) (*Local, store.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	l := NewLocal(st, indexer.New(all.Catalogers()), WithSources([]updater.Source{{Name: "debian-tracker", Type: "debian-tracker", URLs: []string{"http://127.0.0.1:1/"}}}))
	t.Cleanup(func() { l.Close() })
	put := func(source, typ string, recs ...vuln.Record) {
		for i := range recs {
			recs[i].Source = source
			if recs[i].Status == "" {
				recs[i].Status = vuln.StatusFixed
			}
		}
		if _, err := st.PutUpdate(store.WithOrigin(ctx, store.Origin{Type: typ}), source, source, recs); err != nil {
			t.Fatal(err)
		}
	}
	fixed := []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "0", Fixed: "1.0-2"}}
	put("debian-tracker", "", // the type of a configured source comes from the configuration
		vuln.Record{ID: "CVE-2025-1", Ecosystem: "Debian:12", Package: "pkg000", Ranges: fixed, Severity: vuln.SeverityHigh,
			Published: time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC), Modified: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		vuln.Record{ID: "CVE-2020-1", Ecosystem: "Debian:11", Package: "pkg000", Ranges: fixed, Published: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)},
	)
	put("alpine-secdb", "alpine-secdb",
		vuln.Record{ID: "CVE-2020-2", Ecosystem: "Alpine:v3.11", Package: "pkg000", Ranges: fixed, Published: time.Date(2020, 3, 1, 0, 0, 0, 0, time.UTC)})
	put("go-vulndb", "osv",
		vuln.Record{ID: "GO-2024-1", Ecosystem: vuln.EcosystemGo, Package: "example.com/mod", Ranges: []vuln.Range{{Type: vuln.RangeSemver, Introduced: "0", Fixed: "1.0.0"}}})
	put("kev", "kev",
		vuln.Record{ID: "CVE-2025-1", Ecosystem: vuln.EcosystemEnrichment, Package: "CVE-2025-1", Status: vuln.StatusUnfixed,
			Modified: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
	l.now = func() time.Time { return time.Date(2026, 3, 3, 12, 0, 0, 0, time.UTC) }
	return l, st
}

func sourceNames(ds []report.DataSource) []string {
	var out []string
	for _, d := range ds {
		out = append(out, d.Name)
	}
	return out
}

// TestCoverageWarnings: a report warns of each distribution release and
// ecosystem of the image that no source covers, lists only the covering
// sources with their data's age, and keeps the matcher's warnings.
func TestCoverageWarnings(t *testing.T) {
	ctx := context.Background()
	l, st := fabricatedStore(t)
	npm := vuln.Package{Name: "left-pad", Version: "1.0.0", Kind: vuln.KindNPM}
	gomod := vuln.Package{Name: "example.com/mod", Version: "v0.9.0", Kind: vuln.KindGo}
	tests := []struct {
		name     string
		idx      *model.ImageIndex
		warnings []string // exactly, in order
		sources  []string
		findings int
	}{
		{
			name: "Debian 13 without trixie data",
			idx:  coverageImage("sha256:"+strings.Repeat("1", 64), "debian", "13", 576),
			warnings: []string{
				"no vulnerability source covers Debian:13; findings for its 576 packages cannot be reported",
			},
		},
		{
			name: "Alpine 3.20 with data for 3.11 only",
			idx:  coverageImage("sha256:"+strings.Repeat("2", 64), "alpine", "3.20.3", 14),
			warnings: []string{
				"no vulnerability source covers Alpine:v3.20; findings for its 14 packages cannot be reported",
			},
		},
		{
			name:     "Debian 12 covered, npm not; Go covered by a source without dates",
			idx:      coverageImage("sha256:"+strings.Repeat("3", 64), "debian", "12", 3, npm, gomod),
			warnings: []string{"no vulnerability source covers npm; findings for its 1 package cannot be reported"},
			sources:  []string{"debian-tracker", "go-vulndb", "kev"},
			findings: 2,
		},
		{
			name:     "Debian 12 without findings: no enrichment source",
			idx:      coverageImage("sha256:"+strings.Repeat("4", 64), "debian", "12", 0, vuln.Package{Name: "pkg001", Version: "1.0-1", Kind: vuln.KindDeb}),
			warnings: []string{},
			sources:  []string{"debian-tracker"},
		},
		{
			name:     "unknown distribution: the matcher's warning only",
			idx:      coverageImage("sha256:"+strings.Repeat("5", 64), "plan9", "4", 2),
			warnings: []string{"2 package(s) not matched: distribution plan9 4 has no vulnerability data model"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := st.PutManifest(ctx, tc.idx); err != nil {
				t.Fatal(err)
			}
			r, err := l.ManifestReport(ctx, tc.idx.ManifestDigest)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(r.Warnings, tc.warnings) {
				t.Errorf("warnings = %q\nwant %q", r.Warnings, tc.warnings)
			}
			if got := sourceNames(r.DataSources); !slices.Equal(got, tc.sources) {
				t.Errorf("data sources = %v; want %v", got, tc.sources)
			}
			if len(r.Vulnerabilities) != tc.findings {
				t.Errorf("findings = %d; want %d", len(r.Vulnerabilities), tc.findings)
			}
			var b bytes.Buffer
			if err := report.WriteJSON(&b, r); err != nil {
				t.Fatal(err)
			}
			var raw map[string]json.RawMessage
			if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
				t.Fatal(err)
			}
			if w := string(raw["warnings"]); !strings.HasPrefix(w, "[") {
				t.Errorf("JSON warnings = %s; want an array", w)
			}
			if ds := string(raw["data_sources"]); !strings.HasPrefix(ds, "[") {
				t.Errorf("JSON data_sources = %s; want an array", ds)
			}
			b.Reset()
			if err := report.WriteTable(&b, r); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.warnings {
				if !strings.Contains(b.String(), "Warning:      "+w) {
					t.Errorf("table lacks warning %q:\n%s", w, b.String())
				}
			}
		})
	}

	// The data sources of the covered image: types, ages from the records,
	// unknown for the Go vulndb's undated records.
	r, err := l.ManifestReport(ctx, "sha256:"+strings.Repeat("3", 64))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		typ, age string
		newest   time.Time
		covers   []string
	}{
		"debian-tracker": {"debian-tracker", "61d", time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), []string{"Debian:12"}},
		"go-vulndb":      {"osv", report.AgeUnknown, time.Time{}, []string{vuln.EcosystemGo}},
		"kev":            {"kev", "30d", time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC), []string{vuln.EcosystemEnrichment}},
	}
	for _, ds := range r.DataSources {
		w := want[ds.Name]
		if ds.Type != w.typ || ds.Age != w.age || !slices.Equal(ds.Covers, w.covers) || ds.Operation == 0 || ds.UpdatedAt.IsZero() {
			t.Errorf("%s: %+v; want type %s, age %s, covers %v", ds.Name, ds, w.typ, w.age, w.covers)
		}
		if (ds.NewestRecord == nil) != w.newest.IsZero() || ds.NewestRecord != nil && !ds.NewestRecord.Equal(w.newest) {
			t.Errorf("%s: newest record %v; want %v", ds.Name, ds.NewestRecord, w.newest)
		}
	}
	var b bytes.Buffer
	if err := report.WriteTable(&b, r); err != nil {
		t.Fatal(err)
	}
	for _, line := range []string{
		"Data:         debian-tracker: newest record 2026-01-01 (61d old)",
		"Data:         go-vulndb: newest record unknown (its records carry no dates)",
	} {
		if !strings.Contains(b.String(), line) {
			t.Errorf("table lacks %q:\n%s", line, b.String())
		}
	}

	// vulndb status shows the data's age and ecosystems too.
	status, err := l.VulnDBStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range status {
		switch s.Source {
		case "alpine-secdb":
			if s.DataAge != "2193d" || s.NewestRecord == nil || s.Ecosystems["Alpine:v3.11"] != 1 || s.Type != "alpine-secdb" {
				t.Errorf("status of %s: %+v", s.Source, s)
			}
		case "go-vulndb":
			if s.DataAge != report.AgeUnknown || s.NewestRecord != nil {
				t.Errorf("status of %s: %+v", s.Source, s)
			}
		}
	}
}

// TestWarningsAlwaysArray: a report recorded before warnings were always
// written (none stored) still has "warnings": [] in JSON.
func TestWarningsAlwaysArray(t *testing.T) {
	var b bytes.Buffer
	if err := report.WriteJSON(&b, &report.Report{Image: "x"}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"warnings": []`, `"data_sources": []`, `"vulnerabilities": []`, `"packages": []`} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("JSON lacks %s:\n%s", want, b.String())
		}
	}
}
