// Package dpkg finds the packages installed by dpkg: the status database
// var/lib/dpkg/status, and the per-package files distroless images keep
// in var/lib/dpkg/status.d/ instead.
package dpkg

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/vuln"
)

// Paths of the dpkg databases.
const (
	StatusPath = "var/lib/dpkg/status"
	StatusDir  = "var/lib/dpkg/status.d"
)

// maxLine bounds one line of a status file. Real lines are short (long
// fields such as Description and Conffiles are split over continuation
// lines); a longer one means the file is not a status file.
const maxLine = 1 << 20

// Cataloger reads dpkg status files.
type Cataloger struct{}

var _ indexer.Cataloger = Cataloger{}

// New returns the dpkg cataloger.
func New() Cataloger { return Cataloger{} }

// Name implements indexer.Cataloger.
func (Cataloger) Name() string { return "dpkg" }

// Wants implements indexer.Cataloger: var/lib/dpkg/status and the files
// of var/lib/dpkg/status.d/ except the *.md5sums lists beside them.
func (Cataloger) Wants(p string) bool {
	if p == StatusPath {
		return true
	}
	dir, base := path.Split(p)
	return dir == StatusDir+"/" && base != "" && !strings.HasSuffix(base, ".md5sums") && !strings.HasPrefix(base, ".")
}

// Parse implements indexer.Cataloger: the installed packages of one
// status file.
func (Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	pkgs, err := ParseStatus(ctx, r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	for i := range pkgs {
		pkgs[i].DBPath = p
	}
	return indexer.Result{Packages: pkgs}, nil
}

// The fields read; field names are case-insensitive.
var (
	fieldPackage      = []byte("Package")
	fieldVersion      = []byte("Version")
	fieldArchitecture = []byte("Architecture")
	fieldSource       = []byte("Source")
	fieldStatus       = []byte("Status")
)

// stanza holds the fields of one paragraph that matter here.
type stanza struct {
	pkg, version, arch, source, status string
	hasStatus                          bool
}

// ParseStatus reads a dpkg status file (deb822 paragraphs separated by
// blank lines, fields "Name: value" with continuation lines starting with
// a space or tab) and returns the packages that are installed, in file
// order, with Kind set to deb. It streams: memory does not grow with the
// size of the file.
//
// A package counts as installed when the state, the last word of its
// Status, says its files are on disk: installed, triggers-pending,
// triggers-awaited, half-configured or unpacked ("deinstall ok installed"
// counts: the package is only marked for removal). config-files,
// half-installed and not-installed packages are left out. A paragraph
// without Status, as in distroless status.d files, counts as installed.
// Paragraphs without Package or Version are skipped. A line that is
// neither a field, a continuation, a comment nor blank is an error.
func ParseStatus(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		pkgs   []vuln.Package
		cur    stanza
		inPara bool
		lineNo int
	)
	flush := func() {
		if !inPara {
			return
		}
		inPara = false
		if p, ok := cur.installed(); ok {
			pkgs = append(pkgs, p)
		}
		cur = stanza{}
	}
	for {
		line, err := readLine(br)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", lineNo+1, err)
		}
		lineNo++
		if lineNo%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if !inPara {
				return nil, fmt.Errorf("line %d: continuation line outside a paragraph", lineNo)
			}
			continue // continuation of a multi-line field; none of ours
		}
		if line[0] == '#' && !inPara {
			continue // comment lines are allowed by deb822
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok || len(k) == 0 || bytes.ContainsAny(k, " \t") {
			return nil, fmt.Errorf("line %d: not a field: %q", lineNo, truncate(line))
		}
		inPara = true
		val := func() string { return string(bytes.TrimSpace(v)) }
		switch {
		case bytes.EqualFold(k, fieldPackage):
			cur.pkg = val()
		case bytes.EqualFold(k, fieldVersion):
			cur.version = val()
		case bytes.EqualFold(k, fieldArchitecture):
			cur.arch = val()
		case bytes.EqualFold(k, fieldSource):
			cur.source = val()
		case bytes.EqualFold(k, fieldStatus):
			cur.status, cur.hasStatus = val(), true
		}
	}
	flush()
	return pkgs, nil
}

// readLine returns the next line without its line ending. It returns
// io.EOF only when no bytes remain. A line longer than maxLine is an
// error.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// A long line: collect it, up to maxLine.
		buf := append([]byte(nil), line...)
		for errors.Is(err, bufio.ErrBufferFull) {
			line, err = br.ReadSlice('\n')
			buf = append(buf, line...)
			if len(buf) > maxLine {
				return nil, fmt.Errorf("line longer than %d bytes", maxLine)
			}
		}
		line = buf
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	if len(line) == 0 && errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, nil
}

// installedStates are the dpkg package states in which the package's
// files are on disk.
var installedStates = map[string]bool{
	"installed":        true,
	"triggers-pending": true,
	"triggers-awaited": true,
	"half-configured":  true,
	"unpacked":         true,
}

// installed returns the package of a paragraph, and whether it is an
// installed package.
func (s stanza) installed() (vuln.Package, bool) {
	if s.pkg == "" || s.version == "" {
		return vuln.Package{}, false
	}
	if s.hasStatus {
		f := strings.Fields(s.status)
		if len(f) != 3 || !installedStates[f[2]] {
			return vuln.Package{}, false
		}
	}
	p := vuln.Package{Name: s.pkg, Version: s.version, Arch: s.arch, Kind: vuln.KindDeb}
	name, version, err := ParseSource(s.source)
	if err != nil {
		// A malformed Source costs the source version, not the package:
		// its first word is still the source package's name.
		name, _, _ = strings.Cut(strings.TrimSpace(s.source), " ")
		version = ""
	}
	p.SourceName, p.SourceVersion = name, version
	if p.SourceName == "" {
		p.SourceName = p.Name
	}
	if p.SourceVersion == "" {
		p.SourceVersion = p.Version
	}
	return p, true
}

// ParseSource parses the value of a Source field: "name" or
// "name (version)", the version given when the source version differs
// from the binary's. An empty value gives empty results.
func ParseSource(v string) (name, version string, err error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", "", nil
	}
	name, rest, ok := strings.Cut(v, " ")
	if !ok {
		return name, "", nil
	}
	rest = strings.TrimSpace(rest)
	if len(rest) < 3 || rest[0] != '(' || rest[len(rest)-1] != ')' {
		return "", "", fmt.Errorf("source %q: want \"name (version)\"", v)
	}
	version = strings.TrimSpace(rest[1 : len(rest)-1])
	if version == "" || strings.ContainsAny(version, " ()") {
		return "", "", fmt.Errorf("source %q: bad version", v)
	}
	return name, version, nil
}

// truncate shortens a line for an error message.
func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
