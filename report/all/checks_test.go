package all_test

import (
	"bytes"
	"strings"
	"testing"

	cdx "github.com/CycloneDX/cyclonedx-go"
	gosarif "github.com/owenrumney/go-sarif/v2/sarif"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/cyclonedx"
	"github.com/lapps/lapps/report/internal/sbomtest"
	"github.com/lapps/lapps/vuln"
)

// TestChecksFormats writes the fat image's report, with configuration
// findings and secrets added, as SARIF and CycloneDX, validates both
// against their official schemas and finds every finding and secret in
// them, by its redacted preview.
func TestChecksFormats(t *testing.T) {
	base := realReport(t, "fat")
	r := *base
	r.ConfigFindings = append(append([]checks.Finding{}, base.ConfigFindings...),
		checks.Finding{ID: checks.FileSetuid, Severity: vuln.SeverityMedium, Title: "Setuid file not installed by a package", Detail: "/usr/local/bin/x is setuid", Layer: base.Layers[0].Digest, Path: "usr/local/bin/x"},
		checks.Finding{ID: checks.ConfigAddURL, Severity: vuln.SeverityLow, Title: "ADD from a URL", Detail: "history step 2", Layer: base.Layers[0].Digest},
	)
	r.Secrets = []checks.Secret{
		{Rule: "github-pat", Title: "GitHub personal access token", Severity: vuln.SeverityHigh, Path: "app/settings.py", Line: 12, Layer: base.Layers[0].Digest, Preview: "ghp_****"},
		{Rule: "private-key", Title: "Private key", Severity: vuln.SeverityHigh, Path: "app/key.pem", Line: 1, Layer: base.Layers[0].Digest, Preview: "MIIE****", DeletedLater: true},
	}

	var sb bytes.Buffer
	if err := report.Write(&sb, &r, "sarif"); err != nil {
		t.Fatal(err)
	}
	validate(t, schema(t, "sarif", "sarif-schema-2.1.0.json"), sb.Bytes())
	log, err := gosarif.FromBytes(sb.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]*gosarif.Result{}
	for _, res := range log.Runs[0].Results {
		results[*res.RuleID+" "+*res.Locations[0].PhysicalLocation.ArtifactLocation.URI] = res
	}
	if res := results["secret/github-pat app/settings.py"]; res == nil || *res.Locations[0].PhysicalLocation.Region.StartLine != 12 || !strings.Contains(*res.Message.Text, "ghp_****") || *res.Level != "error" {
		t.Errorf("SARIF result of the secret: %+v", res)
	}
	if res := results["file-setuid usr/local/bin/x"]; res == nil || *res.Level != "warning" {
		t.Errorf("SARIF result of the setuid file: %+v", res)
	}
	if res := results["config-add-url debian-bookworm-fat"]; res == nil {
		t.Errorf("SARIF result of the configuration finding located at the image: %v", results)
	}

	var cb bytes.Buffer
	if err := report.Write(&cb, &r, "cyclonedx"); err != nil {
		t.Fatal(err)
	}
	s := sbomtest.Schema(t, "cyclonedx/bom-1.6.schema.json", "cyclonedx/spdx.schema.json", "cyclonedx/jsf-0.82.schema.json")
	if err := sbomtest.Validate(s, cb.Bytes()); err != nil {
		t.Fatalf("invalid CycloneDX 1.6: %v", err)
	}
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(bytes.NewReader(cb.Bytes()), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		t.Fatal(err)
	}
	var configs, secrets []string
	for _, p := range *bom.Metadata.Component.Properties {
		switch p.Name {
		case cyclonedx.PropConfigFinding:
			configs = append(configs, p.Value)
		case cyclonedx.PropSecret:
			secrets = append(secrets, p.Value)
		}
	}
	if len(configs) != len(r.ConfigFindings) || len(secrets) != 2 || !strings.HasPrefix(secrets[0], "github-pat|high|app/settings.py:12|sha256:") || !strings.HasSuffix(secrets[0], "|ghp_****") {
		t.Errorf("CycloneDX properties: %q %q", configs, secrets)
	}
}
