package kev_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"

	"github.com/lapps/lapps/updater/kev"
	"github.com/lapps/lapps/vuln"
)

// FuzzParseCatalog parses arbitrary documents, seeded with the head of the
// real catalogue: no panic, and every record kept is a valid enrichment
// record of a CVE.
func FuzzParseCatalog(f *testing.F) {
	if raw, err := os.ReadFile(realCatalog(f)); err == nil {
		f.Add(raw[:min(len(raw), 4096)])
	}
	f.Add([]byte(doc(ent("CVE-2025-48384", "2025-08-25"), ent("cve-2024-0001", "x"))))
	f.Add([]byte(`{"vulnerabilities":{"a":[1]},"vulnerabilities":[{"cveID":"CVE-2024-12345"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, _, err := kev.ParseCatalog(context.Background(), bytes.NewReader(data))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, r := range recs {
			id, ok := vuln.CVEID(r.ID)
			if !ok || id != r.ID || r.Package != r.ID || r.Ecosystem != vuln.EcosystemEnrichment || r.KnownExploited == nil || seen[r.ID] {
				t.Fatalf("bad record %+v", r)
			}
			if strings.TrimSpace(r.KnownExploited.DateAdded) == "" || r.KnownExploited.Catalog != kev.Catalog {
				t.Fatalf("known_exploited %+v", r.KnownExploited)
			}
			seen[r.ID] = true
		}
	})
}
