package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"syscall"
	"testing"
	"time"

	"github.com/lapps/lapps/report"
)

// The console's pages must render in well under 50 ms on the server for
// an image of 1,000 findings and an overview of 1,000 images:
//
//	go test ./web -run '^$' -bench . -benchmem
//
// BenchmarkImageJSON, the same report written as JSON through the API's
// writer, is the baseline to compare the pages with.

func benchPage(b *testing.B, f *fake, path string) {
	c, _ := newConsole(b, f, false)
	r := httptest.NewRequest("GET", path, nil)
	r.Header.Set("Authorization", "Bearer lapps_read")
	w := httptest.NewRecorder()
	c.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s: %d\n%.500s", path, w.Code, w.Body)
	}
	b.SetBytes(int64(w.Body.Len()))
	b.ResetTimer()
	start := cpuTime()
	n := 0
	for b.Loop() {
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
		n++
	}
	reportCPU(b, start, n)
}

// cpuTime is the process's user and system CPU time: on a machine
// shared with other work, CPU time per page says what a page costs
// better than wall time (ns/op), which waits for other processes.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU reports the CPU time per operation as cpu-ms/op (it counts
// the garbage collector's work on other threads too).
func reportCPU(b *testing.B, start time.Duration, n int) {
	if n > 0 {
		b.ReportMetric(float64(cpuTime()-start)/float64(n)/1e6, "cpu-ms/op")
	}
}

func BenchmarkImagePage(b *testing.B) {
	f := newFake(1, 1000)
	benchPage(b, f, "/image?ref="+url.QueryEscape("registry.example/team/app0:1.0"))
}

func BenchmarkImagePageFiltered(b *testing.B) {
	f := newFake(1, 1000)
	benchPage(b, f, "/image?ref="+url.QueryEscape("registry.example/team/app0:1.0")+"&severity=high&sort=package&dir=desc&scan=2&diff=1")
}

func BenchmarkOverview(b *testing.B) {
	benchPage(b, newFake(1000, 20), "/")
}

func BenchmarkImagesPage(b *testing.B) {
	benchPage(b, newFake(1000, 20), "/images")
}

func BenchmarkImageReportHTML(b *testing.B) {
	r := newFake(1, 1000).reports["registry.example/team/app0:1.0"][1]
	start, n := cpuTime(), 0
	for b.Loop() {
		if err := WriteImageReport(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportCPU(b, start, n)
}

func BenchmarkImageJSON(b *testing.B) {
	r := newFake(1, 1000).reports["registry.example/team/app0:1.0"][1]
	start, n := cpuTime(), 0
	for b.Loop() {
		if err := report.WriteJSON(io.Discard, r); err != nil {
			b.Fatal(err)
		}
		n++
	}
	reportCPU(b, start, n)
}
