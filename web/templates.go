package web

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/lapps/lapps/vuln"
)

// templates are the parsed pages: each page file parsed over the shared
// partials (partials.html) and a layout (layout.html for the console,
// standalone.html for the single-file reports).
type templates struct {
	pages map[string]*template.Template
}

// page is what every page template gets.
type page struct {
	Title  string
	Viewer *viewer
	// Standalone is set for the single-file reports: no navigation, no
	// forms, the style sheet inline.
	Standalone bool
	Generated  time.Time
	Data       any
}

// styleSheet is the console's style sheet, inlined by the single-file
// reports.
var styleSheet = func() string {
	b, err := fs.ReadFile(staticFS, "static/style.css")
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
	"short": shortDigest,
	"q":     url.QueryEscape,
	"p":     url.PathEscape,
	"imageURL": func(image string, index int) string {
		v := url.Values{"ref": {image}}
		if index > 0 {
			v.Set("scan", fmt.Sprint(index))
		}
		return "/image?" + v.Encode()
	},
	"vulnURL": func(id string) string { return "/vulns/" + url.PathEscape(id) },
	"appURL":  func(app string) string { return "/apps/" + url.PathEscape(app) },
	"clip":    clip,
	"join":    strings.Join,
	"exploit": exploitLabel,
	"add":     func(a, b int) int { return a + b },
	"style":   func() template.CSS { return template.CSS(styleSheet) }, // our own embedded file, never data
	// sub is p with other data, for the partials of an app report's
	// images.
	"sub": func(p *page, d any) *page {
		q := *p
		q.Data = d
		return &q
	},
	"count": func(m map[string]int, k string) int {
		return m[k]
	},
}

func parseTemplates() (*templates, error) {
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	base, err := template.New("").Funcs(funcs).ParseFS(templateFS, "templates/partials.html")
	if err != nil {
		return nil, fmt.Errorf("console templates: %w", err)
	}
	t := &templates{pages: map[string]*template.Template{}}
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

// execute writes page name (in its layout) to w.
func (t *templates) execute(w io.Writer, name string, p *page) error {
	pt, ok := t.pages[name]
	if !ok {
		return fmt.Errorf("no console template %q", name)
	}
	return pt.ExecuteTemplate(w, "layout", p)
}

// render writes a page, or an error page when it fails.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page) {
	if p.Generated.IsZero() {
		p.Generated = c.o.Now()
	}
	var buf bytes.Buffer
	if err := c.tmpl.execute(&buf, name, p); err != nil {
		c.o.Logger.Error("console: render", "page", name, "err", err)
		http.Error(w, "the page could not be rendered", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

type errorData struct {
	Status  int
	Message string
}

// error renders an error page; msg is shown to the viewer.
func (c *Console) error(w http.ResponseWriter, r *http.Request, v *viewer, status int, msg string) {
	c.render(w, r, status, "error", &page{Title: http.StatusText(status), Viewer: v, Data: errorData{Status: status, Message: msg}})
}

func shortDigest(d string) string {
	if alg, hex, ok := strings.Cut(d, ":"); ok && len(hex) > 12 {
		return alg + ":" + hex[:12]
	}
	return d
}

func clip(n int, s string) string {
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
