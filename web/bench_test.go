package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

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
	for b.Loop() {
		w := httptest.NewRecorder()
		c.ServeHTTP(w, r)
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
	for b.Loop() {
		if err := WriteImageReport(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkImageJSON(b *testing.B) {
	r := newFake(1, 1000).reports["registry.example/team/app0:1.0"][1]
	for b.Loop() {
		if err := report.WriteJSON(io.Discard, r); err != nil {
			b.Fatal(err)
		}
	}
}
