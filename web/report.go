package web

import (
	"io"
	"time"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/web/render"
)

// WriteImageReport writes r as one self-contained HTML file (see
// render.WriteImageReport).
func WriteImageReport(w io.Writer, r *report.Report) error { return render.WriteImageReport(w, r) }

// appReportData is an app report as the standalone page shows it.
type appReportData struct {
	Report   *apps.AppReport
	Sections []appSection
}

type appSection struct {
	apps.AppSection
	Image *render.ImageData
}

// WriteAppReport writes an app report as one self-contained HTML file:
// the verdict and its reasons, then each image as the console's image
// page shows it.
func WriteAppReport(w io.Writer, r *apps.AppReport) error {
	t, err := render.Standalone()
	if err != nil {
		return err
	}
	d := &appReportData{Report: r}
	for _, s := range r.Sections {
		sec := appSection{AppSection: s}
		if s.Report != nil {
			sec.Image = render.NewImageData(s.Report, render.Filter{Sort: "risk"}, nil)
		}
		d.Sections = append(d.Sections, sec)
	}
	return t.Execute(w, "standalone/appreport", &render.Page{Title: "App " + r.App, Standalone: true, Generated: time.Now(), Data: d})
}
