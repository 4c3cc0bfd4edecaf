package openvex

import (
	"testing"
	"time"

	"github.com/openvex/go-vex/pkg/vex"

	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// TestStatuses maps a finding, a suppressed finding (by an ignore rule
// with a free reason and by a VEX justification) and a source's
// not-affected statement.
func TestStatuses(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 600, time.UTC)
	r := &report.Report{Image: "docker.io/library/debian:12", ManifestDigest: "sha256:abc", GeneratedAt: at,
		Packages: []vuln.Package{{Name: "zlib1g", Version: "1", Kind: "deb", PURL: "pkg:deb/debian/zlib1g@1"}},
		Vulnerabilities: []vuln.Finding{
			{ID: "CVE-1", Aliases: []string{"DSA-1"}, Package: "openssl", InstalledVersion: "3.0", FixedVersion: "3.1", PackageKind: "deb", PURL: "pkg:deb/debian/openssl@3.0"},
			{ID: "CVE-2", Package: "curl", InstalledVersion: "7", PackageKind: "deb", Status: vuln.StatusUnfixed},
			{ID: "CVE-3", Package: "bash", InstalledVersion: "5", PackageKind: "deb"},
		},
		NotAffected: []vuln.NotAffected{
			{ID: "CVE-4", Package: "zlib1g", Version: "1", Source: "csaf", Justification: "vulnerable_code_not_present"},
			{ID: "CVE-5", Package: "zlib1g", Version: "1", Source: "debian", Justification: "minor issue"},
		},
	}
	sup := []policy.Suppression{
		{Finding: policy.FindingRef{ID: "CVE-2", Package: "curl", InstalledVersion: "7"}, Rule: "ignore[0] id=CVE-2", Reason: "we do not use it"},
		{Finding: policy.FindingRef{ID: "CVE-3", Package: "bash", InstalledVersion: "5"}, Rule: "vex x.json", Reason: "vulnerable_code_not_in_execute_path: never called"},
	}
	doc, err := Build([]Input{{Report: r, Suppressed: sup}})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		status vex.Status
		just   vex.Justification
		impact bool
		action bool
	}{
		{vex.StatusAffected, "", false, true},
		{vex.StatusNotAffected, "", true, false},
		{vex.StatusNotAffected, vex.VulnerableCodeNotInExecutePath, false, false},
		{vex.StatusNotAffected, vex.VulnerableCodeNotPresent, false, false},
		{vex.StatusNotAffected, "", true, false},
	}
	if len(doc.Statements) != len(want) {
		t.Fatalf("%d statements", len(doc.Statements))
	}
	for i, w := range want {
		st := doc.Statements[i]
		if st.Status != w.status || st.Justification != w.just || (st.ImpactStatement != "") != w.impact || (st.ActionStatement != "") != w.action {
			t.Errorf("statement %d: %+v", i, st)
		}
	}
	if p := doc.Statements[3].Products[0].Subcomponents[0].ID; p != "pkg:deb/debian/zlib1g@1" {
		t.Errorf("not-affected package %s", p)
	}
	if doc.Statements[0].Vulnerability.Aliases[0] != "DSA-1" || doc.Statements[0].Products[0].ID != "pkg:oci/debian@sha256:abc?repository_url=index.docker.io%2Flibrary%2Fdebian" {
		t.Errorf("statement 0: %+v", doc.Statements[0])
	}
	if !doc.Timestamp.Equal(at.Truncate(time.Second)) {
		t.Errorf("timestamp %v", doc.Timestamp)
	}
	again, _ := Build([]Input{{Report: r, Suppressed: sup}})
	if again.ID != doc.ID {
		t.Errorf("ids differ: %s %s", doc.ID, again.ID)
	}
}
