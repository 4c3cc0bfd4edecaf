package policy

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// FuzzLoad: no policy text or VEX document panics, and a policy that
// loads evaluates.
func FuzzLoad(f *testing.F) {
	f.Add("policy:\n  fail_on: high\n  warn_on: medium\n  fixable_only: true\n  max_report_age: 7d\n  ignore:\n    - {id: CVE-2024-2961, package: glibc, until: 2026-12-31, reason: x}\n", []byte(nil))
	for _, name := range []string{"testdata/vulnapp-x-text.openvex.json", "testdata/almalinux-glibc.openvex.json"} {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add("fail_on: unknown", b)
	}
	f.Add("unknown_as: high\nfail_on_kev: true\nepss_threshold: 0.5\nfail_on: high\n", []byte(nil))
	r := &report.Report{Image: "index.docker.io/library/debian:12", ManifestDigest: "sha256:0123", GeneratedAt: time.Unix(1e9, 0),
		Vulnerabilities: []vuln.Finding{{ID: "ALSA-2024:3339", CVEs: []string{"CVE-2024-2961"}, Related: []string{"CVE-2022-1"}, Package: "glibc", Severity: vuln.SeverityHigh, PURL: "pkg:rpm/almalinux/glibc@2.34"},
			{ID: "GO-2099-1", Package: "stdlib", KnownExploited: &vuln.KnownExploited{Catalog: "CISA KEV"}, EPSS: &vuln.EPSS{Score: 0.7}}}}
	f.Fuzz(func(t *testing.T, policy string, vexDoc []byte) {
		p, err := Load(strings.NewReader(policy))
		if err != nil {
			return
		}
		v := &VEX{}
		if len(vexDoc) > 0 {
			_ = v.Add("fuzz.json", vexDoc)
		}
		got := Evaluate(p, r, time.Unix(1e9, 0), v)
		if got.Result != Pass && got.Result != Warn && got.Result != Fail {
			t.Fatalf("result %q", got.Result)
		}
	})
}
