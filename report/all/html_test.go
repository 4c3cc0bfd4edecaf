package all_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/web/webtest"
)

// TestHTMLFatInChromium writes the report of the fat Debian image (real
// data, hundreds of findings) as -o html and opens the file in headless
// Chromium: it must load without a console error or exception, hold
// every finding, fetch nothing, and pass axe-core.
func TestHTMLFatInChromium(t *testing.T) {
	r := realReport(t, "fat")
	var buf bytes.Buffer
	if err := report.Write(&buf, r, "html"); err != nil {
		t.Fatal(err)
	}
	doc := buf.String()
	for _, bad := range []string{"<script", "<link rel=\"stylesheet\"", "src=\"http", "<form"} {
		if strings.Contains(doc, bad) {
			t.Errorf("the HTML report has %q: not self-contained or not script-free", bad)
		}
	}
	br := webtest.Start(t)
	p := filepath.Join(br.Artifacts, "fat-report.html")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	var caption string
	var rows int
	br.Must("open the report", chromedp.Navigate("file://"+p))
	br.Must("wait for the findings", chromedp.WaitReady("table.findings", chromedp.ByQuery))
	br.Must("read the findings", chromedp.Evaluate(`document.querySelector("table.findings caption").innerText`, &caption),
		chromedp.Evaluate(`document.querySelectorAll("table.findings tbody tr").length`, &rows))
	want := fmt.Sprintf("Findings: %d of %d", len(r.Vulnerabilities), len(r.Vulnerabilities))
	if len(r.Vulnerabilities) == 0 || !strings.Contains(caption, want) || rows != min(len(r.Vulnerabilities), 2000) {
		t.Errorf("report caption %q with %d rows, want %q", caption, rows, want)
	}
	br.Screenshot("fat-report")
	br.Axe("fat report")
	if errs := br.Errors(); len(errs) > 0 {
		t.Errorf("console errors opening the report: %q", errs)
	}
	t.Logf("report and screenshots in %s", br.Artifacts)
}
