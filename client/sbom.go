package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
)

// scanSBOM uploads the SBOM file of ref ("sbom:FILE", read here, on the
// client) to the server, which scans it and records it under
// "sbom:/ABSOLUTE/PATH" as the client names the file: a server never
// reads a path its caller names, except under its own local_images.
func (c *Client) scanSBOM(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
	name, f, err := image.OpenSBOM(req.Image)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if req.Progress != nil {
		req.Progress(service.Progress{Stage: service.StageMatch, Layers: 1})
	}
	var r report.Report
	if err := c.do(ctx, http.MethodPost, "/v1/sboms/scans", url.Values{"name": {name}}, f, "application/json", &r); err != nil {
		return nil, err
	}
	return &r, nil
}
