package sbom

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMeasureLarge reads a generated CycloneDX SBOM of 100,000 components
// (the default limits.sbom_components) and reports the time and the heap
// it took. Run with LAPPS_MEASURE=1.
func TestMeasureLarge(t *testing.T) {
	if os.Getenv("LAPPS_MEASURE") == "" {
		t.Skip("set LAPPS_MEASURE=1 to measure")
	}
	var b strings.Builder
	b.WriteString(`{"bomFormat":"CycloneDX","specVersion":"1.6","components":[`)
	for i := range 100_000 {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, `{"bom-ref":"pkg:npm/package-%d@1.0.%d?package-id=%016x","type":"library","name":"package-%d","version":"1.0.%d","licenses":[{"license":{"id":"MIT"}}],"purl":"pkg:npm/package-%d@1.0.%d","properties":[{"name":"syft:package:type","value":"npm"},{"name":"syft:location:0:path","value":"/app/node_modules/package-%d/package.json"}]}`, i, i, i, i, i, i, i, i)
	}
	b.WriteString(`]}`)
	data := []byte(b.String())
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	doc, err := Parse(data, Limits{})
	d := time.Since(start)
	runtime.ReadMemStats(&after)
	if err != nil || len(doc.Packages) != 100_000 {
		t.Fatal(err)
	}
	status, _ := os.ReadFile("/proc/self/status")
	hwm := ""
	for _, l := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			hwm = strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	t.Logf("%d bytes, %d packages: %v, %d MiB allocated, peak RSS of the test process %s", len(data), len(doc.Packages), d, (after.TotalAlloc-before.TotalAlloc)>>20, hwm)
}
