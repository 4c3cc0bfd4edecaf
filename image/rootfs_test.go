package image

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"io"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/testenv"
)

// tarEntry is what the dir: test compares of an entry.
type tarEntry struct {
	typ  byte
	size int64
	link string
	mode int64
	sum  string
}

// TestDirTransport unpacks the Alpine minirootfs with tar, opens it as
// dir:, and compares the generated layer with the original tarball; the
// digest is stable while the tree is unchanged and changes with it.
func TestDirTransport(t *testing.T) {
	tarball := filepath.Join(testenv.Shared(t), "testimages", "rootfs", "alpine-minirootfs-3.20.3-x86_64.tar.gz")
	root := t.TempDir()
	run(t, "tar", "-C", root, "-xzf", tarball)
	ctx := context.Background()

	img, err := Open(ctx, "dir:"+root)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if img.Name() != "dir:"+root {
		t.Errorf("Name() = %q", img.Name())
	}
	if len(img.Layers()) != 1 {
		t.Fatalf("%d layers, want 1", len(img.Layers()))
	}
	l := img.Layers()[0]
	if !strings.HasPrefix(l.Digest(), "sha256:") || l.Digest() != l.DiffID() || img.ManifestDigest() != l.Digest() {
		t.Errorf("digest %s, diffID %s, manifest %s", l.Digest(), l.DiffID(), img.ManifestDigest())
	}

	want := tarEntries(t, func() io.Reader {
		f, err := os.Open(tarball)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		zr, err := gzip.NewReader(f)
		if err != nil {
			t.Fatal(err)
		}
		return zr
	}())
	rc, err := l.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := tarEntries(t, rc)
	rc.Close()
	if len(got) < 50 {
		t.Fatalf("only %d entries", len(got))
	}
	if !maps.Equal(got, want) {
		for k, v := range want {
			if got[k] != v {
				t.Errorf("%s: got %+v, want %+v", k, got[k], v)
			}
		}
		for k := range got {
			if _, ok := want[k]; !ok {
				t.Errorf("%s: not in the tarball", k)
			}
		}
	}

	// Same tree, same key; a touched file, another.
	again, err := Open(ctx, "dir:"+root)
	if err != nil {
		t.Fatal(err)
	}
	if again.ManifestDigest() != img.ManifestDigest() {
		t.Errorf("unchanged tree: %s then %s", img.ManifestDigest(), again.ManifestDigest())
	}
	if err := os.Chtimes(filepath.Join(root, "etc", "os-release"), time.Now(), time.Unix(1, 0)); err != nil {
		t.Fatal(err)
	}
	changed, err := Open(ctx, "dir:"+root)
	if err != nil {
		t.Fatal(err)
	}
	if changed.ManifestDigest() == img.ManifestDigest() {
		t.Error("touched tree kept its digest")
	}

	// Not a directory; missing.
	_, err = Open(ctx, "dir:"+tarball)
	mustErrorIs(t, err, ErrInvalidReference)
	_, err = Open(ctx, "dir:"+filepath.Join(root, "nope"))
	mustErrorIs(t, err, ErrNotFound)
}

// tarEntries lists a tar stream: name (without "./" and trailing "/") to
// type, size, content hash, link target and permission bits.
func tarEntries(t *testing.T, r io.Reader) map[string]tarEntry {
	t.Helper()
	out := map[string]tarEntry{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(strings.TrimPrefix(hdr.Name, "./"), "/")
		if name == "" || name == "." {
			continue
		}
		typ := hdr.Typeflag
		if typ == tar.TypeRegA {
			typ = tar.TypeReg
		}
		e := tarEntry{typ: typ, link: hdr.Linkname, mode: hdr.Mode & 0o7777}
		if typ == tar.TypeReg {
			e.size = hdr.Size
			h := sha256.New()
			if _, err := io.Copy(h, tr); err != nil {
				t.Fatal(err)
			}
			e.sum = string(h.Sum(nil))
		}
		out[name] = e
	}
}
