package epss_test

import (
	"bytes"
	"context"
	"math"
	"testing"

	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/epss"
	"github.com/lapps/lapps/vuln"
)

// FuzzParseCSV parses arbitrary files, plain and gzip, seeded with a
// generated CSV: no panic, and every record kept is a valid enrichment
// record with scores in [0,1].
func FuzzParseCSV(f *testing.F) {
	csv, _ := generate(genIDs(20), 3)
	f.Add(csv)
	f.Add(gz(f, csv))
	f.Add([]byte("cve,epss,percentile\nCVE-1999-0001,1e-1,0x1p-2\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _, err := epss.ParseCSV(context.Background(), bytes.NewReader(data), updater.Limits{FileBytes: 1 << 20, Records: 10_000})
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, r := range recs {
			if r.ID == "" || r.Package != r.ID || r.Ecosystem != vuln.EcosystemEnrichment || r.EPSS == nil || seen[r.ID] {
				t.Fatalf("bad record %+v", r)
			}
			for _, x := range []float64{r.EPSS.Score, r.EPSS.Percentile} {
				if math.IsNaN(x) || x < 0 || x > 1 {
					t.Fatalf("score %v", x)
				}
			}
			seen[r.ID] = true
		}
	})
}
