package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// FuzzIndexTar feeds arbitrary bytes to the archive index: errors are
// fine; an index must only hold members whose contents lie inside the
// archive.
func FuzzIndexTar(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 1024))
	f.Add(tarOf(f, map[string][]byte{"manifest.json": []byte("[]")}))
	f.Add(tarFiles(f, tarFile{"a", []byte("a")}, tarFile{"blobs/sha256/x", bytes.Repeat([]byte("b"), 700)}))
	ti := testImage{blobs: [][]byte{tarOf(f, map[string][]byte{"a": []byte("a")})}}
	f.Add(ti.dockerArchive(f))
	f.Fuzz(func(t *testing.T, data []byte) {
		members, err := indexTar(bytes.NewReader(data))
		if err != nil {
			return
		}
		for name, m := range members {
			if m.offset < 0 || m.size < 0 || m.offset+m.size > int64(len(data)) {
				t.Fatalf("member %q at %d+%d lies outside the %d-byte archive", name, m.offset, m.size, len(data))
			}
		}
	})
}

// FuzzDockerManifest feeds arbitrary manifest.json documents and image
// selections to a docker-archive's parser: errors are fine; a selection
// must be one of the images listed.
func FuzzDockerManifest(f *testing.F) {
	for _, s := range []struct{ manifest, sel string }{
		{`[{"Config":"c.json","RepoTags":["a/b:1"],"Layers":["l.tar"]}]`, ""},
		{`[{"Config":"c.json","RepoTags":["a/b:1"],"Layers":["l.tar"]},{"Config":"d.json","RepoTags":["c:2","docker.io/library/e"]}]`, "c:2"},
		{`[{"Config":"c.json"},{"Config":"d.json"}]`, "@1"},
		{`[{"Config":"c.json"}]`, "@-1"},
		{`[]`, "@0"},
		{`null`, ""},
		{`[{"Config":""}]`, "x@sha256:0"},
	} {
		f.Add([]byte(s.manifest), s.sel)
	}
	f.Fuzz(func(t *testing.T, data []byte, sel string) {
		entries, err := parseDockerManifest(data)
		if err != nil {
			return
		}
		e, name, err := selectDockerImage("docker-archive:/x.tar", sel, entries)
		if err != nil {
			return
		}
		if !strings.HasPrefix(name, "docker-archive:/x.tar") {
			t.Fatalf("name %q", name)
		}
		found := false
		for _, c := range entries {
			found = found || (c.Config == e.Config && slices.Equal(c.Layers, e.Layers) && slices.Equal(c.RepoTags, e.RepoTags))
		}
		if !found || e.Config == "" {
			t.Fatalf("selected %+v, not an image of the archive", e)
		}
	})
}

// memStore is a layout in memory, for FuzzIndexJSON.
type memStore map[string][]byte

func (m memStore) open(p string) (io.ReadCloser, int64, error) {
	b, ok := m[p]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", p, os.ErrNotExist)
	}
	return io.NopCloser(bytes.NewReader(b)), int64(len(b)), nil
}

// FuzzIndexJSON feeds arbitrary index.json documents and selections (a
// tag, a digest) to the OCI layout reader, over a layout that holds one
// real image and an index of two platforms: errors are fine, panics are
// not.
func FuzzIndexJSON(f *testing.F) {
	store := memStore{}
	put := func(b []byte) string {
		d := sha(b)
		store["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] = b
		return d
	}
	ti := testImage{blobs: [][]byte{tarOf(f, map[string][]byte{"a": []byte("a")})}}
	put(ti.blobs[0])
	cfg := ti.config()
	put(cfg)
	m := ti.manifest(cfg)
	md := put(m)
	arm := ti
	arm.arch = "arm64"
	armCfg := arm.config()
	put(armCfg)
	am := arm.manifest(armCfg)
	amd := put(am)
	idx := fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"platform":{"os":"linux","architecture":"amd64"}},{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"platform":{"os":"linux","architecture":"arm64"}}]}`, md, len(m), amd, len(am))
	idd := put([]byte(idx))
	for _, s := range []struct{ index, sel string }{
		{fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"annotations":{"org.opencontainers.image.ref.name":"t"}}]}`, md, len(m)), ""},
		{fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":%q,"size":%d,"annotations":{"org.opencontainers.image.ref.name":"t"}}]}`, md, len(m)), "t"},
		{fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":%q,"size":%d}]}`, idd, len(idx)), ""},
		{fmt.Sprintf(`{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.index.v1+json","digest":%q,"size":%d}]}`, idd, len(idx)), "@" + idd},
		{idx, ""},
		{`{"manifests":[{"digest":"sha256:../../etc/passwd"}]}`, ""},
		{`{}`, "x"},
	} {
		f.Add([]byte(s.index), s.sel)
	}
	f.Fuzz(func(t *testing.T, index []byte, sel string) {
		s := maps.Clone(store)
		s["index.json"] = index
		o := options{platform: "linux/amd64", limits: DefaultLimits}
		img := newOpenedImage("oci:/fuzz", &o)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := openLayout(ctx, s, "oci:/fuzz", sel, &o, img); err != nil {
			return
		}
		if img.ManifestDigest() != md && img.ManifestDigest() != amd {
			t.Fatalf("opened manifest %s, which the layout does not hold", img.ManifestDigest())
		}
	})
}
