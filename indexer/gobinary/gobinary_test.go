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

	"golang.org/x/mod/semver"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/gobinary"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// indexLayer runs the real layer walk with the Go binary cataloger alone.
func indexLayer(t *testing.T, blobPath string) *model.LayerIndex {
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
	pathOnly := false
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
			pathOnly = false
			ver = strings.TrimPrefix(strings.Fields(ver)[0], "go")
			if strings.Count(ver, ".") == 1 {
				ver += ".0"
			}
			res[cur] = append(res[cur], "stdlib@"+ver)
			continue
		}
		f := strings.Split(strings.TrimPrefix(line, "\t"), "\t")
		switch f[0] {
		case "path":
			// The main module when no mod line follows (a build outside
			// module mode): listed by its package path, unversioned.
			res[cur] = append(res[cur], f[1]+"@")
			pathOnly = true
			continue
		case "mod":
			if pathOnly {
				res[cur] = res[cur][:len(res[cur])-1]
			}
			v := f[2]
			if v == "(devel)" {
				v = ""
			}
			res[cur] = append(res[cur], f[1]+"@"+v)
		case "dep":
			v := f[2]
			if v == "(devel)" {
				v = ""
			}
			res[cur] = append(res[cur], f[1]+"@"+v)
		}
		switch f[0] {
		case "dep", "mod":
			pathOnly = false
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
		want     map[string][]string
		warnings []string
	}{
		{"debian packages", "debian-bookworm-mid", 1, map[string][]string{
			// Built by Debian outside module mode: a path line, no mod line.
			"usr/bin/fzf": {"github.com/junegunn/fzf@", "stdlib@1.19.8"},
		}, []string{"usr/bin/fzf: gobinary: main module github.com/junegunn/fzf has no version (no module version, -ldflags version or VCS settings): listed unversioned, not matched"}},
		{"app", "debian-bookworm-mid", 2, map[string][]string{
			"app/bin/vulnapp": {
				"example.com/vulnapp@",
				"github.com/golang-jwt/jwt/v4@v4.4.1",
				"golang.org/x/text@v0.3.5",
				"gopkg.in/yaml.v2@v2.2.7",
				"stdlib@1.21.0",
			},
		}, []string{"app/bin/vulnapp: gobinary: main module example.com/vulnapp has no version (no module version, -ldflags version or VCS settings): listed unversioned, not matched"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blobPath := testenv.LayerBlobs(t, tc.tag)[tc.layer]
			dir := t.TempDir()
			elves := extractELFExecutables(t, blobPath, dir)
			truth := goVersionM(t, dir)
			li := indexLayer(t, blobPath)
			if !slices.Equal(li.Warnings, tc.warnings) {
				t.Errorf("warnings: %q\nwant %q", li.Warnings, tc.warnings)
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
		warn       int
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
			warn: 1,
		},
		{
			name: "GOPATH build: a path line, no mod line",
			info: "path\tgithub.com/junegunn/fzf\nbuild\t-trimpath=true\n",
			want: []string{"github.com/junegunn/fzf@", "stdlib@1.21.0"},
			warn: 1,
		},
		{
			name: "a command of the toolchain",
			info: "path\tcmd/go\nbuild\t-trimpath=true\n",
			want: []string{"stdlib@1.21.0"},
		},
		{
			name: "go run of files",
			info: "path\tcommand-line-arguments\n",
			want: []string{"stdlib@1.21.0"},
		},
		{
			name: "devel main module with VCS settings",
			info: "path\texample.com/app/cmd/app\n" +
				"mod\texample.com/app\t(devel)\t\n" +
				"build\tvcs=git\nbuild\tvcs.revision=0123456789abcdef0123456789abcdef01234567\nbuild\tvcs.time=2024-03-05T14:07:09Z\nbuild\tvcs.modified=false\n",
			want: []string{"example.com/app@v0.0.0-20240305140709-0123456789ab", "stdlib@1.21.0"},
		},
		{
			name: "modified checkout, major version 2, time with offset",
			info: "path\texample.com/app/v2\n" +
				"mod\texample.com/app/v2\t(devel)\t\n" +
				"build\tvcs.revision=0123456789abcdef0123456789abcdef01234567\nbuild\tvcs.time=2024-03-05T16:07:09+02:00\nbuild\tvcs.modified=true\n",
			want: []string{"example.com/app/v2@v2.0.0-20240305140709-0123456789ab+dirty", "stdlib@1.21.0"},
		},
		{
			name: "path-only main module with VCS settings",
			info: "path\tgithub.com/junegunn/fzf\nbuild\tvcs.revision=abcdefabcdef0123\nbuild\tvcs.time=2023-01-02T03:04:05Z\n",
			want: []string{"github.com/junegunn/fzf@v0.0.0-20230102030405-abcdefabcdef", "stdlib@1.21.0"},
		},
		{
			name: "VCS settings without a time, or a malformed revision",
			info: "path\texample.com/app\nmod\texample.com/app\t(devel)\t\nbuild\tvcs.revision=0123456789ab\n",
			want: []string{"example.com/app@", "stdlib@1.21.0"},
			warn: 1,
		},
		{
			name: "malformed revision",
			info: "path\texample.com/app\nmod\texample.com/app\t(devel)\t\nbuild\tvcs.revision=../../x\nbuild\tvcs.time=2024-03-05T14:07:09Z\n",
			want: []string{"example.com/app@", "stdlib@1.21.0"},
			warn: 1,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bi, err := debug.ParseBuildInfo(tc.info)
			if err != nil {
				t.Fatal(err)
			}
			bi.GoVersion = "go1.21.0"
			pkgs, warnings := gobinary.Inventory(bi)
			if got := names(pkgs); !slices.Equal(got, tc.want) {
				t.Errorf("got %q\nwant %q", got, tc.want)
			}
			if len(warnings) != tc.warn {
				t.Errorf("warnings %q, want %d", warnings, tc.warn)
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

// TestPseudoVersionAsGo builds a module in a fresh Git repository with
// the local toolchain, which (Go 1.24 on) stamps the main module with the
// pseudo-version it computes from the checkout, clean and modified, and
// checks that the VCS settings alone give the same version.
func TestPseudoVersionAsGo(t *testing.T) {
	goTool, git := testenv.Tool(t, "go"), testenv.Tool(t, "git")
	dir := t.TempDir()
	run := func(name string, args ...string) {
		t.Helper()
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com",
			"GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_COMMITTER_DATE=2024-03-05T16:07:09+02:00", "GIT_AUTHOR_DATE=2024-03-05T16:07:09+02:00")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/pv/v2\n\ngo 1.21\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() {}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	run(git, "init", "-q")
	run(git, "add", ".")
	run(git, "commit", "-q", "-m", "c")
	for _, modified := range []bool{false, true} {
		if modified {
			if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main\n\nfunc main() { println() }\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		run(goTool, "build", "-o", "bin", ".")
		bi, err := buildinfo.ReadFile(filepath.Join(dir, "bin"))
		if err != nil {
			t.Fatal(err)
		}
		if bi.Main.Version == "(devel)" || bi.Main.Version == "" {
			t.Skipf("go %s does not stamp VCS versions", bi.GoVersion)
		}
		want := bi.Main.Version
		bi.Main.Version = "(devel)" // as an older toolchain leaves it
		pkgs, _ := gobinary.Inventory(bi)
		if pkgs[0].Name != "example.com/pv/v2" || pkgs[0].Version != want {
			t.Errorf("modified=%v: got %s@%s, go stamped %s", modified, pkgs[0].Name, pkgs[0].Version, want)
		}
		t.Logf("modified=%v: %s", modified, want)
	}
}

// FuzzInventory feeds build information text (the format the linker
// embeds) to Inventory: a main module's version is a valid semantic
// version or empty, and an empty one comes with a warning.
func FuzzInventory(f *testing.F) {
	for _, s := range []string{
		"path\tgithub.com/junegunn/fzf\nbuild\t-trimpath=true\n",
		"path\texample.com/app\nmod\texample.com/app\t(devel)\t\nbuild\tvcs.revision=0123456789abcdef0123456789abcdef01234567\nbuild\tvcs.time=2024-03-05T14:07:09Z\nbuild\tvcs.modified=true\n",
		"path\texample.com/app/v3\nmod\texample.com/app/v3\t(devel)\t\nbuild\tvcs.revision=abc\nbuild\tvcs.time=2024-03-05T14:07:09.123+01:00\n",
		"path\tcmd/go\n",
		"path\tgopkg.in/yaml.v2\nmod\tgopkg.in/yaml.v2\t(devel)\t\nbuild\tvcs.revision=0123456789ab\nbuild\tvcs.time=1999-12-31T23:59:59Z\n",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		bi, err := debug.ParseBuildInfo(s)
		if err != nil {
			return
		}
		pkgs, warnings := gobinary.Inventory(bi)
		mainPath := bi.Main.Path
		if mainPath == "" {
			mainPath = bi.Path
		}
		if len(pkgs) == 0 || mainPath == "" || pkgs[0].Name != mainPath || len(bi.Deps) > 0 && bi.Main.Path == "" {
			return // no main module listed (a command of the toolchain, go run)
		}
		main := pkgs[0]
		if main.Version == "" && len(warnings) == 0 {
			t.Fatalf("%q: unversioned main module %s without a warning", s, main.Name)
		}
		if main.Version != "" && bi.Main.Version == "(devel)" && !semver.IsValid(main.Version) {
			t.Fatalf("%q: main module version %q", s, main.Version)
		}
	})
}
