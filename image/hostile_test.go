package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestNonRegularFiles: FIFOs, devices, sockets and directories where a
// file is expected are refused at once (a FIFO is never waited on), with
// ErrInvalidReference when the user named them and ErrCorrupt inside a
// layout; a dir: walk lists them without opening them.
func TestNonRegularFiles(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	fifo := filepath.Join(tmp, "fifo")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Skip("no FIFOs here:", err)
	}
	for _, c := range []struct {
		ref  string
		want error
	}{
		{"docker-archive:" + fifo, ErrInvalidReference},
		{"oci-archive:" + fifo, ErrInvalidReference},
		{"oci:" + fifo, ErrInvalidReference},
		{"dir:" + fifo, ErrInvalidReference},
		{"docker-archive:/dev/null", ErrInvalidReference},
		{"docker-archive:" + tmp, ErrInvalidReference},
		{"oci-archive:" + tmp, ErrInvalidReference},
	} {
		_, err := Open(ctx, c.ref)
		t.Log(err)
		mustErrorIs(t, err, c.want)
	}

	// A layout whose index.json, manifest or layer blob is a FIFO.
	ti := testImage{blobs: [][]byte{tarOf(t, map[string][]byte{"a": []byte("a")})}}
	cfg := ti.config()
	for _, victim := range []string{"index.json", "manifest", "layer"} {
		dir := t.TempDir()
		ti.writeLayout(t, dir)
		p := filepath.Join(dir, "index.json")
		switch victim {
		case "manifest":
			p = filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(sha(ti.manifest(cfg)), "sha256:"))
		case "layer":
			p = filepath.Join(dir, "blobs", "sha256", strings.TrimPrefix(sha(ti.blobs[0]), "sha256:"))
		}
		must(t, os.Remove(p))
		must(t, syscall.Mkfifo(p, 0o644))
		img, err := Open(ctx, "oci:"+dir)
		if victim == "layer" {
			must(t, err)
			_, err = readAll(ctx, img.Layers()[0])
			img.Close()
		}
		t.Log(err)
		mustErrorIs(t, err, ErrCorrupt)
		if !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("error %q does not say what the file is", err)
		}
	}

	// dir: lists the FIFO as a FIFO, without opening it.
	root := t.TempDir()
	must(t, os.WriteFile(filepath.Join(root, "file"), []byte("x"), 0o644))
	must(t, syscall.Mkfifo(filepath.Join(root, "pipe"), 0o644))
	img, err := Open(ctx, "dir:"+root)
	must(t, err)
	defer img.Close()
	rc, err := img.Layers()[0].Open(ctx)
	must(t, err)
	entries := tarEntries(t, rc)
	rc.Close()
	if entries["pipe"].typ != '6' || entries["file"].size != 1 {
		t.Errorf("entries %+v: want the FIFO as a FIFO and the file", entries)
	}
}

// TestLocalRootsConfinement: with local roots, nothing inside a layout or
// a root file system leads out of the allowed directory: a symbolic link
// to a blob outside, "..", a layout that is itself a link outside.
// Without local roots, a layout's blobs still cannot lead out of the
// layout.
func TestLocalRootsConfinement(t *testing.T) {
	ctx := context.Background()
	root, outside := t.TempDir(), t.TempDir()
	ti := testImage{blobs: [][]byte{tarOf(t, map[string][]byte{"a": []byte("a")})}}
	cfgHex := strings.TrimPrefix(sha(ti.config()), "sha256:")

	// The configuration blob, moved outside and linked to.
	layout := filepath.Join(root, "layout")
	ti.writeLayout(t, layout)
	blob := filepath.Join(layout, "blobs", "sha256", cfgHex)
	must(t, os.Rename(blob, filepath.Join(outside, cfgHex)))
	must(t, os.Symlink(filepath.Join(outside, cfgHex), blob))
	// The same, through "..".
	dotdot := filepath.Join(root, "dotdot")
	ti.writeLayout(t, dotdot)
	blob2 := filepath.Join(dotdot, "blobs", "sha256", cfgHex)
	must(t, os.Remove(blob2))
	rel, _ := filepath.Rel(filepath.Dir(blob2), filepath.Join(outside, cfgHex))
	must(t, os.Symlink(rel, blob2))
	// A layout that is a link to one outside.
	ti.writeLayout(t, filepath.Join(outside, "layout"))
	must(t, os.Symlink(filepath.Join(outside, "layout"), filepath.Join(root, "linked")))
	// A layout inside, linked to from inside: fine.
	ti.writeLayout(t, filepath.Join(root, "real"))
	must(t, os.Symlink("real", filepath.Join(root, "alias")))
	// An archive outside, linked to.
	archive := filepath.Join(outside, "a.tar")
	must(t, os.WriteFile(archive, ti.dockerArchive(t), 0o644))
	must(t, os.Symlink(archive, filepath.Join(root, "a.tar")))

	roots := WithLocalRoots([]string{root})
	for _, c := range []struct {
		ref  string
		opts []Option
		want error
	}{
		{"oci:" + layout, []Option{roots}, ErrForbidden},
		{"oci:" + dotdot, []Option{roots}, ErrForbidden},
		{"oci:" + filepath.Join(root, "linked"), []Option{roots}, ErrForbidden},
		{"oci:" + filepath.Join(root, "alias"), []Option{roots}, nil},
		{"docker-archive:" + filepath.Join(root, "a.tar"), []Option{roots}, ErrForbidden},
		{"dir:" + filepath.Join(root, "linked"), []Option{roots}, ErrForbidden},
		{"oci:" + filepath.Join(root, "layout", "..", "..", filepath.Base(outside), "layout"), []Option{roots}, ErrForbidden},
		// Without roots: the user named the layout, whose blobs still
		// stay inside it; the linked layout and archive are what they
		// named.
		{"oci:" + layout, nil, ErrForbidden},
		{"oci:" + dotdot, nil, ErrForbidden},
		{"oci:" + filepath.Join(root, "linked"), nil, nil},
		{"docker-archive:" + filepath.Join(root, "a.tar"), nil, nil},
	} {
		img, err := Open(ctx, c.ref, c.opts...)
		t.Logf("%s (roots %v): %v", c.ref, c.opts != nil, err)
		if c.want == nil {
			if err != nil {
				t.Errorf("%s: %v", c.ref, err)
			} else {
				img.Close()
			}
			continue
		}
		mustErrorIs(t, err, c.want)
	}

	// A root file system with links out: recorded as links, never
	// followed.
	rootfs := filepath.Join(root, "rootfs")
	must(t, os.MkdirAll(filepath.Join(rootfs, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(outside, "secret"), []byte("secret"), 0o644))
	must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(rootfs, "etc", "abs")))
	must(t, os.Symlink("../../../"+filepath.Base(outside)+"/secret", filepath.Join(rootfs, "etc", "rel")))
	must(t, os.Symlink(outside, filepath.Join(rootfs, "dirlink")))
	img, err := Open(ctx, "dir:"+rootfs, roots)
	must(t, err)
	defer img.Close()
	rc, err := img.Layers()[0].Open(ctx)
	must(t, err)
	entries := tarEntries(t, rc)
	rc.Close()
	for _, n := range []string{"etc/abs", "etc/rel", "dirlink"} {
		if entries[n].typ != '2' {
			t.Errorf("%s: %+v, want a symbolic link", n, entries[n])
		}
	}
	if len(entries) != 4 {
		t.Errorf("entries %v: want etc, its two links, dirlink and nothing from outside", entries)
	}
}

// TestBareLocalPaths: a file or directory named without a transport is
// refused, naming the transport that fits, by Open and NormalizeName;
// docker:// forces the registry, and a server (local roots) never looks.
func TestBareLocalPaths(t *testing.T) {
	ctx := context.Background()
	tmp := t.TempDir()
	t.Chdir(tmp)
	ti := testImage{blobs: [][]byte{tarOf(t, map[string][]byte{"a": []byte("a")})}}
	must(t, os.WriteFile("image.tar", ti.dockerArchive(t), 0o644))
	layout := filepath.Join(tmp, "layout")
	ti.writeLayout(t, layout)
	run(t, "tar", "-C", layout, "-cf", "oci.tar", ".")
	must(t, os.MkdirAll("tmp", 0o755))
	must(t, os.WriteFile("tmp/x.tar", []byte("not an archive"), 0o644))
	must(t, os.MkdirAll("rootfs/etc", 0o755))
	for _, c := range []struct{ ref, suggest string }{
		{"image.tar", "docker-archive:image.tar"},
		{"./image.tar", "docker-archive:./image.tar"},
		{"oci.tar", "oci-archive:oci.tar"},
		{"layout", "oci:layout"},
		{layout, "oci:" + layout},
		{"tmp/x.tar", "docker-archive:tmp/x.tar or oci-archive:tmp/x.tar"},
		{"rootfs", "dir:rootfs"},
		{"tmp", "dir:tmp"},
	} {
		_, err := Open(ctx, c.ref)
		t.Log(err)
		mustErrorIs(t, err, ErrInvalidReference)
		if !strings.Contains(err.Error(), c.suggest) {
			t.Errorf("%s: error %q does not suggest %s", c.ref, err, c.suggest)
		}
		if !filepath.IsAbs(c.ref) && !strings.Contains(err.Error(), "docker://"+c.ref) {
			t.Errorf("%s: error %q does not suggest docker://", c.ref, err)
		}
		_, err = NormalizeName(c.ref)
		mustErrorIs(t, err, ErrInvalidReference)
		if _, err := NormalizeName(c.ref, WithLocalRoots(nil)); err != nil && strings.Contains(err.Error(), "local") {
			t.Errorf("%s with local roots: %v, want it taken as a registry reference", c.ref, err)
		}
	}
	if name, err := NormalizeName("docker://rootfs"); err != nil || name != "index.docker.io/library/rootfs:latest" {
		t.Errorf("docker://rootfs: %s, %v", name, err)
	}
	if name, err := NormalizeName("debian:12"); err != nil || name != "index.docker.io/library/debian:12" {
		t.Errorf("debian:12: %s, %v", name, err)
	}
}

// TestCorruptArchives: empty, text and truncated archives and malformed
// manifest.json, index.json, manifests and configurations are ErrCorrupt;
// missing files and members are ErrNotFound.
func TestCorruptArchives(t *testing.T) {
	ctx := context.Background()
	ti := testImage{blobs: [][]byte{tarOf(t, map[string][]byte{"a": []byte("a")})}}
	docker := ti.dockerArchive(t)
	layout := t.TempDir()
	ti.writeLayout(t, layout)
	ociTar := filepath.Join(t.TempDir(), "oci.tar")
	run(t, "tar", "-C", layout, "-cf", ociTar, ".")
	oci, err := os.ReadFile(ociTar)
	must(t, err)
	cfg := ti.config()
	for _, c := range []struct {
		name string
		data []byte
		kind []string // transports to try
		want error
	}{
		{"empty", nil, []string{"docker-archive:", "oci-archive:"}, ErrCorrupt},
		{"text", []byte("hello, this is not a tar archive\n"), []string{"docker-archive:", "oci-archive:"}, ErrCorrupt},
		{"long text", []byte(strings.Repeat("not a tar archive\n", 100)), []string{"docker-archive:", "oci-archive:"}, ErrCorrupt},
		{"truncated docker", docker[:len(docker)/2], []string{"docker-archive:"}, ErrCorrupt},
		{"truncated oci", oci[:len(oci)/2], []string{"oci-archive:"}, ErrCorrupt},
		{"truncated at a header", docker[:headerAt(t, docker, "config.json")], []string{"docker-archive:"}, ErrCorrupt},
		{"end blocks cut", docker[:len(docker)-1024], []string{"docker-archive:"}, ErrCorrupt},
		{"manifest.json not JSON", tarFiles(t, tarFile{"manifest.json", []byte("[{")}), []string{"docker-archive:"}, ErrCorrupt},
		{"manifest.json not a list", tarFiles(t, tarFile{"manifest.json", []byte(`{"a":1}`)}), []string{"docker-archive:"}, ErrCorrupt},
		{"config not JSON", tarFiles(t, tarFile{"manifest.json", []byte(`[{"Config":"c.json","Layers":[]}]`)}, tarFile{"c.json", []byte("nul")}), []string{"docker-archive:"}, ErrCorrupt},
		{"config null", tarFiles(t, tarFile{"manifest.json", []byte(`[{"Config":"c.json","Layers":[]}]`)}, tarFile{"c.json", []byte("null")}), []string{"docker-archive:"}, ErrCorrupt},
		{"diff_ids miscounted", tarFiles(t, tarFile{"manifest.json", []byte(`[{"Config":"c.json","Layers":[]}]`)}, tarFile{"c.json", cfg}), []string{"docker-archive:"}, ErrCorrupt},
		{"index.json not JSON", tarFiles(t, tarFile{"index.json", []byte("{{")}), []string{"oci-archive:"}, ErrCorrupt},
		{"index.json null", tarFiles(t, tarFile{"index.json", []byte("null")}), []string{"oci-archive:"}, ErrCorrupt},
		// Missing: not found.
		{"no manifest.json", tarFiles(t, tarFile{"x", []byte("x")}), []string{"docker-archive:"}, ErrNotFound},
		{"no index.json", tarFiles(t, tarFile{"x", []byte("x")}), []string{"oci-archive:"}, ErrNotFound},
		{"config missing", tarFiles(t, tarFile{"manifest.json", []byte(`[{"Config":"c.json","Layers":[]}]`)}), []string{"docker-archive:"}, ErrNotFound},
		{"manifest missing", tarFiles(t, tarFile{"index.json", []byte(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + strings.Repeat("a", 64) + `","size":3}]}`)}), []string{"oci-archive:"}, ErrNotFound},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := writeFile(t, "a.tar", c.data)
			for _, tr := range c.kind {
				_, err := Open(ctx, tr+p)
				t.Logf("%s: %v", tr, err)
				mustErrorIs(t, err, c.want)
			}
		})
	}
	// Malformed documents inside a layout directory.
	for _, c := range []struct{ name, file, content string }{
		{"index.json", "index.json", "[]"},
		{"manifest", strings.TrimPrefix(sha(ti.manifest(cfg)), "sha256:"), ""},
		{"config", strings.TrimPrefix(sha(cfg), "sha256:"), ""},
	} {
		dir := t.TempDir()
		ti.writeLayout(t, dir)
		p := filepath.Join(dir, c.file)
		if c.file != "index.json" {
			p = filepath.Join(dir, "blobs", "sha256", c.file)
			c.content = "not the blob"
		}
		must(t, os.WriteFile(p, []byte(c.content), 0o644))
		_, err := Open(ctx, "oci:"+dir)
		t.Logf("%s: %v", c.name, err)
		mustErrorIs(t, err, ErrCorrupt)
	}
}

// headerAt is the offset of the header of member name in archive.
func headerAt(tb testing.TB, archive []byte, name string) int {
	tb.Helper()
	members, err := indexTar(bytes.NewReader(archive))
	if err != nil {
		tb.Fatal(err)
	}
	return int(members[name].offset) - 512
}
