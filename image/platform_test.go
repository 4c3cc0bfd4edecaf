package image

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/lapps/lapps/testenv"
)

// platformIndex builds an OCI index with one random image per platform.
func platformIndex(t *testing.T, platforms ...string) (v1.ImageIndex, map[string]string) {
	t.Helper()
	digests := map[string]string{}
	var adds []mutate.IndexAddendum
	for _, p := range platforms {
		plat, err := parsePlatform(p)
		if err != nil {
			t.Fatal(err)
		}
		img, err := random.Image(512, 2)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture, cf.Variant = plat.OS, plat.Architecture, plat.Variant
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		img = mutate.MediaType(img, types.OCIManifestSchema1)
		d, err := img.Digest()
		if err != nil {
			t.Fatal(err)
		}
		digests[p] = d.String()
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &plat}})
	}
	idx := mutate.IndexMediaType(mutate.AppendManifests(empty.Index, adds...), types.OCIImageIndex)
	return idx, digests
}

// TestMultiPlatform covers choosing a platform from an index, in an OCI
// layout and in a real registry: the requested one, the single one when
// none was requested, and an error naming what exists.
func TestMultiPlatform(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	two, twoDigests := platformIndex(t, "linux/arm64", "linux/s390x")
	one, oneDigests := platformIndex(t, "linux/ppc64le")
	for tag, idx := range map[string]v1.ImageIndex{"two": two, "one": one} {
		if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{refNameAnnotation: tag})); err != nil {
			t.Fatal(err)
		}
	}
	reg := testenv.StartRegistry(t)
	for tag, idx := range map[string]v1.ImageIndex{"two": two, "one": one} {
		ref, err := name.ParseReference(reg.Addr + "/multi:" + tag)
		if err != nil {
			t.Fatal(err)
		}
		if err := remote.WriteIndex(ref, idx); err != nil {
			t.Fatal(err)
		}
	}

	for _, src := range []struct{ name, prefix string }{
		{"oci", "oci:" + dir + ":"},
		{"registry", reg.Addr + "/multi:"},
	} {
		t.Run(src.name, func(t *testing.T) {
			for _, c := range []struct {
				name     string
				tag      string
				opts     []Option
				want     string // manifest digest
				errWants []string
			}{
				{"requested", "two", []Option{WithPlatform("linux/s390x")}, twoDigests["linux/s390x"], nil},
				{"arm64 variant v8 is arm64", "two", []Option{WithPlatform("linux/arm64/v8")}, twoDigests["linux/arm64"], nil},
				{"default missing", "two", []Option{WithPlatform("")}, "", []string{"no linux/amd64 image in", "available: linux/arm64, linux/s390x"}},
				{"explicit missing", "two", []Option{WithPlatform("linux/riscv64")}, "", []string{"no linux/riscv64 image", "linux/arm64, linux/s390x"}},
				{"single platform fallback", "one", nil, oneDigests["linux/ppc64le"], nil},
				{"single platform explicit other", "one", []Option{WithPlatform("linux/arm64")}, "", []string{"no linux/arm64 image", "available: linux/ppc64le"}},
			} {
				t.Run(c.name, func(t *testing.T) {
					opts := c.opts
					if c.name == "default missing" {
						opts = nil // host default; this test assumes an amd64 host
						if defaultPlatform() != "linux/amd64" {
							opts = []Option{WithPlatform("linux/amd64")}
						}
					}
					img, err := Open(ctx, src.prefix+c.tag, opts...)
					if c.errWants != nil {
						if err == nil {
							t.Fatalf("opened %s, want an error", img.ManifestDigest())
						}
						mustErrorIs(t, err, ErrNotFound)
						var pe *PlatformError
						if !errors.As(err, &pe) {
							t.Errorf("error %v is not a *PlatformError", err)
						}
						for _, w := range c.errWants {
							if !strings.Contains(err.Error(), w) {
								t.Errorf("error %q does not contain %q", err, w)
							}
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					defer img.Close()
					if img.ManifestDigest() != c.want {
						t.Errorf("ManifestDigest() = %s, want %s", img.ManifestDigest(), c.want)
					}
					if len(img.Layers()) != 2 {
						t.Fatalf("%d layers, want 2", len(img.Layers()))
					}
					for _, l := range img.Layers() {
						sum, _, err := readLayer(ctx, l)
						if err != nil {
							t.Fatal(err)
						}
						if sum != l.DiffID() {
							t.Errorf("layer %s: sha256 %s, diffID %s", l.Digest(), sum, l.DiffID())
						}
					}
				})
			}
		})
	}
	if _, err := Open(ctx, "oci:"+dir+":two", WithPlatform("linux")); err == nil || !strings.Contains(err.Error(), "invalid platform") {
		t.Errorf("bad platform: %v", err)
	}
}

// TestSinglePlatformExplicit: an explicitly requested platform is checked
// against the configuration of an image that has no index, in every
// transport; the default platform is not.
func TestSinglePlatformExplicit(t *testing.T) {
	ctx := context.Background()
	reg := newFakeRegistry(t)
	blob := tarOf(t, map[string][]byte{"a": []byte("a")})
	for _, ti := range []testImage{
		{blobs: [][]byte{blob}, os: "linux", arch: "arm64"},
		{blobs: [][]byte{blob}, os: "linux", arch: "arm", variant: "v7"},
		{blobs: [][]byte{blob}, os: "linux", arch: "arm"},
	} {
		plat := ti.os + "/" + ti.arch
		if ti.variant != "" {
			plat += "/" + ti.variant
		}
		dir := t.TempDir()
		ti.writeLayout(t, dir)
		refs := []string{"oci:" + dir, "docker-archive:" + writeFile(t, "a.tar", ti.dockerArchive(t)), reg.put("img/"+ti.arch+ti.variant, "1", ti)}
		for _, ref := range refs {
			for _, c := range []struct {
				opts []Option
				ok   bool
			}{
				{nil, true},
				{[]Option{WithPlatform(plat)}, true},
				{[]Option{WithPlatform("linux/amd64")}, false},
				{[]Option{WithPlatform("windows/" + ti.arch)}, false},
				{[]Option{WithPlatform(ti.os + "/" + ti.arch)}, true},
				{[]Option{WithPlatform(ti.os + "/" + ti.arch + "/v6")}, ti.variant == ""},
			} {
				img, err := Open(ctx, ref, c.opts...)
				if c.ok {
					if err != nil {
						t.Errorf("%s (%s) %d options: %v", ref, plat, len(c.opts), err)
					} else {
						img.Close()
					}
					continue
				}
				var pe *PlatformError
				if !errors.As(err, &pe) || !errors.Is(err, ErrNotFound) || len(pe.Available) != 1 || pe.Available[0] != plat {
					t.Errorf("%s (%s): %v, want a PlatformError offering %s", ref, plat, err, plat)
				}
			}
		}
	}
}
