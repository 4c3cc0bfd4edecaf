package e2e

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"

	"github.com/lapps/lapps/testenv"
)

// TestAdmissionTLS: lapps serve with server.admission over TLS answers the
// AdmissionReview the API server sends, authenticated by a lapps token
// with the scan scope: a pod of the AlmaLinux 9.3 image, scanned before,
// is denied for ALSA-2024:3339 in glibc; a pod of an image never scanned
// is denied (fail closed), and allowed once the scan that admission
// queued has run (from the registry on 127.0.0.1, which
// server.registries.allow lets the server reach); a caller without a
// token is refused, and a pod naming a local file is denied.
func TestAdmissionTLS(t *testing.T) {
	images := testenv.Images(t)
	alma := testenv.VulnData(t, "almalinux-osv-database", "advisories", "almalinux9")
	reg := testenv.StartRegistry(t)
	rootfs := "oci:" + filepath.Join(images, "rootfs", "oci") + ":"
	reg.Push(t, rootfs+"almalinux-9.3", "e2e/almalinux:9.3", "")
	reg.Push(t, rootfs+"alpine-3.20.3", "e2e/alpine:3.20", "")
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cfg := filepath.Join(dir, "lapps.yaml")
	if err := os.WriteFile(cfg, []byte(`vulndb:
  sources:
    - {name: osv-almalinux, type: osv, path: `+alma+`}
server:
  tls_cert: `+certFile+`
  tls_key: `+keyFile+`
  registries:
    allow: [127.0.0.1]
  admission:
    fail_open: false
    policy:
      fail_on: high
      checks:
        # Alpine 3.20 is past its end of life (2026-04-01), a high
        # configuration finding; this test is about the vulnerabilities.
        disable: [config-eol-base]
`), 0o644); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "lapps.db")
	almaRef := reg.Addr + "/e2e/almalinux:9.3"
	alpineRef := reg.Addr + "/e2e/alpine:3.20"
	tokOut, err := exec.Command(lappsBin, "--db", db, "-c", cfg, "token", "create", "kube-apiserver", "--scope", "scan").Output()
	if err != nil {
		t.Fatalf("token create: %v", err)
	}
	token := strings.TrimSpace(string(tokOut))
	for _, args := range [][]string{{"vulndb", "update"}, {"image", "security", "scan", almaRef, "--platform", "linux/arm64"}} {
		out, err := exec.Command(lappsBin, append([]string{"--db", db, "-c", cfg}, args...)...).CombinedOutput()
		if _, exit := err.(*exec.ExitError); err != nil && !exit {
			t.Fatalf("lapps %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	cmd := exec.Command(lappsBin, "--db", db, "serve", "--addr", "127.0.0.1:0", "-c", cfg)
	log := &testenv.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	var addr string
	waitFor(t, 30*time.Second, "lapps serve to listen", func() (bool, string) {
		m := servingRE.FindStringSubmatch(log.String())
		if m == nil {
			return false, log.String()
		}
		addr = m[1]
		return true, ""
	})
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: 10 * time.Second}
	post := func(uid, image, token string) (*http.Response, []byte) {
		t.Helper()
		pod := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}, ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}}}
		raw, _ := json.Marshal(pod)
		body, _ := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: types.UID("uid-" + uid), Kind: metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
				Resource: metav1.GroupVersionResource{Version: "v1", Resource: "pods"}, Namespace: "shop", Name: "web",
				Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}},
		})
		req, _ := http.NewRequest("POST", "https://"+addr+"/v1/admission?timeout=5s", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	review := func(uid, image string) *admissionv1.AdmissionResponse {
		t.Helper()
		resp, b := post(uid, image, token)
		var rv admissionv1.AdmissionReview
		if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &rv) != nil || rv.Response == nil || string(rv.Response.UID) != "uid-"+uid {
			t.Fatalf("HTTP %d: %s\n%s", resp.StatusCode, b, log.String())
		}
		return rv.Response
	}
	if resp, b := post("anonymous", almaRef, ""); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("a review without a token: HTTP %d %s, want 401", resp.StatusCode, b)
	}
	if r := review("local", "docker-archive:/etc/passwd"); r.Allowed || r.Result == nil || !strings.Contains(r.Result.Message, "admission only admits registry images") {
		t.Errorf("a pod naming a local file: %+v", r)
	}
	if r := review("alma", almaRef); r.Allowed || r.Result == nil || !strings.Contains(r.Result.Message, "ALSA-2024:3339 (high) in glibc") {
		t.Errorf("AlmaLinux pod: %+v", r)
	}
	if r := review("alpine", alpineRef); r.Allowed || r.Result == nil || !strings.Contains(r.Result.Message, "not scanned yet") {
		t.Errorf("unscanned alpine pod: %+v", r)
	}
	n := 0
	waitFor(t, 90*time.Second, "the queued scan of alpine to allow its pod", func() (bool, string) {
		n++
		r := review("alpine-"+strings.Repeat("x", n), alpineRef)
		if r.Allowed {
			return true, ""
		}
		return false, r.Result.Message
	})
}
