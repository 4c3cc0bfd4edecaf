package cve5_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lapps/lapps/updater/cve5"
	"github.com/lapps/lapps/vuln"
)

// FuzzParseRecord parses arbitrary documents, seeded with the fixture's
// records: no panic, and every record kept is a valid enrichment record
// whose CVSS ratings carry a version and a score in [0,10].
func FuzzParseRecord(f *testing.F) {
	_ = filepath.WalkDir(tree, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, data []byte) {
		r, skip, err := cve5.ParseRecord(data)
		if err != nil || skip != "" {
			return
		}
		if r.ID == "" || r.Package != r.ID || r.Ecosystem != vuln.EcosystemEnrichment {
			t.Fatalf("bad record %+v", r)
		}
		for _, c := range r.CVSS {
			if c.Version == "" || c.Score < 0 || c.Score > 10 {
				t.Fatalf("cvss %+v", c)
			}
		}
		if len(r.CVSS) == 0 && r.Severity != vuln.SeverityUnknown {
			t.Fatalf("severity %v without CVSS", r.Severity)
		}
	})
}
