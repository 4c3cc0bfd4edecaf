package gobinary_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"debug/buildinfo"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/gobinary"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// indexLayer runs the real layer walk with the Go binary cataloger alone.
func indexLayer(t *testing.T, blobPath string) *indexer.LayerIndex {
	t.Helper()
	ix := indexer.New([]indexer.Cataloger{gobinary.New()})
	li, err := ix.IndexLayer(context.Background(), "test", testenv.OpenLayer(t, blobPath))
	if err != nil {
		t.Fatal(err)
	}
	return li
}

// extractELFExecutables writes the executable ELF files of a layer under
// dir, independently of the cataloger, and returns their layer paths.
func extractELFExecutables(t *testing.T, blobPath, dir string) []string {
	t.Helper()
	tr := tar.NewReader(testenv.OpenLayer(t, blobPath))
	var paths []string
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("\x7fELF")) {
			continue
		}
		name := indexer.CleanPath(h.Name)
		dst := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o755); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, name)
	}
	return paths
}

// goVersionM runs `go version -m DIR` and returns, for each Go binary it
// reports (by layer path), the packages its output names: "mod" and
// "dep" lines, "=>" replacing the line before, and stdlib at the
// toolchain version. This is the truth the cataloger is compared with.
func goVersionM(t *testing.T, dir string) map[string][]string {
	t.Helper()
	out, err := exec.Command(testenv.Tool(t, "go"), "version", "-m", dir).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	res := map[string][]string{}
	var cur string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "\t") {
			file, ver, ok := strings.Cut(line, ": ")
			if !ok {
				t.Fatalf("unexpected line %q", line)
			}
			rel, err := filepath.Rel(dir, file)
			if err != nil {
				t.Fatal(err)
			}
			cur = filepath.ToSlash(rel)
			ver = strings.TrimPrefix(strings.Fields(ver)[0], "go")
			if strings.Count(ver, ".") == 1 {
				ver += ".0"
			}
			res[cur] = append(res[cur], "stdlib@"+ver)
			continue
		}
		f := strings.Split(strings.TrimPrefix(line, "\t"), "\t")
		switch f[0] {
		case "mod", "dep":
			v := f[2]
			if v == "(devel)" {
				v = ""
			}
			res[cur] = append(res[cur], f[1]+"@"+v)
		case "=>":
			res[cur][len(res[cur])-1] = f[1] + "@" + f[2]
		}
	}
	return res
}

func names(ps []vuln.Package) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name+"@"+p.Version)
	}
	slices.Sort(out)
	return out
}

// TestImageLayers compares the cataloger with `go version -m` over every
// executable ELF file of the mid image's Debian and application layers,
// and checks the binaries the test images are built to contain.
func TestImageLayers(t *testing.T) {
	tests := []struct {
		name  string
		tag   string
		layer int
		// want are binaries whose packages are known from the image's
		// build (shared/testimages/app/go/go.mod, Debian's fzf).
		want map[string][]string
	}{
		{"debian packages", "debian-bookworm-mid", 1, map[string][]string{
			"usr/bin/fzf": {"stdlib@1.19.8"},
		}},
		{"app", "debian-bookworm-mid", 2, map[string][]string{
			"app/bin/vulnapp": {
				"example.com/vulnapp@",
				"github.com/golang-jwt/jwt/v4@v4.4.1",
				"golang.org/x/text@v0.3.5",
				"gopkg.in/yaml.v2@v2.2.7",
				"stdlib@1.21.0",
			},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blobPath := testenv.LayerBlobs(t, tc.tag)[tc.layer]
			dir := t.TempDir()
			elves := extractELFExecutables(t, blobPath, dir)
			truth := goVersionM(t, dir)
			li := indexLayer(t, blobPath)
			if len(li.Warnings) != 0 {
				t.Errorf("warnings: %q", li.Warnings)
			}
			got := map[string][]string{}
			for _, e := range li.Entries {
				if e.Cataloger != "gobinary" {
					t.Errorf("entry of cataloger %q", e.Cataloger)
				}
				for _, p := range e.Packages {
					if p.Kind != vuln.KindGo || p.DBPath != e.Path || p.PURL != "" || p.Layer != "" {
						t.Errorf("%s: package %+v", e.Path, p)
					}
				}
				got[e.Path] = names(e.Packages)
			}
			t.Logf("%d executable ELF files, %d Go binaries", len(elves), len(got))
			if len(truth) == 0 {
				t.Fatal("go version -m found no Go binary: the test would prove nothing")
			}
			for path, want := range truth {
				slices.Sort(want)
				if !slices.Equal(got[path], want) {
					t.Errorf("%s:\n got %q\nwant %q (go version -m)", path, got[path], want)
				}
			}
			for path := range got {
				if _, ok := truth[path]; !ok {
					t.Errorf("%s: reported, but go version -m does not see a Go binary", path)
				}
			}
			for path, want := range tc.want {
				if !slices.Equal(got[path], want) {
					t.Errorf("%s:\n got %q\nwant %q", path, got[path], want)
				}
			}
		})
	}
}

func TestStdlibVersion(t *testing.T) {
	tests := []struct{ in, want string }{
		{"go1.21.0", "1.21.0"},
		{"go1.19.8", "1.19.8"},
		{"go1.20", "1.20.0"},
		{"go1.22", "1.22.0"},
		{"go1.22.1 X:boringcrypto", "1.22.1"},
		{"go1.21.5 X:nocoverageredesign,noregabi", "1.21.5"},
		{"go1.21rc2", "1.21.0-rc.2"},
		{"go1.19beta1", "1.19.0-beta.1"},
		{"go1.20.3-bigcorp", "1.20.3"},
		{"devel go1.23-e8ee1dc4f9 Tue Jun 4 2024", ""},
		{"go1", ""},
		{"go1.x", ""},
		{"", ""},
		{"1.21.0", ""},
		{"go1.21rcX", ""},
	}
	for _, tc := range tests {
		if got := gobinary.StdlibVersion(tc.in); got != tc.want {
			t.Errorf("StdlibVersion(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestPackages covers what the image binaries do not: replacements by
// module and by directory, and versions set with -ldflags -X. The build
// information text is the format `go version -m` prints and the linker
// embeds.
func TestPackages(t *testing.T) {
	tests := []struct {
		name, info string
		want       []string
	}{
		{
			name: "replacements",
			info: "path\texample.com/app\n" +
				"mod\texample.com/app\tv1.2.3\th1:abc=\n" +
				"dep\tgolang.org/x/text\tv0.3.5\n" +
				"=>\tgithub.com/fork/text\tv0.3.8\th1:def=\n" +
				"dep\tgithub.com/local/lib\tv1.0.0\n" +
				"=>\t../lib\t\t\n" +
				"dep\tgopkg.in/yaml.v2\tv2.2.7\th1:ghi=\n",
			want: []string{
				"example.com/app@v1.2.3",
				"github.com/fork/text@v0.3.8",
				"github.com/local/lib@",
				"gopkg.in/yaml.v2@v2.2.7",
				"stdlib@1.21.0",
			},
		},
		{
			name: "ldflags version of a devel main module",
			info: "path\tgithub.com/acme/tool\n" +
				"mod\tgithub.com/acme/tool\t(devel)\t\n" +
				"build\t-ldflags=\"-s -w -X github.com/acme/tool/cmd.Version=1.4.0 -X main.commit=abc\"\n",
			want: []string{"github.com/acme/tool@v1.4.0", "stdlib@1.21.0"},
		},
		{
			name: "ldflags value that is not a version",
			info: "path\tgithub.com/acme/tool\n" +
				"mod\tgithub.com/acme/tool\t(devel)\t\n" +
				"build\t-ldflags=\"-X main.version=dev\"\n",
			want: []string{"github.com/acme/tool@", "stdlib@1.21.0"},
		},
		{
			name: "GOPATH build",
			info: "path\tgithub.com/junegunn/fzf\n",
			want: []string{"stdlib@1.21.0"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bi, err := debug.ParseBuildInfo(tc.info)
			if err != nil {
				t.Fatal(err)
			}
			bi.GoVersion = "go1.21.0"
			if got := names(gobinary.Packages(bi)); !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestNotGo checks that what is not a Go binary gives nothing and no
// error: a script, an empty-ish file, a truncated ELF header.
func TestNotGo(t *testing.T) {
	c := gobinary.New()
	for _, in := range []string{"#!/bin/sh\necho hi\n", "", "\x7fELF", "\x7fELF\x02\x01\x01" + strings.Repeat("\x00", 100)} {
		res, err := c.Parse(context.Background(), "usr/bin/x", strings.NewReader(in))
		if err != nil || len(res.Packages) != 0 {
			t.Errorf("Parse(%q) = %v, %v; want nothing", in, res, err)
		}
	}
}

func TestWantsFile(t *testing.T) {
	c := gobinary.New()
	tests := []struct {
		mode os.FileMode
		size int64
		want bool
	}{
		{0o755, 1 << 20, true},
		{0o700, 1 << 20, true},
		{0o644, 1 << 20, false},
		{0o755, 10, false},
		{0o755, gobinary.DefaultMaxSize + 1, false},
		{os.ModeSymlink | 0o777, 1 << 20, false},
	}
	for _, tc := range tests {
		if got := c.WantsFile("usr/bin/x", tc.mode, tc.size); got != tc.want {
			t.Errorf("WantsFile(%v, %d) = %v", tc.mode, tc.size, got)
		}
	}
}

// FuzzGoBinary feeds arbitrary bytes to the parser: it must never panic.
// Seeds are the heads of real binaries of the test image and the build
// information text of one.
func FuzzGoBinary(f *testing.F) {
	f.Add([]byte("\x7fELF\x02\x01\x01\x00"))
	if dir := os.Getenv("LAPPS_TEST_IMAGES"); dir != "" {
		for _, seed := range fuzzSeeds(f) {
			f.Add(seed)
		}
	}
	c := gobinary.New()
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := c.Parse(context.Background(), "x", bytes.NewReader(b))
		if err == nil {
			for _, p := range res.Packages {
				if p.Kind != vuln.KindGo || p.Name == "" {
					t.Errorf("package %+v", p)
				}
			}
		}
		// The module lines reach Packages through ParseBuildInfo too.
		if bi, err := debug.ParseBuildInfo(string(b)); err == nil {
			bi.GoVersion = "go1.21.0"
			_ = gobinary.Packages(bi)
		}
	})
}

// fuzzSeeds returns small real inputs: the first 64 KiB of the Go
// binaries of the app layer (their ELF headers) and their build
// information as text.
func fuzzSeeds(f *testing.F) [][]byte {
	tr := tar.NewReader(testenv.OpenLayer(f, testenv.LayerBlobs(f, "debian-bookworm-mid")[2]))
	var seeds [][]byte
	for {
		h, err := tr.Next()
		if err != nil {
			break
		}
		if h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil || !bytes.HasPrefix(b, []byte("\x7fELF")) {
			continue
		}
		seeds = append(seeds, b[:min(len(b), 64<<10)])
		if bi, err := gobinaryInfo(b); err == nil {
			seeds = append(seeds, []byte(bi.String()))
		}
	}
	return seeds
}

func gobinaryInfo(b []byte) (*debug.BuildInfo, error) {
	return buildinfo.Read(bytes.NewReader(b))
}
