package vuln

import (
	"slices"
	"testing"
)

// TestSortFindings: known exploited first, then severity, then EPSS
// (none last), then id.
func TestSortFindings(t *testing.T) {
	kev := &KnownExploited{Catalog: "CISA KEV", DateAdded: "2024-01-01"}
	epss := func(s float64) *EPSS { return &EPSS{Score: s} }
	fs := []Finding{
		{ID: "A-low", Severity: SeverityLow},
		{ID: "B-crit", Severity: SeverityCritical},
		{ID: "C-high-epss-0.1", Severity: SeverityHigh, EPSS: epss(0.1)},
		{ID: "D-high", Severity: SeverityHigh},
		{ID: "E-high-epss-0.9", Severity: SeverityHigh, EPSS: epss(0.9)},
		{ID: "F-low-kev", Severity: SeverityLow, KnownExploited: kev},
		{ID: "G-unknown-kev-epss", KnownExploited: kev, EPSS: epss(0.5)},
		{ID: "H-high-epss-0", Severity: SeverityHigh, EPSS: epss(0)},
		{ID: "I-unknown"},
	}
	SortFindings(fs)
	var got []string
	for _, f := range fs {
		got = append(got, f.ID)
	}
	want := []string{"F-low-kev", "G-unknown-kev-epss", "B-crit", "E-high-epss-0.9", "C-high-epss-0.1", "H-high-epss-0", "D-high", "A-low", "I-unknown"}
	if !slices.Equal(got, want) {
		t.Errorf("order\n got %q\nwant %q", got, want)
	}
}
