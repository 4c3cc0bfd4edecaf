package server

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapps/lapps/api"
	"github.com/lapps/lapps/apps"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/jobs"
	"github.com/lapps/lapps/jobs/jobstest"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/all"
)

// call sends a request with an optional bearer token and returns the
// status, the error code (if any) and the body.
func call(t *testing.T, c *http.Client, method, url, token, body string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var eb api.ErrorBody
	_ = json.Unmarshal(b, &eb)
	return resp.StatusCode, eb.Error.Code, string(b)
}

// reviewJSON is the AdmissionReview of the CREATE of a pod with images,
// as the API server sends it.
func reviewJSON(uid string, images ...string) string {
	var cs []string
	for i, im := range images {
		b, _ := json.Marshal(im)
		cs = append(cs, fmt.Sprintf(`{"name":"c%d","image":%s}`, i, b))
	}
	return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"` + uid +
		`","kind":{"version":"v1","kind":"Pod"},"namespace":"ns","name":"p","operation":"CREATE","object":` +
		`{"kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[` + strings.Join(cs, ",") + `]}}}}`
}

// admissionAnswer decodes the response of an AdmissionReview.
func admissionAnswer(t *testing.T, body string) (allowed bool, message string) {
	t.Helper()
	var rv struct {
		Response struct {
			Allowed bool `json:"allowed"`
			Status  *struct {
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.Unmarshal([]byte(body), &rv); err != nil {
		t.Fatalf("review answer %q: %v", body, err)
	}
	if rv.Response.Status != nil {
		message = rv.Response.Status.Message
	}
	return rv.Response.Allowed, message
}

// spyService counts what the server asks of the service: lookups and
// scans.
type spyService struct {
	fakeService
	lookups, scans atomic.Int64
}

func (s *spyService) Report(ctx context.Context, image string, index int) (*report.Report, error) {
	s.lookups.Add(1)
	return s.fakeService.Report(ctx, image, index)
}

func (s *spyService) ManifestReport(ctx context.Context, digest string) (*report.Report, error) {
	s.lookups.Add(1)
	return s.fakeService.ManifestReport(ctx, digest)
}

func (s *spyService) ScanImage(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
	s.scans.Add(1)
	return s.fakeService.ScanImage(ctx, req)
}

// testCA is a certificate authority made for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// client returns a client certificate signed by the authority.
func (ca *testCA) client(t *testing.T, name string) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// withCert returns a client of ts presenting cert.
func withCert(ts *httptest.Server, cert tls.Certificate) *http.Client {
	c := ts.Client()
	tr := c.Transport.(*http.Transport).Clone()
	// Sent whatever authorities the server names, as an intruder would.
	tr.TLSClientConfig.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return &http.Client{Transport: tr}
}

// TestAdmissionTrust: who may ask for admission decisions. Without
// credentials a caller is refused (401) unless allow_anonymous; plain HTTP
// is refused unless allow_plain_http; the static token, a lapps token
// with the scan scope (not one without) and a client certificate signed
// by client_ca authenticate; a certificate signed by another authority
// is refused, at the handshake or, when the TLS server did not verify
// it, by the handler.
func TestAdmissionTrust(t *testing.T) {
	review := reviewJSON("u1", "registry.example.com/app:1")
	ca, other := newCA(t, "cluster CA"), newCA(t, "someone else")
	good, bad := ca.client(t, "kube-apiserver"), other.client(t, "intruder")
	toks := WithTokens(tokens{"scanner": {ScopeScan}, "reader": {ScopeRead}, "admin": {ScopeAdmin}})
	newTLS := func(cfg AdmissionConfig, clientAuth tls.ClientAuthType) *httptest.Server {
		srv := newServer(t, fakeService{}, jobstest.Queue(t), toks, WithAdmission(cfg))
		t.Cleanup(srv.Close)
		ts := httptest.NewUnstartedServer(srv.Handler())
		ts.TLS = ClientTLS(nil, cfg.ClientCAs)
		if clientAuth != tls.NoClientCert {
			ts.TLS.ClientAuth = clientAuth
		}
		ts.StartTLS()
		t.Cleanup(ts.Close)
		return ts
	}
	strict := newTLS(AdmissionConfig{Token: "static"}, tls.NoClientCert)
	withCA := newTLS(AdmissionConfig{ClientCAs: ca.pool}, tls.NoClientCert)
	// A TLS server that asks for certificates without verifying them:
	// the handler verifies the chain itself.
	unverified := newTLS(AdmissionConfig{ClientCAs: ca.pool}, tls.RequestClientCert)
	anonymous := newTLS(AdmissionConfig{AllowAnonymous: true}, tls.NoClientCert)
	plainSrv := newServer(t, fakeService{}, jobstest.Queue(t), WithAdmission(AdmissionConfig{AllowAnonymous: true}))
	t.Cleanup(plainSrv.Close)
	plain := httptest.NewServer(plainSrv.Handler())
	t.Cleanup(plain.Close)
	plainOK := newServer(t, fakeService{}, jobstest.Queue(t), WithAdmission(AdmissionConfig{AllowAnonymous: true, AllowPlainHTTP: true}))
	t.Cleanup(plainOK.Close)
	plainAllowed := httptest.NewServer(plainOK.Handler())
	t.Cleanup(plainAllowed.Close)

	for _, c := range []struct {
		name   string
		ts     *httptest.Server
		client *http.Client
		token  string
		status int
		code   string
	}{
		{"no credentials", strict, nil, "", 401, CodeUnauthorized},
		{"wrong token", strict, nil, "nope", 401, CodeUnauthorized},
		{"static token", strict, nil, "static", 200, ""},
		{"lapps token with the scan scope", strict, nil, "scanner", 200, ""},
		{"lapps admin token", strict, nil, "admin", 200, ""},
		{"lapps token without the scan scope", strict, nil, "reader", 403, CodeForbidden},
		{"client certificate of client_ca", withCA, withCert(withCA, good), "", 200, ""},
		{"no client certificate", withCA, nil, "", 401, CodeUnauthorized},
		{"certificate of another authority, not verified by TLS", unverified, withCert(unverified, bad), "", 401, CodeUnauthorized},
		{"certificate of client_ca, not verified by TLS", unverified, withCert(unverified, good), "", 200, ""},
		{"anonymous allowed", anonymous, nil, "", 200, ""},
		{"plain HTTP", plain, http.DefaultClient, "", 403, CodeForbidden},
		{"plain HTTP allowed", plainAllowed, http.DefaultClient, "", 200, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			cl := c.client
			if cl == nil {
				cl = c.ts.Client()
			}
			status, code, body := call(t, cl, "POST", c.ts.URL+"/v1/admission", c.token, review)
			if status != c.status || code != c.code {
				t.Fatalf("%d %q, want %d %q: %s", status, code, c.status, c.code, body)
			}
			if status == 200 {
				if allowed, msg := admissionAnswer(t, body); allowed || !strings.Contains(msg, "not scanned yet") {
					t.Errorf("decision: allowed %v %q, want denied: not scanned yet", allowed, msg)
				}
			}
		})
	}
	// A certificate of another authority fails the handshake when the
	// TLS server verifies what it is given.
	req, _ := http.NewRequest("POST", withCA.URL+"/v1/admission", strings.NewReader(review))
	if resp, err := withCert(withCA, bad).Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("a certificate of another authority was accepted at the handshake: %d", resp.StatusCode)
	} else if !strings.Contains(err.Error(), "certificate") {
		t.Errorf("handshake error %v does not name the certificate", err)
	}
}

// TestAdmissionRegistryImagesOnly: a review naming a local transport is
// denied with a clear message, and nothing is looked up, queued or
// opened, even when the object also names registry images and the server
// has local_images.
func TestAdmissionRegistryImagesOnly(t *testing.T) {
	spy := &spyService{}
	q := &countingQueue{Jobs: jobstest.Queue(t)}
	srv := newServer(t, spy, q, WithLocalImages([]string{"/"}), WithAdmission(AdmissionConfig{AllowAnonymous: true, AllowPlainHTTP: true, FailOpen: true}))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	for _, refs := range [][]string{
		{"dir:/etc"},
		{"docker-archive:/etc/passwd"},
		{"oci:/var/lib/images:x"},
		{"oci-archive:/tmp/x.tar"},
		{"dir:etc"},
	} {
		status, _, body := call(t, http.DefaultClient, "POST", ts.URL+"/v1/admission", "", reviewJSON("u", refs...))
		if status != 200 {
			t.Fatalf("%q: status %d: %s", refs, status, body)
		}
		allowed, msg := admissionAnswer(t, body)
		if allowed || !strings.Contains(msg, "image "+refs[0]+" refused: admission only admits registry images") {
			t.Errorf("%q: allowed %v, message %q", refs, allowed, msg)
		}
	}
	if n, m, e := spy.lookups.Load(), spy.scans.Load(), q.enqueued.Load(); n+m+e != 0 {
		t.Errorf("local images were looked up %d times, scanned %d, queued %d; want none", n, m, e)
	}
	// Beside a registry image, which is looked up (and queued, not
	// scanned yet), the local one still denies the object (fail open
	// does not apply to it).
	_, _, body := call(t, http.DefaultClient, "POST", ts.URL+"/v1/admission", "", reviewJSON("u", "registry.example.com/app:1", "dir:/etc"))
	if allowed, msg := admissionAnswer(t, body); allowed || !strings.Contains(msg, "dir:/etc refused") {
		t.Errorf("mixed review: allowed %v %q", allowed, msg)
	}
	if n, e := spy.lookups.Load(), q.enqueued.Load(); n == 0 || e != 1 {
		t.Errorf("mixed review: %d lookups, %d queued; want the registry image looked up and queued once", n, e)
	}
}

// countingHandler counts log records, and keeps their messages.
type countingHandler struct {
	mu   sync.Mutex
	msgs []string
}

func (h *countingHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *countingHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}
func (h *countingHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countingHandler) WithGroup(string) slog.Handler      { return h }

func (h *countingHandler) count(msg string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, m := range h.msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// TestAdmissionBudgets: a review naming more than max_images distinct
// images (100k, 4.9 MB, as on main) is denied at once, queuing nothing; a
// review at the bound queues scans_per_review scans; reviews together
// never have more than max_scans admission scans queued or running; an
// image already queued is not queued again; each review logs one line.
func TestAdmissionBudgets(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	svc := fakeService{scan: func(ctx context.Context, req service.ScanRequest) (*report.Report, error) {
		select { // the scans hold the queue until the test ends
		case <-release:
		case <-ctx.Done():
		}
		return nil, fmt.Errorf("%s: %w", req.Image, image.ErrNotFound)
	}}
	q := &countingQueue{Jobs: jobstest.Queue(t)}
	logs := &countingHandler{}
	srv := newServer(t, svc, q, jobs.WithConcurrency(1), WithLogger(slog.New(logs)),
		WithAdmission(AdmissionConfig{AllowAnonymous: true, AllowPlainHTTP: true, MaxScans: 20}))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	images := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("registry.example.com/%s%06d:1", prefix, i)
		}
		return out
	}
	post := func(refs []string) (bool, string) {
		t.Helper()
		status, _, body := call(t, http.DefaultClient, "POST", ts.URL+"/v1/admission", "", reviewJSON("u", refs...))
		if status != 200 {
			t.Fatalf("status %d: %.300s", status, body)
		}
		return admissionAnswer(t, body)
	}

	huge := images("huge", 100_000)
	if allowed, msg := post(huge); allowed || !strings.Contains(msg, "names 100000 distinct images") || !strings.Contains(msg, "server.admission.max_images") {
		t.Errorf("100k images: allowed %v, message %.300q", allowed, msg)
	}
	if n := q.enqueued.Load(); n != 0 {
		t.Errorf("the 100k-image review queued %d scans", n)
	}
	if allowed, _ := post(images("max", 256)); allowed {
		t.Error("256 unscanned images allowed (fail closed)")
	}
	if n := q.enqueued.Load(); n != DefaultAdmissionScansPerReview {
		t.Errorf("a review of 256 unscanned images queued %d scans, want %d", n, DefaultAdmissionScansPerReview)
	}
	// Again: its first 8 are queued already, the next 8 are queued.
	post(images("max", 256))
	if n := q.enqueued.Load(); n != 2*DefaultAdmissionScansPerReview {
		t.Errorf("after the same review again: %d scans queued, want %d", n, 2*DefaultAdmissionScansPerReview)
	}
	// Admission's total: max_scans (20) queued or running.
	post(images("other", 30))
	if n := q.enqueued.Load(); n != 20 {
		t.Errorf("after a third review: %d scans queued, want the total budget 20", n)
	}
	post(images("more", 30))
	if n := q.enqueued.Load(); n != 20 {
		t.Errorf("past the total budget: %d scans queued, want 20", n)
	}
	if n := logs.count("admission review"); n != 5 {
		t.Errorf("%d review log lines for 5 reviews", n)
	}
	if len(logs.msgs) > 50 {
		t.Errorf("%d log lines for 5 reviews and 20 queued scans", len(logs.msgs))
	}
}

// localService is a real service on a new SQLite database with opts.
func localService(t *testing.T, opts ...service.Option) *service.Local {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	l := service.NewLocal(st, indexer.New(all.Catalogers()), append([]service.Option{service.WithSources(nil)}, opts...)...)
	t.Cleanup(func() { l.Close() })
	return l
}

// scanThrough posts a scan of ref to ts and returns the status of the
// request and, when accepted, the finished job.
func scanThrough(t *testing.T, srv *Server, ts *httptest.Server, ref string) (int, string, *api.Job) {
	t.Helper()
	body, _ := json.Marshal(api.ScanBody{Image: ref})
	status, code, raw := call(t, http.DefaultClient, "POST", ts.URL+"/v1/scans", "", string(body))
	if status != http.StatusAccepted {
		return status, code, nil
	}
	var job api.Job
	if err := json.Unmarshal([]byte(raw), &job); err != nil {
		t.Fatal(err)
	}
	jobstest.Wait(t, srv.jobs.Stored, job.ID, nil)
	j, err := srv.jobs.Get(context.Background(), job.ID)
	if err != nil {
		t.Fatal(err)
	}
	return status, code, j
}

// TestLocalImagesThroughAPI: a local transport is refused at once (403
// forbidden) unless its path lies under local_images; a symbolic link
// under local_images that leads out of it passes the first look and
// fails when the image is opened, as forbidden.
func TestLocalImagesThroughAPI(t *testing.T) {
	images := testenv.Images(t)
	root := t.TempDir()
	layout := filepath.Join(images, "rootfs", "oci")
	if err := os.Symlink("/etc", filepath.Join(root, "escape")); err != nil {
		t.Fatal(err)
	}
	roots := []string{root, images}
	local := localService(t, service.WithImageOptions(image.WithLocalRoots(roots)))
	q := jobstest.Queue(t)
	srv := newServer(t, local, q, WithLocalImages(roots))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	none := newServer(t, local, jobstest.Queue(t))
	defer none.Close()
	tsNone := httptest.NewServer(none.Handler())
	defer tsNone.Close()

	for _, c := range []struct {
		name string
		ts   *httptest.Server
		srv  *Server
		ref  string
		// status of the request; for 202, the job's error code ("" for
		// success).
		status  int
		jobCode string
	}{
		{"dir:/etc, no local_images", tsNone, none, "dir:/etc", 403, ""},
		{"docker-archive:/etc/passwd, no local_images", tsNone, none, "docker-archive:/etc/passwd", 403, ""},
		{"a layout, no local_images", tsNone, none, "oci:" + layout + ":alpine-3.13.12", 403, ""},
		{"dir:/etc outside local_images", ts, srv, "dir:/etc", 403, ""},
		{"a relative path", ts, srv, "dir:etc", 403, ""},
		{"a path climbing out", ts, srv, "oci:" + root + "/../../etc:x", 403, ""},
		{"a symbolic link out of local_images", ts, srv, "dir:" + filepath.Join(root, "escape"), 202, CodeForbidden},
		{"a layout under local_images", ts, srv, "oci:" + layout + ":alpine-3.13.12", 202, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, code, job := scanThrough(t, c.srv, c.ts, c.ref)
			if status != c.status {
				t.Fatalf("status %d %q, want %d", status, code, c.status)
			}
			if status == 403 && code != CodeForbidden {
				t.Errorf("code %q, want forbidden", code)
			}
			if job == nil {
				return
			}
			switch {
			case c.jobCode == "" && (job.State != JobSucceeded || job.Result == nil):
				t.Errorf("job %s %+v, want succeeded", job.State, job.Error)
			case c.jobCode != "" && (job.State != JobFailed || job.Error == nil || job.Error.Code != c.jobCode):
				t.Errorf("job %s %+v, want failed %s", job.State, job.Error, c.jobCode)
			}
		})
	}
}

// TestRegistryGuardThroughAPI: a registry on 127.0.0.1 is refused to a
// caller of POST /v1/scans (the job fails forbidden, naming
// server.registries.allow) unless listed in server.registries.allow.
func TestRegistryGuardThroughAPI(t *testing.T) {
	images := testenv.Images(t)
	reg := testenv.StartRegistry(t)
	reg.Push(t, "oci:"+filepath.Join(images, "rootfs", "oci")+":alpine-3.13.12", "guard/alpine:1", "")
	ref := reg.Addr + "/guard/alpine:1"
	for _, c := range []struct {
		name  string
		allow []string
		code  string
	}{
		{"not allowed", nil, CodeForbidden},
		{"another host allowed", []string{"registry.internal", "10.0.0.0/8"}, CodeForbidden},
		{"allowed by address", []string{"127.0.0.1"}, ""},
		{"allowed by host and port", []string{reg.Addr}, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			local := localService(t, service.WithImageOptions(image.WithRegistryAllow(c.allow)))
			srv := newServer(t, local, jobstest.Queue(t))
			defer srv.Close()
			ts := httptest.NewServer(srv.Handler())
			defer ts.Close()
			status, _, job := scanThrough(t, srv, ts, ref)
			if status != 202 {
				t.Fatalf("status %d", status)
			}
			if c.code == "" {
				if job.State != JobSucceeded {
					t.Errorf("job %s %+v, want succeeded", job.State, job.Error)
				}
				return
			}
			if job.State != JobFailed || job.Error == nil || job.Error.Code != c.code || !strings.Contains(job.Error.Message, "server.registries.allow") {
				t.Errorf("job %s %+v, want failed %s naming server.registries.allow", job.State, job.Error, c.code)
			}
		})
	}
}

// TestInsecureRefused: a caller cannot ask for insecure registry access;
// the configuration decides per registry.
func TestInsecureRefused(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	q := &countingQueue{Jobs: st}
	srv := newServer(t, fakeService{}, q, WithApps(appsOn(st), nil))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	if s, _, b := call(t, http.DefaultClient, "POST", ts.URL+"/v1/apps", "", `{"name":"shop","images":["registry.example.com/a:1"]}`); s != 201 {
		t.Fatalf("create app: %d %s", s, b)
	}
	for _, c := range []struct{ path, body string }{
		{"/v1/scans", `{"image":"registry.example.com/a:1","insecure":true}`},
		{"/v1/apps/shop/deployments", `{"insecure_registries":["registry.example.com"]}`},
		{"/v1/apps/shop/scans", `{"insecure_registries":["registry.example.com"]}`},
	} {
		status, code, body := call(t, http.DefaultClient, "POST", ts.URL+c.path, "", c.body)
		if status != 400 || code != CodeBadRequest || !strings.Contains(body, "registries: HOST: insecure: true") {
			t.Errorf("%s %s: %d %q %s", c.path, c.body, status, code, body)
		}
	}
	if n := q.enqueued.Load(); n != 0 {
		t.Errorf("%d scans queued by refused requests", n)
	}
}

// TestRoutesScopes: each route with a token of each scope: allowed (any
// answer but 401 and 403) or refused with 403 forbidden naming the scope.
func TestRoutesScopes(t *testing.T) {
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	toks := tokens{"read": {ScopeRead}, "scan": {ScopeScan}, "deploy": {ScopeDeploy}, "admin": {ScopeAdmin}, "read+scan": {ScopeRead, ScopeScan}}
	srv := newServer(t, fakeService{}, st, WithTokens(toks), WithTokenAdmin(st), WithApps(appsOn(st), nil))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	// What each route needs, as issue 12 says.
	needs := map[string]string{
		"POST /v1/scans": ScopeScan, "POST /v1/sboms/scans": ScopeScan, "POST /v1/registry/events": ScopeScan, "POST /v1/apps/{app}/scans": ScopeScan,
		"POST /v1/apps": ScopeDeploy, "POST /v1/apps/import": ScopeDeploy, "POST /v1/apps/{app}/deployments": ScopeDeploy,
		"POST /v1/sources/update": ScopeAdmin, "POST /v1/sources/import": ScopeAdmin, "DELETE /v1/apps/{app}": ScopeAdmin,
		"GET /v1/tokens": ScopeAdmin, "POST /v1/tokens": ScopeAdmin, "DELETE /v1/tokens/{id}": ScopeAdmin,
		"POST /harbor/api/v1/scan": ScopeScan,
	}
	for _, r := range routes {
		if r.scope == public {
			continue
		}
		key := r.method + " " + r.path
		need, ok := needs[key]
		if !ok {
			if r.method != "GET" {
				t.Errorf("%s: not in the table of scopes", key)
				continue
			}
			need = ScopeRead
		}
		path := strings.NewReplacer("{app}", "nope", "{id}", "999", "{n}", "1", "{digest}", "sha256:00").Replace(r.path)
		for _, tok := range []string{"read", "scan", "deploy", "admin", "read+scan"} {
			want := tok == "admin" || strings.Contains(tok, need) || need == ScopeRead
			status, code, body := call(t, http.DefaultClient, r.method, ts.URL+path, tok, "{}")
			switch {
			case want && (status == 401 || status == 403):
				t.Errorf("%s with a %s token: %d %s, want allowed", key, tok, status, body)
			case !want && (status != 403 || code != CodeForbidden || !strings.Contains(body, "lacks the "+need+" scope")):
				t.Errorf("%s with a %s token: %d %s, want 403 forbidden naming %s", key, tok, status, body, need)
			}
		}
	}
	if status, _, _ := call(t, http.DefaultClient, "GET", ts.URL+"/v1/sources", "", ""); status != 401 {
		t.Errorf("no token: %d, want 401", status)
	}
}

// TestTokensAPI: an admin token manages tokens over the API: a created
// token works with its scopes at once, and not once revoked.
func TestTokensAPI(t *testing.T) {
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin, hash, _ := NewTokenSecret()
	if _, err := st.CreateToken(ctx, "admin", hash, []string{ScopeAdmin}); err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, fakeService{}, st, WithTokens(StoreTokens{Store: st}), WithTokenAdmin(st))
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()

	for _, bad := range []string{`{"name":"x","scopes":["root"]}`, `{"name":""}`, `{"name":"a\u0000b"}`, `{"name":"x","scopes":["read,admin"]}`} {
		if status, code, body := call(t, http.DefaultClient, "POST", ts.URL+"/v1/tokens", admin, bad); status != 400 || code != CodeBadRequest {
			t.Errorf("create %s: %d %s, want 400", bad, status, body)
		}
	}
	status, _, body := call(t, http.DefaultClient, "POST", ts.URL+"/v1/tokens", admin, `{"name":"ci","scopes":["read","scan"]}`)
	var created api.CreatedToken
	if status != 201 || json.Unmarshal([]byte(body), &created) != nil || !strings.HasPrefix(created.Secret, TokenPrefix) || strings.Join(created.Scopes, ",") != "read,scan" {
		t.Fatalf("create: %d %s", status, body)
	}
	status, _, body = call(t, http.DefaultClient, "POST", ts.URL+"/v1/tokens", admin, `{"name":"viewer"}`)
	var viewer api.CreatedToken
	if status != 201 || json.Unmarshal([]byte(body), &viewer) != nil || strings.Join(viewer.Scopes, ",") != "read" {
		t.Fatalf("create without scopes: %d %s, want read", status, body)
	}
	if status, _, _ := call(t, http.DefaultClient, "GET", ts.URL+"/v1/sources", created.Secret, ""); status != 200 {
		t.Errorf("the new token cannot read: %d", status)
	}
	if status, code, _ := call(t, http.DefaultClient, "GET", ts.URL+"/v1/tokens", created.Secret, ""); status != 403 || code != CodeForbidden {
		t.Errorf("a read,scan token listed tokens: %d", status)
	}
	status, _, body = call(t, http.DefaultClient, "GET", ts.URL+"/v1/tokens", admin, "")
	var list []api.TokenInfo
	if status != 200 || json.Unmarshal([]byte(body), &list) != nil || len(list) != 3 || strings.Contains(body, created.Secret) {
		t.Fatalf("list: %d %s", status, body)
	}
	if status, _, _ := call(t, http.DefaultClient, "DELETE", ts.URL+fmt.Sprintf("/v1/tokens/%d", created.ID), admin, ""); status != 204 {
		t.Errorf("revoke: %d", status)
	}
	if status, _, _ := call(t, http.DefaultClient, "GET", ts.URL+"/v1/sources", created.Secret, ""); status != 401 {
		t.Errorf("a revoked token read: %d", status)
	}
	if status, code, _ := call(t, http.DefaultClient, "DELETE", ts.URL+"/v1/tokens/999", admin, ""); status != 404 || code != CodeNotFound {
		t.Errorf("revoke an unknown token: %d %q", status, code)
	}
}

// TestImportReplaceThroughAPI: an import under a configured source's name
// is refused without replace=true, naming --replace, and done with it.
func TestImportReplaceThroughAPI(t *testing.T) {
	data := filepath.Join(testenv.VulnData(t, "alpine-secdb", "v3.11"), "main.yaml")
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	local := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources(
		[]updater.Source{{Name: "alpine-secdb", Type: "alpine-secdb", Path: filepath.Dir(data)}}))
	defer local.Close()
	srv := newServer(t, local, st)
	defer srv.Close()
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	body, err := os.ReadFile(data)
	if err != nil {
		t.Fatal(err)
	}
	post := func(query string) (int, string) {
		resp, err := http.Post(ts.URL+"/v1/sources/import?type=alpine-secdb&name=alpine-secdb&filename=main.yaml"+query, "application/octet-stream", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, b := post(""); status != 400 || !strings.Contains(b, "--replace") {
		t.Errorf("import over a configured source: %d %s, want 400 naming --replace", status, b)
	}
	if status, b := post("&replace=true"); status != 200 || !strings.Contains(b, `"source":"alpine-secdb"`) {
		t.Errorf("import with replace: %d %s", status, b)
	}
	if status, _ := post("&replace=maybe"); status != 400 {
		t.Errorf("replace=maybe: %d", status)
	}
}

// TestRedactedJobErrors: credentials in a scan's error never reach the
// job's stored error nor the API.
func TestRedactedJobErrors(t *testing.T) {
	q := jobstest.Queue(t)
	srv := newServer(t, fakeService{scan: func(context.Context, service.ScanRequest) (*report.Report, error) {
		return nil, fmt.Errorf("fetch https://robot:hunter2@reg.example.com/v2/token?api_key=k3y123&scope=x: %w", image.ErrUnauthorized)
	}}, q)
	defer srv.Close()
	job, err := srv.enqueue(context.Background(), "", scanJob{Image: "reg.example.com/app:1"})
	if err != nil {
		t.Fatal(err)
	}
	sj := jobstest.Wait(t, q.GetJob, job.ID, nil)
	for _, secret := range []string{"hunter2", "k3y123"} {
		if strings.Contains(string(sj.Error), secret) {
			t.Errorf("stored job error %s holds %q", sj.Error, secret)
		}
	}
	if !strings.Contains(string(sj.Error), "reg.example.com") {
		t.Errorf("stored job error %s lost the host", sj.Error)
	}
	rec := httptest.NewRecorder()
	writeErr(rec, fmt.Errorf("feed https://u:p4ss@feeds.example.com/x.zip?token=t0k: %w", service.ErrBadRequest))
	if b := rec.Body.String(); strings.Contains(b, "p4ss") || strings.Contains(b, "t0k") {
		t.Errorf("API error %s holds credentials", b)
	}
	// A source's stored error, as GET /v1/sources shows it.
	st := newServer(t, sourcesService{}, jobstest.Queue(t))
	defer st.Close()
	rec = httptest.NewRecorder()
	st.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/v1/sources", nil))
	if b := rec.Body.String(); rec.Code != 200 || strings.Contains(b, "p4ss") || strings.Contains(b, "t0k") || !strings.Contains(b, "feeds.example.com") {
		t.Errorf("GET /v1/sources: %d %s", rec.Code, b)
	}
}

// sourcesService has one source whose last run failed with a URL holding
// credentials in its error.
type sourcesService struct{ fakeService }

func (sourcesService) VulnDBStatus(context.Context) ([]service.SourceStatus, error) {
	return []service.SourceStatus{{Source: "s", LastError: "GET https://u:p4ss@feeds.example.com/x.zip?token=t0k: 500"}}, nil
}

// appsOn returns the apps of WithApps on st.
func appsOn(st store.Store) func(service.Service) apps.Service {
	return func(scans service.Service) apps.Service { return apps.New(st, scans) }
}
