package osv_test

import (
	"context"
	"os"
	"testing"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater/osv"
)

// BenchmarkParseAll parses the AlmaLinux, Go and PyPA data sets, as one
// ingest of them would.
func BenchmarkParseAll(b *testing.B) {
	dirs := []string{
		testenv.VulnData(b, "almalinux-osv-database"),
		testenv.VulnData(b, "golang-vulndb"),
		testenv.VulnData(b, "pypa-advisory-database"),
	}
	b.ReportAllocs()
	for b.Loop() {
		n := 0
		for _, d := range dirs {
			recs, err := osv.Parser{}.Parse(context.Background(), os.DirFS(d))
			if err != nil {
				b.Fatal(err)
			}
			n += len(recs)
		}
		b.ReportMetric(float64(n), "records/op")
	}
}
