// Package appformat writes an app report (apps.AppReport: the reports of
// every image of an app scan) in the output formats that can describe
// several images in one document:
//
//   - json: the app report itself;
//   - sarif: one run over the findings of every image, each result
//     located in its image;
//   - openvex: one document, a statement per finding of every image, the
//     findings each image's verdict suppressed as not_affected;
//   - template: the template over the app report's JSON;
//   - html: one self-contained page, each image as the console shows it.
//
// The SBOM formats (cyclonedx, spdx-json) describe one image each: they
// are refused with ErrPerImage, naming the image command for each image.
// The table is the CLI's own.
package appformat

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/openvex"
	"github.com/lapps/lapps/report/sarif"
	"github.com/lapps/lapps/report/template"
	"github.com/lapps/lapps/web"
)

// Formats are the formats Write writes, besides the CLI's table.
var Formats = []string{"json", "sarif", "openvex", "template", "html"}

// ErrPerImage is the error for a format that describes one image.
var ErrPerImage = errors.New("describes one image")

// Supported reports whether Write writes format.
func Supported(format string) bool {
	for _, f := range Formats {
		if f == format {
			return true
		}
	}
	return false
}

// Check returns nil for a format of app reports, ErrPerImage (wrapped,
// with the image command to use) for another registered format, and an
// unknown-format error otherwise.
func Check(format string) error {
	if format == "table" || Supported(format) {
		return nil
	}
	if _, ok := report.LookupFormat(format); ok {
		return fmt.Errorf("-o %s %w, an app report holds several: write one document per image with `lapps image security report IMAGE -i N -o %s` (app reports are written as table, %s)",
			format, ErrPerImage, format, strings.Join(Formats, ", "))
	}
	return fmt.Errorf("unknown output format %q for app reports (one of table, %s)", format, strings.Join(Formats, ", "))
}

// Write writes r in format; tmpl is the template of the template format.
func Write(w io.Writer, r *apps.AppReport, format string, tmpl *template.Template) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "sarif":
		var rs []*report.Report
		for _, s := range r.Sections {
			if s.Report != nil {
				rs = append(rs, s.Report)
			}
		}
		return sarif.WriteReports(w, rs)
	case "openvex":
		var in []openvex.Input
		for _, s := range r.Sections {
			if s.Report != nil {
				in = append(in, openvex.Input{Report: s.Report, Suppressed: s.Verdict.Suppressed})
			}
		}
		return openvex.WriteInputs(w, in)
	case "html":
		return web.WriteAppReport(w, r)
	case "template":
		if tmpl == nil {
			return template.ErrNoTemplate
		}
		return tmpl.Execute(w, r)
	}
	if err := Check(format); err != nil {
		return err
	}
	return fmt.Errorf("app reports are not written as %s here", format)
}
