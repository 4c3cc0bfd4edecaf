package cve5_test

import (
	"archive/zip"
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"

	"github.com/lapps/lapps/updater/cve5"
)

// BenchmarkParse20k parses a zip of 20,000 generated records (the
// fixture's four scored records under new ids, in the cvelistV5 layout)
// and reports the heap the records keep (kept-heap-MiB) beside
// -benchmem's allocations; the real list has about 300,000.
func BenchmarkParse20k(b *testing.B) {
	var tmpl []string
	for _, p := range []string{"2021/44xxx/CVE-2021-44228", "2024/3xxx/CVE-2024-3094", "2023/44xxx/CVE-2023-44487", "2024/7xxx/CVE-2024-7589"} {
		d, err := os.ReadFile(tree + "/cves/" + p + ".json")
		if err != nil {
			b.Fatal(err)
		}
		tmpl = append(tmpl, string(d))
	}
	olds := []string{"CVE-2021-44228", "CVE-2024-3094", "CVE-2023-44487", "CVE-2024-7589"}
	const n = 20_000
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for i := range n {
		id := fmt.Sprintf("CVE-2024-%d", 20000+i)
		w, err := zw.Create(fmt.Sprintf("cvelistV5-main/cves/2024/%dxxx/%s.json", (20000+i)/1000, id))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := w.Write([]byte(strings.ReplaceAll(tmpl[i%4], olds[i%4], id))); err != nil {
			b.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		b.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(buf.Bytes()), int64(buf.Len()))
	if err != nil {
		b.Fatal(err)
	}
	var ms runtime.MemStats
	var kept uint64
	b.ResetTimer()
	for range b.N {
		runtime.GC()
		runtime.ReadMemStats(&ms)
		base := ms.HeapAlloc
		recs, err := cve5.Parser{}.Parse(context.Background(), zr)
		if err != nil || len(recs) != n {
			b.Fatalf("%d records, %v", len(recs), err)
		}
		runtime.GC()
		runtime.ReadMemStats(&ms)
		kept = ms.HeapAlloc - base
		runtime.KeepAlive(recs)
	}
	b.ReportMetric(float64(kept)/(1<<20), "kept-heap-MiB")
}
