package web

import (
	"io"
	"sync"
	"time"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/report"
)

var (
	reportOnce sync.Once
	reportTmpl *templates
	reportErr  error
)

func standaloneTemplates() (*templates, error) {
	reportOnce.Do(func() { reportTmpl, reportErr = parseTemplates() })
	return reportTmpl, reportErr
}

// WriteImageReport writes r as one self-contained HTML file: the
// console's image page (summary, findings, packages with their layers)
// with its style sheet inline and no script, for `-o html`.
func WriteImageReport(w io.Writer, r *report.Report) error {
	t, err := standaloneTemplates()
	if err != nil {
		return err
	}
	d := newImageData(r, filter{Sort: "risk"}, nil)
	return t.execute(w, "standalone/image", &page{Title: r.Image, Standalone: true, Generated: time.Now(), Data: d})
}

// appReportData is an app report as the standalone page shows it.
type appReportData struct {
	Report   *apps.AppReport
	Sections []appSection
}

type appSection struct {
	apps.AppSection
	Image *imageData
}

// WriteAppReport writes an app report as one self-contained HTML file:
// the verdict and its reasons, then each image as the console's image
// page shows it.
func WriteAppReport(w io.Writer, r *apps.AppReport) error {
	t, err := standaloneTemplates()
	if err != nil {
		return err
	}
	d := &appReportData{Report: r}
	for _, s := range r.Sections {
		sec := appSection{AppSection: s}
		if s.Report != nil {
			sec.Image = newImageData(s.Report, filter{Sort: "risk"}, nil)
		}
		d.Sections = append(d.Sections, sec)
	}
	return t.execute(w, "standalone/appreport", &page{Title: "App " + r.App, Standalone: true, Generated: time.Now(), Data: d})
}
