package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/jobs/jobstest"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
)

// TestOpenAPIMatchesRoutes: every route is documented and every documented
// operation is served.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(openAPI, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi version %q", doc.OpenAPI)
	}
	documented := map[string]bool{}
	for p, ops := range doc.Paths {
		for m := range ops {
			documented[strings.ToUpper(m)+" "+p] = true
		}
	}
	served := map[string]bool{}
	for _, r := range routes {
		served[r.method+" "+r.path] = true
	}
	var missing []string
	for k := range served {
		if !documented[k] {
			missing = append(missing, "undocumented: "+k)
		}
	}
	for k := range documented {
		if !served[k] {
			missing = append(missing, "not served: "+k)
		}
	}
	// Each operation names the scope its route needs.
	for _, r := range routes {
		raw, ok := doc.Paths[r.path][strings.ToLower(r.method)]
		if !ok {
			continue
		}
		var op struct {
			Scope string `json:"x-lapps-scope"`
		}
		if err := json.Unmarshal(raw, &op); err != nil {
			t.Fatal(err)
		}
		if op.Scope != r.scope {
			missing = append(missing, fmt.Sprintf("%s %s: documented scope %q, served %q", r.method, r.path, op.Scope, r.scope))
		}
	}
	// The error codes documented are those the server answers with.
	var schemas struct {
		Components struct {
			Schemas struct {
				Error struct {
					Properties struct {
						Error struct {
							Properties struct {
								Code struct {
									Enum []string `json:"enum"`
								} `json:"code"`
							} `json:"properties"`
						} `json:"error"`
					} `json:"properties"`
				} `json:"Error"`
			} `json:"schemas"`
		} `json:"components"`
	}
	if err := json.Unmarshal(openAPI, &schemas); err != nil {
		t.Fatal(err)
	}
	codes := []string{CodeBadRequest, CodeUnauthorized, CodeForbidden, CodeNotFound, CodeImageNotFound, CodeRegistryDenied,
		CodeInvalidReference, CodeBadImage, CodeLimitExceeded, CodeConflict, CodeCanceled, CodeInternal}
	if got := schemas.Components.Schemas.Error.Properties.Error.Properties.Code.Enum; !slices.Equal(got, codes) {
		missing = append(missing, fmt.Sprintf("error codes documented %q, served %q", got, codes))
	}
	sort.Strings(missing)
	if len(missing) > 0 {
		t.Error(strings.Join(missing, "\n"))
	}
	// And each documented operation answers with something other than
	// the catch-all 404.
	srv := newServer(t, fakeService{}, jobstest.Queue(t))
	defer srv.Close()
	for _, r := range routes {
		path := strings.ReplaceAll(strings.ReplaceAll(r.path, "{id}", "nope"), "{digest}", "sha256:00")
		path = strings.ReplaceAll(strings.ReplaceAll(path, "{app}", "a"), "{n}", "1")
		req := httptest.NewRequest(r.method, path, strings.NewReader("{}"))
		w := httptest.NewRecorder()
		srv.Handler().ServeHTTP(w, req)
		if strings.Contains(w.Body.String(), "no such endpoint") {
			t.Errorf("%s %s is not routed", r.method, r.path)
		}
	}
}

type fakeService struct {
	scan func(ctx context.Context, req service.ScanRequest) (*report.Report, error)
	// recorded, if set, answers Report for recorded scans (index > 0).
	recorded func(image string, index int) (*report.Report, error)
}

func (f fakeService) ScanImage(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
	if f.scan != nil {
		return f.scan(ctx, req)
	}
	return nil, fmt.Errorf("%s: %w", req.Image, image.ErrNotFound)
}
func (fakeService) ListScans(context.Context, string) ([]service.ScanSummary, error) {
	return nil, fmt.Errorf("no scans: %w", service.ErrNotFound)
}
func (f fakeService) Report(_ context.Context, image string, index int) (*report.Report, error) {
	if f.recorded != nil && index > 0 {
		return f.recorded(image, index)
	}
	return nil, fmt.Errorf("no scans: %w", service.ErrNotFound)
}
func (fakeService) ManifestReport(context.Context, string) (*report.Report, error) {
	return nil, fmt.Errorf("not indexed: %w", service.ErrNotFound)
}
func (fakeService) UpdateVulnDB(context.Context, []string) ([]service.SourceResult, error) {
	return nil, fmt.Errorf("no source named x: %w", service.ErrBadRequest)
}
func (fakeService) VulnDBStatus(context.Context) ([]service.SourceStatus, error) { return nil, nil }
func (fakeService) ImportVulnDB(context.Context, string, string, string, bool) (*service.SourceResult, error) {
	return nil, fmt.Errorf("bad feed: %w", service.ErrBadRequest)
}
func (fakeService) Close() error { return nil }

// tokens are bearer tokens and their scopes.
type tokens map[string][]string

func (t tokens) CheckToken(_ context.Context, tok string) ([]string, bool, error) {
	sc, ok := t[tok]
	return sc, ok, nil
}

func TestErrorsAndAuth(t *testing.T) {
	srv := newServer(t, fakeService{}, jobstest.Queue(t), WithTokens(tokens{"good": {ScopeAdmin}}))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	cases := []struct {
		method, path, token, body string
		status                    int
		code                      string
	}{
		{"GET", "/healthz", "", "", 200, ""},
		{"GET", "/v1/openapi.json", "", "", 200, ""},
		{"GET", "/v1/sources", "", "", 401, CodeUnauthorized},
		{"GET", "/v1/sources", "bad", "", 401, CodeUnauthorized},
		{"GET", "/v1/sources", "good", "", 200, ""},
		{"GET", "/v1/scans", "good", "", 400, CodeBadRequest},
		{"GET", "/v1/scans?image=x", "good", "", 404, CodeNotFound},
		{"GET", "/v1/report?image=x&index=-1", "good", "", 400, CodeBadRequest},
		{"POST", "/v1/scans", "good", `{"image": 5}`, 400, CodeBadRequest},
		{"POST", "/v1/scans", "good", `{"imag": "x"}`, 400, CodeBadRequest},
		{"POST", "/v1/sources/update", "good", `{"sources": ["x"]}`, 400, CodeBadRequest},
		{"GET", "/v1/jobs/unknown", "good", "", 404, CodeNotFound},
		{"GET", "/v1/manifests/sha256:00/report", "good", "", 404, CodeNotFound},
		{"GET", "/v1/manifests/md5:00/report", "good", "", 400, CodeBadRequest},
		{"GET", "/v2/anything", "good", "", 404, CodeNotFound},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, ts.URL+c.path, strings.NewReader(c.body))
		if c.token != "" {
			req.Header.Set("Authorization", "Bearer "+c.token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var eb api.ErrorBody
		_ = json.NewDecoder(resp.Body).Decode(&eb)
		resp.Body.Close()
		if resp.StatusCode != c.status || eb.Error.Code != c.code {
			t.Errorf("%s %s: %d %q, want %d %q (%s)", c.method, c.path, resp.StatusCode, eb.Error.Code, c.status, c.code, eb.Error.Message)
		}
	}
}

func TestScanJob(t *testing.T) {
	release := make(chan struct{})
	srv := newServer(t, fakeService{scan: func(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
		req.Progress(service.Progress{Stage: service.StageLayer, Layer: "sha256:a", Layers: 2, Read: 10, Total: 20})
		<-release
		if req.Image == "bad" {
			return nil, fmt.Errorf("bad: %w", image.ErrNotFound)
		}
		return &report.Report{Image: req.Image, ScanIndex: 1}, nil
	}, recorded: func(image string, index int) (*report.Report, error) {
		return &report.Report{Image: image, ScanIndex: index}, nil
	}}, jobstest.Queue(t))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	post := func(img string) api.Job {
		resp, err := http.Post(ts.URL+"/v1/scans", "application/json", strings.NewReader(`{"image":"`+img+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted || resp.Header.Get("Location") == "" {
			t.Fatalf("POST /v1/scans: %d", resp.StatusCode)
		}
		var j api.Job
		if err := json.NewDecoder(resp.Body).Decode(&j); err != nil {
			t.Fatal(err)
		}
		return j
	}
	get := func(id string) api.Job {
		resp, err := http.Get(ts.URL + "/v1/jobs/" + id)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var j api.Job
		_ = json.NewDecoder(resp.Body).Decode(&j)
		return j
	}
	good, bad := post("img"), post("bad")
	deadline := time.Now().Add(5 * time.Second)
	for get(good.ID).Progress.BytesRead != 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if j := get(good.ID); j.State != JobRunning || j.Progress.BytesRead != 10 || j.Progress.BytesTotal != 20 {
		t.Errorf("running job: %+v %+v", j, j.Progress)
	}
	close(release)
	for (get(good.ID).State == JobRunning || get(bad.ID).State == JobRunning || get(bad.ID).State == JobQueued) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if j := get(good.ID); j.State != JobSucceeded || j.Result == nil || j.Result.Image != "img" {
		t.Errorf("good job: %+v", j)
	}
	if j := get(bad.ID); j.State != JobFailed || j.Error == nil || j.Error.Code != CodeImageNotFound {
		t.Errorf("bad job: %+v", j)
	}
}

func TestMetrics(t *testing.T) {
	m := NewMetrics(func(context.Context) (int, error) { return 7, nil })
	srv := newServer(t, fakeService{}, jobstest.Queue(t), WithMetrics(m))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	http.Get(ts.URL + "/v1/report?image=x")
	m.ObserveJob("ingest/debian-dsa", time.Second, nil)
	m.Failed("hook", nil)
	resp, err := http.Get(ts.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b := new(strings.Builder)
	io.Copy(b, resp.Body)
	for _, want := range []string{
		`lapps_notification_queue_depth 7`,
		`lapps_job_runs_total{job="ingest/debian-dsa",result="ok"} 1`,
		`lapps_notification_deliveries_total{result="failed",webhook="hook"} 1`,
		`lapps_http_request_duration_seconds_count{code="4xx",route="GET /v1/report"} 1`,
		`lapps_scan_duration_seconds_count 0`,
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestPushRef(t *testing.T) {
	ev := func(action, mt, repo, tag, digest, u, host string) RegistryEvent {
		var e RegistryEvent
		e.Action, e.Target.MediaType, e.Target.Repository, e.Target.Tag, e.Target.Digest, e.Target.URL, e.Request.Host = action, mt, repo, tag, digest, u, host
		return e
	}
	const oci = "application/vnd.oci.image.manifest.v1+json"
	for _, c := range []struct {
		ev   RegistryEvent
		want string
	}{
		{ev("push", oci, "library/alpine", "3.20", "sha256:ab", "http://127.0.0.1:5000/v2/library/alpine/manifests/sha256:ab", "127.0.0.1:5000"), "127.0.0.1:5000/library/alpine:3.20"},
		{ev("push", "application/vnd.docker.distribution.manifest.v2+json", "x", "", "sha256:cd", "", "reg:5000"), "reg:5000/x@sha256:cd"},
		{ev("push", "application/vnd.oci.image.layer.v1.tar+gzip", "x", "", "sha256:ef", "", "reg:5000"), ""},
		{ev("pull", oci, "x", "1", "sha256:ab", "", "reg:5000"), ""},
		{ev("push", oci, "", "1", "sha256:ab", "", "reg:5000"), ""},
	} {
		if got := pushRef(c.ev); got != c.want {
			t.Errorf("pushRef(%+v) = %q, want %q", c.ev, got, c.want)
		}
	}
}
