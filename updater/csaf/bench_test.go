package csaf_test

import (
	"context"
	"testing"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/csaf"
)

// BenchmarkParseCIQ parses the whole CIQ snapshot (5,499 advisories and
// 2,787 VEX documents in a 15.8 MiB tar.zst, 841 MiB decompressed),
// streamed as Fetch gives it.
//
//	go test ./updater/csaf -run XXX -bench ParseCIQ -benchtime 1x -benchmem
func BenchmarkParseCIQ(b *testing.B) {
	p := testenv.VulnData(b, "ctrliq-advisories", "ctrliq-advisories-csaf-full.tar.zst")
	for b.Loop() {
		feed, err := updater.Fetch(context.Background(), updater.Source{Name: "b", Type: "csaf", Path: p}, nil)
		if err != nil {
			b.Fatal(err)
		}
		recs, err := csaf.Parser{}.Parse(context.Background(), feed.FS)
		feed.Close()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(len(recs)), "records")
	}
}
