package client

import (
	"context"
	"fmt"

	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/service"
)

// errAppsRemote is what the app commands return over --server: the server
// has no /v1/apps endpoints yet.
func errAppsRemote(op string) error {
	return fmt.Errorf("%s is not available over --server yet (run it without --server, on the database): %w", op, service.ErrBadRequest)
}

// CreateApp is not available over HTTP yet.
func (c *Client) CreateApp(context.Context, string, []string) (*apps.App, error) {
	return nil, errAppsRemote("app create")
}

// ImportApp is not available over HTTP yet.
func (c *Client) ImportApp(context.Context, string, []byte) (*apps.App, error) {
	return nil, errAppsRemote("app import")
}

// Deploy is not available over HTTP yet.
func (c *Client) Deploy(context.Context, apps.DeployRequest) (*apps.Deployment, error) {
	return nil, errAppsRemote("app deploy")
}

// ListApps is not available over HTTP yet.
func (c *Client) ListApps(context.Context) ([]apps.App, error) {
	return nil, errAppsRemote("app list")
}

// RemoveApp is not available over HTTP yet.
func (c *Client) RemoveApp(context.Context, string) error {
	return errAppsRemote("app remove")
}

// AppHistory is not available over HTTP yet.
func (c *Client) AppHistory(context.Context, string) ([]apps.Deployment, error) {
	return nil, errAppsRemote("app history")
}

// ScanApp is not available over HTTP yet.
func (c *Client) ScanApp(context.Context, apps.AppScanRequest) (*apps.AppReport, error) {
	return nil, errAppsRemote("app security scan")
}

// ListAppScans is not available over HTTP yet.
func (c *Client) ListAppScans(context.Context, string) ([]apps.AppScanSummary, error) {
	return nil, errAppsRemote("app security list")
}

// AppReport is not available over HTTP yet.
func (c *Client) AppReport(context.Context, string, int) (*apps.AppReport, error) {
	return nil, errAppsRemote("app security report")
}

var _ apps.Service = (*Client)(nil)
