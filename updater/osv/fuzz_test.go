package osv_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater/osv"
	"github.com/lapps/lapps/vuln"
)

// FuzzParseOSV parses arbitrary documents as JSON and as YAML, seeded
// from real records of each source: no panic, and every record parsed is
// complete.
func FuzzParseOSV(f *testing.F) {
	data := testenv.VulnData(f)
	seeds := []string{
		"golang-vulndb/data/osv/GO-2020-0001.json",
		"golang-vulndb/data/osv/GO-2024-2687.json",
		"almalinux-osv-database/advisories/almalinux9/ALBA-2025:20841.json",
		"pypa-advisory-database/vulns/urllib3/PYSEC-2017-98.yaml",
		"pypa-advisory-database/vulns/redis/PYSEC-2023-73.yaml",
		"github-advisory-database/advisories/github-reviewed/2024/09/GHSA-qwcr-r2fm-qrc7/GHSA-qwcr-r2fm-qrc7.json",
		"vunnel-format-samples/tests/unit/providers/ubuntu/test-fixtures/osv/cve/2021/UBUNTU-CVE-2021-3782.json",
		"vunnel-format-samples/tests/unit/providers/rocky/test-fixtures/osv/RLSA-2021_3891.json",
		"vunnel-format-samples/tests/unit/providers/chainguard/test-fixtures/input/osv/all.json",
		"vunnel-format-samples/tests/unit/providers/chainguard/test-fixtures/input/osv/CGA-224q-ccj5-2p53.json",
	}
	for _, s := range seeds {
		b, err := os.ReadFile(filepath.Join(data, s))
		if err != nil {
			continue // a seed missing from a smaller data set
		}
		f.Add(b, filepath.Ext(s) == ".yaml")
	}
	f.Add([]byte(`[{"id":"A","affected":[{"package":{"ecosystem":"Ubuntu:Pro:18.04:LTS","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"fixed":"1"},{"introduced":"2"},{"last_affected":"3"}]}]}]}]`), false)
	f.Add([]byte("- id: X\n  affected: [{package: {name: a, ecosystem: 'Alpine:v3.19'}, versions: [1.0]}]\n"), true)
	// Malformed ranges of issue 12, which matched every version.
	f.Add([]byte(`{"id":"X","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":""}]}],"versions":[""]}]}`), false)
	f.Add([]byte(`{"id":"X","affected":[{"package":{"ecosystem":"Debian:12","name":"a"},"ranges":[{"type":"ECOSYSTEM","events":[{"introduced":"1:2.0-1"},{"last_affected":""}]}]}]}`), false)
	f.Fuzz(func(t *testing.T, doc []byte, isYAML bool) {
		recs, err := osv.ParseDocument(doc, isYAML)
		if err != nil {
			return
		}
		for _, r := range recs {
			if r.ID == "" || r.Ecosystem == "" || r.Package == "" {
				t.Fatalf("incomplete record %+v", r)
			}
			if r.Status != vuln.StatusFixed && r.Status != vuln.StatusUnfixed {
				t.Fatalf("status %q", r.Status)
			}
			for _, v := range r.Versions {
				if strings.TrimSpace(v) == "" {
					t.Fatalf("empty explicit version in %+v", r)
				}
			}
			for _, rg := range r.Ranges {
				if rg.Type != vuln.RangeEcosystem && rg.Type != vuln.RangeSemver {
					t.Fatalf("range type %q", rg.Type)
				}
				if !rg.Bounded() || rg.Introduced == "" {
					t.Fatalf("range without an introduced bound: %+v", rg)
				}
				if rg.Fixed != "" && rg.LastAffected != "" {
					t.Fatalf("range with both fixed and last_affected: %+v", rg)
				}
			}
		}
	})
}
