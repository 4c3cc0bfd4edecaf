package e2e

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/vuln"
)

// indexes returns the scan indexes of ref, oldest first.
func (e *env) indexes(ref string) []int {
	e.t.Helper()
	scans, err := e.api.ListScans(e.ctx(), ref)
	if err != nil {
		e.t.Fatalf("list scans of %s: %v", ref, err)
	}
	var out []int
	for _, s := range scans {
		out = append(out, s.Index)
	}
	return out
}

// waitRuns waits until the scheduled job has completed n more runs than
// it had when waitRuns was called, so that at least n-1 whole runs
// started after the call.
func (e *env) waitRuns(job string, n int) {
	e.t.Helper()
	sample := `lapps_job_runs_total{job="` + job + `",result="ok"}`
	e.waitMetric(fmt.Sprintf("%d more %s runs", n, job), sample, e.metric(sample)+float64(n))
}

var gcDoneRE = regexp.MustCompile(`msg="gc done" scans=(\d+) manifests=(\d+) layers=(\d+) notifications=(\d+)`)

// gcRemoved sums what the server's "gc done" log lines say it removed:
// scans, manifests, layers, notifications.
func (e *env) gcRemoved() [4]int {
	var sum [4]int
	for _, m := range gcDoneRE.FindAllStringSubmatch(e.srv.log.String(), -1) {
		for i := range sum {
			n, _ := strconv.Atoi(m[i+1])
			sum[i] += n
		}
	}
	return sum
}

// TestScrubAndGC: the scheduled scrub records a new scan of an image only
// when its findings change, without being asked; garbage collection
// with keep_scans 1 then removes the older scan and nothing else.
func TestScrubAndGC(t *testing.T) {
	t.Parallel()
	e := newEnv(t, options{scrub: time.Second, gcInterval: time.Second, keepScans: 1})
	affected := "oci:" + alpine(t) + ":alpine-3.11.13"   // musl 1.1.24-r3
	unaffected := "oci:" + alpine(t) + ":alpine-3.13.12" // not Alpine v3.11: no v3.11 record applies
	digests := map[string]string{}
	for _, ref := range []string{affected, unaffected} {
		r, err := e.api.ScanImage(e.ctx(), service.ScanRequest{Image: ref})
		if err != nil {
			t.Fatal(err)
		}
		digests[ref] = r.ManifestDigest
	}
	records := func() int {
		st, err := e.api.VulnDBStatus(e.ctx())
		if err != nil || len(st) != 1 {
			t.Fatalf("sources: %+v, %v", st, err)
		}
		return st[0].Records
	}
	records1 := records()

	// Unchanged data: scrubs record nothing.
	e.waitRuns("scrub", 3)
	for _, ref := range []string{affected, unaffected} {
		if got := e.indexes(ref); !slices.Equal(got, []int{1}) {
			t.Fatalf("scans of %s after scrubs of unchanged data: %v, want [1]", ref, got)
		}
	}

	// New data affecting musl: the next scrub records scan 2 of the
	// affected image, and only of it.
	writeSecdb(t, e.data, true)
	e.update()
	waitFor(t, 30*time.Second, "a scan recorded by scrub", func() (bool, string) {
		got := e.indexes(affected)
		return slices.Contains(got, 2), fmt.Sprintf("scans %v", got)
	})
	// Later scrubs (the data no longer changes) and collections (keep
	// one scan) leave scan 2 alone and remove scan 1.
	e.waitRuns("scrub", 3)
	e.waitRuns("gc", 3)
	if got := e.indexes(affected); !slices.Equal(got, []int{2}) {
		t.Errorf("scans of the affected image: %v, want [2] (scan 1 collected, no scan 3)", got)
	}
	if got := e.indexes(unaffected); !slices.Equal(got, []int{1}) {
		t.Errorf("scans of the unaffected image: %v, want [1]", got)
	}

	r2, err := e.api.Report(e.ctx(), affected, 2)
	if err != nil {
		t.Fatal(err)
	}
	var musl []string
	for _, f := range r2.Vulnerabilities {
		if f.ID == inventedID {
			musl = append(musl, f.Package)
		}
	}
	slices.Sort(musl)
	if !slices.Equal(musl, []string{"musl", "musl-utils"}) || r2.Live {
		t.Errorf("scan 2 reports %s for %v (live %v), want musl and musl-utils as recorded", inventedID, musl, r2.Live)
	}
	if _, err := e.api.Report(e.ctx(), affected, 1); !errors.Is(err, service.ErrNotFound) {
		t.Errorf("report of collected scan 1: %v, want not found", err)
	}

	// Nothing else went: the unaffected image's only scan, both manifests
	// and their layer indexes (live reports match without reading the
	// images), and the vulnerability data.
	if r, err := e.api.Report(e.ctx(), unaffected, 1); err != nil || r.ManifestDigest != digests[unaffected] {
		t.Errorf("scan 1 of the unaffected image: %v", err)
	}
	for _, ref := range []string{affected, unaffected} {
		live, err := e.api.Report(e.ctx(), ref, 0)
		if err != nil {
			t.Fatalf("live report of %s: %v", ref, err)
		}
		if !live.Live || live.ManifestDigest != digests[ref] || len(live.Packages) == 0 {
			t.Errorf("live report of %s: live %v, manifest %s, %d packages", ref, live.Live, live.ManifestDigest, len(live.Packages))
		}
		got := slices.ContainsFunc(live.Vulnerabilities, func(f vuln.Finding) bool { return f.ID == inventedID })
		if got != (ref == affected) {
			t.Errorf("live report of %s: %s reported %v", ref, inventedID, got)
		}
	}
	if n := records(); n != records1+1 {
		t.Errorf("%d records after the update, want %d", n, records1+1)
	}
	if removed := e.gcRemoved(); removed != [4]int{1, 0, 0, 0} {
		t.Errorf("gc removed (scans, manifests, layers, notifications) %v, want one scan only", removed)
	}
}
