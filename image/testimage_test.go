package image

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// Generators of small hostile images for the tests: an image described by
// its layer blobs, written as an OCI layout, a docker-archive or served by
// a fake registry.

// testImage is one image: its layer blobs as stored and the diffIDs its
// configuration claims ("" for a blob: its own sha256, right for an
// uncompressed layer).
type testImage struct {
	blobs   [][]byte
	diffIDs []string
	// os, arch, variant of the configuration ("" os: linux/amd64).
	os, arch, variant string
	// configSize, when set, is the size the manifest gives the
	// configuration instead of its real one.
	configSize int64
}

func sha(b []byte) string { return fmt.Sprintf("sha256:%x", sha256.Sum256(b)) }

func gz(tb testing.TB, b []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(b); err != nil {
		tb.Fatal(err)
	}
	zw.Close()
	return buf.Bytes()
}

// config is the image configuration, JSON.
func (ti testImage) config() []byte {
	osName, arch := ti.os, ti.arch
	if osName == "" {
		osName, arch = "linux", "amd64"
	}
	diffIDs := []string{}
	for i, b := range ti.blobs {
		d := sha(b)
		if i < len(ti.diffIDs) && ti.diffIDs[i] != "" {
			d = ti.diffIDs[i]
		}
		diffIDs = append(diffIDs, d)
	}
	c := map[string]any{"os": osName, "architecture": arch, "rootfs": map[string]any{"type": "layers", "diff_ids": diffIDs}}
	if ti.variant != "" {
		c["variant"] = ti.variant
	}
	b, _ := json.Marshal(c)
	return b
}

// manifest is the OCI manifest for a configuration.
func (ti testImage) manifest(cfg []byte) []byte {
	size := int64(len(cfg))
	if ti.configSize != 0 {
		size = ti.configSize
	}
	return ti.manifestFor(sha(cfg), size)
}

func (ti testImage) manifestFor(cfgDigest string, cfgSize int64) []byte {
	type desc struct {
		MediaType string `json:"mediaType"`
		Digest    string `json:"digest"`
		Size      int64  `json:"size"`
	}
	m := struct {
		SchemaVersion int    `json:"schemaVersion"`
		MediaType     string `json:"mediaType"`
		Config        desc   `json:"config"`
		Layers        []desc `json:"layers"`
	}{2, "application/vnd.oci.image.manifest.v1+json", desc{"application/vnd.oci.image.config.v1+json", cfgDigest, cfgSize}, []desc{}}
	for _, b := range ti.blobs {
		m.Layers = append(m.Layers, desc{"application/vnd.oci.image.layer.v1.tar+gzip", sha(b), int64(len(b))})
	}
	b, _ := json.Marshal(m)
	return b
}

// writeLayout writes ti as an OCI layout in dir (created), tagged "t".
func (ti testImage) writeLayout(tb testing.TB, dir string) {
	tb.Helper()
	blobs := filepath.Join(dir, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		tb.Fatal(err)
	}
	put := func(b []byte) string {
		d := sha(b)
		if err := os.WriteFile(filepath.Join(blobs, strings.TrimPrefix(d, "sha256:")), b, 0o644); err != nil {
			tb.Fatal(err)
		}
		return d
	}
	for _, b := range ti.blobs {
		put(b)
	}
	cfg := ti.config()
	put(cfg)
	m := ti.manifest(cfg)
	md := put(m)
	idx := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"annotations":{"org.opencontainers.image.ref.name":"t"}}]}`, md, len(m))
	if err := os.WriteFile(filepath.Join(dir, "index.json"), []byte(idx), 0o644); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		tb.Fatal(err)
	}
}

// dockerArchive returns ti as a `docker save` archive: layers as
// <n>/layer.tar, the configuration as config.json.
func (ti testImage) dockerArchive(tb testing.TB) []byte {
	tb.Helper()
	members := []tarFile{{"config.json", ti.config()}}
	var layers []string
	for i, b := range ti.blobs {
		p := fmt.Sprintf("%d/layer.tar", i)
		layers = append(layers, p)
		members = append(members, tarFile{p, b})
	}
	mj, _ := json.Marshal([]map[string]any{{"Config": "config.json", "RepoTags": []string{"test/image:1"}, "Layers": layers}})
	return tarFiles(tb, append([]tarFile{{"manifest.json", mj}}, members...)...)
}

// tarFile is a member of an archive tarFiles builds.
type tarFile struct {
	name string
	data []byte
}

// tarFiles builds a tar archive of the files, in order.
func tarFiles(tb testing.TB, files ...tarFile) []byte {
	tb.Helper()
	m := map[string][]byte{}
	var buf bytes.Buffer
	for _, f := range files {
		m[f.name] = f.data
		one := tarOf(tb, map[string][]byte{f.name: f.data})
		buf.Write(one[:len(one)-1024]) // without the end-of-archive blocks
	}
	buf.Write(make([]byte, 1024))
	return buf.Bytes()
}

// writeFile writes b to a new file in a temporary directory.
func writeFile(tb testing.TB, name string, b []byte) string {
	tb.Helper()
	p := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return p
}

// fakeRegistry serves images over enough of the distribution API for
// go-containerregistry: /v2/, manifests by tag or digest, blobs. handle,
// when set, may answer a request itself (returning true).
type fakeRegistry struct {
	mu        sync.Mutex
	manifests map[string][]byte // "repo/manifests/ref" → manifest
	blobs     map[string][]byte // digest → blob
	handle    func(w http.ResponseWriter, r *http.Request) bool
	requests  atomic.Int32
	srv       *httptest.Server
}

func newFakeRegistry(tb testing.TB) *fakeRegistry {
	f := &fakeRegistry{manifests: map[string][]byte{}, blobs: map[string][]byte{}}
	f.srv = httptest.NewServer(f)
	tb.Cleanup(f.srv.Close)
	return f
}

// addr is the registry's host:port.
func (f *fakeRegistry) addr() string { return strings.TrimPrefix(f.srv.URL, "http://") }

// put serves ti as repo:tag and returns its reference.
func (f *fakeRegistry) put(repo, tag string, ti testImage) string {
	cfg := ti.config()
	f.putManifest(repo, tag, ti.manifest(cfg))
	f.mu.Lock()
	defer f.mu.Unlock()
	f.blobs[sha(cfg)] = cfg
	for _, b := range ti.blobs {
		f.blobs[sha(b)] = b
	}
	return f.addr() + "/" + repo + ":" + tag
}

func (f *fakeRegistry) putManifest(repo, tag string, m []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.manifests[repo+"/manifests/"+tag] = m
	f.manifests[repo+"/manifests/"+sha(m)] = m
}

func (f *fakeRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	if f.handle != nil && f.handle(w, r) {
		return
	}
	p := strings.TrimPrefix(r.URL.Path, "/v2/")
	if p == "" {
		w.WriteHeader(http.StatusOK)
		return
	}
	f.mu.Lock()
	m, isManifest := f.manifests[p]
	var blob []byte
	isBlob := false
	if i := strings.Index(p, "/blobs/"); i >= 0 {
		blob, isBlob = f.blobs[p[i+len("/blobs/"):]]
	}
	f.mu.Unlock()
	switch {
	case isManifest:
		w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
		w.Header().Set("Docker-Content-Digest", sha(m))
		w.Write(m)
	case isBlob:
		w.Write(blob)
	case strings.Contains(p, "/manifests/"):
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}`)
	default:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		io.WriteString(w, `{"errors":[{"code":"BLOB_UNKNOWN","message":"blob unknown"}]}`)
	}
}

// allocated runs f and returns the bytes it allocated on the heap, from
// runtime.MemStats.TotalAlloc: whatever f read into memory, even briefly,
// counts.
func allocated(f func()) uint64 {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}
