package appformat

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/template"
	"github.com/lapps/lapps/vuln"
)

func init() {
	// An SBOM-like format of one image, as report/cyclonedx registers.
	report.Register(report.Format{Name: "test-sbom", MediaType: "application/x-test", Write: func(io.Writer, *report.Report) error { return nil }})
}

func TestCheck(t *testing.T) {
	for _, f := range []string{"table", "json", "sarif", "openvex", "template"} {
		if err := Check(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	err := Check("test-sbom")
	if !errors.Is(err, ErrPerImage) || !strings.Contains(err.Error(), "lapps image security report IMAGE -i N -o test-sbom") {
		t.Errorf("test-sbom: %v", err)
	}
	if err := Check("xml"); err == nil || errors.Is(err, ErrPerImage) {
		t.Errorf("xml: %v", err)
	}
}

// TestWrite writes an app report of two images: SARIF and OpenVEX cover
// the findings of both, the suppressed one as not_affected.
func TestWrite(t *testing.T) {
	mk := func(img, id string) *report.Report {
		return &report.Report{Image: img, Vulnerabilities: []vuln.Finding{{ID: id, Package: "p", InstalledVersion: "1", PackageKind: "deb", Severity: vuln.SeverityHigh}}}
	}
	ar := &apps.AppReport{Sections: []apps.AppSection{
		{Image: "a:1", Report: mk("a:1", "CVE-1")},
		{Image: "b:1", Report: mk("b:1", "CVE-2"), Verdict: policy.Verdict{Suppressed: []policy.Suppression{{Finding: policy.FindingRef{ID: "CVE-2", Package: "p", InstalledVersion: "1"}, Rule: "ignore[0]", Reason: "accepted"}}}},
		{Image: "c:1", Error: "pruned"},
	}}
	var b bytes.Buffer
	if err := Write(&b, ar, "sarif", nil); err != nil || strings.Count(b.String(), `"ruleId"`) != 2 {
		t.Errorf("sarif: %v\n%s", err, b.String())
	}
	b.Reset()
	if err := Write(&b, ar, "openvex", nil); err != nil || !strings.Contains(b.String(), `"status": "affected"`) || !strings.Contains(b.String(), `"status": "not_affected"`) {
		t.Errorf("openvex: %v\n%s", err, b.String())
	}
	if err := Write(&b, ar, "template", nil); !errors.Is(err, template.ErrNoTemplate) {
		t.Errorf("template without one: %v", err)
	}
	if err := Write(&b, ar, "test-sbom", nil); !errors.Is(err, ErrPerImage) {
		t.Errorf("test-sbom: %v", err)
	}
}
