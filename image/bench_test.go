package image

import (
	"bytes"
	stdgzip "compress/gzip"
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/pgzip"
)

// benchLayout is the OCI layout the decompressor benchmark reads: the
// cached Debian images, else the ones testenv.Images finds.
func benchLayout(b *testing.B) string {
	const cached = "/var/cache/testimages/debian/oci" // the brief's reference layout
	if _, err := os.Stat(filepath.Join(cached, "index.json")); err == nil {
		return cached
	}
	return filepath.Join(imagesDir(b), "debian", "oci")
}

// firstMidLayer returns the compressed first layer of debian-bookworm-mid
// (51 MB gzip).
func firstMidLayer(b *testing.B) []byte {
	b.Helper()
	img, err := Open(context.Background(), "oci:"+benchLayout(b)+":debian-bookworm-mid")
	if err != nil {
		b.Fatal(err)
	}
	defer img.Close()
	d := img.Layers()[0].Digest()
	blob, err := os.ReadFile(filepath.Join(benchLayout(b), "blobs", "sha256", d[len("sha256:"):]))
	if err != nil {
		b.Fatal(err)
	}
	return blob
}

// BenchmarkGunzip compares the gzip decompressors on a real layer, from
// memory, so that the decompressor alone is measured. The winner is used
// by newGzipReader.
func BenchmarkGunzip(b *testing.B) {
	blob := firstMidLayer(b)
	cases := []struct {
		name string
		open func(io.Reader) (io.Reader, error)
	}{
		{"stdlib", func(r io.Reader) (io.Reader, error) { return stdgzip.NewReader(r) }},
		{"klauspost", func(r io.Reader) (io.Reader, error) { return kgzip.NewReader(r) }},
		{"pgzip", func(r io.Reader) (io.Reader, error) { return pgzip.NewReader(r) }},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(blob)))
			for b.Loop() {
				zr, err := c.open(bytes.NewReader(blob))
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, zr); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLayerOpen measures the whole path: file, digest and diffID
// verification, decompression.
func BenchmarkLayerOpen(b *testing.B) {
	img, err := Open(context.Background(), "oci:"+benchLayout(b)+":debian-bookworm-mid")
	if err != nil {
		b.Fatal(err)
	}
	defer img.Close()
	l := img.Layers()[0]
	b.SetBytes(l.Size())
	for b.Loop() {
		rc, err := l.Open(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
}
