package all_test

import (
	"testing"

	"github.com/lapps/lapps/report"
	_ "github.com/lapps/lapps/report/all"
)

// TestRegistered checks that importing report/all registers the SBOM
// formats with their media types.
func TestRegistered(t *testing.T) {
	for name, mediaType := range map[string]string{
		"cyclonedx": "application/vnd.cyclonedx+json; version=1.6",
		"spdx-json": "application/spdx+json",
		"html":      "text/html; charset=utf-8",
	} {
		f, ok := report.LookupFormat(name)
		if !ok || f.MediaType != mediaType {
			t.Errorf("format %s: %+v registered %v, want media type %s", name, f, ok, mediaType)
		}
	}
}
