// Package gobinary finds the Go modules compiled into executables: the
// build information the Go toolchain embeds in every binary it links
// (debug/buildinfo), read from the ELF files of a layer.
package gobinary

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"io/fs"
	"runtime/debug"
	"strings"
	"time"

	"golang.org/x/mod/module"
	"golang.org/x/mod/semver"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/elfcheck"
	"github.com/lapps/lapps/vuln"
)

// DefaultMaxSize is the largest executable the cataloger asks for. Go
// binaries of a few hundred megabytes exist (kubelet is ~100 MiB); larger
// files are not read, which keeps the walker's memory use bounded.
const DefaultMaxSize = 256 << 20

// minSize is the size of an ELF64 header: nothing smaller can be a Go
// binary.
const minSize = 64

// StdlibName is the package name under which the Go standard library is
// reported, as in the Go vulnerability database.
const StdlibName = "stdlib"

// Cataloger reads the Go build information of executables.
type Cataloger struct {
	maxSize int64
}

var (
	_ indexer.Cataloger  = (*Cataloger)(nil)
	_ indexer.FileWanter = (*Cataloger)(nil)
)

// New returns a Go binary cataloger that reads executables up to
// DefaultMaxSize bytes.
func New() *Cataloger { return &Cataloger{maxSize: DefaultMaxSize} }

// Name implements indexer.Cataloger.
func (*Cataloger) Name() string { return "gobinary" }

// Wants implements indexer.Cataloger. A Go binary cannot be told by its
// path; the walker asks WantsFile instead, so Wants always says no.
func (*Cataloger) Wants(string) bool { return false }

// WantsFile implements indexer.FileWanter: any executable regular file of
// a plausible size.
func (c *Cataloger) WantsFile(_ string, mode fs.FileMode, size int64) bool {
	return mode.IsRegular() && mode.Perm()&0o111 != 0 && size >= minSize && size <= c.maxSize
}

// elfMagic opens every ELF file.
var elfMagic = []byte("\x7fELF")

// Parse implements indexer.Cataloger. Files that are not ELF, and ELF
// files that are not Go binaries, give an empty Result and no error; an
// error means a Go binary whose build information does not parse, or an
// ELF file claiming more than elfcheck allows. The file is read in place
// (the walker's reader is an io.ReaderAt), through a reader that refuses
// any single read larger than elfcheck.MaxRead.
func (c *Cataloger) Parse(_ context.Context, path string, r io.Reader) (indexer.Result, error) {
	ra, _, err := indexer.ReaderAt(r, c.maxSize)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("read %s: %w", path, err)
	}
	var magic [4]byte
	if _, err := ra.ReadAt(magic[:], 0); err != nil || !bytes.Equal(magic[:], elfMagic) {
		return indexer.Result{}, nil
	}
	if err := elfcheck.Check(ra); err != nil {
		return indexer.Result{}, fmt.Errorf("%s: %w", path, err)
	}
	bi, err := buildinfo.Read(elfcheck.Limit(ra))
	if err != nil {
		if notGo(err) {
			return indexer.Result{}, nil
		}
		return indexer.Result{}, fmt.Errorf("go build info of %s: %w", path, err)
	}
	pkgs, warnings := Inventory(bi)
	return indexer.Result{Packages: pkgs, Warnings: warnings}, nil
}

// notGo reports whether a buildinfo error says the file is simply not a
// Go executable (or an executable format buildinfo does not know), as
// opposed to a Go binary whose build information is damaged. The
// sentinel errors of debug/buildinfo are not exported, hence the text.
func notGo(err error) bool {
	msg := err.Error()
	for _, s := range []string{"not a Go executable", "unrecognized file format"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	// debug/buildinfo maps every ELF that debug/elf cannot open to
	// "unrecognized file format": such a file cannot come from the Go
	// linker. Other errors (a read past the end of a section, module
	// lines that do not parse) are damaged Go binaries, worth a warning.
	return false
}

// Packages is Inventory without the warnings.
func Packages(bi *debug.BuildInfo) []vuln.Package {
	pkgs, _ := Inventory(bi)
	return pkgs
}

// Inventory turns build information into packages: the main module,
// every dependency (replacements honoured) and the standard library as
// StdlibName at the toolchain's version. Versions are as the build
// information gives them ("v0.3.5"); an unknown version (a local
// replacement) is reported empty.
//
// The main module is the "mod" line's; a binary with only a "path" line
// (built outside module mode, as Debian builds fzf) is listed by its main
// package's path, unless that is a standard one (stdPath: the
// toolchain's own commands, which the gotoolchain cataloger reports). A main module without a version
// ("(devel)", or no "mod" line) takes one from -ldflags -X …version=,
// else from the VCS build settings as Go computes a pseudo-version
// (vcs.revision, vcs.time → v0.0.0-20240102150405-abcdefabcdef,
// "+dirty" when vcs.modified=true), else stays unversioned, with a
// warning.
func Inventory(bi *debug.BuildInfo) ([]vuln.Package, []string) {
	var out []vuln.Package
	var warnings []string
	add := func(name, version string) {
		out = append(out, vuln.Package{Name: name, Version: version, Kind: vuln.KindGo})
	}
	main, v := bi.Main.Path, moduleVersion(bi.Main.Version)
	if main == "" && !stdPath(bi.Path) {
		main = bi.Path
	}
	if main != "" {
		if v == "" {
			v = ldflagsVersion(bi.Settings)
		}
		if v == "" {
			v = vcsVersion(main, bi.Settings)
		}
		if v == "" {
			warnings = append(warnings, fmt.Sprintf("main module %s has no version (no module version, -ldflags version or VCS settings): listed unversioned, not matched", main))
		}
		add(main, v)
	}
	for _, d := range bi.Deps {
		if d == nil || d.Path == "" {
			continue
		}
		name, version := d.Path, d.Version
		if rep := d.Replace; rep != nil {
			if localPath(rep.Path) {
				// The code is a local copy: the module's name is still the
				// original path, but no version says what it holds.
				version = ""
			} else {
				name, version = rep.Path, rep.Version
			}
		}
		add(name, moduleVersion(version))
	}
	if v := StdlibVersion(bi.GoVersion); v != "" {
		add(StdlibName, v)
	}
	return out, warnings
}

// moduleVersion returns a module version, or "" where the build
// information has no real one.
func moduleVersion(v string) string {
	if v == "(devel)" {
		return ""
	}
	return v
}

// stdPath reports whether a main package path names no module of its
// own: the toolchain's commands ("cmd/go", "cmd/vet"; their first element
// has no dot, as in every standard library path, and they are reported
// with the toolchain, not as a module) and "go build x.go"'s
// "command-line-arguments".
func stdPath(p string) bool {
	first, _, _ := strings.Cut(p, "/")
	return !strings.Contains(first, ".")
}

// vcsVersion returns the pseudo-version Go gives a main module built
// from a VCS checkout without a tag ("v0.0.0-20240102150405-abcdefabcdef",
// major version from the module path, "+dirty" when vcs.modified=true),
// from the vcs.revision and vcs.time build settings; "" when either is
// missing or malformed.
func vcsVersion(modPath string, settings []debug.BuildSetting) string {
	var rev, at string
	dirty := false
	for _, s := range settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	t, err := time.Parse(time.RFC3339Nano, at)
	if rev == "" || err != nil || !revisionLike(rev) {
		return ""
	}
	if len(rev) > 12 {
		rev = rev[:12] // as cmd/go shortens a Git hash
	}
	major := ""
	if _, pathMajor, ok := module.SplitPathVersion(modPath); ok {
		major = module.PathMajorPrefix(pathMajor)
	}
	v := module.PseudoVersion(major, "", t, rev)
	if !semver.IsValid(v) {
		return ""
	}
	if dirty {
		v += "+dirty"
	}
	return v
}

// revisionLike reports whether rev can be a VCS revision in a
// pseudo-version: letters and digits.
func revisionLike(rev string) bool {
	for _, c := range rev {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return rev != ""
}

// localPath reports whether a replacement names a directory rather than
// a module (go.mod's "=> ../fork").
func localPath(p string) bool {
	return strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") || p == "." || p == ".."
}

// ldflagsVersion finds a version set at link time with
// -ldflags "-X main.version=1.2.3" (or any variable named version or ver),
// as Trivy does for main modules built outside version control. It
// returns "" unless the value is a semantic version.
func ldflagsVersion(settings []debug.BuildSetting) string {
	for _, s := range settings {
		if s.Key != "-ldflags" {
			continue
		}
		fields := strings.Fields(s.Value)
		for i := 0; i < len(fields); i++ {
			f := strings.Trim(fields[i], `'"`)
			var kv string
			switch {
			case f == "-X" && i+1 < len(fields):
				i++
				kv = strings.Trim(fields[i], `'"`)
			case strings.HasPrefix(f, "-X="):
				kv = f[len("-X="):]
			default:
				continue
			}
			key, val, ok := strings.Cut(kv, "=")
			if !ok {
				continue
			}
			key = strings.ToLower(key)
			if !strings.HasSuffix(key, ".version") && !strings.HasSuffix(key, ".ver") {
				continue
			}
			if semver.IsValid(val) {
				return val
			}
			if semver.IsValid("v" + val) {
				return "v" + val
			}
		}
	}
	return ""
}

// StdlibVersion turns a toolchain version as the build information gives
// it into the semantic version the Go vulnerability database uses for
// "stdlib": "go1.21.0" → "1.21.0", "go1.20" → "1.20.0", "go1.21rc2" →
// "1.21.0-rc.2", "go1.22.1 X:boringcrypto" → "1.22.1". Development
// toolchains ("devel go1.23-abcdef …") and anything unrecognised give "".
func StdlibVersion(goVersion string) string {
	v, _, _ := strings.Cut(strings.TrimSpace(goVersion), " ")
	v, ok := strings.CutPrefix(v, "go")
	if !ok {
		return ""
	}
	// Vendor suffixes ("go1.21.0-bigcorp", Microsoft's "+1") carry no
	// ordering the vulnerability data knows; drop them.
	if i := strings.IndexAny(v, "-+"); i >= 0 {
		v = v[:i]
	}
	num, pre := v, ""
	for _, tag := range []string{"rc", "beta", "alpha"} {
		if i := strings.Index(v, tag); i > 0 {
			n := v[i+len(tag):]
			if !digits(n) {
				return ""
			}
			num, pre = v[:i], "-"+tag+"."+n
			break
		}
	}
	parts := strings.Split(num, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return ""
	}
	for _, p := range parts {
		if !digits(p) {
			return ""
		}
	}
	if len(parts) == 2 {
		parts = append(parts, "0")
	}
	out := strings.Join(parts, ".") + pre
	if !semver.IsValid("v" + out) {
		return ""
	}
	return out
}

func digits(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
