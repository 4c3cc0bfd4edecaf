package image

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/lapps/lapps/limits"
)

// mustLimit checks that err is the *limits.Error of the configuration key.
func mustLimit(tb testing.TB, err error, key string) *limits.Error {
	tb.Helper()
	var lerr *limits.Error
	if !errors.As(err, &lerr) || !errors.Is(err, limits.ErrExceeded) {
		tb.Fatalf("error %v: want a *limits.Error (%s)", err, key)
	}
	if lerr.Key != key {
		tb.Fatalf("error %v: bound %s, want %s", err, lerr.Key, key)
	}
	if !strings.Contains(err.Error(), key) {
		tb.Errorf("error %q does not name %s", err, key)
	}
	return lerr
}

func TestLimitsDefaults(t *testing.T) {
	var o options
	WithLimits(Limits{Layers: 3})(&o)
	want := DefaultLimits
	want.Layers = 3
	if o.limits != want {
		t.Errorf("WithLimits(Layers: 3) = %+v, want %+v", o.limits, want)
	}
	if DefaultLimits != (Limits{MetadataBytes: 16 << 20, Layers: 256, LayerBytes: 8 << 30, ScanBytes: 32 << 30, CompressionRatio: 1000}) {
		t.Errorf("DefaultLimits changed: %+v", DefaultLimits)
	}
}

// gzipBomb is a multi-member gzip stream of n MiB of zeros: each 16 MiB
// member compresses to about 16 KB, so 1 GiB is about 1 MB.
func gzipBomb(tb testing.TB, mib int) []byte {
	tb.Helper()
	member := gz(tb, make([]byte, 16<<20))
	return bytes.Repeat(member, mib/16)
}

// TestRegistryMetadataBound serves a 1 GiB configuration gzip-encoded
// (about 1 MB on the wire), as on main drove a scan to 5.9 GB: Open fails
// with the bound and allocates little, however the manifest describes the
// configuration; manifests beyond the bound fail the same way.
func TestRegistryMetadataBound(t *testing.T) {
	ctx := context.Background()
	bomb := gzipBomb(t, 1024)
	reg := newFakeRegistry(t)
	var configFetches int
	var mu sync.Mutex
	bombDigest := "sha256:" + strings.Repeat("b0", 32)
	reg.handle = func(w http.ResponseWriter, r *http.Request) bool {
		if !strings.HasSuffix(r.URL.Path, "/blobs/"+bombDigest) {
			return false
		}
		mu.Lock()
		configFetches++
		mu.Unlock()
		if strings.Contains(r.URL.Path, "plain") {
			// 1 GiB not encoded, streamed.
			zero := make([]byte, 1<<20)
			for range 1024 {
				if _, err := w.Write(zero); err != nil {
					return true
				}
			}
			return true
		}
		w.Header().Set("Content-Encoding", "gzip")
		w.Write(bomb)
		return true
	}
	img := testImage{blobs: [][]byte{gz(t, tarOf(t, map[string][]byte{"etc/os-release": []byte("ID=x\n")}))}}
	for _, c := range []struct {
		repo    string
		size    int64
		opts    []Option
		want    string // limits key, or "corrupt"
		fetched bool
	}{
		// The manifest gives the real size: refused before fetching.
		{"honest", 1 << 30, nil, keyMetadataBytes, false},
		// The manifest lies: the body is read as sent (gzip, ~1 MB), never
		// decompressed, and does not match the digest.
		{"lying", 1000, nil, "corrupt", true},
		// A lower bound is crossed by the encoded body itself.
		{"lying-low", 1000, []Option{WithLimits(Limits{MetadataBytes: 64 << 10})}, keyMetadataBytes, true},
		// Not encoded, 1 GiB: the read stops at the bound.
		{"plain", 1000, nil, keyMetadataBytes, true},
	} {
		t.Run(c.repo, func(t *testing.T) {
			m := img.manifestFor(bombDigest, c.size)
			reg.putManifest(c.repo, "1", m)
			reg.mu.Lock()
			for _, b := range img.blobs {
				reg.blobs[sha(b)] = b
			}
			reg.mu.Unlock()
			mu.Lock()
			configFetches = 0
			mu.Unlock()
			var err error
			n := allocated(func() {
				_, err = Open(ctx, reg.addr()+"/"+c.repo+":1", append(c.opts, WithRetry(Retry{Attempts: 1}))...)
			})
			t.Logf("%v; %d MiB allocated", err, n>>20)
			if c.want == "corrupt" {
				mustErrorIs(t, err, ErrCorrupt)
			} else {
				mustLimit(t, err, c.want)
			}
			if n > 128<<20 {
				t.Errorf("Open allocated %d MiB", n>>20)
			}
			mu.Lock()
			defer mu.Unlock()
			if fetched := configFetches > 0; fetched != c.fetched {
				t.Errorf("configuration fetched: %v, want %v", fetched, c.fetched)
			}
		})
	}

	t.Run("manifest", func(t *testing.T) {
		big := img.manifestFor(sha([]byte("{}")), 2)
		// A manifest padded with whitespace to 20 MiB, gzip-encoded.
		padded := append(big[:len(big)-1:len(big)-1], append(bytes.Repeat([]byte(" "), 20<<20), '}')...)
		reg.handle = func(w http.ResponseWriter, r *http.Request) bool {
			if !strings.Contains(r.URL.Path, "/big/manifests/") {
				return false
			}
			w.Header().Set("Content-Type", "application/vnd.oci.image.manifest.v1+json")
			if strings.Contains(r.URL.Path, "gz") {
				w.Header().Set("Content-Encoding", "gzip")
				w.Write(gz(t, padded))
				return true
			}
			w.Write(padded)
			return true
		}
		_, err := Open(ctx, reg.addr()+"/big:plain", WithRetry(Retry{Attempts: 1}))
		t.Log(err)
		mustLimit(t, err, keyMetadataBytes)
		// Gzip-encoded, it is not decompressed: not a manifest.
		_, err = Open(ctx, reg.addr()+"/big:gz", WithRetry(Retry{Attempts: 1}))
		t.Log(err)
		if err == nil {
			t.Fatal("a gzip-encoded manifest was accepted")
		}
	})
}

// TestLocalMetadataBound: index.json, manifests, configurations and a
// docker-archive's manifest.json beyond the bound fail Open, naming the
// document, in every local transport.
func TestLocalMetadataBound(t *testing.T) {
	ctx := context.Background()
	ti := testImage{blobs: [][]byte{tarOf(t, map[string][]byte{"a": []byte("a")})}}
	fat := ti
	fat.variant = strings.Repeat("v", 4096) // a configuration bigger than the rest
	dir, fatDir := t.TempDir(), t.TempDir()
	ti.writeLayout(t, dir)
	fat.writeLayout(t, fatDir)
	archive := writeFile(t, "a.tar", ti.dockerArchive(t))
	fatArchive := writeFile(t, "fat.tar", fat.dockerArchive(t))
	manifest := int64(len(ti.manifest(ti.config())))
	for _, c := range []struct {
		ref   string
		bound int64
		what  string
	}{
		{"oci:" + dir, 100, "index.json"},
		{"oci:" + dir, manifest - 1, "image manifest"},
		{"oci:" + fatDir, manifest + 1, "image configuration"},
		{"docker-archive:" + archive, 50, "manifest.json"},
		{"docker-archive:" + fatArchive, 1024, "image configuration"},
	} {
		_, err := Open(ctx, c.ref, WithLimits(Limits{MetadataBytes: c.bound}))
		t.Log(err)
		lerr := mustLimit(t, err, keyMetadataBytes)
		if !strings.Contains(lerr.What, c.what) || lerr.Limit != c.bound {
			t.Errorf("bound %q of %d, want %d on the %s", lerr.What, lerr.Limit, c.bound, c.what)
		}
		img, err := Open(ctx, c.ref)
		if err != nil {
			t.Fatalf("%s with the default bound: %v", c.ref, err)
		}
		img.Close()
	}
}

// TestLayersBound: more layers than the bound fail Open, in a registry,
// an OCI layout and a docker-archive.
func TestLayersBound(t *testing.T) {
	ctx := context.Background()
	var blobs [][]byte
	for i := range 300 {
		blobs = append(blobs, tarOf(t, map[string][]byte{fmt.Sprint(i): {byte(i)}}))
	}
	many := testImage{blobs: blobs}
	three := testImage{blobs: blobs[:3]}
	reg := newFakeRegistry(t)
	dirMany, dirThree := t.TempDir(), t.TempDir()
	many.writeLayout(t, dirMany)
	three.writeLayout(t, dirThree)
	for _, c := range []struct {
		ref  string
		opts []Option
	}{
		{reg.put("many", "1", many), nil},
		{"oci:" + dirMany, nil},
		{"docker-archive:" + writeFile(t, "many.tar", many.dockerArchive(t)), nil},
		{reg.put("three", "1", three), []Option{WithLimits(Limits{Layers: 2})}},
		{"oci:" + dirThree, []Option{WithLimits(Limits{Layers: 2})}},
		{"docker-archive:" + writeFile(t, "three.tar", three.dockerArchive(t)), []Option{WithLimits(Limits{Layers: 2})}},
	} {
		_, err := Open(ctx, c.ref, c.opts...)
		t.Log(err)
		mustLimit(t, err, keyLayers)
	}
	img, err := Open(ctx, "oci:"+dirThree, WithLimits(Limits{Layers: 3}))
	if err != nil {
		t.Fatalf("3 layers with a bound of 3: %v", err)
	}
	img.Close()
}

// readAll opens a layer and reads it to its end.
func readAll(ctx context.Context, l Layer) (int64, error) {
	rc, err := l.Open(ctx)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	return io.Copy(io.Discard, rc)
}

// TestLayerBounds crosses the decompressed bytes of a layer, of the image,
// and the compression ratio, with generated layers in an OCI layout.
func TestLayerBounds(t *testing.T) {
	ctx := context.Background()
	noise := make([]byte, 3<<20)
	rand.Read(noise)
	plain := tarOf(t, map[string][]byte{"noise": noise}) // ~3 MiB, incompressible

	t.Run("layer bytes", func(t *testing.T) {
		for _, blob := range [][]byte{plain, gz(t, plain)} {
			dir := t.TempDir()
			testImage{blobs: [][]byte{blob}, diffIDs: []string{sha(plain)}}.writeLayout(t, dir)
			img, err := Open(ctx, "oci:"+dir, WithLimits(Limits{LayerBytes: 1 << 20}))
			must(t, err)
			n, err := readAll(ctx, img.Layers()[0])
			mustLimit(t, err, keyLayerBytes)
			if n > 1<<20 {
				t.Errorf("%d bytes passed on, beyond the bound of %d", n, 1<<20)
			}
			_, err = img.Layers()[0].HashBlob(ctx)
			mustLimit(t, err, keyLayerBytes)
			img.Close()
			// Exactly at the bound is fine.
			img, err = Open(ctx, "oci:"+dir, WithLimits(Limits{LayerBytes: int64(len(plain))}))
			must(t, err)
			if _, err := readAll(ctx, img.Layers()[0]); err != nil {
				t.Errorf("a layer of exactly the bound: %v", err)
			}
			img.Close()
		}
	})

	t.Run("stored bytes", func(t *testing.T) {
		// Empty gzip members decompress to nothing: 1 MiB of them is read,
		// but not for ever.
		empty := bytes.Repeat(gz(t, nil), (1<<20)/len(gz(t, nil)))
		dir := t.TempDir()
		testImage{blobs: [][]byte{empty}, diffIDs: []string{sha(nil)}}.writeLayout(t, dir)
		img, err := Open(ctx, "oci:"+dir, WithLimits(Limits{LayerBytes: 64 << 10}))
		must(t, err)
		defer img.Close()
		_, err = readAll(ctx, img.Layers()[0])
		t.Log(err)
		lerr := mustLimit(t, err, keyLayerBytes)
		if !strings.Contains(lerr.What, "as stored") {
			t.Errorf("bound %q, want the stored bytes", lerr.What)
		}
	})

	t.Run("scan bytes", func(t *testing.T) {
		dir := t.TempDir()
		testImage{blobs: [][]byte{plain, gz(t, plain), gz(t, append(plain, make([]byte, 512)...))},
			diffIDs: []string{"", sha(plain), sha(append(plain, make([]byte, 512)...))}}.writeLayout(t, dir)
		bound := int64(len(plain))*2 + 1000
		// One after the other: the third crosses the image's bound.
		img, err := Open(ctx, "oci:"+dir, WithLimits(Limits{ScanBytes: bound}))
		must(t, err)
		for i, l := range img.Layers() {
			_, err := readAll(ctx, l)
			if i < 2 && err != nil {
				t.Fatalf("layer %d: %v", i, err)
			}
			if i == 2 {
				lerr := mustLimit(t, err, keyScanBytes)
				if !strings.Contains(lerr.What, dir) {
					t.Errorf("bound %q does not name the image", lerr.What)
				}
			}
		}
		img.Close()
		// In parallel: the bound holds for all of them together.
		img, err = Open(ctx, "oci:"+dir, WithLimits(Limits{ScanBytes: bound}))
		must(t, err)
		defer img.Close()
		var wg sync.WaitGroup
		errs := make([]error, 3)
		read := make([]int64, 3)
		for i, l := range img.Layers() {
			wg.Go(func() { read[i], errs[i] = readAll(ctx, l) })
		}
		wg.Wait()
		failed := 0
		for _, err := range errs {
			if err != nil {
				mustLimit(t, err, keyScanBytes)
				failed++
			}
		}
		if failed == 0 || read[0]+read[1]+read[2] > bound {
			t.Errorf("parallel reads: errors %v, %d bytes passed on, bound %d", errs, read[0]+read[1]+read[2], bound)
		}
	})

	t.Run("compression ratio", func(t *testing.T) {
		// 80 MiB of zeros: zstd makes it a few KB, gzip about 80 KB (a
		// ratio near 1030). The content need not be a tar stream: the
		// bound is crossed before anything reads it as one.
		zeros := make([]byte, 80<<20)
		var zs bytes.Buffer
		enc, _ := zstd.NewWriter(&zs)
		enc.Write(zeros)
		enc.Close()
		bomb := zeros
		for _, c := range []struct {
			name  string
			blob  []byte
			ratio int64
		}{{"zstd", zs.Bytes(), 0}, {"gzip", gzipBomb(t, 80), 500}} {
			t.Run(c.name, func(t *testing.T) {
				dir := t.TempDir()
				testImage{blobs: [][]byte{c.blob}, diffIDs: []string{sha(bomb)}}.writeLayout(t, dir)
				img, err := Open(ctx, "oci:"+dir, WithLimits(Limits{CompressionRatio: c.ratio}))
				must(t, err)
				defer img.Close()
				n, err := readAll(ctx, img.Layers()[0])
				t.Logf("%d compressed bytes: %v after %d MiB", len(c.blob), err, n>>20)
				mustLimit(t, err, keyCompressionRatio)
				if n < ratioGrace {
					t.Errorf("judged after %d bytes, before %d", n, ratioGrace)
				}
				// A generous ratio lets it through.
				img2, err := Open(ctx, "oci:"+dir, WithLimits(Limits{CompressionRatio: 1 << 40}))
				must(t, err)
				defer img2.Close()
				if _, err := readAll(ctx, img2.Layers()[0]); err != nil {
					t.Errorf("with a generous ratio: %v", err)
				}
			})
		}
		// Small layers are never judged: 1 MiB of zeros, ratio ~1000.
		small := tarOf(t, map[string][]byte{"zeros": make([]byte, 1<<20)})
		dir := t.TempDir()
		testImage{blobs: [][]byte{gz(t, small)}, diffIDs: []string{sha(small)}}.writeLayout(t, dir)
		img, err := Open(ctx, "oci:"+dir, WithLimits(Limits{CompressionRatio: 2}))
		must(t, err)
		defer img.Close()
		if _, err := readAll(ctx, img.Layers()[0]); err != nil {
			t.Errorf("a small layer judged: %v", err)
		}
	})
}

// TestArchiveMemberBound: an archive of more members than the index holds
// is refused; long names are skipped.
func TestArchiveMemberBound(t *testing.T) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := range maxArchiveMembers + 1 {
		tw.WriteHeader(&tar.Header{Name: fmt.Sprint(i), Typeflag: tar.TypeReg, Mode: 0o644})
	}
	tw.Close()
	_, err := indexTar(bytes.NewReader(buf.Bytes()))
	t.Log(err)
	var lerr *limits.Error
	if !errors.As(err, &lerr) {
		t.Fatalf("%d members: %v, want a bound", maxArchiveMembers+1, err)
	}
	long := strings.Repeat("x", 2*maxMemberName)
	members, err := indexTar(bytes.NewReader(tarFiles(t, tarFile{long, []byte("x")}, tarFile{"ok", []byte("y")})))
	must(t, err)
	if _, ok := members["ok"]; !ok || len(members) != 1 {
		t.Errorf("members %v: want only ok", members)
	}
}
