// Package client implements the service interface over lapps' HTTP API,
// so that the commands work the same against `lapps serve` as in-process.
package client

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
)

// ErrUnauthorized is returned (wrapped) when the server refuses the token.
var ErrUnauthorized = errors.New("the server refused the token")

// ErrForbidden is matched by the errors of requests the server forbids
// (code forbidden, HTTP 403): a token without the scope the request
// needs, a local image outside the server's local_images, a registry at
// an internal address the server does not allow. Such an error also
// matches ErrUnauthorized and image.ErrForbidden, so that the command
// line exits 4 (access denied) as for a refused token: the request is
// well formed (not a usage error, 2) but this caller may not have it
// done on this server.
var ErrForbidden = errors.New("forbidden by the server")

// Client talks to a lapps server.
type Client struct {
	base  *url.URL
	token string
	http  *http.Client
	poll  time.Duration
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client (TLS settings, timeouts).
func WithHTTPClient(h *http.Client) Option { return func(c *Client) { c.http = h } }

// WithPollInterval sets how often job state is polled.
func WithPollInterval(d time.Duration) Option { return func(c *Client) { c.poll = d } }

// New returns a client of the server at base ("http://127.0.0.1:6060"),
// authenticating with token when it is not empty.
func New(base, token string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimSuffix(base, "/"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("server URL %q: want http(s)://host:port: %w", base, service.ErrBadRequest)
	}
	c := &Client{base: u, token: token, http: &http.Client{Timeout: 10 * time.Minute}, poll: 200 * time.Millisecond}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

var _ service.Service = (*Client)(nil)

// Close does nothing: the client holds no resources.
func (c *Client) Close() error { return nil }

// apiError turns an error response into an error that matches the same
// sentinels as the in-process service (errors.Is), so that exit codes are
// the same in both modes.
func apiError(e api.Error, status int) error {
	var sentinel error
	switch e.Code {
	case api.CodeNotFound:
		sentinel = service.ErrNotFound
	case api.CodeImageNotFound:
		sentinel = image.ErrNotFound
	case api.CodeRegistryDenied:
		sentinel = image.ErrUnauthorized
	case api.CodeInvalidReference:
		sentinel = image.ErrInvalidReference
	case api.CodeBadImage:
		sentinel = image.ErrCorrupt
	case api.CodeBadRequest, api.CodeConflict:
		// Conflict: in-process, an existing app is a bad request too.
		sentinel = service.ErrBadRequest
	case api.CodeCanceled:
		sentinel = context.Canceled
	case api.CodeLimitExceeded:
		sentinel = limits.ErrExceeded
	case api.CodeForbidden:
		return &remoteError{msg: e.Message, sentinel: ErrForbidden, also: []error{ErrUnauthorized, image.ErrForbidden}, status: status}
	case api.CodeUnauthorized:
		return fmt.Errorf("%w (set LAPPS_TOKEN): %s", ErrUnauthorized, e.Message)
	}
	if sentinel == nil {
		if status == 0 {
			// A job's error: no HTTP status to speak of.
			return fmt.Errorf("server: %s", e.Message)
		}
		return fmt.Errorf("server: %s (HTTP %d)", e.Message, status)
	}
	return &remoteError{msg: e.Message, sentinel: sentinel, status: status}
}

type remoteError struct {
	msg      string
	sentinel error
	also     []error
	// status is the HTTP status of the answer (0 for a job's error).
	status int
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Is(target error) bool {
	return target == e.sentinel || slices.Contains(e.also, target)
}

func (c *Client) do(ctx context.Context, method, path string, query url.Values, body io.Reader, contentType string, out any) error {
	u := *c.base
	// path is escaped (an app name may hold "/" or "%"): keep it as sent.
	unescaped, err := url.PathUnescape(path)
	if err != nil {
		return fmt.Errorf("path %q: %w", path, err)
	}
	u.RawPath = u.EscapedPath() + path
	u.Path += unescaped
	u.RawQuery = query.Encode()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("server %s: %w", c.base.Host, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("server %s: %w", c.base.Host, err)
	}
	if resp.StatusCode >= 300 {
		var eb struct {
			Error api.Error `json:"error"`
		}
		if json.Unmarshal(data, &eb) == nil && eb.Error.Code != "" {
			return apiError(eb.Error, resp.StatusCode)
		}
		return fmt.Errorf("server %s: HTTP %d: %s", c.base.Host, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if out != nil {
		if err := json.Unmarshal(data, out); err != nil {
			return fmt.Errorf("server %s: response: %w", c.base.Host, err)
		}
	}
	return nil
}

func (c *Client) postJSON(ctx context.Context, path string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return c.do(ctx, http.MethodPost, path, nil, bytes.NewReader(b), "application/json", out)
}

// ScanImage starts a scan job and waits for it, reporting its progress.
// req.Insecure is not sent: the server's configuration decides insecure
// access per registry.
func (c *Client) ScanImage(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
	if len(req.Credentials) > 0 {
		return nil, fmt.Errorf("registry credentials are configured on the server, not sent by the client: %w", service.ErrBadRequest)
	}
	if image.IsSBOM(req.Image) {
		return c.scanSBOM(ctx, req)
	}
	var job api.Job
	if err := c.postJSON(ctx, "/v1/scans", api.ScanBody{Image: absRef(req.Image), Platform: req.Platform}, &job); err != nil {
		return nil, err
	}
	t := time.NewTicker(c.poll)
	defer t.Stop()
	for {
		if job.Progress != nil && req.Progress != nil {
			jp := job.Progress
			req.Progress(service.Progress{Stage: jp.Stage, Layers: jp.Layers, Read: jp.BytesRead, Total: jp.BytesTotal,
				Whole: true, LayersDone: jp.LayersDone, LayersCached: jp.LayersCached})
		}
		switch job.State {
		case api.JobSucceeded:
			if job.Result == nil && job.Error != nil {
				return nil, apiError(*job.Error, 0) // its scan is no longer kept
			}
			if job.Result == nil {
				return nil, errors.New("server: job succeeded without a report")
			}
			return job.Result, nil
		case api.JobFailed:
			if job.Error == nil {
				return nil, errors.New("server: job failed")
			}
			return nil, apiError(*job.Error, 0)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
		if err := c.do(ctx, http.MethodGet, "/v1/jobs/"+job.ID, nil, nil, "", &job); err != nil {
			return nil, err
		}
	}
}

// ListScans lists the scans of an image.
func (c *Client) ListScans(ctx context.Context, img string) ([]service.ScanSummary, error) {
	var out []service.ScanSummary
	err := c.do(ctx, http.MethodGet, "/v1/scans", url.Values{"image": {absRef(img)}}, nil, "", &out)
	return out, err
}

// Report returns one scan's report.
func (c *Client) Report(ctx context.Context, img string, index int) (*report.Report, error) {
	var out report.Report
	err := c.do(ctx, http.MethodGet, "/v1/report", url.Values{"image": {absRef(img)}, "index": {strconv.Itoa(index)}}, nil, "", &out)
	if err != nil {
		return nil, err
	}
	return &out, nil
}

// ManifestReport returns the live report of a manifest.
func (c *Client) ManifestReport(ctx context.Context, digest string) (*report.Report, error) {
	var out report.Report
	if err := c.do(ctx, http.MethodGet, "/v1/manifests/"+url.PathEscape(digest)+"/report", nil, nil, "", &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// UpdateVulnDB runs sources on the server.
func (c *Client) UpdateVulnDB(ctx context.Context, names []string) ([]service.SourceResult, error) {
	var out []service.SourceResult
	err := c.postJSON(ctx, "/v1/sources/update", api.UpdateBody{Sources: names}, &out)
	return out, err
}

// VulnDBStatus returns the server's sources.
func (c *Client) VulnDBStatus(ctx context.Context) ([]service.SourceStatus, error) {
	var out []service.SourceStatus
	err := c.do(ctx, http.MethodGet, "/v1/sources", nil, nil, "", &out)
	return out, err
}

// ImportVulnDB uploads a local file, or a directory as a zip, to the
// server and imports it there.
func (c *Client) ImportVulnDB(ctx context.Context, typ, path, name string, replace bool) (*service.SourceResult, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	var body io.Reader
	filename := filepath.Base(path)
	if fi.IsDir() {
		var buf bytes.Buffer
		if err := zipDir(&buf, path); err != nil {
			return nil, fmt.Errorf("zip %s: %w", path, err)
		}
		body, filename = &buf, filename+".zip"
	} else {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		body = f
	}
	// The source is named, and its origin recorded, after the path given
	// here, not the server's copy of it.
	origin := path
	if abs, err := filepath.Abs(path); err == nil {
		origin = abs
	}
	if name == "" {
		name = service.ImportName(typ, origin)
	}
	var out service.SourceResult
	q := url.Values{"type": {typ}, "name": {name}, "filename": {filename}, "origin": {origin}}
	if replace {
		q.Set("replace", "true")
	}
	if err := c.do(ctx, http.MethodPost, "/v1/sources/import", q, body, "application/octet-stream", &out); err != nil {
		var re *remoteError
		if errors.As(err, &re) && re.status == http.StatusUnprocessableEntity {
			// The import ran and failed, as in-process: a result with
			// its error (a refused request has none).
			return &service.SourceResult{Source: name, Type: typ, Error: err.Error()}, err
		}
		return nil, err
	}
	return &out, nil
}

func zipDir(w io.Writer, dir string) error {
	zw := zip.NewWriter(w)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		f, err := zw.Create(filepath.ToSlash(rel))
		if err != nil {
			return err
		}
		src, err := os.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(f, src)
		return err
	})
	if err != nil {
		return err
	}
	return zw.Close()
}

// absRef names ref as the in-process service does (image.NormalizeName:
// transport paths made absolute on the client's side, registry references
// normalised), so that the server numbers scans under the same name. A
// reference that does not parse is sent as it is, for the server to refuse.
func absRef(ref string) string {
	if name, err := image.NormalizeName(ref); err == nil {
		return name
	}
	return ref
}
