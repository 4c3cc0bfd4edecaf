package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lapps/lapps/testenv"
)

// TestBadReferences: unparsable references and missing files get the
// sentinel errors and messages naming the input.
func TestBadReferences(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "missing")
	notTar := filepath.Join(t.TempDir(), "x.json")
	if err := os.WriteFile(notTar, []byte(`{"not":"a tar"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ref      string
		sentinel error
		mention  string
	}{
		{"", ErrInvalidReference, "empty"},
		{"Upper/Case:tag", ErrInvalidReference, "Upper/Case"},
		{"docker://", ErrInvalidReference, ""},
		{"debian:bad tag", ErrInvalidReference, "bad tag"},
		{"oci:", ErrInvalidReference, "oci:"},
		{"oci-archive:", ErrInvalidReference, "oci-archive:"},
		{"docker-archive:", ErrInvalidReference, "docker-archive:"},
		{"dir:", ErrInvalidReference, "dir:"},
		{"oci:" + missing, ErrNotFound, missing},
		{"oci:" + missing + ":tag", ErrNotFound, missing},
		{"oci-archive:" + missing, ErrNotFound, missing},
		{"docker-archive:" + missing, ErrNotFound, missing},
		{"dir:" + missing, ErrNotFound, missing},
		{"oci:" + filepath.Dir(notTar), ErrNotFound, "not an OCI image layout"},
		{"oci-archive:" + notTar, nil, "not a tar archive"},
		{"docker-archive:" + notTar, nil, "not a tar archive"},
	} {
		t.Run(c.ref, func(t *testing.T) {
			img, err := Open(ctx, c.ref)
			if err == nil {
				img.Close()
				t.Fatal("no error")
			}
			if c.sentinel != nil {
				mustErrorIs(t, err, c.sentinel)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
		})
	}
}

// TestArchiveErrors: archives of the wrong kind, compressed, or asked for
// an image they do not hold.
func TestArchiveErrors(t *testing.T) {
	images := imagesDir(t)
	ctx := context.Background()
	dockerTar := filepath.Join(images, "rootfs", "alpine-3.20.3.docker.tar")
	gz := filepath.Join(testenv.Shared(t), "testimages", "rootfs", "alpine-minirootfs-3.20.3-x86_64.tar.gz")
	for _, c := range []struct {
		ref      string
		sentinel error
		mention  string
	}{
		{"docker-archive:" + gz, nil, "gzip-compressed"},
		{"oci-archive:" + dockerTar, ErrNotFound, "no index.json"},
		{"docker-archive:" + dockerTar + ":@1", ErrNotFound, "holds 1 images"},
		{"docker-archive:" + dockerTar + ":@x", ErrInvalidReference, "@N"},
		{"docker-archive:" + dockerTar + ":other/image:1", ErrNotFound, "testimages/alpine-3.20.3:latest"},
	} {
		t.Run(c.ref, func(t *testing.T) {
			_, err := Open(ctx, c.ref)
			if err == nil {
				t.Fatal("no error")
			}
			if c.sentinel != nil {
				mustErrorIs(t, err, c.sentinel)
			}
			if !strings.Contains(err.Error(), c.mention) {
				t.Errorf("error %q does not mention %q", err, c.mention)
			}
		})
	}
	// The image can be named by its tag or index.
	for _, sel := range []string{":testimages/alpine-3.20.3:latest", ":@0", "@0", ":docker.io/testimages/alpine-3.20.3"} {
		img, err := Open(ctx, "docker-archive:"+dockerTar+sel)
		if err != nil {
			t.Errorf("%s: %v", sel, err)
			continue
		}
		if len(img.Layers()) != 1 {
			t.Errorf("%s: %d layers", sel, len(img.Layers()))
		}
		img.Close()
	}
}

// smallLayout copies the blobs of one tag of an OCI layout into a new
// layout and returns it with the manifest.
func smallLayout(t *testing.T, src, tag string) (string, *v1.Manifest) {
	t.Helper()
	dst := t.TempDir()
	mdigest, m := layoutManifest(t, src, tag)
	idx, _ := os.ReadFile(filepath.Join(src, "index.json"))
	var im v1.IndexManifest
	if err := json.Unmarshal(idx, &im); err != nil {
		t.Fatal(err)
	}
	for _, d := range im.Manifests {
		if d.Digest == mdigest {
			im.Manifests = []v1.Descriptor{d}
		}
	}
	idx, _ = json.Marshal(im)
	must(t, os.MkdirAll(filepath.Join(dst, "blobs", "sha256"), 0o755))
	must(t, os.WriteFile(filepath.Join(dst, "index.json"), idx, 0o644))
	must(t, os.WriteFile(filepath.Join(dst, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644))
	for _, h := range append([]v1.Hash{mdigest, m.Config.Digest}, m.Layers[0].Digest) {
		b, err := os.ReadFile(filepath.Join(src, "blobs", "sha256", h.Hex))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dst, "blobs", "sha256", h.Hex), b, 0o644))
	}
	return dst, m
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// TestCorruptLayers damages the alpine layer in every file transport: a
// flipped byte, a truncation, trailing bytes. Reading fails, naming the
// layer; nothing panics.
func TestCorruptLayers(t *testing.T) {
	images := imagesDir(t)
	ctx := context.Background()
	const tag = "alpine-3.20.3"
	damages := []struct {
		name    string
		damage  func([]byte) []byte
		mention string
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b }, "digest mismatch"},
		{"flipped last byte", func(b []byte) []byte { b[len(b)-1] ^= 0x01; return b }, "digest mismatch"},
		{"truncated", func(b []byte) []byte { return b[:len(b)*2/3] }, "truncated"},
		{"trailing bytes", func(b []byte) []byte { return append(b, make([]byte, 1024)...) }, "larger than"},
	}
	for _, d := range damages {
		t.Run("oci/"+d.name, func(t *testing.T) {
			dir, m := smallLayout(t, filepath.Join(images, "rootfs", "oci"), tag)
			blob := filepath.Join(dir, "blobs", "sha256", m.Layers[0].Digest.Hex)
			b, err := os.ReadFile(blob)
			must(t, err)
			must(t, os.WriteFile(blob, d.damage(b), 0o644))
			archive := filepath.Join(t.TempDir(), "a.tar")
			run(t, "tar", "-C", dir, "-cf", archive, ".")
			for _, ref := range []string{"oci:" + dir, "oci-archive:" + archive} {
				expectLayerError(ctx, t, ref, m.Layers[0].Digest.String(), d.mention)
			}
		})
	}
	// docker-archive: damage the layer member in place (same size).
	t.Run("docker-archive", func(t *testing.T) {
		src, err := os.ReadFile(filepath.Join(images, "rootfs", tag+".docker.tar"))
		must(t, err)
		img, err := Open(ctx, "docker-archive:"+filepath.Join(images, "rootfs", tag+".docker.tar"))
		must(t, err)
		l := img.Layers()[0]
		img.Close()
		f, err := os.Open(filepath.Join(images, "rootfs", tag+".docker.tar"))
		must(t, err)
		members, err := indexTar(f)
		f.Close()
		must(t, err)
		m := members[strings.TrimPrefix(l.DiffID(), "sha256:")+".tar"]
		if m.size == 0 {
			t.Fatalf("layer member not found in %v", members)
		}
		src[m.offset+m.size/2] ^= 0xff // inside some file's content
		bad := filepath.Join(t.TempDir(), "bad.tar")
		must(t, os.WriteFile(bad, src, 0o644))
		expectLayerError(ctx, t, "docker-archive:"+bad, l.Digest(), "mismatch")
	})
}

// expectLayerError opens ref and expects reading its first layer to fail
// with an error naming the layer.
func expectLayerError(ctx context.Context, t *testing.T, ref, digest, mention string) {
	t.Helper()
	img, err := Open(ctx, ref)
	if err != nil {
		t.Fatalf("%s: %v", ref, err)
	}
	defer img.Close()
	_, _, err = readLayer(ctx, img.Layers()[0])
	if err == nil {
		t.Fatalf("%s: damaged layer read without error", ref)
	}
	t.Logf("%s: %v", ref, err)
	if !strings.Contains(err.Error(), digest) || !strings.Contains(err.Error(), mention) {
		t.Errorf("%s: error %q should name layer %s and mention %q", ref, err, digest, mention)
	}
}

// TestDiffIDMismatch: a configuration claiming another diffID than the
// layer's content is caught when the layer is read, since layer indexes
// are shared under diffIDs.
func TestDiffIDMismatch(t *testing.T) {
	images := imagesDir(t)
	dir, m := smallLayout(t, filepath.Join(images, "rootfs", "oci"), "alpine-3.20.3")
	blobs := filepath.Join(dir, "blobs", "sha256")
	cb, err := os.ReadFile(filepath.Join(blobs, m.Config.Digest.Hex))
	must(t, err)
	var cfg map[string]any
	must(t, json.Unmarshal(cb, &cfg))
	cfg["rootfs"].(map[string]any)["diff_ids"] = []string{"sha256:" + strings.Repeat("ab", 32)}
	cb, _ = json.Marshal(cfg)
	writeBlob := func(b []byte) v1.Hash {
		h, _, err := v1.SHA256(strings.NewReader(string(b)))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(blobs, h.Hex), b, 0o644))
		return h
	}
	m.Config.Digest, m.Config.Size = writeBlob(cb), int64(len(cb))
	mb, _ := json.Marshal(m)
	mh := writeBlob(mb)
	idx := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d}]}`, mh, len(mb))
	must(t, os.WriteFile(filepath.Join(dir, "index.json"), []byte(idx), 0o644))
	expectLayerError(context.Background(), t, "oci:"+dir, m.Layers[0].Digest.String(), "diffID")

	// A manifest blob that does not match its digest fails Open.
	must(t, os.WriteFile(filepath.Join(blobs, mh.Hex), append(mb, ' '), 0o644))
	if _, err := Open(context.Background(), "oci:"+dir); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("tampered manifest: %v", err)
	}
}

// registryProxy puts an httptest server in front of the real registry;
// handle may answer a request itself (returning true).
func registryProxy(t *testing.T, reg *testenv.Registry, handle func(w http.ResponseWriter, r *http.Request) bool) string {
	t.Helper()
	target, _ := url.Parse("http://" + reg.Addr)
	rp := httputil.NewSingleHostReverseProxy(target)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if handle != nil && handle(w, r) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// TestRegistryErrors drives the real registry, through proxies where the
// registry cannot produce the condition itself.
func TestRegistryErrors(t *testing.T) {
	images := imagesDir(t)
	reg := testenv.StartRegistry(t)
	reg.Push(t, "oci:"+filepath.Join(images, "rootfs", "oci")+":alpine-3.20.3", "library/alpine:3.20.3", "")
	ctx := context.Background()
	fast := WithRetry(Retry{Attempts: 3, Backoff: 10 * time.Millisecond, MaxWait: 5 * time.Second})

	t.Run("not found", func(t *testing.T) {
		for _, ref := range []string{reg.Addr + "/library/nothing:here", reg.Addr + "/library/alpine:nope",
			reg.Addr + "/library/alpine@sha256:" + strings.Repeat("0", 64)} {
			_, err := Open(ctx, ref, fast)
			t.Log(err)
			mustErrorIs(t, err, ErrNotFound)
			if !strings.Contains(err.Error(), strings.SplitN(ref, "/", 2)[1]) {
				t.Errorf("error %q does not name %s", err, ref)
			}
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		must(t, err)
		addr := l.Addr().String()
		l.Close()
		_, err = Open(ctx, addr+"/x/y:z", WithRetry(Retry{Attempts: 1}))
		t.Log(err)
		if err == nil || !strings.Contains(err.Error(), "connection refused") || !strings.Contains(err.Error(), addr+"/x/y:z") {
			t.Errorf("error %v: want connection refused naming the image", err)
		}
	})

	t.Run("unauthorized and credentials", func(t *testing.T) {
		var sawAuth atomic.Value
		addr := registryProxy(t, reg, func(w http.ResponseWriter, r *http.Request) bool {
			a := r.Header.Get("Authorization")
			if a != "" {
				sawAuth.Store(a)
			}
			u, p, ok := r.BasicAuth()
			if (ok && u == "user" && p == "secret") || a == "Bearer tok" {
				return false
			}
			w.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
			return true
		})
		ref := addr + "/library/alpine:3.20.3"
		t.Setenv("DOCKER_CONFIG", t.TempDir()) // no credentials of the host's
		t.Setenv("HOME", t.TempDir())
		_, err := Open(ctx, ref, fast)
		t.Log(err)
		mustErrorIs(t, err, ErrUnauthorized)
		if !strings.Contains(err.Error(), ref) {
			t.Errorf("error %q does not name %s", err, ref)
		}
		_, err = Open(ctx, ref, fast, WithCredentials(map[string]Credential{addr: {Username: "user", Password: "wrong"}}))
		mustErrorIs(t, err, ErrUnauthorized)
		for _, c := range []Credential{{Username: "user", Password: "secret"}, {Token: "tok"}} {
			img, err := Open(ctx, ref, fast, WithCredentials(map[string]Credential{addr: c}))
			if err != nil {
				t.Fatalf("%+v: %v", c, err)
			}
			if _, _, err := readLayer(ctx, img.Layers()[0]); err != nil {
				t.Errorf("%+v: read layer: %v", c, err)
			}
			img.Close()
		}
	})

	t.Run("429 Retry-After", func(t *testing.T) {
		for _, c := range []struct {
			name       string
			retryAfter func() string
			limited    int32
			wantErr    bool
			wantCalls  int32
		}{
			{"seconds", func() string { return "1" }, 2, false, 3},
			{"http date", func() string { return time.Now().Add(time.Second).UTC().Format(http.TimeFormat) }, 1, false, 2},
			{"too long", func() string { return "3600" }, 1, true, 1},
		} {
			t.Run(c.name, func(t *testing.T) {
				var calls, limited atomic.Int32
				addr := registryProxy(t, reg, func(w http.ResponseWriter, r *http.Request) bool {
					if !strings.Contains(r.URL.Path, "/manifests/") {
						return false
					}
					calls.Add(1)
					if limited.Add(1) > c.limited {
						return false
					}
					w.Header().Set("Retry-After", c.retryAfter())
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusTooManyRequests)
					io.WriteString(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`)
					return true
				})
				img, err := Open(ctx, addr+"/library/alpine:3.20.3")
				if c.wantErr {
					t.Log(err)
					if err == nil || !strings.Contains(err.Error(), "429") {
						t.Errorf("error %v: want a rate limit error", err)
					}
				} else if err != nil {
					t.Fatal(err)
				} else {
					img.Close()
				}
				if n := calls.Load(); n != c.wantCalls {
					t.Errorf("%d manifest requests, want %d", n, c.wantCalls)
				}
			})
		}
	})

	t.Run("5xx", func(t *testing.T) {
		var calls atomic.Int32
		addr := registryProxy(t, reg, func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.Contains(r.URL.Path, "/manifests/") {
				return false
			}
			n := calls.Add(1)
			if strings.Contains(r.URL.Path, "always") || n <= 2 {
				w.WriteHeader(http.StatusServiceUnavailable)
				return true
			}
			return false
		})
		img, err := Open(ctx, addr+"/library/alpine:3.20.3", fast)
		if err != nil {
			t.Fatalf("after two 503s: %v", err)
		}
		img.Close()
		if n := calls.Load(); n != 3 {
			t.Errorf("%d manifest requests, want 3", n)
		}
		calls.Store(0)
		if _, err := Open(ctx, addr+"/library/always:1", fast); err == nil || !strings.Contains(err.Error(), "503") {
			t.Errorf("error %v: want a 503 error", err)
		}
		if n := calls.Load(); n != 3 {
			t.Errorf("%d manifest requests, want 3 (the bound)", n)
		}
	})

	t.Run("corrupt and truncated blobs", func(t *testing.T) {
		for _, c := range []struct {
			name   string
			mangle func([]byte) []byte
		}{
			{"flipped", func(b []byte) []byte { b[len(b)/2] ^= 0xff; return b }},
			{"truncated", func(b []byte) []byte { return b[:len(b)/2] }},
		} {
			t.Run(c.name, func(t *testing.T) {
				img0, err := Open(ctx, reg.Addr+"/library/alpine:3.20.3")
				must(t, err)
				layerDigest := img0.Layers()[0].Digest()
				addr := registryProxy(t, reg, func(w http.ResponseWriter, r *http.Request) bool {
					if !strings.HasSuffix(r.URL.Path, "/blobs/"+layerDigest) || r.Method != http.MethodGet {
						return false
					}
					resp, err := http.Get("http://" + reg.Addr + r.URL.Path)
					if err != nil {
						w.WriteHeader(http.StatusBadGateway)
						return true
					}
					defer resp.Body.Close()
					b, _ := io.ReadAll(resp.Body)
					w.Write(c.mangle(b)) // no Content-Length header: chunked
					return true
				})
				img, err := Open(ctx, addr+"/library/alpine:3.20.3", fast)
				must(t, err)
				_, _, err = readLayer(ctx, img.Layers()[0])
				t.Log(err)
				if err == nil || !strings.Contains(err.Error(), layerDigest) {
					t.Errorf("error %v: want one naming layer %s", err, layerDigest)
				}
			})
		}
	})
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{"-1", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"99999999999", 24 * time.Hour, true},
	} {
		got, ok := parseRetryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", c.in, got, ok, c.want, c.ok)
		}
	}
	if !errors.Is(&PlatformError{}, ErrNotFound) {
		t.Error("PlatformError is not ErrNotFound")
	}
}
