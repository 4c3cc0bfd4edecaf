package indexer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/hostile"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// wantLimit checks that err is a *limits.Error of the given key and
// limit, wrapped with the layer's digest.
func wantLimit(t *testing.T, err error, key string, limit int64) {
	t.Helper()
	var le *limits.Error
	if !errors.As(err, &le) || !errors.Is(err, limits.ErrExceeded) {
		t.Fatalf("error %v, want a *limits.Error", err)
	}
	if le.Key != key || le.Limit != limit {
		t.Errorf("error %v: key %q limit %d, want %q %d", err, le.Key, le.Limit, key, limit)
	}
	if !strings.Contains(err.Error(), "sha256:l") {
		t.Errorf("error %q does not name the layer", err)
	}
}

func TestEntriesLimit(t *testing.T) {
	kinds := map[string]func(i int) hostile.File{
		"files":     func(i int) hostile.File { return hostile.File{Name: fmt.Sprintf("d/f%d", i)} },
		"whiteouts": func(i int) hostile.File { return hostile.File{Name: fmt.Sprintf("d/.wh.f%d", i)} },
		"opaque":    func(i int) hostile.File { return hostile.File{Name: fmt.Sprintf("d%d/.wh..wh..opq", i)} },
		"dirs":      func(i int) hostile.File { return hostile.File{Name: fmt.Sprintf("d%d/", i), Type: '5'} },
		"symlinks":  func(i int) hostile.File { return hostile.File{Name: fmt.Sprintf("l%d", i), Type: '2'} },
	}
	ix := indexer.New([]indexer.Cataloger{listCataloger{}}, indexer.WithLimits(indexer.Limits{Entries: 100}))
	for kind, entry := range kinds {
		t.Run(kind, func(t *testing.T) {
			if _, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Many(100, entry)); err != nil {
				t.Fatalf("100 entries: %v", err)
			}
			li, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Many(101, entry))
			if li != nil {
				t.Errorf("an index returned with the error")
			}
			wantLimit(t, err, "limits.layer_entries", 100)
		})
	}
}

func TestFileBytesWarns(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{listCataloger{}}, indexer.WithLimits(indexer.Limits{FileBytes: 8}))
	li, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(
		hostile.Bytes("a/pkgs.txt", []byte("a 1\nb 2\n")), // 8 bytes: read
		hostile.Bytes("b/pkgs.txt", []byte("a 1\nb 22\n")),
		hostile.Bytes("c/pkgs.txt", []byte("c 1\n")),
	))
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, e := range li.Entries {
		paths = append(paths, e.Path)
	}
	if !slices.Equal(paths, []string{"a/pkgs.txt", "c/pkgs.txt"}) {
		t.Errorf("entries %q", paths)
	}
	if len(li.Warnings) != 1 || !strings.Contains(li.Warnings[0], "b/pkgs.txt") || !strings.Contains(li.Warnings[0], "limits.file_bytes") {
		t.Errorf("warnings %q", li.Warnings)
	}
}

// readerAtCataloger checks what the walker hands to Parse: an
// *io.SectionReader whose ReadAt agrees with its Read, and records the
// size of every file.
type readerAtCataloger struct{ sizes *[]int64 }

func (readerAtCataloger) Name() string        { return "readerat" }
func (readerAtCataloger) Wants(p string) bool { return strings.HasSuffix(p, ".bin") }
func (c readerAtCataloger) Parse(_ context.Context, p string, r io.Reader) (indexer.Result, error) {
	sr, ok := r.(*io.SectionReader)
	if !ok {
		return indexer.Result{}, fmt.Errorf("%T, not an *io.SectionReader", r)
	}
	*c.sizes = append(*c.sizes, sr.Size())
	tail := make([]byte, 16)
	if _, err := sr.ReadAt(tail, sr.Size()-16); err != nil {
		return indexer.Result{}, err
	}
	all, err := io.ReadAll(sr)
	if err != nil {
		return indexer.Result{}, err
	}
	if int64(len(all)) != sr.Size() || !bytes.Equal(all[len(all)-16:], tail) {
		return indexer.Result{}, fmt.Errorf("Read and ReadAt disagree")
	}
	return indexer.Result{Packages: []vuln.Package{{Name: p, Version: fmt.Sprint(len(all)), Kind: vuln.KindDeb}}}, nil
}

func TestSpooledFiles(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	var sizes []int64
	ix := indexer.New([]indexer.Cataloger{readerAtCataloger{&sizes}})
	big := int64(indexer.MemoryThreshold) + 1
	files := []hostile.File{
		hostile.Repeat("a.bin", 100, "", "x", "0123456789abcdef"),
		hostile.Repeat("b.bin", 3*big, "", "y", "0123456789abcdef"),
		hostile.Repeat("c.bin", big, "", "z", "fedcba9876543210"), // shorter than the spooled one before it
		hostile.Repeat("d.bin", 200, "", "w", "0123456789abcdef"),
	}
	li, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(files...))
	if err != nil {
		t.Fatal(err)
	}
	if len(li.Warnings) != 0 || len(li.Entries) != 4 {
		t.Fatalf("entries %v warnings %q", li.Entries, li.Warnings)
	}
	for i, f := range files {
		if sizes[i] != f.Size {
			t.Errorf("%s: size %d, want %d", f.Name, sizes[i], f.Size)
		}
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
	// A stream that ends inside a spooled file fails, and leaves nothing.
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, hostile.Files(files[1])); err != nil {
		t.Fatal(err)
	}
	if _, err := ix.IndexLayer(context.Background(), "sha256:l", bytes.NewReader(buf.Bytes()[:2*big])); err == nil {
		t.Error("no error for a truncated layer")
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}

// countingCataloger reads "name version" lines from files named
// count.txt, charging each to the layer's budget as it decodes it, and
// counts the lines it read in all.
type countingCataloger struct{ lines *int }

func (countingCataloger) Name() string        { return "counting" }
func (countingCataloger) Wants(p string) bool { return path.Base(p) == "count.txt" }
func (c countingCataloger) Parse(ctx context.Context, _ string, r io.Reader) (indexer.Result, error) {
	var res indexer.Result
	for line := range strings.Lines(mustRead(r)) {
		*c.lines++
		name, version, _ := strings.Cut(strings.TrimSpace(line), " ")
		p := vuln.Package{Name: name, Version: version, Kind: vuln.KindDeb}
		if err := indexer.CountPackage(ctx, p); err != nil {
			return indexer.Result{}, fmt.Errorf("line %d: %w", *c.lines, err)
		}
		res.Packages = append(res.Packages, p)
	}
	return res, nil
}

func mustRead(r io.Reader) string {
	b, _ := io.ReadAll(r)
	return string(b)
}

func lines(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "p%d 1\n", i)
	}
	return b.String()
}

func TestPackagesLimit(t *testing.T) {
	var read int
	ix := indexer.New([]indexer.Cataloger{listCataloger{}, countingCataloger{&read}}, indexer.WithLimits(indexer.Limits{Packages: 10}))
	for _, tc := range []struct {
		name  string
		files []hostile.File
		fail  bool
	}{
		{"at the limit, two files", []hostile.File{hostile.Bytes("a/pkgs.txt", []byte(lines(6))), hostile.Bytes("b/pkgs.txt", []byte(lines(4)))}, false},
		{"over, two files, counted after Parse", []hostile.File{hostile.Bytes("a/pkgs.txt", []byte(lines(6))), hostile.Bytes("b/pkgs.txt", []byte(lines(5)))}, true},
		{"over, counted while decoding", []hostile.File{hostile.Bytes("a/count.txt", []byte(lines(100000)))}, true},
		{"both ways", []hostile.File{hostile.Bytes("a/pkgs.txt", []byte(lines(8))), hostile.Bytes("a/count.txt", []byte(lines(3)))}, true},
		{"empty databases count", []hostile.File{hostile.Bytes("a/pkgs.txt", []byte(lines(8))), hostile.Bytes("b/pkgs.txt", nil), hostile.Bytes("c/pkgs.txt", nil), hostile.Bytes("d/pkgs.txt", nil)}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			read = 0
			li, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(tc.files...))
			if !tc.fail {
				if err != nil {
					t.Fatal(err)
				}
				if len(li.Warnings) != 0 {
					t.Errorf("warnings %q", li.Warnings)
				}
				return
			}
			wantLimit(t, err, "limits.packages", 10)
			if read > 11 {
				t.Errorf("the cataloger read %d lines: it was not stopped at the limit", read)
			}
		})
	}
}

func TestOwnedFilesLimit(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{ownerCataloger{}}, indexer.WithLimits(indexer.Limits{Entries: 100}))
	files := func(n int) []byte {
		var b strings.Builder
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "/usr/f%d\n", i)
		}
		return []byte(b.String())
	}
	if _, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(
		hostile.Bytes("a/owner.list", files(60)), hostile.Bytes("b/owner.list", files(40)))); err != nil {
		t.Fatal(err)
	}
	_, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(
		hostile.Bytes("a/owner.list", files(60)), hostile.Bytes("b/owner.list", files(41))))
	wantLimit(t, err, "limits.layer_entries", 100)
}

// failCataloger fails the test if it is ever handed a file.
type failCataloger struct{ t *testing.T }

func (failCataloger) Name() string        { return "fail" }
func (failCataloger) Wants(p string) bool { return strings.HasSuffix(p, "package.json") }
func (c failCataloger) Parse(context.Context, string, io.Reader) (indexer.Result, error) {
	c.t.Error("a sparse file was handed to a cataloger")
	return indexer.Result{}, nil
}

func TestSparseSkipped(t *testing.T) {
	name := func(i int) string { return fmt.Sprintf("app/node_modules/p%d/package.json", i) }
	other := func(i int) string { return fmt.Sprintf("app/node_modules/p%d/other", i) }
	data := []byte(`{"name":"p","version":"1.0.0"}`)
	ix := indexer.New([]indexer.Cataloger{failCataloger{t}})
	for _, tc := range []struct {
		name  string
		layer io.Reader
		warn  int
	}{
		{"GNU sparse, wanted", hostile.GNUSparse(5, name, 500<<20, data), 5},
		{"PAX sparse 1.0, wanted", hostile.PAXSparse(5, name, 500<<20, data), 5},
		{"GNU sparse, not wanted", hostile.GNUSparse(5, other, 500<<20, data), 0},
		{"PAX sparse 1.0, not wanted", hostile.PAXSparse(5, other, 500<<20, data), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			li, err := ix.IndexLayer(context.Background(), "sha256:l", tc.layer)
			if err != nil {
				t.Fatal(err)
			}
			if len(li.Entries) != 0 || len(li.Warnings) != tc.warn {
				t.Fatalf("entries %v warnings %q", li.Entries, li.Warnings)
			}
			for _, w := range li.Warnings {
				if !strings.Contains(w, "sparse") {
					t.Errorf("warning %q", w)
				}
			}
		})
	}
}

// panicCataloger panics on every file named panic.txt.
type panicCataloger struct{}

func (panicCataloger) Name() string        { return "panic" }
func (panicCataloger) Wants(p string) bool { return strings.HasSuffix(p, "pkgs.txt") }
func (panicCataloger) Parse(context.Context, string, io.Reader) (indexer.Result, error) {
	var m map[string]int
	m["x"]++ // a nil map: a cataloger's bug
	return indexer.Result{}, nil
}

func TestCatalogerPanicIsAWarning(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{panicCataloger{}, listCataloger{}})
	li, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(hostile.Bytes("a/pkgs.txt", []byte("a 1\n"))))
	if err != nil {
		t.Fatal(err)
	}
	if len(li.Entries) != 1 || len(li.Entries[0].Packages) != 1 {
		t.Errorf("entries %+v: the other cataloger did not run", li.Entries)
	}
	if len(li.Warnings) != 1 || !strings.Contains(li.Warnings[0], "a/pkgs.txt: panic: panic:") {
		t.Errorf("warnings %q", li.Warnings)
	}
}

func TestLongNames(t *testing.T) {
	long := strings.Repeat("d/", 2100)
	ix := indexer.New([]indexer.Cataloger{listCataloger{}})
	li, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(
		hostile.Bytes(long+"pkgs.txt", []byte("a 1\n")),
		hostile.File{Name: long + ".wh.x"},
		hostile.Bytes(long+"other", []byte("x")),
		hostile.Bytes("ok/pkgs.txt", []byte("b 1\n")),
	))
	if err != nil {
		t.Fatal(err)
	}
	if len(li.Entries) != 1 || li.Entries[0].Path != "ok/pkgs.txt" || len(li.Whiteouts) != 0 {
		t.Errorf("entries %+v whiteouts %d", li.Entries, len(li.Whiteouts))
	}
	if len(li.Warnings) != 2 {
		t.Errorf("warnings %q", li.Warnings)
	}
}

func TestWhiteoutBytesLimit(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{listCataloger{}})
	name := func(i int) string { return fmt.Sprintf("%s/.wh.%07d", strings.Repeat("w", 4000), i) }
	layer := hostile.Many(16<<20/4000+10, func(i int) hostile.File { return hostile.File{Name: name(i)} })
	_, err := ix.IndexLayer(context.Background(), "sha256:l", layer)
	wantLimit(t, err, "", 16<<20)
}

func TestWarningsCapped(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{listCataloger{}})
	li, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Many(1500, func(i int) hostile.File {
		return hostile.Bytes(fmt.Sprintf("d%d/pkgs.txt", i), []byte("broken\n"))
	}))
	if err != nil {
		t.Fatal(err)
	}
	if len(li.Warnings) != 1001 || li.Warnings[1000] != "500 more warnings not kept" {
		t.Errorf("%d warnings, last %q", len(li.Warnings), li.Warnings[len(li.Warnings)-1])
	}
}

func TestFoldPackagesLimit(t *testing.T) {
	layer := func(d string, names ...string) (model.LayerInfo, *model.LayerIndex) {
		li := &model.LayerIndex{Digest: d}
		for _, n := range names {
			li.Entries = append(li.Entries, model.Entry{Path: n + "/pkgs.txt", Cataloger: "list", Packages: []vuln.Package{
				{Name: n, Version: "1", Kind: vuln.KindDeb}, {Name: n + "-dev", Version: "1", Kind: vuln.KindDeb},
			}})
		}
		return model.LayerInfo{Digest: d}, li
	}
	i0, l0 := layer("sha256:0", "a", "b")
	i1, l1 := layer("sha256:1", "a", "c") // a replaces a: 6 packages in the image
	ix := indexer.New(nil, indexer.WithLimits(indexer.Limits{Packages: 6}))
	if img, err := ix.Fold("sha256:m", []model.LayerInfo{i0, i1}, []*model.LayerIndex{l0, l1}); err != nil || len(img.Packages) != 6 {
		t.Fatalf("%v", err)
	}
	i2, l2 := layer("sha256:2", "d")
	_, err := ix.Fold("sha256:m", []model.LayerInfo{i0, i1, i2}, []*model.LayerIndex{l0, l1, l2})
	var le *limits.Error
	if !errors.As(err, &le) || le.Key != "limits.packages" || le.Limit != 6 || !strings.Contains(err.Error(), "sha256:m") {
		t.Errorf("error %v", err)
	}
	if _, err := indexer.Fold("sha256:m", []model.LayerInfo{i0}, []*model.LayerIndex{nil}); err == nil {
		t.Error("no error for a missing layer index")
	}
}

// naiveFold is the fold's deletion and lock file rules written the
// obvious, quadratic way: what removeDeleted and supersededLock must
// agree with.
func naiveFold(layers []*model.LayerIndex) []string {
	state := map[string]model.Entry{}
	for _, li := range layers {
		for _, dir := range li.Opaque {
			for k, e := range state {
				if dir == "" || strings.HasPrefix(e.Path, dir+"/") {
					delete(state, k)
				}
			}
		}
		for _, p := range li.Whiteouts {
			for k, e := range state {
				if e.Path == p || strings.HasPrefix(e.Path, p+"/") {
					delete(state, k)
				}
			}
		}
		for _, e := range li.Entries {
			state[e.Cataloger+"\x00"+e.Path] = e
		}
	}
	var out []string
	for _, e := range state {
		if base := path.Base(e.Path); base == "package-lock.json" || base == "yarn.lock" {
			prefix := "node_modules/"
			if d := path.Dir(e.Path); d != "." {
				prefix = d + "/" + prefix
			}
			superseded := false
			for _, o := range state {
				if strings.HasPrefix(o.Path, prefix) {
					superseded = true
				}
			}
			if superseded {
				continue
			}
		}
		out = append(out, e.Path)
	}
	slices.Sort(out)
	return out
}

// TestFoldDeletionsRandom compares the fold with naiveFold on random
// layers over a small alphabet of path elements chosen to sort around
// "/" ("a-b" and "a.b" sort between "a" and "a/…" bytewise).
func TestFoldDeletionsRandom(t *testing.T) {
	elems := []string{"a", "b", "a-b", "a.b", "node_modules", "ab"}
	rnd := rand.New(rand.NewPCG(1, 2))
	randPath := func(leaf string) string {
		n := 1 + rnd.IntN(4)
		var parts []string
		for i := 0; i < n; i++ {
			parts = append(parts, elems[rnd.IntN(len(elems))])
		}
		if leaf != "" {
			parts = append(parts, leaf)
		}
		return strings.Join(parts, "/")
	}
	leaves := []string{"package.json", "package-lock.json", "yarn.lock", "x"}
	for iter := 0; iter < 2000; iter++ {
		var infos []model.LayerInfo
		var layers []*model.LayerIndex
		for l := 0; l < 1+rnd.IntN(4); l++ {
			li := &model.LayerIndex{Digest: fmt.Sprint("sha256:", l)}
			for i := 0; i < rnd.IntN(12); i++ {
				p := randPath(leaves[rnd.IntN(len(leaves))])
				li.Entries = append(li.Entries, model.Entry{Path: p, Cataloger: "npm", Packages: []vuln.Package{{Name: p, Version: "1", Kind: vuln.KindNPM}}})
			}
			for i := 0; i < rnd.IntN(4); i++ {
				li.Whiteouts = append(li.Whiteouts, randPath(""))
			}
			for i := 0; i < rnd.IntN(3); i++ {
				if rnd.IntN(20) == 0 {
					li.Opaque = append(li.Opaque, "")
				} else {
					li.Opaque = append(li.Opaque, randPath(""))
				}
			}
			infos = append(infos, model.LayerInfo{Digest: li.Digest})
			layers = append(layers, li)
		}
		img, err := indexer.Fold("m", infos, layers)
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, p := range img.Packages {
			got = append(got, p.Name)
		}
		slices.Sort(got)
		if want := naiveFold(layers); !slices.Equal(got, want) {
			t.Fatalf("iteration %d:\n got %q\nwant %q", iter, got, want)
		}
	}
}

func TestPackageBytesLimit(t *testing.T) {
	var read int
	ix := indexer.New([]indexer.Cataloger{listCataloger{}, countingCataloger{&read}, ownerCataloger{}}, indexer.WithLimits(indexer.Limits{Packages: 10, Entries: 10}))
	long := strings.Repeat("n", 1000)
	for _, tc := range []struct {
		name, file, body, key string
	}{
		{"counted after Parse", "a/pkgs.txt", long + " 1\n" + long + " 1\n" + long + " 1\n", "limits.packages"},
		{"counted while decoding", "a/count.txt", long + " 1\n" + long + " 1\n" + long + " 1\n", "limits.packages"},
		{"owned files", "a/owner.list", "/" + long + "\n", "limits.layer_entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(hostile.Bytes(tc.file, []byte(tc.body))))
			var le *limits.Error
			if !errors.As(err, &le) || le.Key != tc.key || le.Unit != "bytes" {
				t.Fatalf("error %v, want a byte limit of %s", err, tc.key)
			}
		})
	}
	if _, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(hostile.Bytes("a/pkgs.txt", []byte(long+" 1\n"+long+" 1\n")))); err != nil {
		t.Fatalf("2000 bytes of names: %v", err)
	}
}
