package matcher

import (
	"context"
	"reflect"
	"testing"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// TestMatchAllNotAffected: a not-affected statement that applies to an
// installed package suppresses the finding and is returned with its
// justification; one that does not apply (another package, a version
// outside its range) is not.
func TestMatchAllNotAffected(t *testing.T) {
	const eco = "Rocky Linux:9"
	na := status("CVE-2024-0001", "csaf", eco, "openssh", vuln.StatusNotAffected)
	na.Justification = "vulnerable_code_not_present"
	ranged := status("CVE-2024-0003", "csaf", eco, "openssh", vuln.StatusNotAffected)
	ranged.Versions = []string{"1.0-1.el9"}
	src := &fakeSource{records: []vuln.Record{
		fixed("CVE-2024-0001", "osv", eco, "openssh", "9.0-1.el9"), // suppressed by na
		na,
		ranged, // does not hold 8.7p1-45.el9
		fixed("CVE-2024-0002", "osv", eco, "openssh", "9.0-1.el9"),
		status("CVE-2024-0004", "csaf", eco, "curl", vuln.StatusNotAffected), // curl not installed
	}}
	idx := &model.ImageIndex{
		Distribution: &vuln.Distribution{ID: "rocky", VersionID: "9.6"},
		Packages:     []vuln.Package{rpm("openssh", "8.7p1-45.el9")},
	}
	res, err := MatchAll(context.Background(), src, idx)
	if err != nil {
		t.Fatal(err)
	}
	if got := project(res.Findings); !reflect.DeepEqual(got, []string{`CVE-2024-0002 openssh 8.7p1-45.el9 fixed="9.0-1.el9" fixed aliases=[] by=binary cves=[]`}) {
		t.Errorf("findings = %v", got)
	}
	want := []vuln.NotAffected{{ID: "CVE-2024-0001", Package: "openssh", Version: "8.7p1-45.el9", Ecosystem: eco, Source: "csaf", Justification: "vulnerable_code_not_present"}}
	if !reflect.DeepEqual(res.NotAffected, want) {
		t.Errorf("not affected = %+v, want %+v", res.NotAffected, want)
	}
	// Match and MatchAll agree on findings.
	f, _, err := Match(context.Background(), src, idx)
	if err != nil || !reflect.DeepEqual(project(f), project(res.Findings)) {
		t.Errorf("Match = %v, %v", project(f), err)
	}
	// Nothing not-affected: an empty list, not nil.
	res, err = MatchAll(context.Background(), &fakeSource{}, idx)
	if err != nil || res.NotAffected == nil || len(res.NotAffected) != 0 {
		t.Errorf("empty: %+v, %v", res, err)
	}
}
