package testenv

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// The shared fixture harness of the cataloger tests: the layers of the
// Debian test images, read straight from their OCI layout, independently
// of lapps' own image package.

// LayerBlobs returns the paths of the gzip blobs of the layers of a tagged
// image of the Debian test-image OCI layout (debian-bookworm-min, -mid,
// -fat), base first.
func LayerBlobs(tb testing.TB, tag string) []string {
	tb.Helper()
	dir := filepath.Join(Images(tb), "debian", "oci")
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	var manifest struct {
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	readJSON(tb, filepath.Join(dir, "index.json"), &index)
	for _, m := range index.Manifests {
		if m.Annotations["org.opencontainers.image.ref.name"] == tag {
			readJSON(tb, blobPath(dir, m.Digest), &manifest)
			var out []string
			for _, l := range manifest.Layers {
				out = append(out, blobPath(dir, l.Digest))
			}
			return out
		}
	}
	tb.Fatalf("tag %s not in %s", tag, dir)
	return nil
}

func blobPath(dir, digest string) string {
	return filepath.Join(dir, "blobs", strings.Replace(digest, ":", string(filepath.Separator), 1))
}

func readJSON(tb testing.TB, p string, v any) {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", p, err)
	}
}

// OpenLayer returns the uncompressed tar stream of a gzip layer blob,
// closed when the test ends.
func OpenLayer(tb testing.TB, blob string) io.Reader {
	tb.Helper()
	f, err := os.Open(blob)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	return zr
}

// LayerFiles returns the regular files of a layer blob whose clean path
// (no leading slash) keep accepts, by path.
func LayerFiles(tb testing.TB, blob string, keep func(string) bool) map[string][]byte {
	tb.Helper()
	tr := tar.NewReader(OpenLayer(tb, blob))
	out := map[string][]byte{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		name := strings.TrimPrefix(path.Clean("/"+h.Name), "/")
		if h.Typeflag != tar.TypeReg || !keep(name) {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			tb.Fatal(err)
		}
		out[name] = b
	}
}
