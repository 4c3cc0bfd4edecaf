package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/testenv"
)

// TestSBOMCommands scans the Syft and Trivy fixtures of package sbom with
// GitHub's advisories: `lapps sbom scan` and `image security scan sbom:`
// record numbered scans of sbom:/ABS/PATH that list and report -i show,
// with the same npm findings from every format; --fail-on, bounds and
// files that are not SBOMs give their exit codes.
func TestSBOMCommands(t *testing.T) {
	v := testenv.VulnData(t)
	db := filepath.Join(t.TempDir(), "lapps.db")
	if code, _, stderr := run(t, db, "vulndb", "import", "--type", "osv", "--name", "ghsa", filepath.Join(v, "github-advisory-database", "advisories")); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	type reportDoc struct {
		Image           string `json:"image"`
		ScanIndex       int    `json:"scan_index"`
		ManifestDigest  string `json:"manifest_digest"`
		Packages        []any  `json:"packages"`
		Vulnerabilities []struct {
			ID      string `json:"id"`
			Package string `json:"package"`
			Kind    string `json:"package_kind"`
		} `json:"vulnerabilities"`
	}
	npmFindings := map[string]string{}
	for _, f := range []string{"syft-debian-mid.cdx-1.6.json", "trivy-debian-mid.cdx-1.5.json", "syft-debian-mid.spdx-2.3.json", "trivy-debian-mid.spdx-2.3.json"} {
		file := filepath.Join("..", "sbom", "testdata", f)
		abs, _ := filepath.Abs(file)
		args := []string{"sbom", "scan", file, "-o", "json"}
		if strings.HasPrefix(f, "trivy") {
			args = []string{"image", "security", "scan", "sbom:" + file, "-o", "json"}
		}
		code, out, stderr := run(t, db, args...)
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", f, code, stderr)
		}
		var r reportDoc
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if r.Image != "sbom:"+abs || r.ScanIndex != 1 || !strings.HasPrefix(r.ManifestDigest, "sha256:") {
			t.Errorf("%s: image %s scan %d manifest %s", f, r.Image, r.ScanIndex, r.ManifestDigest)
		}
		var ids []string
		for _, v := range r.Vulnerabilities {
			if v.Kind == "npm" {
				ids = append(ids, v.ID+" "+v.Package)
			}
		}
		npmFindings[f] = strings.Join(ids, ",")
		if len(ids) == 0 {
			t.Errorf("%s: no npm findings (lodash 4.17.20, axios 0.21.1, minimist 1.2.5 have GitHub advisories)", f)
		}

		code, out, _ = run(t, db, "image", "security", "list", "sbom:"+file)
		if code != 0 || strings.Count(out, "\n") != 2 || !strings.Contains(out, strings.TrimPrefix(r.ManifestDigest, "sha256:")[:12]) {
			t.Errorf("%s: list: exit %d:\n%s", f, code, out)
		}
		code, out, _ = run(t, db, "image", "security", "report", "sbom:"+abs, "-i", "1", "-o", "json")
		var r1 reportDoc
		if code != 0 || json.Unmarshal([]byte(out), &r1) != nil || r1.ScanIndex != 1 || len(r1.Vulnerabilities) != len(r.Vulnerabilities) || len(r1.Packages) != len(r.Packages) {
			t.Errorf("%s: report -i 1: exit %d", f, code)
		}
	}
	for f, ids := range npmFindings {
		if ids != npmFindings["syft-debian-mid.cdx-1.6.json"] {
			t.Errorf("%s: npm findings %s, Syft CycloneDX's %s", f, ids, npmFindings["syft-debian-mid.cdx-1.6.json"])
		}
	}

	fixture := filepath.Join("..", "sbom", "testdata", "syft-debian-mid.cdx-1.6.json")
	if code, out, _ := run(t, db, "sbom", "scan", fixture); code != 0 || !strings.Contains(out, "lodash") {
		t.Errorf("table: exit %d:\n%s", code, out)
	}
	if code, _, _ := run(t, db, "sbom", "scan", fixture, "--fail-on", "high"); code != ExitFindings {
		t.Errorf("--fail-on high: exit %d, want %d", code, ExitFindings)
	}
	cfg := filepath.Join(t.TempDir(), "lapps.yaml")
	if err := os.WriteFile(cfg, []byte("limits:\n  sbom_components: 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, stderr := run(t, db, "sbom", "scan", fixture, "-c", cfg); code != ExitBadImage || !strings.Contains(stderr, "limits.sbom_components") {
		t.Errorf("over limits.sbom_components: exit %d: %s", code, stderr)
	}
	if code, _, stderr := run(t, db, "sbom", "scan", filepath.Join("..", "go.mod")); code != ExitBadImage {
		t.Errorf("go.mod: exit %d: %s", code, stderr)
	}
	if code, _, _ := run(t, db, "sbom", "scan", filepath.Join(t.TempDir(), "missing.json")); code != ExitImageNotFound {
		t.Errorf("missing file: exit %d", code)
	}
	if code, _, _ := run(t, db, "image", "security", "list", "sbom:"+filepath.Join("..", "sbom", "testdata", "syft-alpine.cdx-1.4.json")); code != ExitNoScan {
		t.Errorf("list of an SBOM never scanned: exit %d", code)
	}
}
