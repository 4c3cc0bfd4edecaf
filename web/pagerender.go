package web

import (
	"bytes"
	"net/http"

	"github.com/lapps/lapps/web/render"
)

// render writes a page, or an error page when it fails.
func (c *Console) render(w http.ResponseWriter, r *http.Request, status int, name string, p *render.Page) {
	if p.Generated.IsZero() {
		p.Generated = c.o.Now()
	}
	if v, ok := p.Viewer.(*viewer); ok && v == nil {
		p.Viewer = nil // no one signed in: an interface holding nil is not nil
	}
	var buf bytes.Buffer
	if err := c.tmpl.Execute(&buf, name, p); err != nil {
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
	c.render(w, r, status, "error", &render.Page{Title: http.StatusText(status), Viewer: v, Data: errorData{Status: status, Message: msg}})
}
