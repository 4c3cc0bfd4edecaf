package client

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strconv"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/apps"
)

// The app commands over /v1/apps. Deployments and app scans are decided by
// the server under the policy of its configuration: the request's Policy
// is not sent (a client cannot loosen the gate), nor are registry
// credentials (they are the server's).

func appPath(name string, rest ...string) string {
	p := "/v1/apps/" + url.PathEscape(name)
	for _, r := range rest {
		p += "/" + r
	}
	return p
}

func absRefs(images []string) []string {
	var out []string
	for _, im := range images {
		out = append(out, absRef(im))
	}
	return out
}

// CreateApp creates an app (POST /v1/apps).
func (c *Client) CreateApp(ctx context.Context, name string, images []string) (*apps.App, error) {
	var out apps.App
	if err := c.postJSON(ctx, "/v1/apps", api.AppBody{Name: name, Images: absRefs(images)}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ImportApp creates or updates an app from Kubernetes manifests (POST
// /v1/apps/import).
func (c *Client) ImportApp(ctx context.Context, name string, manifests []byte) (*apps.App, error) {
	var q url.Values
	if name != "" {
		q = url.Values{"name": {name}}
	}
	var out apps.App
	if err := c.do(ctx, http.MethodPost, "/v1/apps/import", q, bytes.NewReader(manifests), "application/yaml", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Deploy asks the server to decide a deployment (POST
// /v1/apps/{app}/deployments) under its own policy; req.Policy is ignored,
// and so are req.InsecureRegistries (the server's configuration decides
// insecure access) and req.Credentials. A refusal is a Deployment with
// Accepted false, as in-process.
func (c *Client) Deploy(ctx context.Context, req apps.DeployRequest) (*apps.Deployment, error) {
	var out apps.Deployment
	body := api.DeployBody{Env: req.Env, Images: absRefs(req.Images), Platform: req.Platform}
	if err := c.postJSON(ctx, appPath(req.App, "deployments"), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListApps lists the apps (GET /v1/apps).
func (c *Client) ListApps(ctx context.Context) ([]apps.App, error) {
	var out []apps.App
	err := c.do(ctx, http.MethodGet, "/v1/apps", nil, nil, "", &out)
	return out, err
}

// RemoveApp removes an app (DELETE /v1/apps/{app}).
func (c *Client) RemoveApp(ctx context.Context, name string) error {
	return c.do(ctx, http.MethodDelete, appPath(name), nil, nil, "", nil)
}

// AppHistory returns the deployment attempts of an app (GET
// /v1/apps/{app}/deployments).
func (c *Client) AppHistory(ctx context.Context, name string) ([]apps.Deployment, error) {
	var out []apps.Deployment
	err := c.do(ctx, http.MethodGet, appPath(name, "deployments"), nil, nil, "", &out)
	return out, err
}

// ScanApp asks the server for an app scan (POST /v1/apps/{app}/scans)
// under its own policy; req.Policy and req.InsecureRegistries are
// ignored, as for Deploy.
func (c *Client) ScanApp(ctx context.Context, req apps.AppScanRequest) (*apps.AppReport, error) {
	var out apps.AppReport
	body := api.AppScanBody{Platform: req.Platform}
	if err := c.postJSON(ctx, appPath(req.App, "scans"), body, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ListAppScans lists the app scans of an app (GET /v1/apps/{app}/scans).
func (c *Client) ListAppScans(ctx context.Context, name string) ([]apps.AppScanSummary, error) {
	var out []apps.AppScanSummary
	err := c.do(ctx, http.MethodGet, appPath(name, "scans"), nil, nil, "", &out)
	return out, err
}

// AppReport returns app scan index, the latest when 0 (GET
// /v1/apps/{app}/scans/{n}).
func (c *Client) AppReport(ctx context.Context, name string, index int) (*apps.AppReport, error) {
	var out apps.AppReport
	if err := c.do(ctx, http.MethodGet, appPath(name, "scans", strconv.Itoa(index)), nil, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

var _ apps.Service = (*Client)(nil)
