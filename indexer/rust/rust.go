// Package rust finds Rust crates: the dependency tree that cargo-auditable
// embeds in the executables it builds (a zlib-compressed JSON document in
// the ELF section .dep-v0), and Cargo.lock files.
package rust

import (
	"bufio"
	"bytes"
	"compress/zlib"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/elfcheck"
	"github.com/lapps/lapps/indexer/internal/jsonstream"
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
// has no .dep-v0 section, gives an empty Result and no error. An
// executable is read in place (the walker's reader is an io.ReaderAt),
// after elfcheck.Check, through a reader that refuses any single read
// larger than elfcheck.MaxRead; its audit data is decompressed and parsed
// as a stream.
func (c *Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	if isLock(p) {
		pkgs, err := ParseCargoLock(ctx, r)
		if err != nil {
			return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
		}
		return indexer.Result{Packages: pkgs}, nil
	}
	ra, _, err := indexer.ReaderAt(r, c.maxSize)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("read %s: %w", p, err)
	}
	data, err := auditReader(ra)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("cargo-auditable data of %s: %w", p, err)
	}
	if data == nil {
		return indexer.Result{}, nil
	}
	pkgs, err := ParseAuditJSON(ctx, data)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("cargo-auditable data of %s: %w", p, err)
	}
	return indexer.Result{Packages: pkgs}, nil
}

// AuditData returns the decompressed JSON of an ELF file's .dep-v0
// section; nil and no error when the file is not ELF or has no such
// section. An ELF file that debug/elf cannot parse is treated as not
// ELF (it cannot be a binary cargo built).
func AuditData(ra io.ReaderAt) ([]byte, error) {
	r, err := auditReader(ra)
	if r == nil || err != nil {
		return nil, err
	}
	return io.ReadAll(r)
}

// auditReader returns a reader of the decompressed .dep-v0 section of an
// ELF file, which fails beyond maxAuditSize bytes; nil and no error when
// the file is not ELF or has no such section.
func auditReader(ra io.ReaderAt) (io.Reader, error) {
	var magic [4]byte
	if _, err := ra.ReadAt(magic[:], 0); err != nil || string(magic[:]) != elf.ELFMAG {
		return nil, nil
	}
	if err := elfcheck.Check(ra); err != nil {
		return nil, err
	}
	f, err := elf.NewFile(elfcheck.Limit(ra))
	if err != nil {
		return nil, nil
	}
	s := f.Section(SectionName)
	if s == nil || s.Type == elf.SHT_NOBITS {
		return nil, nil
	}
	if s.Size > maxAuditSize {
		return nil, fmt.Errorf("section %s: %d bytes, larger than %d", SectionName, s.Size, maxAuditSize)
	}
	zr, err := zlib.NewReader(s.Open())
	if err != nil {
		return nil, fmt.Errorf("section %s: %w", SectionName, err)
	}
	return &auditLimit{r: zr, left: maxAuditSize}, nil
}

// auditLimit fails a decompression beyond maxAuditSize bytes.
type auditLimit struct {
	r    io.Reader
	left int64
}

func (a *auditLimit) Read(p []byte) (int, error) {
	if a.left <= 0 {
		var one [1]byte
		n, err := a.r.Read(one[:])
		if n > 0 {
			return 0, fmt.Errorf("section %s: decompresses to more than %d bytes", SectionName, maxAuditSize)
		}
		return 0, err
	}
	if int64(len(p)) > a.left {
		p = p[:a.left]
	}
	n, err := a.r.Read(p)
	a.left -= int64(n)
	return n, err
}

// ParseAuditJSON reads cargo-auditable's VersionInfo document
// ({"packages": [{name, version, source, kind, dependencies, root}]}).
// Only crates compiled into the executable are reported: kind "runtime"
// (the default when absent), not "build" (build scripts and procedural
// macros run at build time only). Crates with source "local" (the
// workspace's own crates, including the root when built from a checkout)
// are not crates.io packages and are skipped. The document is read token
// by token, each crate charged to the layer's budget
// (indexer.CountPackage), with the semantics of encoding/json decoding
// into {packages *[]{name, version, source, kind string; root bool}}.
func ParseAuditJSON(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	d := jsonstream.NewDecoder(r)
	var typeErr error
	keep := func(err error) error {
		if te, ok := err.(*jsonstream.TypeError); ok {
			if typeErr == nil {
				typeErr = te
			}
			return nil
		}
		return err
	}
	var (
		list   []auditPackage
		isNull = true
	)
	_, err := d.ObjectOrNull(func(key string) error {
		if !strings.EqualFold(key, "packages") {
			return d.Skip()
		}
		var cur []auditPackage
		isArray, err := d.ArrayOrNull(func() error {
			var p auditPackage
			_, err := d.ObjectOrNull(func(k string) error {
				switch {
				case strings.EqualFold(k, "name"):
					return keep(d.String(&p.Name))
				case strings.EqualFold(k, "version"):
					return keep(d.String(&p.Version))
				case strings.EqualFold(k, "source"):
					return keep(d.String(&p.Source))
				case strings.EqualFold(k, "kind"):
					return keep(d.String(&p.Kind))
				case strings.EqualFold(k, "root"):
					return keep(d.Bool(&p.Root))
				}
				return d.Skip()
			})
			if err := keep(err); err != nil {
				return err
			}
			cur = append(cur, p)
			return indexer.CountPackage(ctx, vuln.Package{Name: p.Name, Version: p.Version, SourceName: p.Source, Arch: p.Kind})
		})
		if err := keep(err); err != nil {
			return err
		}
		if err == nil {
			list, isNull = cur, !isArray
		}
		return nil
	})
	if err := keep(err); err != nil {
		return nil, err
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	if typeErr != nil {
		return nil, typeErr
	}
	if isNull {
		return nil, errors.New("no packages member")
	}
	var out []vuln.Package
	seen := map[string]bool{}
	for _, p := range list {
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

// auditPackage is one package of cargo-auditable's VersionInfo.
type auditPackage struct {
	Name, Version, Source, Kind string
	Root                        bool
}

// cargoPackage is a [[package]] table of a Cargo.lock.
type cargoPackage struct {
	Name    string `toml:"name"`
	Version string `toml:"version"`
	Source  string `toml:"source"`
}

// A Cargo.lock of up to maxTOMLDocument bytes is decoded as one TOML
// document. BurntSushi/toml holds a document's tree, which on hostile
// input (an array of one-digit integers) costs some fifty times its size;
// a larger lock file is therefore read table by table: Cargo writes
// every table header at the start of a line, so the text is cut before
// each line starting with "[" and each piece, at most maxTOMLChunk
// bytes, decoded by itself. No TOML library decodes below the document,
// hence this splitter. It refuses what Cargo never writes and a whole
// decoding would accept: a table defined twice, package tables mixed with
// a package key.
const (
	maxTOMLDocument = 256 << 10
	maxTOMLChunk    = 128 << 10
)

// ParseCargoLock reads the [[package]] tables of a Cargo.lock (every
// format version: v1 to v4 differ in checksums and dependency
// references, not in packages). Packages without a source are the
// workspace's own crates (path dependencies) and are skipped; registry
// and git crates are reported. A document without a package array is an
// error. Each package is charged to the layer's budget
// (indexer.CountPackage) as it is decoded.
func ParseCargoLock(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	head, err := io.ReadAll(io.LimitReader(r, maxTOMLDocument+1))
	if err != nil {
		return nil, err
	}
	var pkgs []cargoPackage
	if len(head) <= maxTOMLDocument {
		var lock struct {
			Package []cargoPackage `toml:"package"`
		}
		md, err := toml.Decode(string(head), &lock)
		if err != nil {
			return nil, err
		}
		if !md.IsDefined("package") {
			return nil, errors.New("no [[package]] tables")
		}
		for _, p := range lock.Package {
			if err := countCargo(ctx, p); err != nil {
				return nil, err
			}
		}
		pkgs = lock.Package
	} else if pkgs, err = cargoChunks(ctx, io.MultiReader(bytes.NewReader(head), r)); err != nil {
		return nil, err
	}
	var out []vuln.Package
	seen := map[string]bool{}
	for _, p := range pkgs {
		if p.Source == "" || p.Name == "" || p.Version == "" || seen[p.Name+"@"+p.Version] {
			continue
		}
		seen[p.Name+"@"+p.Version] = true
		out = append(out, vuln.Package{Name: p.Name, Version: p.Version, Kind: vuln.KindCargo})
	}
	return out, nil
}

func countCargo(ctx context.Context, p cargoPackage) error {
	return indexer.CountPackage(ctx, vuln.Package{Name: p.Name, Version: p.Version, SourceName: p.Source})
}

// cargoChunks decodes a large Cargo.lock table by table. A key path a
// piece defines must not be one an earlier piece defined, nor lie under
// it or above it, unless both are [[package]] tables: the pieces of a
// valid document never share a path but the array of package tables,
// and this refuses what decoding the pieces alone would not notice.
func cargoChunks(ctx context.Context, r io.Reader) ([]cargoPackage, error) {
	var (
		pkgs     []cargoPackage
		chunk    []byte
		array    bool                // the piece is a [[…]] table
		defined  = map[string]bool{} // key paths of earlier pieces
		prefixes = map[string]bool{} // their strict prefixes
		arrays   = map[string]bool{} // roots of [[…]] tables
		sawPkg   bool
	)
	join := func(k toml.Key) string { return strings.Join(k, "\x00") }
	decode := func() error {
		if len(chunk) == 0 {
			return nil
		}
		var part struct {
			Package []cargoPackage `toml:"package"`
		}
		md, err := toml.Decode(string(chunk), &part)
		if err != nil {
			return err
		}
		keys := md.Keys()
		var root toml.Key
		if array && len(keys) > 0 {
			root = keys[0]
		}
		var paths []toml.Key
		for _, k := range keys {
			if root != nil && len(k) > len(root) && join(k[:len(root)]) == join(root) {
				continue // a key of this array element
			}
			if root != nil && join(k) == join(root) {
				if arrays[join(k)] {
					continue
				}
			}
			paths = append(paths, k)
		}
		for _, k := range paths {
			j := join(k)
			if defined[j] || prefixes[j] {
				return fmt.Errorf("%s defined twice", k)
			}
			for i := 1; i < len(k); i++ {
				if defined[join(k[:i])] {
					return fmt.Errorf("%s defined under %s", k, k[:i])
				}
			}
		}
		for _, k := range paths {
			defined[join(k)] = true
			for i := 1; i < len(k); i++ {
				prefixes[join(k[:i])] = true
			}
		}
		if root != nil {
			arrays[join(root)] = true
		}
		if md.IsDefined("package") {
			sawPkg = true
		}
		for _, p := range part.Package {
			if err := countCargo(ctx, p); err != nil {
				return err
			}
			pkgs = append(pkgs, p)
		}
		chunk = chunk[:0]
		return nil
	}
	br := bufio.NewReaderSize(r, 64<<10)
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("a line longer than %d bytes", br.Size())
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		if len(line) > 0 && line[0] == '[' {
			if err := decode(); err != nil {
				return nil, err
			}
			array = len(line) > 1 && line[1] == '['
		}
		if len(chunk)+len(line) > maxTOMLChunk {
			return nil, fmt.Errorf("a table larger than %d bytes", maxTOMLChunk)
		}
		chunk = append(chunk, line...)
		if err == io.EOF {
			break
		}
	}
	if err := decode(); err != nil {
		return nil, err
	}
	if !sawPkg {
		return nil, errors.New("no [[package]] tables")
	}
	return pkgs, nil
}
