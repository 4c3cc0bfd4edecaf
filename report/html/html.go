// Package html writes image reports as one self-contained HTML file (the
// style sheet inline, no script, nothing fetched), with the look of the
// console's image page: both are rendered by package web/render from the same
// templates and style sheet. It registers the format "html".
package html

import (
	"io"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/web/render"
)

// MediaType is the media type of the format.
const MediaType = "text/html; charset=utf-8"

func init() {
	report.Register(report.Format{Name: "html", MediaType: MediaType, Write: Write})
}

// Write writes r as a self-contained HTML page.
func Write(w io.Writer, r *report.Report) error { return render.WriteImageReport(w, r) }
