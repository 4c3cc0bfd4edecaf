package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// tarOf builds a tar archive of the given members.
func tarOf(tb testing.TB, members map[string][]byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, b := range members {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			tb.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	return buf.Bytes()
}

// archiveSeeds are small archives made of the real metadata of the alpine
// test image (manifest.json, configuration, index.json, manifest) with a
// tiny layer in place of the real one.
func archiveSeeds(f *testing.F) [][]byte {
	images := imagesDir(f)
	ctx := context.Background()
	dockerTar := filepath.Join(images, "rootfs", "alpine-3.20.3.docker.tar")
	fh, err := os.Open(dockerTar)
	if err != nil {
		f.Fatal(err)
	}
	defer fh.Close()
	members, err := indexTar(fh)
	if err != nil {
		f.Fatal(err)
	}
	small := map[string][]byte{}
	for name, m := range members {
		if m.size < 64<<10 {
			b := make([]byte, m.size)
			fh.ReadAt(b, m.offset)
			small[name] = b
		}
	}
	layerTar := tarOf(f, map[string][]byte{"etc/os-release": []byte("ID=alpine\n")})
	img, err := Open(ctx, "docker-archive:"+dockerTar)
	if err != nil {
		f.Fatal(err)
	}
	small[img.Layers()[0].DiffID()[len("sha256:"):]+".tar"] = layerTar
	img.Close()
	seeds := [][]byte{tarOf(f, small)}

	layout := filepath.Join(images, "rootfs", "oci")
	ociMembers := map[string][]byte{}
	for _, p := range []string{"index.json", "oci-layout"} {
		b, err := os.ReadFile(filepath.Join(layout, p))
		if err != nil {
			f.Fatal(err)
		}
		ociMembers[p] = b
	}
	oimg, err := Open(ctx, "oci:"+layout+":alpine-3.20.3")
	if err != nil {
		f.Fatal(err)
	}
	mdigest := oimg.ManifestDigest()
	oimg.Close()
	mb, err := os.ReadFile(filepath.Join(layout, "blobs", "sha256", mdigest[len("sha256:"):]))
	if err != nil {
		f.Fatal(err)
	}
	ociMembers["blobs/sha256/"+mdigest[len("sha256:"):]] = mb
	return append(seeds, tarOf(f, ociMembers))
}

// FuzzArchive feeds arbitrary files to the archive transports: errors are
// fine, panics and hangs are not.
func FuzzArchive(f *testing.F) {
	for _, s := range archiveSeeds(f) {
		f.Add(s)
	}
	// One file per fuzzing process, rewritten by each (sequential) run.
	p := filepath.Join(f.TempDir(), "a.tar")
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for _, ref := range []string{"oci-archive:" + p, "docker-archive:" + p} {
			img, err := Open(ctx, ref)
			if err != nil {
				continue
			}
			for _, l := range img.Layers() {
				if rc, err := l.Open(ctx); err == nil {
					io.Copy(io.Discard, rc)
					rc.Close()
				}
			}
			img.Close()
		}
	})
}

// FuzzLayerStream feeds arbitrary blobs (whose digest matches, so the
// decompressors see them) to a layer: errors are fine, panics are not, and
// a blob that reads to EOF must hash to the diffID claimed.
func FuzzLayerStream(f *testing.F) {
	tarball := tarOf(f, map[string][]byte{"etc/os-release": []byte("ID=debian\n")})
	var gz, zs bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarball)
	zw.Close()
	enc, _ := zstd.NewWriter(&zs)
	enc.Write(tarball)
	enc.Close()
	f.Add(tarball)
	f.Add(gz.Bytes())
	f.Add(zs.Bytes())
	f.Add(append(gz.Bytes(), gz.Bytes()...)) // multi-member gzip
	f.Add([]byte("BZh91AY&SY"))
	if images := os.Getenv("LAPPS_TEST_IMAGES"); images != "" {
		// The head of a real layer (a truncated gzip stream).
		if img, err := Open(context.Background(), "oci:"+filepath.Join(images, "rootfs", "oci")+":alpine-3.20.3"); err == nil {
			if rc, err := img.Layers()[0].(*layer).open(context.Background()); err == nil {
				head := make([]byte, 4096)
				n, _ := io.ReadFull(rc, head)
				f.Add(head[:n])
				rc.Close()
			}
			img.Close()
		}
	}
	diffID := fmt.Sprintf("sha256:%x", sha256.Sum256(tarball))
	f.Fuzz(func(t *testing.T, data []byte) {
		l := &layer{
			digest: fmt.Sprintf("sha256:%x", sha256.Sum256(data)),
			diffID: diffID, size: int64(len(data)),
			digestVerifiable: true, diffIDVerifiable: true,
			open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(bytes.NewReader(data)), nil
			},
		}
		rc, err := l.Open(context.Background())
		if err != nil {
			return
		}
		defer rc.Close()
		h := sha256.New()
		if _, err := io.Copy(h, io.LimitReader(rc, 64<<20)); err == nil {
			if got := fmt.Sprintf("sha256:%x", h.Sum(nil)); got != diffID {
				t.Fatalf("read to EOF without error, but content is %s, not the diffID %s", got, diffID)
			}
		}
	})
}

// FuzzParseRetryAfter: any header value yields a bounded, non-negative
// wait or none.
func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"1", "120", "Wed, 21 Oct 2015 07:28:00 GMT", "-5", "", "1e9"} {
		f.Add(s)
	}
	now := time.Now()
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if d < 0 || (!ok && d != 0) {
			t.Fatalf("parseRetryAfter(%q) = %v, %v", v, d, ok)
		}
	})
}
