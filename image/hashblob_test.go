package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// TestHashBlob: HashBlob is the hash of the bytes as stored, whatever the
// transport claims; ContentAddressed says which digests are verified
// content addresses.
func TestHashBlob(t *testing.T) {
	ctx := context.Background()
	real := tarOf(t, map[string][]byte{"etc/os-release": []byte("ID=real\n")})
	claimed := sha(tarOf(t, map[string][]byte{"etc/os-release": []byte("ID=clean\n")}))

	// A docker-archive whose configuration claims another layer's diffID.
	lying := testImage{blobs: [][]byte{real}, diffIDs: []string{claimed}}
	img, err := Open(ctx, "docker-archive:"+writeFile(t, "lying.tar", lying.dockerArchive(t)))
	must(t, err)
	l := img.Layers()[0]
	got, err := l.HashBlob(ctx)
	must(t, err)
	if l.ContentAddressed() || l.DiffID() != claimed || got != sha(real) || got == l.DiffID() {
		t.Errorf("lying docker-archive: content-addressed %v, diffID %s, HashBlob %s; want false, %s, %s", l.ContentAddressed(), l.DiffID(), got, claimed, sha(real))
	}
	if _, err := readAll(ctx, l); err == nil {
		t.Error("reading the lying layer did not fail")
	}
	img.Close()

	// Compressed in an OCI layout and a registry: the blob digest,
	// content-addressed.
	honest := testImage{blobs: [][]byte{gz(t, real)}, diffIDs: []string{sha(real)}}
	dir := t.TempDir()
	honest.writeLayout(t, dir)
	reg := newFakeRegistry(t)
	for _, ref := range []string{"oci:" + dir, reg.put("x/y", "1", honest)} {
		img, err := Open(ctx, ref)
		must(t, err)
		l := img.Layers()[0]
		got, err := l.HashBlob(ctx)
		must(t, err)
		if !l.ContentAddressed() || got != l.Digest() || got != sha(honest.blobs[0]) {
			t.Errorf("%s: content-addressed %v, HashBlob %s, digest %s", ref, l.ContentAddressed(), got, l.Digest())
		}
		img.Close()
		if _, err := l.HashBlob(ctx); err == nil {
			t.Errorf("%s: HashBlob after Close succeeded", ref)
		}
	}
	// A cancelled context stops it.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	img, err = Open(ctx, "oci:"+dir)
	must(t, err)
	defer img.Close()
	if _, err := img.Layers()[0].HashBlob(cctx); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// TestDirHashDeterministic: the dir: tar stream is byte-for-byte the same
// for an unchanged tree (reading files, which moves their access times,
// changes nothing; no access or change times, no owner names), so
// HashBlob identifies the tree's content: a file rewritten with the same
// size and modification time keeps the listing digest but not the hash.
func TestDirHashDeterministic(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(root, "etc", "apk"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte("ID=alpine\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc", "apk", "world"), []byte("musl\n"), 0o644))
	must(t, os.Link(filepath.Join(root, "etc", "os-release"), filepath.Join(root, "etc", "hardlink")))
	must(t, os.Symlink("os-release", filepath.Join(root, "etc", "symlink")))

	hash := func() (digest, sum string) {
		t.Helper()
		img, err := Open(ctx, "dir:"+root)
		must(t, err)
		defer img.Close()
		l := img.Layers()[0]
		if l.ContentAddressed() {
			t.Error("dir: layer claims to be content-addressed")
		}
		sum, err = l.HashBlob(ctx)
		must(t, err)
		// The stream Open returns is the same bytes.
		rc, err := l.Open(ctx)
		must(t, err)
		defer rc.Close()
		h := sha256.New()
		tr := tar.NewReader(io.TeeReader(rc, h))
		for {
			hdr, err := tr.Next()
			if err == io.EOF {
				break
			}
			must(t, err)
			if !hdr.AccessTime.IsZero() || !hdr.ChangeTime.IsZero() || hdr.Uname != "" || hdr.Gname != "" {
				t.Errorf("%s: atime %v, ctime %v, owner %q:%q; want none", hdr.Name, hdr.AccessTime, hdr.ChangeTime, hdr.Uname, hdr.Gname)
			}
			for k := range hdr.PAXRecords {
				if k == "atime" || k == "ctime" {
					t.Errorf("%s: PAX record %s", hdr.Name, k)
				}
			}
			io.Copy(io.Discard, tr)
		}
		io.Copy(h, rc)
		if s := fmt.Sprintf("sha256:%x", h.Sum(nil)); s != sum {
			t.Errorf("HashBlob %s, but the stream hashes to %s", sum, s)
		}
		return l.Digest(), sum
	}
	d1, h1 := hash()
	time.Sleep(10 * time.Millisecond) // let access times move
	d2, h2 := hash()
	if d1 != d2 || h1 != h2 {
		t.Errorf("unchanged tree: digests %s %s, hashes %s %s", d1, d2, h1, h2)
	}
	// Same size, same modification time, other content.
	p := filepath.Join(root, "etc", "apk", "world")
	fi, err := os.Stat(p)
	must(t, err)
	must(t, os.WriteFile(p, []byte("evil\n"), 0o644))
	must(t, os.Chtimes(p, fi.ModTime(), fi.ModTime()))
	d3, h3 := hash()
	if d3 != d1 {
		t.Logf("listing digest changed too (%s)", d3)
	}
	if h3 == h1 {
		t.Error("changed content, same HashBlob")
	}
}
