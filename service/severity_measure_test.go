package service

import (
	"context"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// BenchmarkFatSeverity scans the Debian fat image with all the shared
// data loaded and reports the share of findings of unknown severity and,
// in the log, the findings per severity source (issue 13):
//
//	go test ./service -run '^$' -bench FatSeverity -benchtime 1x -v
//
// A severity from one of the finding's own records counts under
// "matched:SOURCE" (so does one without SeveritySource, as lapps recorded
// none before severity enrichment), one from another record about the
// same vulnerability under "enriched:SOURCE".
func BenchmarkFatSeverity(b *testing.B) {
	images := testenv.Images(b)
	l, _ := newBenchLocal(b)
	l.sources = sharedSources(b)
	ctx := context.Background()
	if _, err := l.UpdateVulnDB(ctx, nil); err != nil {
		b.Fatal(err)
	}
	ref := "oci:" + filepath.Join(images, "debian", "oci") + ":debian-bookworm-fat"
	for b.Loop() {
		r, err := l.ScanImage(ctx, ScanRequest{Image: ref})
		if err != nil {
			b.Fatal(err)
		}
		unknown := 0
		by := map[string]int{}
		unknownIn := map[string]int{}
		for _, f := range r.Vulnerabilities {
			src := f.SeveritySource
			switch {
			case f.Severity == vuln.SeverityUnknown:
				unknown++
				unknownIn[f.Ecosystem]++
				src = "(unknown)"
			case src == "":
				first, _, _ := strings.Cut(f.Source, ",")
				src = "matched:" + first
			default:
				src = enrichedOrMatched(f.Source, src)
			}
			by[src]++
		}
		keys := make([]string, 0, len(by))
		for k := range by {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, fmt.Sprintf("%s=%d", k, by[k]))
		}
		b.Logf("%d findings, %d of unknown severity (%.1f%%, by ecosystem %v); by severity %v; by severity source: %s",
			len(r.Vulnerabilities), unknown, 100*float64(unknown)/float64(max(1, len(r.Vulnerabilities))), unknownIn, r.Summary.BySeverity, strings.Join(parts, " "))
		b.ReportMetric(float64(len(r.Vulnerabilities)), "findings")
		b.ReportMetric(100*float64(unknown)/float64(max(1, len(r.Vulnerabilities))), "unknown-%")
	}
}

// enrichedOrMatched labels severity source src of a finding whose records
// came from sources (comma separated).
func enrichedOrMatched(sources, src string) string {
	for _, m := range strings.Split(sources, ", ") {
		if m == src {
			return "matched:" + src
		}
	}
	return "enriched:" + src
}
