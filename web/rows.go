package web

import (
	"net/url"
)

// imageRowView is an image's latest scan as the image tables show it.
type imageRowView struct {
	Image, URL, Scanned                string
	Index, Critical, High, Medium, Low int
	Total                              int
}

func imageRows(rows []imageRow) []imageRowView {
	out := make([]imageRowView, len(rows))
	for i, r := range rows {
		v := r.Vulnerabilities
		out[i] = imageRowView{Image: r.Image, URL: "/image?ref=" + url.QueryEscape(r.Image), Scanned: r.ScannedAt.UTC().Format("2006-01-02 15:04Z"),
			Index: r.Index, Critical: v["critical"], High: v["high"], Medium: v["medium"], Low: v["low"], Total: r.Total}
	}
	return out
}
