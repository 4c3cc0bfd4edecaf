package matcher

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

func cvss(version string, score float64) []vuln.CVSS {
	return []vuln.CVSS{{Version: version, Vector: "CVSS:" + version + "/test", Score: score}}
}

// enrichment returns an enrichment record (as cve5, kev or epss store them).
func enrichment(id, source string, sev vuln.Severity, c []vuln.CVSS) vuln.Record {
	return vuln.Record{ID: id, Source: source, Ecosystem: vuln.EcosystemEnrichment, Package: id, Severity: sev, CVSS: c}
}

// TestEnrich: each rule of severity, exploitation and EPSS enrichment,
// over one Go module with one vulnerability.
func TestEnrich(t *testing.T) {
	// GO-2021-0113 as the Go database has it: no severity.
	goRec := fixed("GO-2021-0113", "go-vulndb", "Go", "golang.org/x/text", "0.3.7", "CVE-2021-38561", "GHSA-ppp9-7jff-5vj2")
	goRec.Related = []string{"CVE-2020-0001"}
	ghsa := fixed("GHSA-ppp9-7jff-5vj2", "ghsa", "npm", "other", "1.0.0", "CVE-2021-38561")
	ghsa.Severity, ghsa.SourceSeverity, ghsa.CVSS = vuln.SeverityHigh, "HIGH", cvss("3.1", 7.5)
	tracker := status("CVE-2021-38561", "debian-tracker", "Debian:12", "golang-golang-x-text", vuln.StatusUnfixed)
	tracker.Severity, tracker.SourceSeverity = vuln.SeverityLow, "low"
	cve5 := enrichment("CVE-2021-38561", "cve5", vuln.SeverityUnknown, cvss("3.1", 9.8))
	cve5v4 := enrichment("CVE-2021-38561", "cve5", vuln.SeverityUnknown, cvss("4.0", 5.1))
	kev := enrichment("CVE-2021-38561", "kev", vuln.SeverityUnknown, nil)
	kev.KnownExploited = &vuln.KnownExploited{Catalog: "CISA KEV", DateAdded: "2024-01-02", RansomwareUse: true}
	epssA := enrichment("CVE-2021-38561", "epss", vuln.SeverityUnknown, nil)
	epssA.EPSS = &vuln.EPSS{Score: 0.2, Percentile: 0.9}
	epssB := enrichment("GHSA-ppp9-7jff-5vj2", "epss2", vuln.SeverityUnknown, nil)
	epssB.EPSS = &vuln.EPSS{Score: 0.7, Percentile: 0.99}
	relatedKEV := enrichment("CVE-2020-0001", "kev", vuln.SeverityUnknown, nil)
	relatedKEV.KnownExploited = &vuln.KnownExploited{Catalog: "CISA KEV", DateAdded: "2020-01-01"}

	type want struct {
		sev      vuln.Severity
		from     string
		rating   string
		score    float64
		kev      bool
		epss     float64
		idCalled bool
	}
	tests := []struct {
		name string
		recs []vuln.Record
		want want
	}{
		{"nothing rates it", []vuln.Record{goRec}, want{sev: vuln.SeverityUnknown}},
		{"a GHSA record of another ecosystem, by alias", []vuln.Record{goRec, ghsa}, want{sev: vuln.SeverityHigh, from: "ghsa", rating: "HIGH", score: 7.5}},
		{"a distribution tracker's rating, by CVE", []vuln.Record{goRec, tracker}, want{sev: vuln.SeverityLow, from: "debian-tracker", rating: "low"}},
		{"a scored record over a rating only", []vuln.Record{goRec, tracker, ghsa}, want{sev: vuln.SeverityHigh, from: "ghsa", rating: "HIGH", score: 7.5}},
		{"enrichment first, its score's band", []vuln.Record{goRec, ghsa, tracker, cve5}, want{sev: vuln.SeverityCritical, from: "cve5", score: 9.8}},
		{"the highest CVSS version", []vuln.Record{goRec, cve5, cve5v4}, want{sev: vuln.SeverityMedium, from: "cve5", score: 5.1}},
		{"known exploited and the highest EPSS of the ids", []vuln.Record{goRec, kev, epssA, epssB}, want{kev: true, epss: 0.7}},
		{"related ids enrich nothing", []vuln.Record{goRec, relatedKEV}, want{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := &fakeSource{records: tc.recs}
			idx := &model.ImageIndex{Packages: []vuln.Package{{Name: "golang.org/x/text", Version: "v0.3.5", Kind: vuln.KindGo}}}
			fs, _, err := Match(context.Background(), src, idx)
			if err != nil {
				t.Fatal(err)
			}
			if len(fs) != 1 {
				t.Fatalf("%d findings: %+v", len(fs), fs)
			}
			f := fs[0]
			var score float64
			if c, ok := vuln.BestCVSS(f.CVSS); ok {
				score = c.Score
			}
			var epss float64
			if f.EPSS != nil {
				epss = f.EPSS.Score
			}
			got := want{sev: f.Severity, from: f.SeveritySource, rating: f.SourceSeverity, score: score, kev: f.KnownExploited != nil, epss: epss}
			tc.want.idCalled, got.idCalled = true, len(src.idCalls) == 1
			if got != tc.want {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			// One call, with the finding's id and aliases, never related.
			if len(src.idCalls) == 1 && !slices.Equal(src.idCalls[0], []string{"CVE-2021-38561", "GHSA-ppp9-7jff-5vj2", "GO-2021-0113"}) {
				t.Errorf("RecordsByID(%q)", src.idCalls[0])
			}
		})
	}
}

// TestEnrichOwnSeverityFirst: a matched record's own rating is kept, with
// its source, however other sources rate the vulnerability; an advisory
// is enriched by the CVEs it fixes.
func TestEnrichOwnSeverityFirst(t *testing.T) {
	const eco = "AlmaLinux:9"
	alsa := fixed("ALSA-2024:3339", "almalinux", eco, "glibc", "2.34-100.el9_4.2")
	alsa.CVEs = []string{"CVE-2024-2961", "CVE-2024-33599"}
	alsa.Severity, alsa.SourceSeverity = vuln.SeverityHigh, "Important"
	unrated := fixed("ALSA-2099:0001", "almalinux", eco, "glibc", "2.34-100.el9_4.2")
	unrated.CVEs = []string{"CVE-2024-2961", "CVE-2024-33599"}
	crit := enrichment("CVE-2024-2961", "cve5", vuln.SeverityCritical, cvss("3.1", 9.8))
	med := enrichment("CVE-2024-33599", "cve5", vuln.SeverityMedium, cvss("3.1", 5.5))
	kev := enrichment("CVE-2024-33599", "kev", vuln.SeverityUnknown, nil)
	kev.KnownExploited = &vuln.KnownExploited{Catalog: "CISA KEV", DateAdded: "2024-06-01"}
	src := &fakeSource{records: []vuln.Record{alsa, unrated, crit, med, kev}}
	idx := &model.ImageIndex{Distribution: alma93, Packages: []vuln.Package{rpm("glibc", "2.34-83.el9_3.7")}}
	fs, _, err := Match(context.Background(), src, idx)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]vuln.Finding{}
	for _, f := range fs {
		got[f.ID] = f
	}
	if f := got["ALSA-2024:3339"]; f.Severity != vuln.SeverityHigh || f.SeveritySource != "almalinux" || f.SourceSeverity != "Important" || f.KnownExploited == nil {
		t.Errorf("rated advisory: %+v", f)
	}
	if f := got["ALSA-2099:0001"]; f.Severity != vuln.SeverityCritical || f.SeveritySource != "cve5" || f.KnownExploited == nil || f.KnownExploited.DateAdded != "2024-06-01" {
		t.Errorf("unrated advisory: %+v", f)
	}
	if len(fs) != 2 || len(src.idCalls) != 1 {
		t.Fatalf("%d findings, %d RecordsByID calls, want 2 and 1", len(fs), len(src.idCalls))
	}
	// The rated advisory's own id is not asked: only the CVEs, for
	// exploitation; the unrated one's is.
	if want := []string{"ALSA-2099:0001", "CVE-2024-2961", "CVE-2024-33599"}; !slices.Equal(src.idCalls[0], want) {
		t.Errorf("RecordsByID(%q), want %q", src.idCalls[0], want)
	}
}

// TestEnrichBatches: the ids of a large report are asked in calls of at
// most idsPerCall; a failing RecordsByID fails the match.
func TestEnrichBatches(t *testing.T) {
	var recs []vuln.Record
	var pkgs []vuln.Package
	for i := range 700 {
		name := fmt.Sprintf("example.com/m%d", i)
		recs = append(recs, fixed(fmt.Sprintf("GO-2099-%04d", i), "go-vulndb", "Go", name, "1.0.0", fmt.Sprintf("CVE-2099-%04d", i)))
		pkgs = append(pkgs, vuln.Package{Name: name, Version: "v0.1.0", Kind: vuln.KindGo})
	}
	recs = append(recs, enrichment("CVE-2099-0650", "cve5", vuln.SeverityHigh, nil))
	src := &fakeSource{records: recs}
	idx := &model.ImageIndex{Packages: pkgs}
	fs, _, err := Match(context.Background(), src, idx)
	if err != nil {
		t.Fatal(err)
	}
	if len(fs) != 700 || len(src.idCalls) != 2 || len(src.idCalls[0]) != idsPerCall || len(src.idCalls[1]) != 400 {
		t.Errorf("%d findings; RecordsByID calls of %d ids", len(fs), len(src.idCalls))
	}
	if fs[0].ID != "CVE-2099-0650" || fs[0].SeveritySource != "cve5" {
		t.Errorf("first finding %s from %q, want CVE-2099-0650 from cve5", fs[0].ID, fs[0].SeveritySource)
	}

	src = &fakeSource{records: recs[:1], idErr: errors.New("database gone")}
	if _, _, err := Match(context.Background(), src, &model.ImageIndex{Packages: pkgs[:1]}); err == nil || !strings.Contains(err.Error(), "database gone") {
		t.Errorf("RecordsByID failing: err = %v", err)
	}
}
