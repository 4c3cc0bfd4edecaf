package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
)

// TestImportReplace: an import under the name of a configured source is
// refused without replace, naming --replace, and changes nothing; with
// replace, or under another name, it is done.
func TestImportReplace(t *testing.T) {
	data := testenv.VulnData(t, "alpine-secdb", "v3.11")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	l := NewLocal(st, indexer.New(all.Catalogers()), WithSources([]updater.Source{{Name: "alpine-secdb", Type: "alpine-secdb", Path: data}}))
	t.Cleanup(func() { l.Close() })
	empty := t.TempDir()

	_, err = l.ImportVulnDB(ctx, "alpine-secdb", empty, "alpine-secdb", false)
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "--replace") {
		t.Fatalf("import over a configured source without replace: err = %v, want a bad request naming --replace", err)
	}
	if st, err := l.VulnDBStatus(ctx); err != nil || len(st) != 1 || !st[0].LastRun.IsZero() {
		t.Errorf("the refused import ran: %+v, %v", st, err)
	}
	res, err := l.ImportVulnDB(ctx, "alpine-secdb", data, "alpine-secdb", true)
	if err != nil || res.Source != "alpine-secdb" || res.Records == 0 {
		t.Fatalf("import with replace = %+v, %v", res, err)
	}
	res, err = l.ImportVulnDB(ctx, "alpine-secdb", data, "", false)
	if err != nil || res.Source != "import-alpine-secdb-v3.11" {
		t.Fatalf("import under the default name = %+v, %v", res, err)
	}
}

// TestImageOptionsBindEveryScan: the options of WithImageOptions apply
// to every scan whatever the request says (local roots refuse a layout
// outside them, inside or through a symbolic link), and
// WithInsecureRegistries decides insecure per registry.
func TestImageOptionsBindEveryScan(t *testing.T) {
	images := testenv.Images(t)
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	l := NewLocal(st, indexer.New(all.Catalogers()), WithSources(nil), WithImageOptions(image.WithLocalRoots([]string{root})))
	t.Cleanup(func() { l.Close() })
	layout := filepath.Join(images, "rootfs", "oci")
	if err := os.Symlink(layout, filepath.Join(root, "link")); err != nil {
		t.Fatal(err)
	}
	for _, ref := range []string{"oci:" + layout + ":alpine-3.13.12", "oci:" + filepath.Join(root, "link") + ":alpine-3.13.12", "dir:/etc"} {
		if _, err := l.ScanImage(ctx, ScanRequest{Image: ref}); !errors.Is(err, image.ErrForbidden) {
			t.Errorf("scan %s: err = %v, want ErrForbidden", ref, err)
		}
	}

	ins := NewLocal(st, nil, WithInsecureRegistries([]string{"10.0.0.5:5000", "docker.io"}))
	for ref, want := range map[string]bool{
		"10.0.0.5:5000/app:1":           true,
		"docker://10.0.0.5:5000/app:1":  true,
		"10.0.0.5:5001/app:1":           false,
		"10.0.0.5/app:1":                false,
		"debian:12":                     true,
		"index.docker.io/library/x:1":   true,
		"ghcr.io/x/y:1":                 false,
		"oci:/10.0.0.5:5000/layout:tag": false,
	} {
		if got := ins.insecureFor(ref); got != want {
			t.Errorf("insecureFor(%s) = %v, want %v", ref, got, want)
		}
	}
}
