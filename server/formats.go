package server

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/report"
	_ "github.com/lapps/lapps/report/all" // every output format
	"github.com/lapps/lapps/report/appformat"
	"github.com/lapps/lapps/report/template"
)

// negotiation is the outcome of choosing a report's format.
type negotiation struct {
	format report.Format
	tmpl   *template.Template
}

// negotiate chooses the format of a report response: ?format=NAME when
// given, else the first media type of the Accept header (by q) that a
// registered format among allowed is served as, else JSON; */* and
// application/* are JSON. The template format takes a shipped template
// only (?template=@markdown): the server reads no files for callers. It
// writes the 406 or 400 itself and returns false.
func negotiate(w http.ResponseWriter, r *http.Request, allowed []string) (negotiation, bool) {
	var n negotiation
	name := r.URL.Query().Get("format")
	if name == "" {
		name = fromAccept(r.Header.Values("Accept"), allowed)
		if name == "" {
			writeError(w, http.StatusNotAcceptable, CodeNotAcceptable,
				fmt.Sprintf("no format of Accept %q is served here; formats: %s", strings.Join(r.Header.Values("Accept"), ", "), formatList(allowed)))
			return n, false
		}
	}
	f, ok := report.LookupFormat(name)
	if !ok || !slices.Contains(allowed, name) {
		msg := fmt.Sprintf("format %q is not served here; formats: %s", name, formatList(allowed))
		if ok {
			if err := appformat.Check(name); err != nil {
				msg = err.Error() + "; formats: " + formatList(allowed)
			}
		}
		writeError(w, http.StatusNotAcceptable, CodeNotAcceptable, msg)
		return n, false
	}
	n.format = f
	spec := r.URL.Query().Get("template")
	switch {
	case name == "template" && !strings.HasPrefix(spec, "@"):
		writeError(w, http.StatusBadRequest, CodeBadRequest, "format=template needs template=@NAME, a shipped template: @"+strings.Join(template.Shipped, ", @"))
		return n, false
	case name != "template" && spec != "":
		writeError(w, http.StatusBadRequest, CodeBadRequest, "template= goes with format=template")
		return n, false
	case name == "template":
		t, err := template.Load(spec)
		if err != nil {
			writeError(w, http.StatusBadRequest, CodeBadRequest, err.Error())
			return n, false
		}
		n.tmpl = t
	}
	return n, true
}

// fromAccept returns the allowed format the Accept header prefers: "json"
// without a header, "" when none is acceptable.
func fromAccept(values []string, allowed []string) string {
	type rng struct {
		typ string
		q   float64
		i   int
	}
	var rs []rng
	for _, v := range values {
		for _, part := range strings.Split(v, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			typ, params, err := mime.ParseMediaType(part)
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					q = f
				}
			}
			if q > 0 {
				rs = append(rs, rng{typ, q, len(rs)})
			}
		}
		if len(rs) > 64 { // bound the work on a hostile header
			break
		}
	}
	if len(values) == 0 {
		return "json"
	}
	sort.SliceStable(rs, func(a, b int) bool { return rs[a].q > rs[b].q })
	for _, x := range rs {
		if x.typ == "*/*" || x.typ == "application/*" {
			if slices.Contains(allowed, "json") {
				return "json"
			}
		}
		for _, name := range allowed {
			if name == "html" {
				// Only by ?format=html: a browser's Accept prefers
				// text/html, and the API answers it JSON as before.
				continue
			}
			f, _ := report.LookupFormat(name)
			if mt, _, err := mime.ParseMediaType(f.MediaType); err == nil && mt == x.typ {
				return name
			}
		}
	}
	return ""
}

// formatList is "json (application/json), sarif (application/sarif+json), …".
func formatList(names []string) string {
	var parts []string
	for _, n := range names {
		if f, ok := report.LookupFormat(n); ok {
			parts = append(parts, fmt.Sprintf("%s (%s)", n, f.MediaType))
		}
	}
	return strings.Join(parts, ", ")
}

// imageFormats are the formats of image reports: every registered one.
func imageFormats() []string { return report.Formats }

// writeReport answers an image report in the negotiated format.
func writeReport(w http.ResponseWriter, n negotiation, rep *report.Report) {
	body, ct, err := encodeReport(n, rep)
	writeEncoded(w, body, ct, err)
}

// encodeReport encodes an image report in the negotiated format, JSON as
// writeJSON does.
func encodeReport(n negotiation, rep *report.Report) ([]byte, string, error) {
	var b bytes.Buffer
	var err error
	switch {
	case n.format.Name == "json" && n.tmpl == nil:
		err = json.NewEncoder(&b).Encode(rep)
		return b.Bytes(), "application/json", err
	case n.tmpl != nil:
		err = n.tmpl.Execute(&b, rep)
	default:
		err = n.format.Write(&b, rep)
	}
	if err != nil {
		return nil, "", fmt.Errorf("writing the report as %s: %v", n.format.Name, err)
	}
	return b.Bytes(), n.format.MediaType, nil
}

// writeEncoded answers an encoded report, or err as a 500.
func writeEncoded(w http.ResponseWriter, body []byte, contentType string, err error) {
	if err != nil {
		writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
		return
	}
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// writeAppReport answers an app report in the negotiated format: json,
// sarif, openvex or template (appformat.Formats).
func writeAppReport(w http.ResponseWriter, n negotiation, rep *apps.AppReport) {
	body, ct, err := encodeAppReport(n, rep)
	writeEncoded(w, body, ct, err)
}

// encodeAppReport encodes an app report in the negotiated format.
func encodeAppReport(n negotiation, rep *apps.AppReport) ([]byte, string, error) {
	var b bytes.Buffer
	if n.format.Name == "json" {
		err := json.NewEncoder(&b).Encode(rep)
		return b.Bytes(), "application/json", err
	}
	if err := appformat.Write(&b, rep, n.format.Name, n.tmpl); err != nil {
		return nil, "", fmt.Errorf("writing the app report as %s: %v", n.format.Name, err)
	}
	return b.Bytes(), n.format.MediaType, nil
}
