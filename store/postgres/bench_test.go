package postgres

import (
	"context"
	"fmt"
	"testing"
)

// The benchmarks are the SQLite engine's (store/sqlite), on the same data,
// so that `go test -bench . ./store/sqlite ./store/postgres` compares the
// engines in one run.

func BenchmarkPutUpdate(b *testing.B) {
	ctx := context.Background()
	s := openFresh(b)
	defer s.Close()
	b.ReportAllocs()
	gen := 0
	for b.Loop() {
		// Every operation changes every record: the worst case, 50k new
		// rows in records and 50k links.
		if _, err := s.PutUpdate(ctx, "debian-tracker", "", genRecords("debian-tracker", 50_000, gen)); err != nil {
			b.Fatal(err)
		}
		gen++
	}
}

func BenchmarkRecords(b *testing.B) {
	ctx := context.Background()
	s := openFresh(b)
	defer s.Close()
	// 50k records of the current operation, 10k of an older one, and a
	// second source.
	if _, err := s.PutUpdate(ctx, "debian-tracker", "", genRecords("debian-tracker", 10_000, 0)); err != nil {
		b.Fatal(err)
	}
	if _, err := s.PutUpdate(ctx, "debian-tracker", "", genRecords("debian-tracker", 50_000, 1)); err != nil {
		b.Fatal(err)
	}
	if _, err := s.PutUpdate(ctx, "osv-debian", "", genRecords("osv-debian", 2_000, 0)); err != nil {
		b.Fatal(err)
	}
	// 150 names, as a report on a Debian image asks: one in three has
	// records.
	names := make([]string, 150)
	for i := range names {
		if i%3 == 0 {
			names[i] = fmt.Sprintf("pkg%05d", i*80)
		} else {
			names[i] = fmt.Sprintf("lib%d-unaffected", i)
		}
	}
	rs, err := s.Records(ctx, "Debian:12", names)
	if err != nil {
		b.Fatal(err)
	}
	if len(rs) == 0 {
		b.Fatal("no records")
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Records(ctx, "Debian:12", names); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(rs)), "records/op")
}
