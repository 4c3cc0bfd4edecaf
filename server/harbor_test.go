package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/jobs"
	"github.com/lapps/lapps/jobs/jobstest"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/server/harbor"
	"github.com/lapps/lapps/service"
)

// TestHarborThroughServer: Harbor's scan request goes through the job
// queue with its registry credentials sealed in the job, reaches the scan
// in clear, and its report is served; a replica with another key cannot
// run the job and fails it saying why; the routes need the scopes.
func TestHarborThroughServer(t *testing.T) {
	const secret = "harbor-robot-pw"
	var mu sync.Mutex
	var seen []service.ScanRequest
	svc := fakeService{scan: func(_ context.Context, req service.ScanRequest) (*report.Report, error) {
		mu.Lock()
		seen = append(seen, req)
		mu.Unlock()
		return &report.Report{Image: req.Image, ScanIndex: 1}, nil
	}, recorded: func(img string, index int) (*report.Report, error) {
		return &report.Report{Image: img, ScanIndex: index}, nil
	}}
	q := jobstest.Queue(t)
	toks := tokens{"scan": {ScopeScan}, "read": {ScopeRead}}
	srv := newServer(t, svc, q, WithTokens(toks), jobs.WithCredentialKey([]byte("k1")))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	body := `{"registry":{"url":"http://harbor-registry:5000","authorization":"Basic ` +
		base64.StdEncoding.EncodeToString([]byte("robot$x:"+secret)) + `"},"artifact":{"repository":"lib/a","digest":"sha256:` + strings.Repeat("ab", 32) + `","mime_type":"` + harbor.MimeOCIManifest + `"}}`
	if s, _, b := call(t, http.DefaultClient, "POST", ts.URL+"/harbor/api/v1/scan", "read", body); s != 403 {
		t.Errorf("read token: %d %s", s, b)
	}
	if s, _, b := call(t, http.DefaultClient, "POST", ts.URL+"/harbor/api/v1/scan", "", body); s != 401 {
		t.Errorf("no token: %d %s", s, b)
	}
	s, _, b := call(t, http.DefaultClient, "POST", ts.URL+"/harbor/api/v1/scan", "scan", body)
	if s != 202 {
		t.Fatalf("scan: %d %s", s, b)
	}
	var resp harbor.ScanResponse
	if err := json.Unmarshal([]byte(b), &resp); err != nil || resp.ID == "" {
		t.Fatalf("%s: %v", b, err)
	}
	sj := jobstest.Wait(t, q.GetJob, resp.ID, nil)
	if sj.State != JobSucceeded {
		t.Fatalf("job %s %s", sj.State, sj.Error)
	}
	if bytes.Contains(sj.Request, []byte(secret)) || bytes.Contains(sj.Request, []byte(base64.StdEncoding.EncodeToString([]byte("robot$x:"+secret)))) {
		t.Errorf("the stored job holds the credentials: %s", sj.Request)
	}
	mu.Lock()
	if len(seen) != 1 || seen[0].Credentials["harbor-registry:5000"].Password != secret || seen[0].Insecure ||
		seen[0].Image != "harbor-registry:5000/lib/a@sha256:"+strings.Repeat("ab", 32) {
		t.Errorf("scans %+v", seen)
	}
	mu.Unlock()
	// /v1/jobs shows the job without its credentials.
	if s, _, b := call(t, http.DefaultClient, "GET", ts.URL+"/v1/jobs/"+resp.ID, "read", ""); s != 200 || strings.Contains(b, "sealed") || strings.Contains(b, secret) {
		t.Errorf("job: %d %s", s, b)
	}
	s, _, b = call(t, http.DefaultClient, "GET", ts.URL+"/harbor/api/v1/scan/"+resp.ID+"/report", "read", "")
	if s != 200 || !strings.Contains(b, `"repository":"lib/a"`) {
		t.Errorf("report: %d %s", s, b)
	}
	// A job queued by /v1/scans is not Harbor's.
	job, err := srv.enqueue(context.Background(), "", scanJob{Image: "r.example/a:1"})
	if err != nil {
		t.Fatal(err)
	}
	if s, _, b := call(t, http.DefaultClient, "GET", ts.URL+"/harbor/api/v1/scan/"+job.ID+"/report", "read", ""); s != 404 {
		t.Errorf("another job's report: %d %s", s, b)
	}

	// Another replica, with another key, on the same queue: the first
	// stops claiming, the second fails the job it cannot open.
	srv.Close()
	srv.jobs.(*jobs.Runner).Close()
	other := newServer(t, svc, q, jobs.WithCredentialKey([]byte("k2")))
	defer other.Close()
	id, err := harborBackend{srv}.Enqueue(context.Background(), harbor.Scan{Image: "h/a:1", Meta: json.RawMessage(`{"repository":"a"}`),
		Credentials: map[string]image.Credential{"h": {Token: secret}}})
	if err != nil {
		t.Fatal(err)
	}
	sj = jobstest.Wait(t, q.GetJob, id, nil)
	if sj.State != JobFailed || !strings.Contains(string(sj.Error), "server.harbor.credentials_key") {
		t.Errorf("job %s %s, want failed naming server.harbor.credentials_key", sj.State, sj.Error)
	}
	jobstest.Wait(t, q.GetJob, job.ID, nil)
	mu.Lock()
	if len(seen) != 2 || seen[1].Image != "r.example/a:1" {
		t.Errorf("scans %+v", seen)
	}
	mu.Unlock()
}

// TestHarborRegistryGuard: Harbor's registry, usually at an internal
// address, is reached only when server.registries.allow lists it; the
// report says so.
func TestHarborRegistryGuard(t *testing.T) {
	local := localService(t, service.WithImageOptions(image.WithRegistryAllow(nil)))
	srv := newServer(t, local, jobstest.Queue(t))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	body := `{"registry":{"url":"http://127.0.0.1:1","authorization":"Bearer t0k"},"artifact":{"repository":"lib/a","digest":"sha256:` + strings.Repeat("cd", 32) + `"}}`
	s, _, b := call(t, http.DefaultClient, "POST", ts.URL+"/harbor/api/v1/scan", "", body)
	if s != 202 {
		t.Fatalf("scan: %d %s", s, b)
	}
	var resp harbor.ScanResponse
	if err := json.Unmarshal([]byte(b), &resp); err != nil {
		t.Fatal(err)
	}
	jobstest.Wait(t, srv.jobs.Stored, resp.ID, nil)
	s, _, b = call(t, http.DefaultClient, "GET", ts.URL+"/harbor/api/v1/scan/"+resp.ID+"/report", "", "")
	if s != 500 || !strings.Contains(b, "forbidden") || !strings.Contains(b, "server.registries.allow") || strings.Contains(b, "t0k") {
		t.Errorf("report: %d %s", s, b)
	}
}
