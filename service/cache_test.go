package service

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/testenv/imagegen"
)

// alpineLayer generates a one-layer Alpine file system whose apk database
// lists pkg at version.
func alpineLayer(t *testing.T, dir string, c imagegen.Compression, pkg, version string) imagegen.Layer {
	t.Helper()
	return imagegen.TarLayer(t, dir, c,
		imagegen.File("etc/os-release", "ID=alpine\nVERSION_ID=3.20.3\nPRETTY_NAME=\"Alpine Linux v3.20\"\n"),
		imagegen.File("lib/apk/db/installed", fmt.Sprintf("P:%s\nV:%s\nA:x86_64\no:%s\n\n", pkg, version, pkg)))
}

// scanPackages scans ref and returns its apk packages.
func scanPackages(t *testing.T, l *Local, ref string) ([]string, error) {
	t.Helper()
	r, err := l.ScanImage(context.Background(), ScanRequest{Image: ref})
	if err != nil {
		return nil, err
	}
	return packageSet(r, "apk"), nil
}

// TestCacheTrust checks that a layer index is reused only for content
// lapps verified: an image configuration that claims the diff ID of an
// indexed layer for other content is a corrupt image, whatever the
// transport, and is never reported as the indexed image.
func TestCacheTrust(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	honest := alpineLayer(t, dir, imagegen.Gzipped, "musl", "1.2.5-r0")
	other := alpineLayer(t, dir, imagegen.Gzipped, "hidden", "6.6.6-r0")
	honestRef := imagegen.OCILayout(t, filepath.Join(dir, "honest"), []imagegen.Layer{honest}, "")

	t.Run("registry layout: an unknown blob claiming a known diff ID is read", func(t *testing.T) {
		l, reads := newTestLocal(t)
		if got, err := scanPackages(t, l, honestRef); err != nil || len(got) != 1 || got[0] != "musl 1.2.5-r0" {
			t.Fatalf("honest image: %v, %v", got, err)
		}
		lie := other
		lie.DiffID = honest.DiffID
		ref := imagegen.OCILayout(t, filepath.Join(dir, "lie-unknown"), []imagegen.Layer{lie}, "")
		reads.Store(0)
		got, err := scanPackages(t, l, ref)
		if !errors.Is(err, image.ErrCorrupt) {
			t.Fatalf("lying image: %v, %v; want a corrupt image", got, err)
		}
		if reads.Load() != 1 {
			t.Errorf("the unknown blob was read %d times, want once", reads.Load())
		}
		if _, err := l.ListScans(ctx, ref); !errors.Is(err, ErrNotFound) {
			t.Errorf("a scan was recorded for the lying image: %v", err)
		}
	})

	t.Run("registry layout: a known blob given another diff ID is refused unread", func(t *testing.T) {
		l, reads := newTestLocal(t)
		if _, err := scanPackages(t, l, honestRef); err != nil {
			t.Fatal(err)
		}
		lie := honest
		lie.DiffID = other.DiffID
		ref := imagegen.OCILayout(t, filepath.Join(dir, "lie-known"), []imagegen.Layer{lie}, "")
		reads.Store(0)
		if got, err := scanPackages(t, l, ref); !errors.Is(err, image.ErrCorrupt) {
			t.Fatalf("lying image: %v, %v; want a corrupt image", got, err)
		}
		if reads.Load() != 0 {
			t.Errorf("the known blob was read %d times, want none", reads.Load())
		}
	})

	t.Run("docker-archive: hashed now, a lie is refused", func(t *testing.T) {
		l, reads := newTestLocal(t)
		plain := alpineLayer(t, dir, imagegen.Uncompressed, "musl", "1.2.5-r0")
		ref := imagegen.DockerArchive(t, filepath.Join(dir, "honest.tar"), []imagegen.Layer{plain})
		if _, err := scanPackages(t, l, ref); err != nil {
			t.Fatal(err)
		}
		reads.Store(0)
		if got, err := scanPackages(t, l, ref); err != nil || reads.Load() != 0 {
			t.Fatalf("rescan: %v, %v, %d layer reads; want the cached index, no read", got, err, reads.Load())
		}
		hidden := alpineLayer(t, dir, imagegen.Uncompressed, "hidden", "6.6.6-r0")
		hidden.DiffID = plain.DiffID
		lie := imagegen.DockerArchive(t, filepath.Join(dir, "lie.tar"), []imagegen.Layer{hidden})
		for _, l := range []*Local{l, func() *Local { l, _ := newTestLocal(t); return l }()} {
			if got, err := scanPackages(t, l, lie); !errors.Is(err, image.ErrCorrupt) {
				t.Errorf("lying archive: %v, %v; want a corrupt image, on a cache holding the claimed layer and on an empty one", got, err)
			}
		}
	})

	t.Run("a layer listed several times is read once", func(t *testing.T) {
		l, reads := newTestLocal(t)
		ref := imagegen.OCILayout(t, filepath.Join(dir, "repeated"), []imagegen.Layer{honest, honest, honest, honest, honest}, "")
		if got, err := scanPackages(t, l, ref); err != nil || len(got) != 1 {
			t.Fatalf("repeated: %v, %v", got, err)
		}
		if reads.Load() != 1 {
			t.Errorf("read %d times, want once", reads.Load())
		}
		// The same lie twice is refused, and different claims for one blob too.
		lie := honest
		lie.DiffID = other.DiffID
		ref = imagegen.OCILayout(t, filepath.Join(dir, "repeated-lie"), []imagegen.Layer{honest, lie}, "")
		if _, err := scanPackages(t, l, ref); !errors.Is(err, image.ErrCorrupt) {
			t.Errorf("one blob with two diff IDs: %v, want a corrupt image", err)
		}
	})

	t.Run("dir: content changed under the same listing is read again", func(t *testing.T) {
		l, reads := newTestLocal(t)
		root := t.TempDir()
		write := func(version string) {
			t.Helper()
			for p, content := range map[string]string{
				"etc/os-release":       "ID=alpine\nVERSION_ID=3.20.3\n",
				"lib/apk/db/installed": "P:musl\nV:" + version + "\nA:x86_64\no:musl\n\n",
			} {
				f := filepath.Join(root, p)
				if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(f, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
				// Same size and modification time: the listing is unchanged.
				if err := os.Chtimes(f, time.Unix(1e9, 0), time.Unix(1e9, 0)); err != nil {
					t.Fatal(err)
				}
			}
		}
		write("1.2.5-r0")
		if got, err := scanPackages(t, l, "dir:"+root); err != nil || got[0] != "musl 1.2.5-r0" {
			t.Fatalf("first: %v, %v", got, err)
		}
		write("1.2.5-r9")
		reads.Store(0)
		got, err := scanPackages(t, l, "dir:"+root)
		if err != nil || len(got) != 1 || got[0] != "musl 1.2.5-r9" || reads.Load() != 1 {
			t.Errorf("after the change: %v, %v, %d reads; want the new content, read once", got, err, reads.Load())
		}
		reads.Store(0)
		if _, err := scanPackages(t, l, "dir:"+root); err != nil || reads.Load() != 0 {
			t.Errorf("unchanged tree: %v, %d reads, want the cached index", err, reads.Load())
		}
	})
}
