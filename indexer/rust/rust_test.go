package rust_test

import (
	"archive/tar"
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/hostile"
	"github.com/lapps/lapps/indexer/rust"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// auditJSON is cargo-auditable's VersionInfo for a small program, in the
// shape cargo-auditable 0.6 writes: the root crate (local), its runtime
// dependencies, a build-only dependency (a proc macro) and one from git.
const auditJSON = `{"packages":[
 {"name":"demo","version":"0.1.0","source":"local","dependencies":[1,2,3,4],"root":true},
 {"name":"smallvec","version":"1.6.0","source":"crates.io"},
 {"name":"time","version":"0.2.22","source":"crates.io","dependencies":[3]},
 {"name":"serde_derive","version":"1.0.130","source":"crates.io","kind":"build"},
 {"name":"fork-of-x","version":"0.3.0","source":"git","kind":"runtime"}
]}`

// auditableBinary compiles a real Rust program with rustc and adds the
// .dep-v0 section with objcopy, as cargo-auditable's linker step does
// (cargo-auditable itself cannot be installed here: crates.io is not
// reachable). It skips when rustc or objcopy is missing.
func auditableBinary(t *testing.T, data []byte) string {
	t.Helper()
	rustc := testenv.Tool(t, "rustc")
	objcopy := testenv.Tool(t, "objcopy")
	dir := t.TempDir()
	src := filepath.Join(dir, "main.rs")
	if err := os.WriteFile(src, []byte("fn main() { println!(\"hello\"); }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain")
	if out, err := exec.Command(rustc, "-O", "-o", plain, src).CombinedOutput(); err != nil {
		t.Fatalf("rustc: %v\n%s", err, out)
	}
	var z bytes.Buffer
	zw := zlib.NewWriter(&z)
	zw.Write(data)
	zw.Close()
	sec := filepath.Join(dir, "dep-v0")
	if err := os.WriteFile(sec, z.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "demo")
	if out, err := exec.Command(objcopy, "--add-section", ".dep-v0="+sec, "--set-section-flags", ".dep-v0=noload,readonly", plain, bin).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	return dir
}

// layerOf builds a layer tar holding files with their modes.
func layerOf(t *testing.T, files map[string]os.FileMode, dir string) *bytes.Reader {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, mode := range files {
		b, err := os.ReadFile(filepath.Join(dir, filepath.Base(name)))
		if err != nil {
			t.Fatal(err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: int64(mode), Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(b)
	}
	tw.Close()
	return bytes.NewReader(buf.Bytes())
}

// TestAuditableBinary runs the real layer walk over a layer holding a
// Rust binary with audit data, the same binary without it, and a
// Cargo.lock.
func TestAuditableBinary(t *testing.T) {
	dir := auditableBinary(t, []byte(auditJSON))
	if err := os.WriteFile(filepath.Join(dir, "Cargo.lock"), []byte(cargoLock), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "script.sh"), []byte("#!/bin/sh\necho hi there, this is not an ELF file at all...........................\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	layer := layerOf(t, map[string]os.FileMode{
		"usr/local/bin/demo":      0o755,
		"usr/local/bin/plain":     0o755,
		"usr/local/bin/script.sh": 0o755,
		"srv/app/Cargo.lock":      0o644,
	}, dir)
	li, err := indexer.New([]indexer.Cataloger{rust.New()}).IndexLayer(context.Background(), "test", layer)
	if err != nil {
		t.Fatal(err)
	}
	if len(li.Warnings) != 0 {
		t.Errorf("warnings: %q", li.Warnings)
	}
	got := map[string][]string{}
	for _, e := range li.Entries {
		for _, p := range e.Packages {
			if p.Kind != vuln.KindCargo || p.DBPath != e.Path {
				t.Errorf("%+v", p)
			}
			got[e.Path] = append(got[e.Path], p.Name+"@"+p.Version)
		}
	}
	want := map[string]string{
		"usr/local/bin/demo": "smallvec@1.6.0 time@0.2.22 fork-of-x@0.3.0",
		"srv/app/Cargo.lock": "aho-corasick@1.1.5 syn@2.0.119 syn@3.0.3 tikv-jemalloc-sys@0.7.1+5.3.1-0-g81034ce1f1373e37dc865038e1bc8eeecf559ce8 gitdep@0.1.0",
	}
	if len(got) != len(want) {
		t.Errorf("entries %v", got)
	}
	for p, w := range want {
		if strings.Join(got[p], " ") != w {
			t.Errorf("%s: got %v, want %s", p, got[p], w)
		}
	}
	if purl := vuln.PURL(vuln.Package{Name: "time", Version: "0.2.22", Kind: vuln.KindCargo}, nil); purl != "pkg:cargo/time@0.2.22" {
		t.Errorf("purl %s", purl)
	}
}

func TestAuditableErrors(t *testing.T) {
	dir := auditableBinary(t, []byte(`{"packages": "nope"}`))
	b, err := os.ReadFile(filepath.Join(dir, "demo"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rust.New().Parse(context.Background(), "bin/demo", bytes.NewReader(b)); err == nil {
		t.Error("no error for audit data that does not parse")
	}
	// Truncated ELF files and non-ELF data are simply not Rust binaries.
	for _, in := range [][]byte{b[:100], b[:len(b)/3], []byte("\x7fELF garbage"), []byte("#!/bin/sh\n")} {
		res, err := rust.New().Parse(context.Background(), "bin/x", bytes.NewReader(in))
		if err != nil || len(res.Packages) != 0 {
			t.Errorf("%.8q: %v, %v", in, res.Packages, err)
		}
	}
}

// cargoLock is an excerpt of ripgrep's Cargo.lock (format version 4):
// registry crates, a crate in two versions, a version with build
// metadata, and workspace members without a source; plus a git
// dependency.
const cargoLock = `# This file is automatically @generated by Cargo.
# It is not intended for manual editing.
version = 4

[[package]]
name = "aho-corasick"
version = "1.1.5"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "c982642fa9e8606056828ee9a8505737230110bb1099153c79efe865c59d12ba"
dependencies = [
 "memchr",
]

[[package]]
name = "grep"
version = "0.4.1"
dependencies = [
 "grep-cli",
]

[[package]]
name = "syn"
version = "2.0.119"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "872831b642d1a07999a962a351ed35b955ea2cfc8f3862091e2a240a84f17297"

[[package]]
name = "syn"
version = "3.0.3"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "53e9bae58849f64dfa4f5d5ae372c8341f7305f82a3868709269343628b659a3"

[[package]]
name = "tikv-jemalloc-sys"
version = "0.7.1+5.3.1-0-g81034ce1f1373e37dc865038e1bc8eeecf559ce8"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "1a2825c78386b4ae0314074867860ba9577875de945f05992c38815cbec327f0"

[[package]]
name = "gitdep"
version = "0.1.0"
source = "git+https://github.com/example/gitdep?rev=abc#abcdef0123"
`

func TestParseCargoLock(t *testing.T) {
	v1 := `[[package]]
name = "libc"
version = "0.2.80"
source = "registry+https://github.com/rust-lang/crates.io-index"

[root]
name = "x"

[metadata]
"checksum libc 0.2.80 (registry+https://github.com/rust-lang/crates.io-index)" = "abc"
`
	tests := []struct {
		name, in, want string
		wantErr        bool
	}{
		{"v4", cargoLock, "aho-corasick@1.1.5 syn@2.0.119 syn@3.0.3 tikv-jemalloc-sys@0.7.1+5.3.1-0-g81034ce1f1373e37dc865038e1bc8eeecf559ce8 gitdep@0.1.0", false},
		{"v1", v1, "libc@0.2.80", false},
		{"only local", "version = 3\n[[package]]\nname = \"a\"\nversion = \"0.1.0\"\n", "", false},
		{"not toml", "[[package]\nname=", "", true},
		{"no packages", "version = 3\n", "", true},
		{"wrong types", "[[package]]\nname = 1\n", "", true},
	}
	for _, tc := range tests {
		pkgs, err := rust.ParseCargoLock(context.Background(), strings.NewReader(tc.in))
		if (err != nil) != tc.wantErr {
			t.Errorf("%s: error %v", tc.name, err)
			continue
		}
		var got []string
		for _, p := range pkgs {
			got = append(got, p.Name+"@"+p.Version)
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%s: got %v, want %s", tc.name, got, tc.want)
		}
	}
}

func TestWants(t *testing.T) {
	c := rust.New()
	tests := []struct {
		path string
		mode os.FileMode
		size int64
		want bool
	}{
		{"srv/app/Cargo.lock", 0o644, 100, true},
		{"root/.cargo/registry/src/index.crates.io-6f17d22bba15001f/regex-1.10.2/Cargo.lock", 0o644, 100, false},
		{"usr/bin/rg", 0o755, 5 << 20, true},
		{"usr/bin/tiny", 0o755, 10, false},
		{"usr/share/doc/x", 0o644, 5 << 20, false},
		{"usr/bin/huge", 0o755, 1 << 30, false},
	}
	for _, tc := range tests {
		if got := c.WantsFile(tc.path, tc.mode, tc.size); got != tc.want {
			t.Errorf("WantsFile(%q, %v, %d) = %v", tc.path, tc.mode, tc.size, got)
		}
	}
}

func FuzzCargoLock(f *testing.F) {
	f.Add([]byte(cargoLock))
	f.Add([]byte("[[package]]\nname = \"a\"\nversion = \"1\"\nsource = \"registry+x\"\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := rust.ParseCargoLock(context.Background(), bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.Kind != vuln.KindCargo {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}

func FuzzAuditJSON(f *testing.F) {
	f.Add([]byte(auditJSON))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := rust.ParseAuditJSON(context.Background(), bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}

// TestLargeCargoLock parses a Cargo.lock larger than a TOML document is
// decoded whole, table by table, and crosses the layer's budget with a
// larger one.
func TestLargeCargoLock(t *testing.T) {
	lock := func(n int) string {
		var b strings.Builder
		b.WriteString("# This file is automatically @generated by Cargo.\nversion = 3\n")
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "\n[[package]]\nname = \"crate%d\"\nversion = \"1.0.%d\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\nchecksum = \"c982642fa9e8606056828ee9a8505737230110bb1099153c79efe865c59d12ba\"\ndependencies = [\n \"memchr\",\n \"serde 1.0.1\",\n]\n", i, i)
		}
		b.WriteString("\n[metadata]\n\"checksum x\" = \"y\"\n")
		return b.String()
	}
	big := lock(3000)
	if len(big) < 512<<10 {
		t.Fatalf("%d bytes: not large", len(big))
	}
	pkgs, err := rust.ParseCargoLock(context.Background(), strings.NewReader(big))
	if err != nil || len(pkgs) != 3000 || pkgs[2999].Name != "crate2999" || pkgs[2999].Version != "1.0.2999" {
		t.Fatalf("%d packages, %v", len(pkgs), err)
	}
	ix := indexer.New([]indexer.Cataloger{rust.New()}, indexer.WithLimits(indexer.Limits{Packages: 1000}))
	_, err = ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(hostile.Bytes("srv/Cargo.lock", []byte(big))))
	var le *limits.Error
	if !errors.As(err, &le) || le.Key != "limits.packages" {
		t.Fatalf("error %v, want a limit of limits.packages", err)
	}
	// A dense array in one table is refused, as a warning.
	li, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(hostile.Repeat("srv/Cargo.lock", 3<<20, "[[package]]\nx = [", "1,\n", "1]\n")))
	if err != nil || len(li.Warnings) != 1 || !strings.Contains(li.Warnings[0], "larger than") {
		t.Fatalf("warnings %q, %v", li.Warnings, err)
	}
}
