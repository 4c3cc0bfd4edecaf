package render

import (
	"io"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// ScanRow is one numbered scan of an image, as the scans table and the
// chart show it.
type ScanRow struct {
	Image           string
	Index           int
	ScannedAt       time.Time
	ManifestDigest  string
	Packages        int
	Vulnerabilities map[string]int
}

// ImageData is the image page, and the body of an image's HTML report.
type ImageData struct {
	Report   *report.Report
	Scans    []ScanRow
	Filter   Filter
	Findings []findingRow
	// Shown of Total findings pass the filter; More are not shown.
	Shown, Total, More int
	Columns            []Column
	Packages           []packageRow
	PackagesMore       int
	Diff               *DiffResult
	Chart              *Chart
	Severities         []SevCount
	ClearURL           string
	Ecosystems         []string
}

type SevCount struct {
	Severity string
	Count    int
}

// NewImageData builds the image page (and report) of rep.
func NewImageData(rep *report.Report, f Filter, scans []ScanRow) *ImageData {
	d := &ImageData{Report: rep, Scans: scans, Filter: f, Total: len(rep.Vulnerabilities)}
	all := f.apply(rep.Vulnerabilities)
	d.Shown = len(all)
	if len(all) > MaxRows {
		d.More = len(all) - MaxRows
		all = all[:MaxRows]
	}
	d.Findings = findingRows(all)
	pkgs := rep.Packages
	if len(pkgs) > MaxRows {
		d.PackagesMore = len(pkgs) - MaxRows
		pkgs = pkgs[:MaxRows]
	}
	d.Packages = packageRows(pkgs)
	counts := rep.Counts()
	for s := vuln.SeverityCritical; s >= vuln.SeverityUnknown; s-- {
		d.Severities = append(d.Severities, SevCount{s.String(), counts[s]})
	}
	ecos := map[string]bool{}
	for i := range rep.Vulnerabilities {
		ecos[rep.Vulnerabilities[i].Ecosystem] = true
	}
	for e := range ecos {
		d.Ecosystems = append(d.Ecosystems, e)
	}
	slices.Sort(d.Ecosystems)
	if len(scans) > 1 {
		var labels, links []string
		var counts []map[string]int
		for _, s := range scans {
			labels = append(labels, "#"+strconv.Itoa(s.Index))
			counts = append(counts, s.Vulnerabilities)
			links = append(links, "/image?"+url.Values{"ref": {rep.Image}, "scan": {strconv.Itoa(s.Index)}}.Encode())
		}
		d.Chart = TimeChart("Findings over time", labels, counts, links)
	}
	return d
}

var (
	reportOnce sync.Once
	reportTmpl *Templates
	reportErr  error
)

// Standalone returns the parsed templates, once per process, for the
// single-file reports.
func Standalone() (*Templates, error) {
	reportOnce.Do(func() { reportTmpl, reportErr = ParseTemplates() })
	return reportTmpl, reportErr
}

// WriteImageReport writes r as one self-contained HTML file: the
// console's image page (summary, findings, packages with their layers)
// with its style sheet inline and no script, for `-o html`.
func WriteImageReport(w io.Writer, r *report.Report) error {
	t, err := Standalone()
	if err != nil {
		return err
	}
	d := NewImageData(r, Filter{Sort: "risk"}, nil)
	return t.Execute(w, "standalone/image", &Page{Title: r.Image, Standalone: true, Generated: time.Now(), Data: d})
}
