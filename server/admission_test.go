package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// almaSource is the AlmaLinux 9 advisories of the shared data.
func almaSource(tb testing.TB) updater.Source {
	v := testenv.VulnData(tb)
	return updater.Source{Name: "osv-almalinux", Type: "osv", Path: filepath.Join(v, "almalinux-osv-database", "advisories", "almalinux9")}
}

// admissionService is a Local service on a fresh sqlite store with the
// sources loaded and the images scans scanned (each ref with its
// platform). Like lapps serve's, it reads registries at internal
// addresses only when allowed: the test registry on 127.0.0.1 is.
func admissionService(tb testing.TB, sources []updater.Source, scans map[string]string) *service.Local {
	tb.Helper()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(tb.TempDir(), "lapps.db"))
	if err != nil {
		tb.Fatal(err)
	}
	local := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources(sources),
		service.WithImageOptions(image.WithLocalRoots(nil), image.WithRegistryAllow([]string{"127.0.0.1"})))
	tb.Cleanup(func() { _ = local.Close() })
	res, err := local.UpdateVulnDB(ctx, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for _, r := range res {
		if r.Error != "" {
			tb.Fatalf("update %s: %s", r.Source, r.Error)
		}
	}
	for ref, platform := range scans {
		if _, err := local.ScanImage(ctx, service.ScanRequest{Image: ref, Platform: platform}); err != nil {
			tb.Fatalf("scan %s: %v", ref, err)
		}
	}
	return local
}

// testImages pushes the test images into a registry on loopback, and
// returns their references there, by short name: admission admits
// registry images only.
func testImages(tb testing.TB) map[string]string {
	images := testenv.Images(tb)
	reg := testenv.StartRegistry(tb)
	rootfs := "oci:" + filepath.Join(images, "rootfs", "oci") + ":"
	out := map[string]string{}
	for short, src := range map[string]string{
		"alpine-3.11": rootfs + "alpine-3.11.13",
		"alpine-3.13": rootfs + "alpine-3.13.12",
		"alpine-3.20": rootfs + "alpine-3.20.3",
		"almalinux":   rootfs + "almalinux-9.3",
		"debian-min":  "oci:" + filepath.Join(images, "debian", "oci") + ":debian-bookworm-min",
	} {
		reg.Push(tb, src, "test/"+short+":1", "")
		out[short] = reg.Addr + "/test/" + short + ":1"
	}
	return out
}

// podReview is the AdmissionReview the API server sends for the CREATE of
// a pod with images, built from k8s.io/api's types.
func podReview(tb testing.TB, uid string, images ...string) []byte {
	tb.Helper()
	p := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "web-0", Namespace: "shop"}}
	for i, im := range images {
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: im})
	}
	return reviewFor(tb, uid, metav1.GroupVersionKind{Version: "v1", Kind: "Pod"}, "pods", p)
}

func reviewFor(tb testing.TB, uid string, gvk metav1.GroupVersionKind, resource string, obj runtime.Object) []byte {
	tb.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		tb.Fatal(err)
	}
	b, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Request: &admissionv1.AdmissionRequest{
			UID:       types.UID(uid),
			Kind:      gvk,
			Resource:  metav1.GroupVersionResource{Group: gvk.Group, Version: gvk.Version, Resource: resource},
			Name:      "web-0",
			Namespace: "shop",
			Operation: admissionv1.Create,
			UserInfo:  authenticationv1.UserInfo{Username: "system:serviceaccount:kube-system:replicaset-controller", Groups: []string{"system:serviceaccounts", "system:authenticated"}},
			Object:    runtime.RawExtension{Raw: raw},
		},
	})
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// post sends body to /v1/admission and returns the HTTP status and the
// decoded review (nil Response when the status is not 200).
func post(tb testing.TB, c *http.Client, url string, body []byte, header ...string) (int, *admissionv1.AdmissionReview, string) {
	tb.Helper()
	req, err := http.NewRequest("POST", url+"/v1/admission?timeout=5s", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, string(b)
	}
	var rv admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &rv); err != nil || rv.Response == nil {
		tb.Fatalf("response %s: %v", b, err)
	}
	return resp.StatusCode, &rv, string(b)
}

func TestAdmission(t *testing.T) {
	im := testImages(t)
	local := admissionService(t, []updater.Source{almaSource(t)}, map[string]string{im["almalinux"]: "linux/arm64"})
	// Alpine 3.20 is past its end of life (2026-04-01), a high
	// configuration finding (checks/config tests it): disabled here,
	// where the admission path is tested on the vulnerabilities.
	pol := &policy.Policy{FailOn: "high", Checks: policy.Checks{Disable: []string{"config-eol-base"}}}
	closed := server.NewWithJobs(t, local, local.Store(), nil, server.WithAdmission(server.AdmissionConfig{Policy: pol, AllowAnonymous: true}))
	defer closed.Close()
	open := server.NewWithJobs(t, local, local.Store(), nil, server.WithAdmission(server.AdmissionConfig{Policy: pol, FailOpen: true, Token: "s3cret"}))
	defer open.Close()
	tsClosed := httptest.NewTLSServer(closed.Handler())
	defer tsClosed.Close()
	tsOpen := httptest.NewTLSServer(open.Handler())
	defer tsOpen.Close()
	auth := []string{"Authorization", "Bearer s3cret"}

	scans, err := local.ListScans(context.Background(), im["almalinux"])
	if err != nil {
		t.Fatal(err)
	}
	pinned := "registry.example.com/mirror/almalinux@" + scans[0].ManifestDigest

	deploy := &appsv1.Deployment{TypeMeta: metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"}, ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"}}
	deploy.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "init", Image: im["almalinux"]}}
	deploy.Spec.Template.Spec.Containers = []corev1.Container{{Name: "app", Image: im["alpine-3.11"]}}

	tests := []struct {
		name    string
		ts      *httptest.Server
		header  []string
		body    []byte
		status  int
		allowed bool
		code    int32
		message []string // substrings of the denial
		warn    []string // substrings of the warnings
	}{
		{name: "scanned image failing the policy", ts: tsClosed, body: podReview(t, "u1", im["almalinux"]),
			status: 200, code: 403, message: []string{"lapps denied Pod shop/web-0", "image " + im["almalinux"] + " fails policy", "ALSA-2024:3339 (high) in glibc"}},
		{name: "image pinned to the digest of a scanned manifest", ts: tsClosed, body: podReview(t, "u1d", pinned),
			status: 200, code: 403, message: []string{"image " + pinned + " fails policy", "ALSA-2024:3339 (high) in glibc"}},
		{name: "image pinned to an unknown digest", ts: tsClosed, body: podReview(t, "u1e", "registry.example.com/mirror/almalinux@sha256:"+strings.Repeat("0", 64)),
			status: 200, code: 403, message: []string{"not scanned yet"}},
		{name: "deployment whose init container fails", ts: tsOpen, header: auth, body: reviewFor(t, "u2", metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, "deployments", deploy),
			status: 200, code: 403, message: []string{"lapps denied Deployment shop/web-0", "ALSA-2024:3339"}},
		{name: "unscanned image, fail closed", ts: tsClosed, body: podReview(t, "u3", im["alpine-3.20"]),
			status: 200, code: 403, message: []string{"image " + im["alpine-3.20"] + " not scanned yet"}},
		{name: "unscanned image, fail open", ts: tsOpen, header: auth, body: podReview(t, "u4", im["alpine-3.13"]),
			status: 200, allowed: true, warn: []string{im["alpine-3.13"] + " not scanned yet (allowed: fail open)"}},
		{name: "no token when one is configured", ts: tsOpen, body: podReview(t, "u5", im["alpine-3.13"]), status: 401},
		{name: "malformed object", ts: tsClosed, body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u6","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE","object":{"kind":"Pod","spec":{"containers":"nginx"}}}}`),
			status: 200, code: 400, message: []string{"lapps: cannot read the Pod"}},
		{name: "wrong review version", ts: tsClosed, body: []byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"u7","operation":"CREATE","object":{}}}`),
			status: 200, code: 400, message: []string{`want an AdmissionReview admission.k8s.io/v1, got kind "AdmissionReview" apiVersion "admission.k8s.io/v1beta1"`}},
		{name: "not JSON", ts: tsClosed, body: []byte(`apiVersion: admission.k8s.io/v1`), status: 400},
		{name: "no request uid", ts: tsClosed, body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{}}`), status: 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, rv, raw := post(t, tt.ts.Client(), tt.ts.URL, tt.body, tt.header...)
			if status != tt.status {
				t.Fatalf("status %d, want %d: %s", status, tt.status, raw)
			}
			if rv == nil {
				if !strings.Contains(raw, `"error"`) {
					t.Errorf("error response without an error: %s", raw)
				}
				return
			}
			res := rv.Response
			if res.Allowed != tt.allowed {
				t.Fatalf("allowed %v, want %v: %s", res.Allowed, tt.allowed, raw)
			}
			if !tt.allowed {
				if res.Result == nil || res.Result.Code != tt.code {
					t.Fatalf("status %+v, want code %d", res.Result, tt.code)
				}
				for _, m := range tt.message {
					if !strings.Contains(res.Result.Message, m) {
						t.Errorf("message %q lacks %q", res.Result.Message, m)
					}
				}
			}
			w := strings.Join(res.Warnings, "\n")
			for _, m := range tt.warn {
				if !strings.Contains(w, m) {
					t.Errorf("warnings %q lack %q", w, m)
				}
			}
			var req struct {
				Request struct{ UID string } `json:"request"`
			}
			_ = json.Unmarshal(tt.body, &req)
			if string(res.UID) != req.Request.UID {
				t.Errorf("uid %q, want %q", res.UID, req.Request.UID)
			}
		})
	}

	// The unscanned images were queued for scanning: they are scanned
	// soon after, and then decided by their verdicts (alpine has no
	// AlmaLinux findings: allowed).
	for _, ref := range []string{im["alpine-3.20"], im["alpine-3.13"]} {
		deadline := time.Now().Add(time.Minute)
		for {
			scans, err := local.ListScans(context.Background(), ref)
			if err == nil && len(scans) > 0 {
				break
			}
			if err != nil && !errors.Is(err, service.ErrNotFound) {
				t.Fatal(err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s was not scanned after admission queued it", ref)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	_, rv, raw := post(t, tsClosed.Client(), tsClosed.URL, podReview(t, "u8", im["alpine-3.20"]))
	if rv == nil || !rv.Response.Allowed {
		t.Errorf("scanned alpine denied: %s", raw)
	}

	// Without WithAdmission the route says it is not enabled.
	off := server.NewWithJobs(t, local, local.Store(), nil)
	defer off.Close()
	rec := httptest.NewRecorder()
	off.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/v1/admission", bytes.NewReader(podReview(t, "u9", im["almalinux"]))))
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), "admission is not enabled") {
		t.Errorf("admission off: %d %s", rec.Code, rec.Body)
	}
}
