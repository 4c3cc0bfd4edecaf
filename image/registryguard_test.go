package image

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
)

// counter is an HTTP server that counts the requests it gets and answers
// each with a secret: it must never be reached.
func counter(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		io.WriteString(w, `{"token":"internal-secret"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestRegistryGuardRedirects: a registry that is allowed cannot send lapps
// to an internal address, by a redirect or a token realm.
func TestRegistryGuardRedirects(t *testing.T) {
	ctx := context.Background()
	internal, hits := counter(t)
	internalPort := internal.URL[strings.LastIndexByte(internal.URL, ':')+1:]
	reg := newFakeRegistry(t)
	ref := reg.put("x/y", "1", testImage{blobs: [][]byte{tarOf(t, map[string][]byte{"a": []byte("a")})}})
	var target atomic.Value
	reg.handle = func(w http.ResponseWriter, r *http.Request) bool {
		to := target.Load().(string)
		if strings.HasPrefix(to, "realm ") {
			if r.Header.Get("Authorization") == "" {
				w.Header().Set("WWW-Authenticate", `Bearer realm="`+strings.TrimPrefix(to, "realm ")+`",service="x"`)
				w.WriteHeader(http.StatusUnauthorized)
				return true
			}
			return false
		}
		if strings.Contains(r.URL.Path, "/manifests/") || strings.Contains(r.URL.Path, "/blobs/") {
			http.Redirect(w, r, to+r.URL.Path, http.StatusTemporaryRedirect)
			return true
		}
		return false
	}
	allow := WithRegistryAllow([]string{reg.addr()})
	for _, to := range []string{
		"http://127.0.0.1:" + internalPort,
		"http://localhost:" + internalPort,
		"realm http://localhost:" + internalPort + "/token",
		"realm http://169.254.169.254/token",
		"realm http://[::1]:" + internalPort + "/token",
	} {
		target.Store(to)
		_, err := Open(ctx, ref, allow, WithRetry(Retry{Attempts: 1}))
		t.Logf("%s: %v", to, err)
		mustErrorIs(t, err, ErrForbidden)
		if strings.Contains(err.Error(), "internal-secret") {
			t.Errorf("the error shows the internal answer: %v", err)
		}
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("the internal server was reached %d times", n)
	}
	// Without the guard (the command line), the same redirect is followed.
	target.Store("http://127.0.0.1:" + internalPort)
	_, err := Open(ctx, ref, WithRetry(Retry{Attempts: 1}))
	t.Log(err)
	if hits.Load() == 0 {
		t.Error("without the guard, the redirect was not followed: the test proves nothing")
	}
}

// TestRegistryGuardProxy: with a proxy in the environment, a destination
// that is not allowed is refused before anything is sent to the proxy, and
// the proxy itself must be allowed. net/http reads the proxy environment
// once per process, so the test runs itself in a child process with it
// set.
func TestRegistryGuardProxy(t *testing.T) {
	if os.Getenv("LAPPS_TEST_PROXY_CHILD") == "" {
		cmd := exec.Command(os.Args[0], "-test.run=^TestRegistryGuardProxy$", "-test.v")
		cmd.Env = append(os.Environ(), "LAPPS_TEST_PROXY_CHILD=1", "NO_PROXY=", "no_proxy=")
		out, err := cmd.CombinedOutput()
		t.Logf("child:\n%s", out)
		if err != nil {
			t.Fatalf("child: %v", err)
		}
		return
	}
	proxy, hits := counter(t)
	for _, k := range []string{"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"} {
		os.Setenv(k, proxy.URL)
	}
	ctx := context.Background()
	proxyHost := strings.TrimPrefix(proxy.URL, "http://")
	for _, c := range []struct {
		ref      string
		allow    []string
		refused  bool
		viaProxy bool
	}{
		// The destination is internal: refused, the proxy never asked.
		{"169.254.169.254/x/y:1", []string{proxyHost}, true, false},
		{"10.1.2.3:5000/x/y:1", []string{proxyHost}, true, false},
		// The proxy is internal and not allowed: refused at dial time.
		{"10.1.2.3:5000/x/y:1", []string{"10.1.2.3"}, true, false},
		// Both allowed: the request goes through the proxy.
		{"10.1.2.3:5000/x/y:1", []string{proxyHost, "10.0.0.0/8"}, false, true},
	} {
		before := hits.Load()
		_, err := Open(ctx, c.ref, WithRegistryAllow(c.allow), WithInsecure(true), WithRetry(Retry{Attempts: 1}))
		t.Logf("%s allow %v: %v", c.ref, c.allow, err)
		if refused := err != nil && strings.Contains(err.Error(), ErrForbidden.Error()); refused != c.refused {
			t.Errorf("%s allow %v: %v, want refused %v", c.ref, c.allow, err, c.refused)
		}
		if via := hits.Load() > before; via != c.viaProxy {
			t.Errorf("%s allow %v: sent through the proxy %v, want %v", c.ref, c.allow, via, c.viaProxy)
		}
	}
}

// TestRegistryErrorBodies: a registry's error answers are reported by
// status and error codes only, never by their bodies, and keep their
// sentinels.
func TestRegistryErrorBodies(t *testing.T) {
	ctx := context.Background()
	const secret = "s3cr3t-internal-body"
	reg := newFakeRegistry(t)
	reg.handle = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/v2/" {
			return false
		}
		var status int
		fmt.Sscan(strings.TrimPrefix(r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:], "s"), &status)
		repo := strings.Split(strings.TrimPrefix(r.URL.Path, "/v2/"), "/")[0]
		switch repo {
		case "json":
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":%q,"detail":%q},{"code":%q}]}`, secret, secret, secret)
			return true
		}
		w.WriteHeader(status)
		io.WriteString(w, "<html>"+secret+"</html>")
		return true
	}
	// A registry whose token server answers without a token: the library
	// puts that answer in its error.
	bearer := newFakeRegistry(t)
	bearer.handle = func(w http.ResponseWriter, r *http.Request) bool {
		if r.URL.Path == "/token" {
			io.WriteString(w, `{"not_a_token":"`+secret+`"}`)
			return true
		}
		if r.Header.Get("Authorization") == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="http://`+r.Host+`/token",service="x"`)
			w.WriteHeader(http.StatusUnauthorized)
			return true
		}
		return false
	}
	_, err := Open(ctx, bearer.addr()+"/x:1", WithRetry(Retry{Attempts: 1}))
	t.Logf("token server without a token: %v", err)
	if err == nil || strings.Contains(err.Error(), secret) || !strings.Contains(err.Error(), "no token") {
		t.Errorf("token server without a token: %v, want an error without its answer", err)
	}
	for _, c := range []struct {
		repo, tag string
		want      error
		mention   string
	}{
		{"plain", "s500", nil, "registry answered 500 Internal Server Error"},
		{"plain", "s404", ErrNotFound, "registry answered 404 Not Found"},
		{"plain", "s401", ErrUnauthorized, "registry answered 401 Unauthorized"},
		{"plain", "s403", ErrUnauthorized, "registry answered 403 Forbidden"},
		{"json", "s404", ErrNotFound, "registry answered 404 Not Found (manifest unknown, other code)"},
		{"json", "s500", ErrNotFound, "(manifest unknown, other code)"},
	} {
		ref := reg.addr() + "/" + c.repo + ":" + c.tag
		_, err := Open(ctx, ref, WithRetry(Retry{Attempts: 1}))
		t.Logf("%s: %v", ref, err)
		if err == nil {
			t.Fatalf("%s: no error", ref)
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: the error shows the body: %v", ref, err)
		}
		if !strings.Contains(err.Error(), c.mention) || !strings.Contains(err.Error(), ref) {
			t.Errorf("%s: error %q should name the image and say %q", ref, err, c.mention)
		}
		if c.want != nil {
			mustErrorIs(t, err, c.want)
		}
	}
}
