package updater_test

import (
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

func TestDedupe(t *testing.T) {
	t1 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	t2 := t1.Add(24 * time.Hour)
	rg := func(intro, fixed string) vuln.Range {
		return vuln.Range{Type: vuln.RangeEcosystem, Introduced: intro, Fixed: fixed}
	}
	rec := func(mod func(*vuln.Record)) vuln.Record {
		r := vuln.Record{ID: "GHSA-1", Ecosystem: "PyPI", Package: "jinja2", Status: vuln.StatusFixed}
		mod(&r)
		return r
	}
	tests := []struct {
		name string
		in   []vuln.Record
		want vuln.Record
	}{
		{
			name: "ranges, aliases, links and CVSS are merged",
			in: []vuln.Record{
				rec(func(r *vuln.Record) {
					r.Ranges = []vuln.Range{rg("0", "2.11.3")}
					r.Aliases = []string{"PYSEC-1", "CVE-2020-1"}
					r.Links = []string{"a"}
					r.Severity, r.SourceSeverity = vuln.SeverityMedium, "MODERATE"
					r.Title, r.Modified, r.Published = "old", t1, t1
				}),
				rec(func(r *vuln.Record) {
					r.Ranges = []vuln.Range{rg("3.0.0", "3.0.1"), rg("0", "2.11.3")}
					r.Aliases = []string{"CVE-2020-1", "CVE-2019-9"}
					r.Links = []string{"b", "a"}
					r.CVSS = []vuln.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:N", Score: 7.5}}
					r.Severity, r.SourceSeverity = vuln.SeverityHigh, "HIGH"
					r.Title, r.Modified, r.Published = "new", t2, t2
				}),
			},
			want: rec(func(r *vuln.Record) {
				r.Ranges = []vuln.Range{rg("0", "2.11.3"), rg("3.0.0", "3.0.1")}
				r.Aliases = []string{"CVE-2019-9", "CVE-2020-1", "PYSEC-1"}
				r.Links = []string{"b", "a"} // the parts' canonical order
				r.CVSS = []vuln.CVSS{{Version: "3.1", Vector: "CVSS:3.1/AV:N", Score: 7.5}}
				r.Severity, r.SourceSeverity = vuln.SeverityHigh, "HIGH"
				r.Title, r.Modified, r.Published = "new", t2, t1
			}),
		},
		{
			name: "an unfixed part without ranges affects every version",
			in: []vuln.Record{
				rec(func(r *vuln.Record) { r.Ranges = []vuln.Range{rg("0", "1.0")} }),
				rec(func(r *vuln.Record) { r.Status = vuln.StatusUnfixed }),
			},
			want: rec(func(r *vuln.Record) { r.Status = vuln.StatusUnfixed }),
		},
		{
			name: "an open range next to a fixed one: fixed, both ranges",
			in: []vuln.Record{
				rec(func(r *vuln.Record) { r.Ranges = []vuln.Range{rg("0", "1.0")} }),
				rec(func(r *vuln.Record) {
					r.Status = vuln.StatusUnfixed
					r.Ranges = []vuln.Range{rg("2.0", "")}
					r.Versions = []string{"2.0", "2.1"}
				}),
			},
			want: rec(func(r *vuln.Record) {
				r.Ranges = []vuln.Range{rg("0", "1.0"), rg("2.0", "")}
				r.Versions = []string{"2.0", "2.1"}
			}),
		},
		{
			name: "not-affected yields to an affected part",
			in: []vuln.Record{
				rec(func(r *vuln.Record) { r.Status = vuln.StatusNotAffected }),
				rec(func(r *vuln.Record) { r.Ranges = []vuln.Range{rg("0", "1.0")} }),
			},
			want: rec(func(r *vuln.Record) { r.Ranges = []vuln.Range{rg("0", "1.0")} }),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := vuln.Record{ID: "GHSA-2", Ecosystem: "PyPI", Package: "x", Status: vuln.StatusUnfixed}
			in := append([]vuln.Record{other}, tt.in...)
			got := updater.Dedupe(slices.Clone(in))
			if len(got) != 2 || got[0].Key() != other.Key() {
				t.Fatalf("got %d records, first %s", len(got), got[0].Key())
			}
			if !reflect.DeepEqual(got[1], tt.want) {
				t.Errorf("merged\n%+v\nwant\n%+v", got[1], tt.want)
			}
			// The merge does not depend on the input order.
			for range 10 {
				shuffled := slices.Clone(tt.in)
				rand.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
				if again := updater.Dedupe(shuffled); !reflect.DeepEqual(again[0], got[1]) {
					t.Fatalf("order-dependent merge:\n%+v\n%+v", again[0], got[1])
				}
			}
		})
	}
}

func TestSortAliases(t *testing.T) {
	got := updater.SortAliases("GHSA-x", []string{"PYSEC-2", "CVE-2021-2", " GHSA-x", "CVE-2020-1", "CVE-2021-2", ""})
	want := []string{"CVE-2020-1", "CVE-2021-2", "PYSEC-2"}
	if !slices.Equal(got, want) {
		t.Errorf("SortAliases = %v, want %v", got, want)
	}
	if updater.SortAliases("A", []string{"A"}) != nil {
		t.Error("only the own id: want nil")
	}
}
