// Package render is the look of lapps' web pages: the templates, the
// style sheet and the view helpers (findings filter and sort, scan diff,
// inline SVG charts) that the console (package web) and the single-file
// `-o html` reports share, so that a report looks like the console's
// image page. It needs no service: report/html imports it.
package render

import (
	"embed"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/lapps/lapps/vuln"
)

// Viewer is who looks at a console page: what the templates ask of it.
type Viewer interface {
	// Can reports whether the viewer may do what needs scope.
	Can(scope string) bool
	// CSRF is the token of the viewer's forms.
	CSRF() string
}

//go:embed templates/*.html
var templateFS embed.FS

// StaticFS holds the console's static files (static/style.css).
//
//go:embed static
var StaticFS embed.FS

// Templates are the parsed pages: each page file parsed over the shared
// partials (partials.html) and a layout (layout.html for the console,
// standalone.html for the single-file reports).
type Templates struct {
	pages map[string]*template.Template
}

// Page is what every page template gets.
type Page struct {
	Title string
	// Viewer is who looks (nil in the single-file reports).
	Viewer Viewer
	// Standalone is set for the single-file reports: no navigation, no
	// forms, the style sheet inline.
	Standalone bool
	Generated  time.Time
	Data       any
}

// styleSheet is the console's style sheet, inlined by the single-file
// reports.
var styleSheet = func() string {
	b, err := fs.ReadFile(StaticFS, "static/style.css")
	if err != nil {
		panic(err) // embedded at build time
	}
	return string(b)
}()

var funcs = template.FuncMap{
	"sevclass": func(s any) string { return "sev-" + fmt.Sprint(s) },
	"severities": func() []string {
		return []string{"critical", "high", "medium", "low", "negligible", "unknown"}
	},
	"date": func(t time.Time) string {
		if t.IsZero() {
			return "never"
		}
		return t.UTC().Format("2006-01-02 15:04Z")
	},
	"day": func(t time.Time) string {
		if t.IsZero() {
			return "—"
		}
		return t.UTC().Format("2006-01-02")
	},
	"short": ShortDigest,
	"imageURL": func(image string, index int) string {
		v := url.Values{"ref": {image}}
		if index > 0 {
			v.Set("scan", fmt.Sprint(index))
		}
		return "/image?" + v.Encode()
	},
	"vulnURL": func(id string) string { return "/vulns/" + url.PathEscape(id) },
	"appURL":  func(app string) string { return "/apps/" + url.PathEscape(app) },
	"clip":    Clip,
	"join":    strings.Join,
	"exploit": exploitLabel,
	"add":     func(a, b int) int { return a + b },
	"style":   func() template.CSS { return template.CSS(styleSheet) }, // our own embedded file, never data
	// sub is p with other data, for the partials of an app report's
	// images.
	"sub": func(p *Page, d any) *Page {
		q := *p
		q.Data = d
		return &q
	},
	"count": func(m map[string]int, k string) int {
		return m[k]
	},
}

// ParseTemplates parses every page over the partials, in both layouts.
func ParseTemplates() (*Templates, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	t := &Templates{pages: map[string]*template.Template{}}
	for _, n := range names {
		name := strings.TrimSuffix(path.Base(n), ".html")
		if name == "partials" || name == "layout" || name == "standalone" {
			continue
		}
		for _, layout := range []string{"layout", "standalone"} {
			pt, err := base.Clone()
			if err != nil {
				return nil, err
			}
			if _, err := pt.ParseFS(templateFS, "templates/"+layout+".html", n); err != nil {
				return nil, fmt.Errorf("console template %s: %w", name, err)
			}
			key := name
			if layout == "standalone" {
				key = "standalone/" + name
			}
			t.pages[key] = pt
		}
	}
	return t, nil
}

// Execute writes page name (in its layout) to w.
func (t *Templates) Execute(w io.Writer, name string, p *Page) error {
	pt, ok := t.pages[name]
	if !ok {
		return fmt.Errorf("no console template %q", name)
	}
	return pt.ExecuteTemplate(w, "layout", p)
}

// ShortDigest abbreviates a digest to 12 hex digits.
func ShortDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

// Clip folds the white space of s and cuts it to n runes, with an ellipsis.
func Clip(n int, s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// exploitLabel says what is known of a finding's exploitation.
func exploitLabel(f *vuln.Finding) string {
	var parts []string
	if k := f.KnownExploited; k != nil {
		if k.RansomwareUse {
			parts = append(parts, "KEV, ransomware")
		} else {
			parts = append(parts, "KEV")
		}
	}
	if e := f.EPSS; e != nil {
		parts = append(parts, fmt.Sprintf("EPSS p%d", int(e.Percentile*100)))
	}
	return strings.Join(parts, " · ")
}
