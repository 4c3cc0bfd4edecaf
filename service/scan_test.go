package service

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// newTestLocal returns a Local service on a fresh database and a counter
// of the layers it opens.
func newTestLocal(t *testing.T) (*Local, *atomic.Int64) { return newBenchLocal(t) }

// newBenchLocal is newTestLocal for tests and benchmarks alike.
func newBenchLocal(t testing.TB, opts ...indexer.Option) (*Local, *atomic.Int64) {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	l := NewLocal(st, indexer.New(all.Catalogers(), opts...), WithSources(nil))
	t.Cleanup(func() { l.Close() })
	var reads atomic.Int64
	l.open = func(ctx context.Context, ref string, opts ...image.Option) (image.Image, error) {
		img, err := image.Open(ctx, ref, opts...)
		if err != nil {
			return nil, err
		}
		return countingImage{img, &reads}, nil
	}
	return l, &reads
}

type countingImage struct {
	image.Image
	reads *atomic.Int64
}

func (c countingImage) Layers() []image.Layer {
	ls := c.Image.Layers()
	out := make([]image.Layer, len(ls))
	for i, l := range ls {
		out[i] = countingLayer{l, c.reads}
	}
	return out
}

type countingLayer struct {
	image.Layer
	reads *atomic.Int64
}

func (c countingLayer) Open(ctx context.Context) (io.ReadCloser, error) {
	c.reads.Add(1)
	return c.Layer.Open(ctx)
}

// packageSet returns "name version" for the packages of one kind.
func packageSet(r *report.Report, kind string) []string {
	var s []string
	for _, p := range r.Packages {
		if p.Kind == kind {
			s = append(s, p.Name+" "+p.Version)
		}
	}
	sort.Strings(s)
	return s
}

func diffSets(got, want []string) string {
	g, w := map[string]bool{}, map[string]bool{}
	for _, x := range got {
		g[x] = true
	}
	for _, x := range want {
		w[x] = true
	}
	var b strings.Builder
	for _, x := range want {
		if !g[x] {
			fmt.Fprintf(&b, "missing: %s\n", x)
		}
	}
	for _, x := range got {
		if !w[x] {
			fmt.Fprintf(&b, "extra:   %s\n", x)
		}
	}
	if len(got) != len(want) && b.Len() == 0 {
		fmt.Fprintf(&b, "got %d packages, want %d (duplicates)\n", len(got), len(want))
	}
	return b.String()
}

// TestScanRealImages scans each test image through each transport and a
// real registry, and checks the package list against the image's own
// package database listing.
func TestScanRealImages(t *testing.T) {
	dir := testenv.Images(t)
	reg := testenv.StartRegistry(t)
	type img struct {
		tag, layout, kind, distro, list string
		stripEpoch                      bool
	}
	images := []img{
		{"debian-bookworm-min", "debian", vuln.KindDeb, "debian", "debian/debian-bookworm-min.packages", false},
		{"debian-bookworm-mid", "debian", vuln.KindDeb, "debian", "debian/debian-bookworm-mid.packages", false},
		{"debian-bullseye-min", "debian-bullseye", vuln.KindDeb, "debian", "debian-bullseye/debian-bullseye-min.packages", false},
		{"alpine-3.11.13", "rootfs", vuln.KindAPK, "alpine", "rootfs/alpine-3.11.13.packages", false},
		{"alpine-3.13.12", "rootfs", vuln.KindAPK, "alpine", "rootfs/alpine-3.13.12.packages", false},
		{"alpine-3.20.3", "rootfs", vuln.KindAPK, "alpine", "rootfs/alpine-3.20.3.packages", false},
		{"almalinux-9.3", "rootfs", vuln.KindRPM, "almalinux", "rootfs/almalinux-9.3.packages", true},
	}
	for _, im := range images {
		var want []string
		for _, l := range testenv.Lines(t, filepath.Join(dir, im.list)) {
			// rpm lists its keys as gpg-pubkey packages; they are not packages.
			if !strings.HasPrefix(l, "gpg-pubkey ") {
				want = append(want, l)
			}
		}
		sort.Strings(want)
		layout := filepath.Join(dir, im.layout, "oci")
		pushed := reg.Addr + "/library/" + strings.ReplaceAll(im.tag, ".", "-") + ":latest"
		reg.Push(t, "oci:"+layout+":"+im.tag, strings.TrimPrefix(pushed, reg.Addr+"/"), "")
		refs := map[string]string{
			"oci":            "oci:" + layout + ":" + im.tag,
			"docker-archive": "docker-archive:" + filepath.Join(dir, im.layout, im.tag+".docker.tar"),
			"registry":       pushed,
		}
		for transport, ref := range refs {
			t.Run(im.tag+"/"+transport, func(t *testing.T) {
				l, reads := newTestLocal(t)
				platform := ""
				if strings.HasPrefix(im.tag, "almalinux") {
					platform = "linux/arm64"
				}
				r, err := l.ScanImage(context.Background(), ScanRequest{Image: ref, Platform: platform})
				if err != nil {
					t.Fatal(err)
				}
				got := packageSet(r, im.kind)
				if im.stripEpoch {
					for i, g := range got {
						name, ver, _ := strings.Cut(g, " ")
						if _, rest, ok := strings.Cut(ver, ":"); ok {
							got[i] = name + " " + rest
						}
					}
					sort.Strings(got)
				}
				if d := diffSets(got, want); d != "" {
					t.Errorf("packages differ from %s:\n%s", im.list, d)
				}
				if r.Distribution == nil || r.Distribution.ID != im.distro {
					t.Errorf("distribution = %+v, want %s", r.Distribution, im.distro)
				}
				if r.ScanIndex != 1 || len(r.Layers) == 0 || r.ManifestDigest == "" {
					t.Errorf("scan index %d, %d layers, manifest %q", r.ScanIndex, len(r.Layers), r.ManifestDigest)
				}
				for _, p := range r.Packages {
					if p.Layer == "" || p.PURL == "" || p.DBPath == "" {
						t.Fatalf("package without layer, purl or db path: %+v", p)
					}
				}
				if n := reads.Load(); n != int64(len(r.Layers)) {
					t.Errorf("first scan read %d layers, want %d", n, len(r.Layers))
				}
				// A second scan of the same image reads no layer and
				// records scan 2 with the same packages.
				reads.Store(0)
				r2, err := l.ScanImage(context.Background(), ScanRequest{Image: ref, Platform: platform})
				if err != nil {
					t.Fatal(err)
				}
				if n := reads.Load(); n != 0 {
					t.Errorf("second scan read %d layers, want 0", n)
				}
				if r2.ScanIndex != 2 || len(r2.Packages) != len(r.Packages) {
					t.Errorf("second scan: index %d, %d packages (first %d)", r2.ScanIndex, len(r2.Packages), len(r.Packages))
				}
			})
		}
	}
}

// TestScanNumberingListReport checks numbered scans, list, report -i and
// the live report, and that a new indexer version re-indexes lazily.
func TestScanNumberingListReport(t *testing.T) {
	dir := testenv.Images(t)
	ref := "oci:" + filepath.Join(dir, "rootfs", "oci") + ":alpine-3.20.3"
	l, reads := newTestLocal(t)
	ctx := context.Background()
	for i := 1; i <= 3; i++ {
		r, err := l.ScanImage(ctx, ScanRequest{Image: ref})
		if err != nil {
			t.Fatal(err)
		}
		if r.ScanIndex != i {
			t.Fatalf("scan %d got index %d", i, r.ScanIndex)
		}
	}
	if reads.Load() != 1 {
		t.Errorf("three scans read %d layers, want 1", reads.Load())
	}
	scans, err := l.ListScans(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(scans) != 3 || scans[0].Index != 1 || scans[2].Index != 3 || scans[0].Packages != 14 {
		t.Fatalf("list = %+v", scans)
	}
	r1, err := l.Report(ctx, ref, 1)
	if err != nil {
		t.Fatal(err)
	}
	if r1.ScanIndex != 1 || r1.Live || len(r1.Packages) != 14 {
		t.Errorf("report -i 1: index %d live %v packages %d", r1.ScanIndex, r1.Live, len(r1.Packages))
	}
	var buf bytes.Buffer
	if err := report.WriteJSON(&buf, r1); err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(buf.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"image", "manifest_digest", "scan_index", "scanned_at", "distribution", "layers", "packages", "vulnerabilities"} {
		if _, ok := doc[k]; !ok {
			t.Errorf("JSON report lacks %q", k)
		}
	}
	if vs, ok := doc["vulnerabilities"].([]any); !ok || len(vs) != 0 {
		t.Errorf("vulnerabilities = %v, want an empty list without data", doc["vulnerabilities"])
	}
	live, err := l.Report(ctx, ref, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !live.Live || live.ScanIndex != 3 || reads.Load() != 1 {
		t.Errorf("live report: live %v index %d reads %d", live.Live, live.ScanIndex, reads.Load())
	}
	mr, err := l.ManifestReport(ctx, live.ManifestDigest)
	if err != nil {
		t.Fatal(err)
	}
	if !mr.Live || len(mr.Packages) != 14 || !strings.HasSuffix(mr.Image, ":alpine-3.20.3") || reads.Load() != 1 {
		t.Errorf("manifest report: live %v, %d packages, image %q, %d reads", mr.Live, len(mr.Packages), mr.Image, reads.Load())
	}
	if _, err := l.ManifestReport(ctx, "sha256:0000"); !errors.Is(err, ErrNotFound) {
		t.Errorf("report of an unknown manifest: %v", err)
	}
	if _, err := l.Report(ctx, ref, 9); !errors.Is(err, ErrNotFound) {
		t.Errorf("report -i 9: %v, want not found", err)
	}
	if _, err := l.ListScans(ctx, "oci:/nonexistent:x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("list of an unscanned image: %v", err)
	}

	// A layer index from another indexer version is re-indexed on the
	// next scan, and only then.
	scans, _ = l.ListScans(ctx, ref)
	idx, err := l.st.Manifest(ctx, scans[0].ManifestDigest)
	if err != nil {
		t.Fatal(err)
	}
	key := idx.Layers[0].DiffID
	li, err := l.st.Layer(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	li.IndexerVersion = "0-old"
	if err := l.st.PutLayer(ctx, li); err != nil {
		t.Fatal(err)
	}
	if _, err := l.ScanImage(ctx, ScanRequest{Image: ref}); err != nil {
		t.Fatal(err)
	}
	if reads.Load() != 2 {
		t.Errorf("after an indexer version change: %d reads, want 2", reads.Load())
	}
	li, _ = l.st.Layer(ctx, key)
	if li.IndexerVersion != indexer.Version {
		t.Errorf("layer index version %q", li.IndexerVersion)
	}
}

// TestScanBadInput: images that do not exist or are corrupt fail with an
// error naming the image, and leave no scan behind.
func TestScanBadInput(t *testing.T) {
	dir := testenv.Images(t)
	reg := testenv.StartRegistry(t)
	ctx := context.Background()

	// A copy of the alpine layout with its layer blob truncated.
	src := filepath.Join(dir, "rootfs", "oci")
	bad := filepath.Join(t.TempDir(), "oci")
	copyLayout(t, src, bad)
	ref := "oci:" + src + ":alpine-3.13.12"
	l, _ := newTestLocal(t)
	good, err := l.ScanImage(ctx, ScanRequest{Image: ref})
	if err != nil {
		t.Fatal(err)
	}
	blob := filepath.Join(bad, "blobs", "sha256", strings.TrimPrefix(good.Layers[0].Digest, "sha256:"))
	data, err := os.ReadFile(blob)
	if err != nil {
		t.Fatal(err)
	}
	corrupt := append([]byte(nil), data...)
	corrupt[len(corrupt)/2] ^= 0xff

	cases := []struct {
		name, ref string
		prepare   func()
		want      error
	}{
		{"registry image that does not exist", reg.Addr + "/library/nothing:here", nil, image.ErrNotFound},
		{"layout that does not exist", "oci:/nonexistent/layout:x", nil, nil},
		{"truncated layer", "oci:" + bad + ":alpine-3.13.12", func() { os.WriteFile(blob, data[:len(data)/2], 0o644) }, nil},
		{"corrupt layer", "oci:" + bad + ":alpine-3.13.12", func() { os.WriteFile(blob, corrupt, 0o644) }, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l, _ := newTestLocal(t)
			if c.prepare != nil {
				c.prepare()
			}
			_, err := l.ScanImage(ctx, ScanRequest{Image: c.ref})
			if err == nil {
				t.Fatal("no error")
			}
			if c.want != nil && !errors.Is(err, c.want) {
				t.Errorf("error %v is not %v", err, c.want)
			}
			name := strings.TrimPrefix(c.ref, "oci:")
			if i := strings.LastIndex(name, ":"); i > 0 && strings.HasPrefix(c.ref, "oci:") {
				name = name[:i]
			}
			if !strings.Contains(err.Error(), name) {
				t.Errorf("error %q does not name the image", err)
			}
			if _, err := l.ListScans(ctx, c.ref); !errors.Is(err, ErrNotFound) {
				t.Errorf("a scan was recorded after the failure: %v", err)
			}
		})
	}
}

func copyLayout(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}
