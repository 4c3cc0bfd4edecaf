package image

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lapps/lapps/testenv"
)

// layoutManifest reads the manifest tagged tag from an OCI layout: the
// expectations the transports are checked against.
func layoutManifest(t *testing.T, layout, tag string) (v1.Hash, *v1.Manifest) {
	t.Helper()
	f, err := os.Open(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	idx, err := v1.ParseIndexManifest(f)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range idx.Manifests {
		if d.Annotations[refNameAnnotation] == tag {
			mf, err := os.Open(filepath.Join(layout, "blobs", "sha256", d.Digest.Hex))
			if err != nil {
				t.Fatal(err)
			}
			defer mf.Close()
			m, err := v1.ParseManifest(mf)
			if err != nil {
				t.Fatal(err)
			}
			return d.Digest, m
		}
	}
	t.Fatalf("%s has no tag %s", layout, tag)
	return v1.Hash{}, nil
}

// TestTransports opens the same images through every transport and a real
// registry: the names, digests and diffIDs agree, and every layer streams
// as a tar archive whose sha256 is its diffID.
func TestTransports(t *testing.T) {
	images := imagesDir(t)
	ctx := context.Background()
	tmp := t.TempDir()
	reg := testenv.StartRegistry(t)

	for _, tc := range []struct {
		dir, tag, dockerRepo string
	}{
		{"debian", "debian-bookworm-min", "library/debian:bookworm"},
		{"rootfs", "alpine-3.20.3", "library/alpine:3.20.3"},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			layout := filepath.Join(images, tc.dir, "oci")
			mdigest, m := layoutManifest(t, layout, tc.tag)
			archive := filepath.Join(tmp, tc.tag+".oci.tar")
			run(t, "tar", "-C", layout, "-cf", archive, ".")
			dockerTar := filepath.Join(images, tc.dir, tc.tag+".docker.tar")
			ociPushed := reg.Push(t, "oci:"+layout+":"+tc.tag, tc.dockerRepo, "")
			v2s2Repo := strings.Replace(tc.dockerRepo, ":", ":v2s2-", 1)
			v2s2Pushed := reg.Push(t, "oci:"+layout+":"+tc.tag, v2s2Repo, "v2s2")
			if ociPushed != mdigest.String() {
				t.Errorf("pushed digest %s, layout's %s", ociPushed, mdigest)
			}
			layerDigests := func() []string {
				var s []string
				for _, l := range m.Layers {
					s = append(s, l.Digest.String())
				}
				return s
			}()

			type want struct {
				name, manifestDigest string
				// layerDigests nil: the diffIDs (docker-archive).
				layerDigests []string
			}
			cases := []struct {
				ref  string
				want want
			}{
				{"oci:" + layout + ":" + tc.tag, want{"oci:" + layout + ":" + tc.tag, mdigest.String(), layerDigests}},
				{"oci-archive:" + archive + ":" + tc.tag, want{"oci-archive:" + archive + ":" + tc.tag, mdigest.String(), layerDigests}},
				{"docker-archive:" + dockerTar, want{"docker-archive:" + dockerTar, m.Config.Digest.String(), nil}},
				{reg.Addr + "/" + tc.dockerRepo, want{reg.Addr + "/" + tc.dockerRepo, ociPushed, layerDigests}},
				{"docker://" + reg.Addr + "/" + v2s2Repo, want{reg.Addr + "/" + v2s2Repo, v2s2Pushed, layerDigests}},
				{reg.Addr + "/" + strings.Split(tc.dockerRepo, ":")[0] + "@" + ociPushed, want{reg.Addr + "/" + strings.Split(tc.dockerRepo, ":")[0] + "@" + ociPushed, ociPushed, layerDigests}},
			}
			var diffIDs []string
			for _, c := range cases {
				t.Run(strings.SplitN(c.ref, ":", 2)[0], func(t *testing.T) {
					img, err := Open(ctx, c.ref)
					if err != nil {
						t.Fatal(err)
					}
					defer img.Close()
					if img.Name() != c.want.name {
						t.Errorf("Name() = %q, want %q", img.Name(), c.want.name)
					}
					if img.ManifestDigest() != c.want.manifestDigest {
						t.Errorf("ManifestDigest() = %s, want %s", img.ManifestDigest(), c.want.manifestDigest)
					}
					if len(img.Layers()) != len(m.Layers) {
						t.Fatalf("%d layers, want %d", len(img.Layers()), len(m.Layers))
					}
					var ids []string
					for i, l := range img.Layers() {
						ids = append(ids, l.DiffID())
						wantDigest := l.DiffID()
						if c.want.layerDigests != nil {
							wantDigest = c.want.layerDigests[i]
						}
						if l.Digest() != wantDigest {
							t.Errorf("layer %d: Digest() = %s, want %s", i, l.Digest(), wantDigest)
						}
						if l.Size() <= 0 || l.MediaType() == "" {
							t.Errorf("layer %d: Size() = %d, MediaType() = %q", i, l.Size(), l.MediaType())
						}
						sum, names, err := readLayer(ctx, l)
						if err != nil {
							t.Fatalf("layer %d: %v", i, err)
						}
						if sum != l.DiffID() {
							t.Errorf("layer %d: uncompressed sha256 %s, diffID %s", i, sum, l.DiffID())
						}
						if !slices.Contains(names, "etc/os-release") && !slices.Contains(names, "./etc/os-release") {
							t.Errorf("layer %d: no etc/os-release among %d entries", i, len(names))
						}
					}
					if diffIDs == nil {
						diffIDs = ids
					} else if !slices.Equal(ids, diffIDs) {
						t.Errorf("diffIDs %v differ from the other transports' %v", ids, diffIDs)
					}
				})
			}
		})
	}
}

// TestLayersInParallel reads every layer of the mid image at once from an
// oci-archive (one shared file) and checks progress reports.
func TestLayersInParallel(t *testing.T) {
	layout := filepath.Join(imagesDir(t), "debian", "oci")
	archive := filepath.Join(t.TempDir(), "debian.tar")
	run(t, "tar", "-C", layout, "-cf", archive, ".")
	var mu sync.Mutex
	last := map[string][2]int64{}
	img, err := Open(context.Background(), "oci-archive:"+archive+":debian-bookworm-mid",
		WithProgress(func(d string, read, total int64) {
			mu.Lock()
			last[d] = [2]int64{read, total}
			mu.Unlock()
		}))
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	if n := len(img.Layers()); n != 3 {
		t.Fatalf("%d layers, want 3", n)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(img.Layers()))
	sums := make([]string, len(img.Layers()))
	for i, l := range img.Layers() {
		wg.Go(func() { sums[i], _, errs[i] = readLayer(context.Background(), l) })
	}
	wg.Wait()
	for i, l := range img.Layers() {
		if errs[i] != nil {
			t.Errorf("layer %d: %v", i, errs[i])
		} else if sums[i] != l.DiffID() {
			t.Errorf("layer %d: sha256 %s, diffID %s", i, sums[i], l.DiffID())
		}
		if p := last[l.Digest()]; p[0] != l.Size() || p[1] != l.Size() {
			t.Errorf("layer %d: last progress %v, want read = total = %d", i, p, l.Size())
		}
	}
	if err := img.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := img.Layers()[0].Open(context.Background()); err == nil {
		t.Error("Open after Close succeeded")
	}
}

// TestOCILayoutSelection: a layout with several images needs a tag, and
// the error names them; a single-image layout does not.
func TestOCILayoutSelection(t *testing.T) {
	images := imagesDir(t)
	ctx := context.Background()
	multi := filepath.Join(images, "rootfs", "oci")
	_, err := Open(ctx, "oci:"+multi)
	mustErrorIs(t, err, ErrInvalidReference)
	for _, tag := range []string{"alpine-3.11.13", "alpine-3.20.3", "almalinux-9.3"} {
		if !strings.Contains(err.Error(), tag) {
			t.Errorf("error %q does not name tag %s", err, tag)
		}
	}
	_, err = Open(ctx, "oci:"+multi+":nope")
	mustErrorIs(t, err, ErrNotFound)

	// A copy holding one image needs no tag, and is named with it.
	single := t.TempDir()
	copyTree(t, multi, single)
	b, _ := os.ReadFile(filepath.Join(single, "index.json"))
	var idx v1.IndexManifest
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(idx.Manifests, func(d v1.Descriptor) bool { return d.Annotations[refNameAnnotation] == "alpine-3.20.3" })
	idx.Manifests = idx.Manifests[i : i+1]
	b, _ = json.Marshal(idx)
	if err := os.WriteFile(filepath.Join(single, "index.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := Open(ctx, "oci:"+single)
	if err != nil {
		t.Fatal(err)
	}
	if want := "oci:" + single + ":alpine-3.20.3"; img.Name() != want {
		t.Errorf("Name() = %q, want %q", img.Name(), want)
	}
	if img.ManifestDigest() != idx.Manifests[0].Digest.String() {
		t.Errorf("ManifestDigest() = %s, want %s", img.ManifestDigest(), idx.Manifests[0].Digest)
	}
	// By digest.
	img2, err := Open(ctx, "oci:"+multi+"@"+idx.Manifests[0].Digest.String())
	if err != nil {
		t.Fatal(err)
	}
	if img2.ManifestDigest() != img.ManifestDigest() {
		t.Errorf("by digest: %s, want %s", img2.ManifestDigest(), img.ManifestDigest())
	}
	// Relative paths are made absolute.
	t.Chdir(filepath.Dir(single))
	img3, err := Open(ctx, "oci:"+filepath.Base(single)+":alpine-3.20.3")
	if err != nil {
		t.Fatal(err)
	}
	if img3.Name() != img.Name() {
		t.Errorf("relative path: Name() = %q, want %q", img3.Name(), img.Name())
	}
}
