package service

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/memstore"
	"github.com/lapps/lapps/vuln"
)

// The unit tests of the service's orchestration on fakes: images made in
// memory (a fake image.Image whose layers are small tar streams), the real
// indexer, and the in-memory store of store/memstore. No image file, no
// registry, no database: each test runs in milliseconds. The tests on the
// test images and generated OCI layouts are the integration tests.

var _ Store = (*memstore.Store)(nil)

// memLayer is an uncompressed, content-addressed layer held in memory.
type memLayer struct {
	data   []byte
	digest string
	reads  *atomic.Int64
	// open, when set, replaces the reader of data (a failing or blocking
	// read).
	open func(ctx context.Context) (io.ReadCloser, error)
}

func (l *memLayer) Digest() string         { return l.digest }
func (l *memLayer) DiffID() string         { return l.digest }
func (l *memLayer) MediaType() string      { return "application/vnd.oci.image.layer.v1.tar" }
func (l *memLayer) Size() int64            { return int64(len(l.data)) }
func (l *memLayer) ContentAddressed() bool { return true }
func (l *memLayer) HashBlob(context.Context) (string, error) {
	return l.digest, nil
}
func (l *memLayer) Open(ctx context.Context) (io.ReadCloser, error) {
	l.reads.Add(1)
	if l.open != nil {
		return l.open(ctx)
	}
	return io.NopCloser(bytes.NewReader(l.data)), nil
}

// memImage is an image of memLayers.
type memImage struct {
	name, manifest string
	layers         []*memLayer
}

func (m *memImage) Name() string           { return m.name }
func (m *memImage) ManifestDigest() string { return m.manifest }
func (m *memImage) Close() error           { return nil }
func (m *memImage) Layers() []image.Layer {
	out := make([]image.Layer, len(m.layers))
	for i, l := range m.layers {
		out[i] = l
	}
	return out
}

func digestOf(b []byte) string {
	h := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(h[:])
}

// fakes is a Local on a memstore that opens the images of its registry,
// counting layer reads.
type fakes struct {
	l      *Local
	st     *memstore.Store
	reads  atomic.Int64
	mu     sync.Mutex
	images map[string]*memImage
}

func newFakes(t *testing.T) *fakes {
	t.Helper()
	f := &fakes{st: memstore.New(), images: map[string]*memImage{}}
	f.l = NewLocal(f.st, indexer.New(all.Catalogers()), WithSources(nil), WithLogger(slog.New(slog.DiscardHandler)))
	f.l.open = func(ctx context.Context, ref string, _ ...image.Option) (image.Image, error) {
		f.mu.Lock()
		defer f.mu.Unlock()
		img, ok := f.images[ref]
		if !ok {
			return nil, fmt.Errorf("%s: %w", ref, errNoImage)
		}
		return img, nil
	}
	return f
}

var errNoImage = errors.New("no such image")

// layer makes a layer of files (name, content), in order.
func (f *fakes) layer(t *testing.T, files ...string) *memLayer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 0; i+1 < len(files); i += 2 {
		if err := tw.WriteHeader(&tar.Header{Name: files[i], Mode: 0o644, Size: int64(len(files[i+1])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, files[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &memLayer{data: buf.Bytes(), digest: digestOf(buf.Bytes()), reads: &f.reads}
}

// image registers an image of layers under ref; its manifest digest is a
// digest of its layers' digests.
func (f *fakes) image(ref string, layers ...*memLayer) *memImage {
	var ds []string
	for _, l := range layers {
		ds = append(ds, l.digest)
	}
	img := &memImage{name: ref, manifest: digestOf([]byte(strings.Join(ds, ","))), layers: layers}
	f.mu.Lock()
	f.images[ref] = img
	f.mu.Unlock()
	return img
}

// A Debian 12 base layer (libc6 and libssl3 installed) and an application
// layer that adds a file.
const (
	osRelease = "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"
	dpkgBase  = "Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u1\n\n" +
		"Package: libssl3\nStatus: install ok installed\nArchitecture: amd64\nSource: openssl\nVersion: 3.0.11-1~deb12u1\n\n"
)

func (f *fakes) debian(t *testing.T) *memLayer {
	return f.layer(t, "etc/os-release", osRelease, "var/lib/dpkg/status", dpkgBase)
}

// fixedIn is a Debian 12 record of the tracker.
func fixedIn(id, pkg, fixed string, sev vuln.Severity) vuln.Record {
	return vuln.Record{ID: id, Source: "debian-tracker", Ecosystem: "Debian:12", Package: pkg, Status: vuln.StatusFixed, Severity: sev,
		Ranges: []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "0", Fixed: fixed}}}
}

// ingest stores records as the tracker's next update.
func (f *fakes) ingest(t *testing.T, rs ...vuln.Record) {
	t.Helper()
	ctx := store.WithOrigin(context.Background(), store.Origin{Type: "debian-tracker"})
	if _, err := f.st.PutUpdate(ctx, "debian-tracker", fmt.Sprint(time.Now().UnixNano()), rs); err != nil {
		t.Fatal(err)
	}
}

func ids(r *report.Report) []string {
	var out []string
	for _, v := range r.Vulnerabilities {
		out = append(out, v.ID+" "+v.Package)
	}
	slices.Sort(out)
	return out
}

// TestScanFake scans an image of two layers: the report is built from the
// index and the data (packages, findings, the source covering them,
// layers), numbered 1 and recorded; a second scan reads no layer (both
// cached) and is numbered 2; another image on the same base reads only
// its own layer; a stale layer index (another indexer version) is read
// again.
func TestScanFake(t *testing.T) {
	ctx := context.Background()
	f := newFakes(t)
	f.ingest(t,
		fixedIn("CVE-2023-0001", "glibc", "2.36-9+deb12u3", vuln.SeverityHigh),
		fixedIn("CVE-2023-0002", "openssl", "3.0.11-1~deb12u1", vuln.SeverityMedium), // fixed in the installed version
		fixedIn("CVE-2023-0003", "curl", "7.88.1-10+deb12u4", vuln.SeverityCritical), // not installed
	)
	base := f.debian(t)
	app := f.layer(t, "srv/app/config.toml", "listen = ':8080'\n")
	img := f.image("reg.example/shop/app:1", base, app)

	var stages []string
	r, err := f.l.ScanImage(ctx, ScanRequest{Image: img.name, Progress: func(p Progress) { stages = append(stages, p.Stage) }})
	if err != nil {
		t.Fatal(err)
	}
	if r.Image != img.name || r.ManifestDigest != img.manifest || r.ScanIndex != 1 || r.Live {
		t.Errorf("report of %s %s #%d live %v", r.Image, r.ManifestDigest, r.ScanIndex, r.Live)
	}
	if r.Distribution == nil || r.Distribution.ID != "debian" || r.Distribution.VersionID != "12" {
		t.Errorf("distribution %+v", r.Distribution)
	}
	if len(r.Packages) != 2 || len(r.Layers) != 2 {
		t.Errorf("%d packages, %d layers; want 2 and 2", len(r.Packages), len(r.Layers))
	}
	if got, want := ids(r), []string{"CVE-2023-0001 libc6"}; !slices.Equal(got, want) {
		t.Errorf("findings %v, want %v", got, want)
	}
	if len(r.DataSources) != 1 || r.DataSources[0].Name != "debian-tracker" {
		t.Errorf("data sources %+v, want the tracker", r.DataSources)
	}
	if n := f.reads.Load(); n != 2 {
		t.Errorf("first scan read %d layers, want 2", n)
	}
	if !slices.Contains(stages, StageMatch) || slices.Contains(stages, StageCached) {
		t.Errorf("first scan's stages %v", stages)
	}
	sc, err := f.st.GetScan(ctx, img.name, 1)
	if err != nil || sc.ManifestDigest != img.manifest || sc.Packages != 2 || sc.Counts[vuln.SeverityHigh] != 1 || len(sc.Report) == 0 {
		t.Fatalf("recorded scan %+v, %v", sc, err)
	}

	// Again: every layer from the cache.
	f.reads.Store(0)
	stages = nil
	r2, err := f.l.ScanImage(ctx, ScanRequest{Image: img.name, Progress: func(p Progress) { stages = append(stages, p.Stage) }})
	if err != nil {
		t.Fatal(err)
	}
	if n := f.reads.Load(); n != 0 {
		t.Errorf("second scan read %d layers, want none", n)
	}
	if c := count(stages, StageCached); c != 2 {
		t.Errorf("second scan: %d layers cached, want 2 (%v)", c, stages)
	}
	if r2.ScanIndex != 2 || !slices.Equal(ids(r2), ids(r)) {
		t.Errorf("second scan #%d, findings %v", r2.ScanIndex, ids(r2))
	}

	// Another image on the same base: only its own layer is read.
	f.reads.Store(0)
	other := f.image("reg.example/shop/worker:1", base, f.layer(t, "srv/worker/run.sh", "#!/bin/sh\n"))
	if _, err := f.l.ScanImage(ctx, ScanRequest{Image: other.name}); err != nil {
		t.Fatal(err)
	}
	if n := f.reads.Load(); n != 1 {
		t.Errorf("an image on the same base read %d layers, want 1", n)
	}

	// A layer indexed by another indexer version is read again.
	stale, err := f.st.Layer(ctx, app.digest)
	if err != nil {
		t.Fatal(err)
	}
	stale.IndexerVersion = "0-stale"
	if err := f.st.PutLayer(ctx, stale); err != nil {
		t.Fatal(err)
	}
	f.reads.Store(0)
	if _, err := f.l.ScanImage(ctx, ScanRequest{Image: img.name}); err != nil {
		t.Fatal(err)
	}
	if n := f.reads.Load(); n != 1 {
		t.Errorf("with a stale layer index: %d layers read, want 1", n)
	}
	if li, err := f.st.Layer(ctx, app.digest); err != nil || li.IndexerVersion != f.l.ix.Version() {
		t.Errorf("the stale index was not replaced: %+v, %v", li, err)
	}
}

func count(stages []string, stage string) int {
	n := 0
	for _, s := range stages {
		if s == stage {
			n++
		}
	}
	return n
}

// TestReportFake checks the reports of a recorded scan: index N is the
// report as recorded, index 0 the latest scan matched again against the
// current data (which an update changed since), ManifestReport names the
// manifest after its image, and ListScans numbers the scans.
func TestReportFake(t *testing.T) {
	ctx := context.Background()
	f := newFakes(t)
	f.ingest(t, fixedIn("CVE-2023-0001", "glibc", "2.36-9+deb12u3", vuln.SeverityHigh))
	img := f.image("reg.example/base:12", f.debian(t))
	if _, err := f.l.ScanImage(ctx, ScanRequest{Image: img.name}); err != nil {
		t.Fatal(err)
	}
	f.ingest(t,
		fixedIn("CVE-2023-0001", "glibc", "2.36-9+deb12u3", vuln.SeverityHigh),
		fixedIn("CVE-2023-0004", "openssl", "3.0.13-1~deb12u1", vuln.SeverityMedium))

	recorded, err := f.l.Report(ctx, img.name, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(recorded), []string{"CVE-2023-0001 libc6"}; !slices.Equal(got, want) || recorded.ScanIndex != 1 {
		t.Errorf("recorded report #%d: %v, want %v", recorded.ScanIndex, got, want)
	}
	live, err := f.l.Report(ctx, img.name, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := ids(live), []string{"CVE-2023-0001 libc6", "CVE-2023-0004 libssl3"}; !slices.Equal(got, want) || !live.Live || live.ScanIndex != 1 {
		t.Errorf("live report #%d (live %v): %v, want %v", live.ScanIndex, live.Live, got, want)
	}
	mr, err := f.l.ManifestReport(ctx, img.manifest)
	if err != nil {
		t.Fatal(err)
	}
	if mr.Image != img.name || !slices.Equal(ids(mr), ids(live)) {
		t.Errorf("manifest report of %s: %v", mr.Image, ids(mr))
	}
	if _, err := f.l.Report(ctx, img.name, 2); !errors.Is(err, ErrNotFound) {
		t.Errorf("Report #2: %v, want ErrNotFound", err)
	}
	if _, err := f.l.ManifestReport(ctx, digestOf([]byte("unknown"))); !errors.Is(err, ErrNotFound) {
		t.Errorf("ManifestReport of an unknown manifest: %v, want ErrNotFound", err)
	}
	if _, err := f.l.ScanImage(ctx, ScanRequest{Image: img.name}); err != nil {
		t.Fatal(err)
	}
	list, err := f.l.ListScans(ctx, img.name)
	if err != nil || len(list) != 2 || list[0].Index != 1 || list[1].Index != 2 || list[1].Vulnerabilities["medium"] != 1 {
		t.Errorf("ListScans = %+v, %v", list, err)
	}
}

// TestScanKeyFake checks that a scan request with a key (a server job's
// id) is numbered once however often it runs.
func TestScanKeyFake(t *testing.T) {
	ctx := context.Background()
	f := newFakes(t)
	img := f.image("reg.example/base:12", f.debian(t))
	for range 2 {
		r, err := f.l.ScanImage(ctx, ScanRequest{Image: img.name, Key: "job-1"})
		if err != nil || r.ScanIndex != 1 {
			t.Fatalf("scan with key job-1: #%d, %v; want #1", r.ScanIndex, err)
		}
	}
	if r, err := f.l.ScanImage(ctx, ScanRequest{Image: img.name, Key: "job-2"}); err != nil || r.ScanIndex != 2 {
		t.Fatalf("scan with key job-2: %v", err)
	}
}

// failStore fails one method of a memstore with errStore.
type failStore struct {
	*memstore.Store
	method string
}

var errStore = errors.New("store down")

func (s failStore) fail(m string) error {
	if s.method == m {
		return errStore
	}
	return nil
}

func (s failStore) CreateScan(ctx context.Context, sc *store.Scan) (int, error) {
	if err := s.fail("CreateScan"); err != nil {
		return 0, err
	}
	return s.Store.CreateScan(ctx, sc)
}

func (s failStore) SourceData(ctx context.Context) ([]store.SourceData, error) {
	if err := s.fail("SourceData"); err != nil {
		return nil, err
	}
	return s.Store.SourceData(ctx)
}

func (s failStore) PutLayer(ctx context.Context, idx *model.LayerIndex) error {
	if err := s.fail("PutLayer"); err != nil {
		return err
	}
	return s.Store.PutLayer(ctx, idx)
}

func (s failStore) Records(ctx context.Context, eco string, pkgs []string) ([]vuln.Record, error) {
	if err := s.fail("Records"); err != nil {
		return nil, err
	}
	return s.Store.Records(ctx, eco, pkgs)
}

// TestScanErrorsFake checks the failures of a scan: each is returned,
// wrapped with what failed, and no scan is recorded.
func TestScanErrorsFake(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// setup changes the fakes; it returns the reference to scan.
		setup func(t *testing.T, f *fakes) string
		is    error
		says  string
	}{
		{
			name:  "no such image",
			setup: func(*testing.T, *fakes) string { return "reg.example/missing:1" },
			is:    errNoImage,
		},
		{
			name: "a layer that cannot be read is a corrupt image",
			setup: func(t *testing.T, f *fakes) string {
				ly := f.debian(t)
				ly.open = func(context.Context) (io.ReadCloser, error) { return nil, errors.New("connection reset") }
				return f.image("reg.example/broken:1", ly).name
			},
			is:   image.ErrCorrupt,
			says: "connection reset",
		},
		{
			name: "a layer that is not a tar stream",
			setup: func(t *testing.T, f *fakes) string {
				ly := f.debian(t)
				ly.open = func(context.Context) (io.ReadCloser, error) {
					return io.NopCloser(strings.NewReader(strings.Repeat("not a tar ", 100))), nil
				}
				return f.image("reg.example/garbage:1", ly).name
			},
			is: image.ErrCorrupt,
		},
	}
	for _, method := range []struct{ name, says string }{
		{"CreateScan", "record scan"},
		{"SourceData", "vulnerability data coverage"},
		{"PutLayer", "store index"},
		{"Records", ""},
	} {
		cases = append(cases, struct {
			name  string
			setup func(t *testing.T, f *fakes) string
			is    error
			says  string
		}{
			name: "store: " + method.name + " fails",
			setup: func(t *testing.T, f *fakes) string {
				f.l.st = failStore{f.st, method.name}
				return f.image("reg.example/base:12", f.debian(t)).name
			},
			is:   errStore,
			says: method.says,
		})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakes(t)
			f.ingest(t, fixedIn("CVE-2023-0001", "glibc", "2.36-9+deb12u3", vuln.SeverityHigh))
			ref := tc.setup(t, f)
			r, err := f.l.ScanImage(ctx, ScanRequest{Image: ref})
			if !errors.Is(err, tc.is) || !strings.Contains(fmt.Sprint(err), tc.says) {
				t.Fatalf("ScanImage = %v, %v; want an error wrapping %v saying %q", r, err, tc.is, tc.says)
			}
			if scans, _ := f.st.LatestScans(ctx); len(scans) != 0 {
				t.Errorf("a failed scan was recorded: %+v", scans)
			}
		})
	}
}

// TestScanCancelFake cancels a scan while a layer is being read: the scan
// ends with the context's error, not as a corrupt image, and records
// nothing; the layer read before it stays cached.
func TestScanCancelFake(t *testing.T) {
	f := newFakes(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	base := f.debian(t)
	slow := f.layer(t, "srv/app/big.bin", "x")
	reading := make(chan struct{})
	slow.open = func(ctx context.Context) (io.ReadCloser, error) {
		close(reading)
		<-ctx.Done()
		return nil, ctx.Err()
	}
	img := f.image("reg.example/slow:1", base, slow)
	done := make(chan error, 1)
	go func() {
		_, err := f.l.ScanImage(ctx, ScanRequest{Image: img.name})
		done <- err
	}()
	<-reading
	cancel()
	err := <-done
	if !errors.Is(err, context.Canceled) || errors.Is(err, image.ErrCorrupt) {
		t.Fatalf("cancelled scan: %v; want context.Canceled, not a corrupt image", err)
	}
	if scans, _ := f.st.LatestScans(context.Background()); len(scans) != 0 {
		t.Errorf("a cancelled scan was recorded: %+v", scans)
	}
}
