// Package rust finds Rust crates: the dependency tree that cargo-auditable
// embeds in the executables it builds (a zlib-compressed JSON document in
// the ELF section .dep-v0), and Cargo.lock files.
package rust

import (
	"bytes"
	"compress/zlib"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/vuln"
)

// CatalogerName is the name under which the cataloger's entries are
// recorded.
const CatalogerName = "rust"

// Limits.
const (
	// DefaultMaxBinarySize is the largest executable read.
	DefaultMaxBinarySize = 256 << 20
	// maxAuditSize bounds the decompressed audit data (cargo-auditable's
	// own limit is 8 MiB).
	maxAuditSize = 8 << 20
	// maxLockSize bounds a Cargo.lock.
	maxLockSize = 32 << 20
	// minELF is the size of an ELF64 header.
	minELF = 64
)

// SectionName is the ELF section cargo-auditable writes.
const SectionName = ".dep-v0"

// Cataloger reads cargo-auditable executables and Cargo.lock files.
type Cataloger struct {
	maxSize int64
}

var (
	_ indexer.Cataloger  = (*Cataloger)(nil)
	_ indexer.FileWanter = (*Cataloger)(nil)
)

// New returns the Rust cataloger.
func New() *Cataloger { return &Cataloger{maxSize: DefaultMaxBinarySize} }

// Name implements indexer.Cataloger.
func (*Cataloger) Name() string { return CatalogerName }

// Wants implements indexer.Cataloger for callers that only know paths:
// Cargo.lock files. The walker calls WantsFile.
func (*Cataloger) Wants(p string) bool { return isLock(p) }

// isLock reports whether p is a Cargo.lock outside Cargo's registry
// cache (~/.cargo/registry/src/…/CRATE/Cargo.lock is a dependency's own,
// describing nothing built) and outside vendored crates.
func isLock(p string) bool {
	if path.Base(p) != "Cargo.lock" {
		return false
	}
	return !strings.Contains(p, ".cargo/registry/") && !strings.Contains(p, ".cargo/git/")
}

// WantsFile implements indexer.FileWanter: Cargo.lock files, and
// executable regular files of a plausible size.
func (c *Cataloger) WantsFile(p string, mode fs.FileMode, size int64) bool {
	if isLock(p) {
		return true
	}
	return mode.IsRegular() && mode.Perm()&0o111 != 0 && size >= minELF && size <= c.maxSize
}

// Parse implements indexer.Cataloger. An executable that is not ELF, or
// has no .dep-v0 section, gives an empty Result and no error.
func (c *Cataloger) Parse(_ context.Context, p string, r io.Reader) (indexer.Result, error) {
	if isLock(p) {
		b, err := io.ReadAll(io.LimitReader(r, maxLockSize+1))
		if err != nil {
			return indexer.Result{}, fmt.Errorf("read %s: %w", p, err)
		}
		if len(b) > maxLockSize {
			return indexer.Result{}, fmt.Errorf("%s: larger than %d bytes", p, maxLockSize)
		}
		pkgs, err := ParseCargoLock(b)
		if err != nil {
			return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
		}
		return indexer.Result{Packages: pkgs}, nil
	}
	ra, err := readerAt(r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("read %s: %w", p, err)
	}
	data, err := AuditData(ra)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("cargo-auditable data of %s: %w", p, err)
	}
	if data == nil {
		return indexer.Result{}, nil
	}
	pkgs, err := ParseAuditJSON(data)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("cargo-auditable data of %s: %w", p, err)
	}
	return indexer.Result{Packages: pkgs}, nil
}

func readerAt(r io.Reader) (io.ReaderAt, error) {
	if ra, ok := r.(io.ReaderAt); ok {
		return ra, nil
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(b), nil
}

// AuditData returns the decompressed JSON of an ELF file's .dep-v0
// section; nil and no error when the file is not ELF or has no such
// section. An ELF file that debug/elf cannot parse is treated as not
// ELF (it cannot be a binary cargo built).
func AuditData(ra io.ReaderAt) ([]byte, error) {
	var magic [4]byte
	if _, err := ra.ReadAt(magic[:], 0); err != nil || string(magic[:]) != elf.ELFMAG {
		return nil, nil
	}
	f, err := elf.NewFile(ra)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	s := f.Section(SectionName)
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	if s.Size > maxAuditSize {
		return nil, fmt.Errorf("section %s: %d bytes, larger than %d", SectionName, s.Size, maxAuditSize)
	}
	zr, err := zlib.NewReader(io.NewSectionReader(s, 0, int64(s.Size)))
	if err != nil {
		return nil, fmt.Errorf("section %s: %w", SectionName, err)
	}
	defer zr.Close()
	b, err := io.ReadAll(io.LimitReader(zr, maxAuditSize+1))
	if err != nil {
		return nil, fmt.Errorf("section %s: %w", SectionName, err)
	}
	if len(b) > maxAuditSize {
		return nil, fmt.Errorf("section %s: decompresses to more than %d bytes", SectionName, maxAuditSize)
	}
	return b, nil
}

// auditPackage is one package of cargo-auditable's VersionInfo.
type auditPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Source  string `json:"source"`
	Kind    string `json:"kind"`
	Root    bool   `json:"root"`
}

// ParseAuditJSON reads cargo-auditable's VersionInfo document
// ({"packages": [{name, version, source, kind, dependencies, root}]}).
// Only crates compiled into the executable are reported: kind "runtime"
// (the default when absent), not "build" (build scripts and procedural
// macros run at build time only). Crates with source "local" (the
// workspace's own crates, including the root when built from a checkout)
// are not crates.io packages and are skipped.
func ParseAuditJSON(b []byte) ([]vuln.Package, error) {
	var info struct {
		Packages *[]auditPackage `json:"packages"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, err
	}
	if info.Packages == nil {
		return nil, errors.New("no packages member")
	}
	var out []vuln.Package
	seen := map[string]bool{}
	for _, p := range *info.Packages {
		if p.Kind != "" && p.Kind != "runtime" {
			continue
		}
		if p.Source == "local" || p.Name == "" || p.Version == "" || seen[p.Name+"@"+p.Version] {
			continue
		}
		seen[p.Name+"@"+p.Version] = true
		out = append(out, vuln.Package{Name: p.Name, Version: p.Version, Kind: vuln.KindCargo})
	}
	return out, nil
}

// ParseCargoLock reads the [[package]] tables of a Cargo.lock (every
// format version: v1 to v4 differ in checksums and dependency
// references, not in packages). Packages without a source are the
// workspace's own crates (path dependencies) and are skipped; registry
// and git crates are reported. A document without a package array is an
// error.
func ParseCargoLock(b []byte) ([]vuln.Package, error) {
	var lock struct {
		Package []struct {
			Name    string `toml:"name"`
			Version string `toml:"version"`
			Source  string `toml:"source"`
		} `toml:"package"`
	}
	md, err := toml.Decode(string(b), &lock)
	if err != nil {
		return nil, err
	}
	if !md.IsDefined("package") {
		return nil, errors.New("no [[package]] tables")
	}
	var out []vuln.Package
	seen := map[string]bool{}
	for _, p := range lock.Package {
		if p.Source == "" || p.Name == "" || p.Version == "" || seen[p.Name+"@"+p.Version] {
			continue
		}
		seen[p.Name+"@"+p.Version] = true
		out = append(out, vuln.Package{Name: p.Name, Version: p.Version, Kind: vuln.KindCargo})
	}
	return out, nil
}
