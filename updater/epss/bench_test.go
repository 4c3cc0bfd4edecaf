package epss_test

import (
	"bytes"
	"context"
	"runtime"
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/epss"
)

// BenchmarkParse300k parses a generated gzip CSV of 300,000 rows (the
// size of the real daily file) and reports the peak live heap during the
// parse (peak-heap-MiB, sampled every millisecond) and the heap the
// records keep (kept-heap-MiB), beside -benchmem's allocations.
func BenchmarkParse300k(b *testing.B) {
	csv, _ := generate(genIDs(300_000), 4)
	data := gz(b, csv)
	b.SetBytes(int64(len(csv)))
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	heap := func() uint64 { metrics.Read(sample); return sample[0].Value.Uint64() }
	var peak, kept uint64
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		base := heap()
		var top atomic.Uint64
		done := make(chan struct{})
		go func() {
			tk := time.NewTicker(time.Millisecond)
			defer tk.Stop()
			for {
				select {
				case <-done:
					return
				case <-tk.C:
					if h := heap(); h > top.Load() {
						top.Store(h)
					}
				}
			}
		}()
		recs, _, err := epss.ParseCSV(context.Background(), bytes.NewReader(data), updater.Limits{})
		close(done)
		if err != nil || len(recs) != 300_000 {
			b.Fatalf("%d records, %v", len(recs), err)
		}
		runtime.GC()
		kept = heap() - base
		if m := top.Load(); m > base {
			peak = max(peak, m-base)
		}
		runtime.KeepAlive(recs)
	}
	b.ReportMetric(float64(peak)/(1<<20), "peak-heap-MiB")
	b.ReportMetric(float64(kept)/(1<<20), "kept-heap-MiB")
}
