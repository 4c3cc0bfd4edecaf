package dpkg_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/dpkg"
	"github.com/lapps/lapps/testenv"
)

func TestListPackage(t *testing.T) {
	for base, want := range map[string]string{
		"python3-requests.list":  "python3-requests",
		"libc6:amd64.list":       "libc6",
		"libstdc++6:amd64.list":  "libstdc++6",
		"libgcc-s1:i386.list":    "libgcc-s1",
		"x11-common.list":        "x11-common",
		"g++-12.list":            "g++-12",
		"libc6:amd64.md5sums":    "",
		"libc6.list.dpkg-new":    "",
		"libc6.conffiles":        "",
		".list":                  "",
		":amd64.list":            "",
		"libc6:.list":            "",
		"libc6:amd64:i386.list":  "",
		"lib c6.list":            "",
		".hidden.list":           "",
		"-flag.list":             "",
		"list":                   "",
		"":                       "",
		"libc6:am/d64.list":      "",
		"libc6\x00.list":         "",
		"libc6:amd64.list.list2": "",
	} {
		if got := dpkg.ListPackage(base); got != want {
			t.Errorf("ListPackage(%q) = %q, want %q", base, got, want)
		}
	}
}

func TestParseList(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"root only", "/.\n", nil, ""},
		{"python3-requests, shortened",
			"/.\n/usr\n/usr/lib\n/usr/lib/python3/dist-packages/requests-2.28.1.egg-info\n/usr/lib/python3/dist-packages/requests-2.28.1.egg-info/PKG-INFO\n",
			[]string{"usr", "usr/lib", "usr/lib/python3/dist-packages/requests-2.28.1.egg-info", "usr/lib/python3/dist-packages/requests-2.28.1.egg-info/PKG-INFO"}, ""},
		{"merged /usr: the real name follows the listed one",
			"/.\n/bin\n/bin/bash\n/sbin/agetty\n/lib/x86_64-linux-gnu/libc.so.6\n/lib64/ld-linux-x86-64.so.2\n/libx32\n/binary/x\n/usr/bin/fzf\n",
			[]string{"bin", "usr/bin", "bin/bash", "usr/bin/bash", "sbin/agetty", "usr/sbin/agetty",
				"lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libc.so.6",
				"lib64/ld-linux-x86-64.so.2", "usr/lib64/ld-linux-x86-64.so.2", "libx32", "usr/libx32",
				"binary/x", "usr/bin/fzf"}, ""},
		{"no final newline, blank lines, unclean paths", "/usr/bin/a\n\n//usr/./bin//b/\n/usr/bin/../../../etc/passwd",
			[]string{"usr/bin/a", "usr/bin/b", "etc/passwd"}, ""},
		{"spaces belong to the name", "/usr/share/doc/a b \n", []string{"usr/share/doc/a b "}, ""},
		{"relative path", "/.\nusr/bin/a\n", nil, "line 2: not an absolute path"},
		{"a status file", "Package: libc6\nVersion: 2.36\n", nil, "line 1: not an absolute path"},
		{"NUL in a path", "/usr/bin/a\x00b\n", nil, "line 1"},
		{"CR is part of the name", "/usr/bin/a\r\n", []string{"usr/bin/a\r"}, ""},
		{"long lines are skipped", "/" + strings.Repeat("x", 2<<20) + "\n/" + strings.Repeat("y", 4096) + "\n/" + strings.Repeat("z", 4095) + "\n/a\n",
			[]string{strings.Repeat("z", 4095), "a"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := dpkg.ParseList(context.Background(), strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// endless yields "/a\n" forever.
type endless struct{ n int }

func (e *endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = "/a\n"[e.n%3]
		e.n++
	}
	return len(p), nil
}

func TestParseListTooLarge(t *testing.T) {
	if _, err := dpkg.ParseList(context.Background(), &endless{}); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err %v, want a size error", err)
	}
}

func TestParseListCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := strings.Repeat("/usr/bin/a\n", 10000)
	if _, err := dpkg.ParseList(ctx, strings.NewReader(in)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestParseListResult(t *testing.T) {
	c := dpkg.New()
	res, err := c.Parse(context.Background(), "var/lib/dpkg/info/libc6:amd64.list", strings.NewReader("/.\n/lib/x86_64-linux-gnu/libc.so.6\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Packages) != 0 || res.Distribution != nil || len(res.OwnedFiles) != 1 {
		t.Fatalf("result %+v: want only OwnedFiles", res)
	}
	if got := res.OwnedFiles["deb libc6"]; !slices.Equal(got, []string{"lib/x86_64-linux-gnu/libc.so.6", "usr/lib/x86_64-linux-gnu/libc.so.6"}) {
		t.Errorf("deb libc6 owns %q", got)
	}
	// An empty list still names its package: the walker then records no
	// entry for it.
	res, err = c.Parse(context.Background(), "var/lib/dpkg/info/empty.list", strings.NewReader(""))
	if err != nil {
		t.Fatal(err)
	}
	if files, ok := res.OwnedFiles["deb empty"]; !ok || len(files) != 0 {
		t.Errorf("empty list: %+v", res)
	}
	_, err = c.Parse(context.Background(), "var/lib/dpkg/info/bad.list", strings.NewReader("Package: x\n"))
	if err == nil || !strings.Contains(err.Error(), "var/lib/dpkg/info/bad.list") {
		t.Errorf("err %v, want one naming the path", err)
	}
}

// layer is what a test needs of one layer: the tar type of each entry,
// and the content of the files a cataloger wants.
type layer struct {
	types  map[string]byte
	wanted map[string][]byte
}

// readLayer reads a gzip layer blob once.
func readLayer(tb testing.TB, blobPath string, c indexer.Cataloger) layer {
	tb.Helper()
	f, err := os.Open(blobPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	l := layer{types: map[string]byte{}, wanted: map[string][]byte{}}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return l
		}
		if err != nil {
			tb.Fatal(err)
		}
		name := indexer.CleanPath(hdr.Name)
		l.types[name] = hdr.Typeflag
		if hdr.Typeflag == tar.TypeReg && c.Wants(name) {
			if l.wanted[name], err = io.ReadAll(tr); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// TestRealFileLists reads the file lists of the real images' layers.
// For the mid image's package layer it compares each list with
// `dpkg-query -L`, dpkg's own reading, over an admin directory made of the
// final status file and the layer's lists. For every layer it checks that
// the files a list names were written by that layer, under the listed
// name or, for bin, sbin and lib*, under usr/ (the images have merged
// /usr): all of them for a package new in the layer; an upgraded package
// (its list already in an earlier layer) may have left files the layer
// did not change. The image build empties var/lib/apt/lists.
func TestRealFileLists(t *testing.T) {
	tests := []struct {
		tag   string
		lists []int // per layer, the number of .list files
	}{
		{"debian-bookworm-mid", []int{88, 54, 0}},
		{"debian-bookworm-fat", []int{88, 489, 0}},
	}
	c := dpkg.New()
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			t.Parallel()
			blobs := testenv.LayerBlobs(t, tt.tag)
			if len(blobs) != len(tt.lists) {
				t.Fatalf("%d layers, want %d", len(blobs), len(tt.lists))
			}
			earlier := map[string]bool{} // packages listed by an earlier layer
			for i, b := range blobs {
				l := readLayer(t, b, c)
				lists := map[string][]string{} // package → files
				for name, data := range l.wanted {
					if path.Dir(name) != dpkg.InfoDir {
						continue
					}
					res, err := c.Parse(context.Background(), name, bytes.NewReader(data))
					if err != nil {
						t.Fatal(err)
					}
					if len(res.Packages) != 0 || len(res.OwnedFiles) != 1 {
						t.Fatalf("%s: %d packages, %d owners", name, len(res.Packages), len(res.OwnedFiles))
					}
					for k, files := range res.OwnedFiles {
						pkg, ok := strings.CutPrefix(k, "deb ")
						if !ok || pkg != dpkg.ListPackage(path.Base(name)) {
							t.Fatalf("%s: owner %q", name, k)
						}
						lists[pkg] = files
					}
				}
				if len(lists) != tt.lists[i] {
					t.Errorf("layer %d: %d file lists, want %d", i, len(lists), tt.lists[i])
				}
				files, aliased, upgraded := 0, 0, 0
				for pkg, fs := range lists {
					// A list names directories too; those that hold
					// another listed path are left out (a layer holds
					// only the directories it changed).
					dirs := map[string]bool{}
					for _, f := range fs {
						for d := path.Dir(f); d != "." && !dirs[d]; d = path.Dir(d) {
							dirs[d] = true
						}
					}
					var missing []string
					for j := 0; j < len(fs); j++ {
						f := fs[j]
						alias := j+1 < len(fs) && fs[j+1] == "usr/"+f
						if alias {
							j++
						}
						if dirs[f] || strings.HasPrefix(f, "var/lib/apt/lists/") {
							continue
						}
						files++
						_, listed := l.types[f]
						_, real := l.types["usr/"+f]
						switch {
						case listed:
						case alias && real:
							aliased++
						default:
							missing = append(missing, f)
						}
					}
					if len(missing) > 0 {
						if !earlier[pkg] {
							t.Errorf("layer %d: %s, new in the layer, lists %d files the layer does not hold: %q", i, pkg, len(missing), missing)
						}
						upgraded++
					}
				}
				for pkg := range lists {
					earlier[pkg] = true
				}
				t.Logf("layer %d: %d lists, %d files (%d under merged /usr), %d upgraded packages with files left in earlier layers", i, len(lists), files, aliased, upgraded)
				if i == 0 && aliased == 0 {
					t.Error("no file of the base layer found under merged /usr")
				}
				if i == 1 && tt.tag == "debian-bookworm-mid" {
					compareDpkgQuery(t, finalStatus(t, tt.tag), l.wanted, lists)
				}
			}
		})
	}
}

// compareDpkgQuery lists each package's files with dpkg-query -L and
// compares them with the list read, without the merged-/usr names.
func compareDpkgQuery(t *testing.T, status []byte, wanted map[string][]byte, lists map[string][]string) {
	t.Helper()
	testenv.Tool(t, "dpkg-query")
	admin := t.TempDir()
	if err := os.MkdirAll(filepath.Join(admin, "info"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(admin, "status"), status, 0o644); err != nil {
		t.Fatal(err)
	}
	// Format 1: the lists of Multi-Arch: same packages are named
	// PACKAGE:ARCH.list.
	if err := os.WriteFile(filepath.Join(admin, "info", "format"), []byte("1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, data := range wanted {
		if path.Dir(name) == dpkg.InfoDir {
			if err := os.WriteFile(filepath.Join(admin, "info", path.Base(name)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	for pkg, files := range lists {
		out, err := exec.Command("dpkg-query", "--admindir="+admin, "-L", pkg).Output()
		if err != nil {
			t.Fatalf("dpkg-query -L %s: %v", pkg, err)
		}
		var want []string
		for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
			if l == "/." || l == "" {
				continue
			}
			if !strings.HasPrefix(l, "/") {
				t.Fatalf("dpkg-query -L %s: line %q", pkg, l)
			}
			want = append(want, l[1:])
		}
		var got []string
		for j := 0; j < len(files); j++ {
			got = append(got, files[j])
			if j+1 < len(files) && files[j+1] == "usr/"+files[j] {
				j++
			}
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: got %d files, dpkg-query lists %d", pkg, len(got), len(want))
		}
	}
}

func BenchmarkParseListsFat(b *testing.B) {
	blobs := testenv.LayerBlobs(b, "debian-bookworm-fat")
	l := readLayer(b, blobs[1], dpkg.New())
	var lists [][]byte
	var size int64
	for name, data := range l.wanted {
		if path.Dir(name) == dpkg.InfoDir {
			lists = append(lists, data)
			size += int64(len(data))
		}
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, data := range lists {
			if _, err := dpkg.ParseList(context.Background(), bytes.NewReader(data)); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func FuzzDpkgList(f *testing.F) {
	f.Add([]byte("/.\n/usr\n/usr/bin/fzf\n/bin/bash\n"))
	if os.Getenv("LAPPS_TEST_IMAGES") != "" {
		blobs := testenv.LayerBlobs(f, "debian-bookworm-mid")
		l := readLayer(f, blobs[1], dpkg.New())
		if data, ok := l.wanted[dpkg.InfoDir+"/python3-requests.list"]; ok {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		files, err := dpkg.ParseList(context.Background(), bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range files {
			if p == "" || p != indexer.CleanPath(p) {
				t.Fatalf("path %q not in the indexer's form", p)
			}
		}
	})
}
