// Package harbor is Harbor's pluggable scanner adapter (API v1.2): the
// three operations Harbor calls on a scanner registered with
// http://HOST:6060/harbor (GET /api/v1/metadata, POST /api/v1/scan, GET
// /api/v1/scan/{scan_request_id}/report), over a Backend that queues and
// runs the scans (the server's job queue).
//
// A scan request names Harbor's registry (its URL and an Authorization
// header value, Basic or Bearer) and an artifact (repository and digest).
// The adapter turns it into an image reference HOST/REPOSITORY@DIGEST and
// credentials for HOST, and hands both to the Backend; it never decides
// insecure access (an http: URL is not a reason to skip TLS: the server's
// configuration decides per registry) nor which addresses may be reached
// (the server's registry guard, server.registries.allow).
package harbor

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/redact"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
)

// MIME types of the scanner adapter API v1.2.
const (
	MimeOCIManifest      = "application/vnd.oci.image.manifest.v1+json"
	MimeDockerManifest   = "application/vnd.docker.distribution.manifest.v2+json"
	MimeHarborVulnReport = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"
	MimeVulnReport       = "application/vnd.security.vulnerability.report; version=1.1"
	MimeRawReport        = "application/vnd.scanner.adapter.vuln.report.raw"
	MimeSBOMReport       = "application/vnd.security.sbom.report+json; version=1.0"
	MimeMetadata         = "application/vnd.scanner.adapter.metadata+json; version=1.1"
	MimeScanResponse     = "application/vnd.scanner.adapter.scan.response+json; version=1.0"
	MimeError            = "application/vnd.scanner.adapter.error+json; version=1.0"

	// SBOM media types (sbom_media_type, sbom_media_types).
	SBOMSPDX      = "application/spdx+json"
	SBOMCycloneDX = "application/vnd.cyclonedx+json"
)

// sbomFormats maps the SBOM media types Harbor asks for to the names of
// lapps' output formats (report.LookupFormat), looked up at request time:
// the formats live in their own packages, registered when linked in.
var sbomFormats = []struct{ mediaType, format string }{
	{SBOMSPDX, "spdx-json"},
	{SBOMCycloneDX, "cyclonedx"},
}

func sbomFormat(mediaType string) (string, bool) {
	for _, f := range sbomFormats {
		if f.mediaType == mediaType {
			return f.format, true
		}
	}
	return "", false
}

// Job states the Backend reports.
const (
	StateQueued    = "queued"
	StateRunning   = "running"
	StateSucceeded = "succeeded"
	StateFailed    = "failed"
)

// ErrNotFound is returned by Backend.Status for an unknown id.
var ErrNotFound = errors.New("no such scan request")

// Scan is a scan the adapter asks the Backend to queue.
type Scan struct {
	// Image is HOST/REPOSITORY@DIGEST (or :TAG without a digest).
	Image string
	// Credentials are those Harbor sent, for HOST only; none when Harbor
	// sent no authorization.
	Credentials map[string]image.Credential
	// Meta is opaque to the Backend: stored with the job and given back by
	// Status (the artifact as Harbor named it).
	Meta json.RawMessage
}

// Status is what the Backend knows of a queued scan.
type Status struct {
	State string
	// Meta is Scan.Meta.
	Meta json.RawMessage
	// Report is the scan's report once it succeeded.
	Report *report.Report
	// Code and Message say why it failed (the server's error code and a
	// message with credentials redacted).
	Code, Message string
}

// Backend queues and runs scans: the server's job queue.
type Backend interface {
	// Enqueue queues sc and returns its id, the scan request id Harbor
	// polls with. Errors wrap service.ErrBadRequest or image.ErrForbidden
	// where one applies.
	Enqueue(ctx context.Context, sc Scan) (string, error)
	// Status returns the state of scan id, or an error wrapping
	// ErrNotFound.
	Status(ctx context.Context, id string) (*Status, error)
	// VulnDBStatus reports the sources (for the metadata's database
	// update time).
	VulnDBStatus(ctx context.Context) ([]service.SourceStatus, error)
}

// Adapter serves the scanner adapter API over a Backend.
type Adapter struct {
	backend Backend
	scanner Scanner
	log     *slog.Logger
	// refreshAfter is the Refresh-After of a report not ready yet, in
	// seconds.
	refreshAfter int
	now          func() time.Time
}

// Option configures an Adapter.
type Option func(*Adapter)

// WithVersion sets the scanner version the metadata and reports show
// (default "dev").
func WithVersion(v string) Option {
	return func(a *Adapter) {
		if v != "" {
			a.scanner.Version = v
		}
	}
}

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option { return func(a *Adapter) { a.log = l } }

// WithRefreshAfter sets the Refresh-After of a report not ready yet
// (default 5 s; rounded up to whole seconds).
func WithRefreshAfter(d time.Duration) Option {
	return func(a *Adapter) {
		if d > 0 {
			a.refreshAfter = int((d + time.Second - 1) / time.Second)
		}
	}
}

// New returns an adapter over b.
func New(b Backend, opts ...Option) *Adapter {
	a := &Adapter{backend: b, scanner: Scanner{Name: "lapps", Vendor: "lapps", Version: "dev"},
		log: slog.Default(), refreshAfter: 5, now: time.Now}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Scanner is the spec's Scanner.
type Scanner struct {
	Name    string `json:"name"`
	Vendor  string `json:"vendor"`
	Version string `json:"version"`
}

// Capability is the spec's ScannerCapability.
type Capability struct {
	Type                 string         `json:"type"`
	ConsumesMimeTypes    []string       `json:"consumes_mime_types"`
	ProducesMimeTypes    []string       `json:"produces_mime_types"`
	AdditionalAttributes map[string]any `json:"additional_attributes,omitempty"`
}

// Metadata is the spec's ScannerAdapterMetadata.
type Metadata struct {
	Scanner      Scanner           `json:"scanner"`
	Capabilities []Capability      `json:"capabilities"`
	Properties   map[string]string `json:"properties"`
}

// Property keys of the metadata.
const (
	PropScannerType       = "harbor.scanner-adapter/scanner-type"
	PropDBUpdatedAt       = "harbor.scanner-adapter/vulnerability-database-updated-at"
	scannerTypeOSPackages = "os-package-vulnerability"
)

var consumed = []string{MimeOCIManifest, MimeDockerManifest}

// sbomMediaTypes are the SBOM media types whose format is registered.
func sbomMediaTypes() []string {
	var out []string
	for _, f := range sbomFormats {
		if _, ok := report.LookupFormat(f.format); ok {
			out = append(out, f.mediaType)
		}
	}
	return out
}

// Metadata serves GET /api/v1/metadata. The sbom capability is announced
// with the SBOM media types whose formats are linked in, and not at all
// when none is.
func (a *Adapter) Metadata(w http.ResponseWriter, r *http.Request) {
	md := Metadata{
		Scanner: a.scanner,
		Capabilities: []Capability{{
			Type: "vulnerability", ConsumesMimeTypes: consumed,
			ProducesMimeTypes: []string{MimeHarborVulnReport, MimeVulnReport, MimeRawReport},
		}},
		Properties: map[string]string{PropScannerType: scannerTypeOSPackages},
	}
	if types := sbomMediaTypes(); len(types) > 0 {
		md.Capabilities = append(md.Capabilities, Capability{
			Type: "sbom", ConsumesMimeTypes: consumed, ProducesMimeTypes: []string{MimeSBOMReport},
			AdditionalAttributes: map[string]any{"sbom_media_types": types},
		})
	}
	statuses, err := a.backend.VulnDBStatus(r.Context())
	if err != nil {
		a.fail(w, http.StatusInternalServerError, fmt.Sprintf("vulnerability database status: %v", err))
		return
	}
	var latest time.Time
	for _, s := range statuses {
		if s.UpdatedAt.After(latest) {
			latest = s.UpdatedAt
		}
	}
	if !latest.IsZero() {
		md.Properties[PropDBUpdatedAt] = latest.UTC().Format(time.RFC3339Nano)
	}
	writeJSON(w, MimeMetadata, http.StatusOK, md)
}

// ScanRequest is the spec's ScanRequest.
type ScanRequest struct {
	Registry            Registry            `json:"registry"`
	Artifact            Artifact            `json:"artifact"`
	EnabledCapabilities []EnabledCapability `json:"enabled_capabilities,omitempty"`
}

// Registry is the spec's Registry.
type Registry struct {
	URL           string `json:"url"`
	Authorization string `json:"authorization,omitempty"`
}

// Artifact is the spec's Artifact.
type Artifact struct {
	Repository string `json:"repository,omitempty"`
	Digest     string `json:"digest,omitempty"`
	Tag        string `json:"tag,omitempty"`
	MimeType   string `json:"mime_type,omitempty"`
}

// EnabledCapability is an item of ScanRequest.enabled_capabilities.
type EnabledCapability struct {
	Type              string   `json:"type"`
	ProducesMimeTypes []string `json:"produces_mime_types,omitempty"`
	Parameters        *struct {
		SBOMMediaTypes []string `json:"sbom_media_types,omitempty"`
	} `json:"parameters,omitempty"`
}

// ScanResponse is the spec's ScanResponse.
type ScanResponse struct {
	ID string `json:"id"`
}

// maxRequest bounds a scan request's body.
const maxRequest = 64 << 10

// requestError is a scan request Harbor should not send again as it is:
// 400 for JSON that does not decode, 422 for a field that is invalid.
type requestError struct {
	status int
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func invalid(format string, args ...any) error {
	return &requestError{http.StatusUnprocessableEntity, fmt.Sprintf(format, args...)}
}

// ParseScanRequest decodes and checks a scan request body (at most 64 KiB)
// and returns the scan to queue. Errors are *requestError.
func ParseScanRequest(body io.Reader) (Scan, error) {
	b, err := io.ReadAll(io.LimitReader(body, maxRequest+1))
	if err != nil {
		return Scan{}, &requestError{http.StatusBadRequest, fmt.Sprintf("scan request: %v", err)}
	}
	if len(b) > maxRequest {
		return Scan{}, &requestError{http.StatusBadRequest, fmt.Sprintf("scan request: larger than %d bytes", maxRequest)}
	}
	var req ScanRequest
	if err := json.Unmarshal(b, &req); err != nil {
		return Scan{}, &requestError{http.StatusBadRequest, fmt.Sprintf("scan request: %v", err)}
	}
	return req.scan()
}

func (req *ScanRequest) scan() (Scan, error) {
	host, err := registryHost(req.Registry.URL)
	if err != nil {
		return Scan{}, err
	}
	art := req.Artifact
	if art.Repository == "" {
		return Scan{}, invalid("artifact.repository is required")
	}
	if art.MimeType != "" {
		mt, _, err := mime.ParseMediaType(art.MimeType)
		if err != nil || (mt != MimeOCIManifest && mt != MimeDockerManifest) {
			return Scan{}, invalid("artifact.mime_type %q: this scanner reads %s", art.MimeType, strings.Join(consumed, " and "))
		}
	}
	var ref string
	switch {
	case art.Digest != "":
		d, err := name.NewDigest(host + "/" + art.Repository + "@" + art.Digest)
		if err != nil {
			return Scan{}, invalid("artifact %q@%q: %v", art.Repository, art.Digest, err)
		}
		ref = d.String()
	case art.Tag != "":
		t, err := name.NewTag(host + "/" + art.Repository + ":" + art.Tag)
		if err != nil {
			return Scan{}, invalid("artifact %q:%q: %v", art.Repository, art.Tag, err)
		}
		ref = t.String()
	default:
		return Scan{}, invalid("artifact.digest (or artifact.tag) is required")
	}
	for _, c := range req.EnabledCapabilities {
		switch c.Type {
		case "vulnerability":
		case "sbom":
			if c.Parameters != nil {
				for _, mt := range c.Parameters.SBOMMediaTypes {
					if _, ok := sbomFormat(mt); !ok {
						return Scan{}, invalid("enabled_capabilities: sbom media type %q: want %s or %s", mt, SBOMSPDX, SBOMCycloneDX)
					}
				}
			}
		default:
			return Scan{}, invalid("enabled_capabilities: capability type %q: want vulnerability or sbom", c.Type)
		}
	}
	cred, err := ParseAuthorization(req.Registry.Authorization)
	if err != nil {
		return Scan{}, err
	}
	sc := Scan{Image: ref}
	if cred != nil {
		sc.Credentials = map[string]image.Credential{host: *cred}
	}
	sc.Meta, _ = json.Marshal(art)
	return sc, nil
}

// registryHost returns host[:port] of Harbor's registry URL. Its scheme
// is not a choice of insecure access: http: and https: are taken alike,
// and the server's configuration decides per registry.
func registryHost(raw string) (string, error) {
	if raw == "" {
		return "", invalid("registry.url is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", invalid("registry.url %q: %v", redact.Text(raw), err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", invalid("registry.url %q: want an http or https URL", redact.Text(raw))
	}
	if u.User != nil {
		return "", invalid("registry.url: credentials go in registry.authorization, not in the URL")
	}
	if u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return "", invalid("registry.url %q: want the registry's base URL (scheme://host[:port])", raw)
	}
	if _, err := name.NewRegistry(u.Host); err != nil {
		return "", invalid("registry.url %q: %v", raw, err)
	}
	return u.Host, nil
}

// ParseAuthorization reads the registry authorization Harbor sends:
// "Basic BASE64(user:password)" or "Bearer TOKEN" (empty: anonymous, nil).
// The secret never appears in its errors.
func ParseAuthorization(v string) (*image.Credential, error) {
	if v == "" {
		return nil, nil
	}
	scheme, rest, _ := strings.Cut(v, " ")
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "basic":
		b, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return nil, invalid("registry.authorization: Basic credentials that are not base64")
		}
		user, pass, ok := strings.Cut(string(b), ":")
		if !ok || user == "" {
			return nil, invalid("registry.authorization: Basic credentials without user:password")
		}
		return &image.Credential{Username: user, Password: pass}, nil
	case "bearer":
		if rest == "" || strings.ContainsAny(rest, " \t\r\n") {
			return nil, invalid("registry.authorization: an empty or malformed Bearer token")
		}
		return &image.Credential{Token: rest}, nil
	}
	return nil, invalid("registry.authorization: want Basic or Bearer")
}

// AcceptScan serves POST /api/v1/scan: it queues the scan and answers
// 202 with its id.
func (a *Adapter) AcceptScan(w http.ResponseWriter, r *http.Request) {
	sc, err := ParseScanRequest(r.Body)
	var re *requestError
	if errors.As(err, &re) {
		a.fail(w, re.status, re.msg)
		return
	}
	id, err := a.backend.Enqueue(r.Context(), sc)
	switch {
	case errors.Is(err, image.ErrForbidden):
		a.fail(w, http.StatusForbidden, redact.Text(err.Error()))
		return
	case errors.Is(err, service.ErrBadRequest), errors.Is(err, image.ErrInvalidReference):
		a.fail(w, http.StatusUnprocessableEntity, redact.Text(err.Error()))
		return
	case err != nil:
		a.log.Error("harbor: queue scan", "image", sc.Image, "err", err)
		a.fail(w, http.StatusInternalServerError, "queue the scan: "+redact.Text(err.Error()))
		return
	}
	a.log.Info("harbor: scan queued", "id", id, "image", sc.Image, "with_credentials", len(sc.Credentials) > 0)
	writeJSON(w, MimeScanResponse, http.StatusAccepted, ScanResponse{ID: id})
}

// Report serves GET /api/v1/scan/{scan_request_id}/report: 302 with
// Refresh-After while the scan runs, the report in the type Accept asks
// for once it succeeded, 500 with the reason once it failed.
func (a *Adapter) Report(w http.ResponseWriter, r *http.Request, id string) {
	want, ok := accepted(r.Header.Get("Accept"))
	if !ok {
		a.fail(w, http.StatusNotImplemented, fmt.Sprintf("Accept %q: this scanner produces %s, %s, %s and %s",
			r.Header.Get("Accept"), MimeHarborVulnReport, MimeVulnReport, MimeRawReport, MimeSBOMReport))
		return
	}
	var sbomType, sbomName string
	if want == MimeSBOMReport {
		// A "+" sent unescaped reads as a space; media types hold none.
		sbomType = strings.ReplaceAll(r.URL.Query().Get("sbom_media_type"), " ", "+")
		name, known := sbomFormat(sbomType)
		if !known {
			a.fail(w, http.StatusBadRequest, fmt.Sprintf("sbom_media_type %q: want %s or %s", sbomType, SBOMSPDX, SBOMCycloneDX))
			return
		}
		if _, ok := report.LookupFormat(name); !ok {
			a.fail(w, http.StatusNotImplemented, fmt.Sprintf("sbom_media_type %s: this build of lapps has no %s output format", sbomType, name))
			return
		}
		sbomName = name
	}
	st, err := a.backend.Status(r.Context(), id)
	if errors.Is(err, ErrNotFound) {
		a.fail(w, http.StatusNotFound, fmt.Sprintf("no scan request %q (finished scans are kept for server.gc.job_ttl, 24h by default)", id))
		return
	}
	if err != nil {
		a.log.Error("harbor: scan status", "id", id, "err", err)
		a.fail(w, http.StatusInternalServerError, "scan status: "+redact.Text(err.Error()))
		return
	}
	switch st.State {
	case StateFailed:
		msg := st.Message
		if st.Code != "" {
			msg = st.Code + ": " + msg
		}
		if st.Code == "registry_denied" {
			msg += " (the registry refused the registry.authorization of Harbor's scan request)"
		}
		a.fail(w, http.StatusInternalServerError, "the scan failed: "+redact.Text(msg))
		return
	case StateSucceeded:
	default:
		w.Header().Set("Refresh-After", strconv.Itoa(a.refreshAfter))
		w.WriteHeader(http.StatusFound)
		return
	}
	if st.Report == nil {
		a.fail(w, http.StatusInternalServerError, "the scan's report is no longer kept: "+st.Message)
		return
	}
	var art Artifact
	_ = json.Unmarshal(st.Meta, &art)
	switch want {
	case MimeRawReport:
		w.Header().Set("Content-Type", MimeRawReport)
		w.WriteHeader(http.StatusOK)
		_ = report.WriteJSON(w, st.Report)
	case MimeSBOMReport:
		doc, err := a.sbom(st.Report, art, sbomType, sbomName)
		if err != nil {
			a.log.Error("harbor: sbom", "id", id, "err", err)
			a.fail(w, http.StatusInternalServerError, err.Error())
			return
		}
		writeJSON(w, MimeSBOMReport, http.StatusOK, doc)
	default:
		writeJSON(w, want, http.StatusOK, ToVulnerabilityReport(st.Report, art, a.scanner))
	}
}

// accepted picks the report type of an Accept header: the first of its
// types this scanner produces, compared by type and version parameter.
// No Accept (or */*) is Harbor's own vulnerability report.
func accepted(accept string) (string, bool) {
	if strings.TrimSpace(accept) == "" {
		return MimeHarborVulnReport, true
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		if mt == "*/*" || mt == "application/*" {
			return MimeHarborVulnReport, true
		}
		for _, p := range []string{MimeHarborVulnReport, MimeVulnReport, MimeRawReport, MimeSBOMReport} {
			pt, pp, _ := mime.ParseMediaType(p)
			if pt == mt && (pp["version"] == "" || params["version"] == "" || pp["version"] == params["version"]) {
				return p, true
			}
		}
	}
	return "", false
}

// ErrorResponse is the spec's ErrorResponse.
type ErrorResponse struct {
	Error struct {
		Message string `json:"message"`
	} `json:"error"`
}

func (a *Adapter) fail(w http.ResponseWriter, status int, msg string) {
	var e ErrorResponse
	e.Error.Message = msg
	writeJSON(w, MimeError, status, e)
}

func writeJSON(w http.ResponseWriter, contentType string, status int, v any) {
	w.Header().Set("Content-Type", contentType)
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
