// Package dpkg finds the packages installed by dpkg: the status database
// var/lib/dpkg/status, and the per-package files distroless images keep
// in var/lib/dpkg/status.d/ instead. It also reads the file lists
// var/lib/dpkg/info/*.list, which say what each package installed, so
// that the language packages among those files are reported as the
// Debian package that installed them (see indexer.Result.OwnedFiles).
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
	// InfoDir holds the per-package control files, among them the file
	// lists PACKAGE.list and, for Multi-Arch: same packages,
	// PACKAGE:ARCH.list.
	InfoDir = "var/lib/dpkg/info"
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

// Wants implements indexer.Cataloger: var/lib/dpkg/status, the files of
// var/lib/dpkg/status.d/ except the *.md5sums lists beside them, the
// file lists var/lib/dpkg/info/*.list, and the copyright files
// usr/share/doc/*/copyright.
func (Cataloger) Wants(p string) bool {
	if p == StatusPath || CopyrightPackage(p) != "" {
		return true
	}
	dir, base := path.Split(p)
	if dir == InfoDir+"/" {
		return ListPackage(base) != ""
	}
	return dir == StatusDir+"/" && base != "" && !strings.HasSuffix(base, ".md5sums") && !strings.HasPrefix(base, ".")
}

// Parse implements indexer.Cataloger: the installed packages of one
// status file, or the files of one package's file list, as OwnedFiles
// keyed "deb PACKAGE" and without packages, or the licenses of one
// machine-readable copyright file, as Licenses keyed "deb PACKAGE"
// (which the fold gives to the package of that name).
func (Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	if name := CopyrightPackage(p); name != "" {
		ls, err := ParseCopyright(ctx, r)
		if err != nil {
			return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
		}
		if len(ls) == 0 {
			return indexer.Result{}, nil
		}
		return indexer.Result{Licenses: map[string][]string{vuln.KindDeb + " " + name: ls}}, nil
	}
	if dir, base := path.Split(p); dir == InfoDir+"/" {
		name := ListPackage(base)
		if name == "" {
			return indexer.Result{}, fmt.Errorf("parse %s: not a dpkg file list name", p)
		}
		files, err := ParseList(ctx, r)
		if err != nil {
			return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
		}
		return indexer.Result{OwnedFiles: map[string][]string{vuln.KindDeb + " " + name: files}}, nil
	}
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
// order, with Kind set to deb. It streams: memory grows with the packages
// found, each charged to the layer's budget (indexer.CountPackage) as it
// is found, not with the size of the file.
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
	flush := func() error {
		if !inPara {
			return nil
		}
		inPara = false
		if p, ok := cur.installed(); ok {
			if err := indexer.CountPackage(ctx, p); err != nil {
				return err
			}
			pkgs = append(pkgs, p)
		}
		cur = stanza{}
		return nil
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
			if err := flush(); err != nil {
				return nil, err
			}
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
	if err := flush(); err != nil {
		return nil, err
	}
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

// ListPackage returns the package a file name of var/lib/dpkg/info/ is
// the file list of: "python3-requests" for "python3-requests.list",
// "libc6" for "libc6:amd64.list". It returns "" for other names: the
// other control files (*.md5sums, *.postinst…), and names whose package
// or architecture part is empty or not made of the characters dpkg
// allows (letters, digits, "+", "-", ".", and "_" in old packages).
func ListPackage(base string) string {
	stem, ok := strings.CutSuffix(base, ".list")
	if !ok {
		return ""
	}
	name, arch, multi := strings.Cut(stem, ":")
	if !validName(name) || (multi && !validName(arch)) {
		return ""
	}
	if name[0] == '.' || name[0] == '-' || name[0] == '+' {
		return ""
	}
	return name
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '+' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
}

// usrMerged are the top-level directories that merged-/usr systems
// (Debian from bookworm's installer on, Ubuntu from 19.10) make links
// into /usr. Packages still list their files under the old names
// (/bin/bash), while the layer's tar stream holds them under the real
// ones (usr/bin/bash).
var usrMerged = []string{"bin/", "sbin/", "lib/", "lib32/", "lib64/", "libx32/", "libo32/"}

// MaxListSize bounds a file list. The largest real ones (documentation
// and font packages with tens of thousands of files) are a few
// megabytes.
const MaxListSize = 16 << 20

// maxListLine bounds one path of a file list (PATH_MAX).
const maxListLine = 4096

// ParseList reads a dpkg file list (info/PACKAGE.list: one absolute path
// per line, the package's directories and files, starting with "/.") and
// returns the paths in the indexer's form: cleaned, without the leading
// slash, the root left out. A path under one of the directories that
// merged-/usr systems link into /usr (bin, sbin, lib…) is also returned
// under /usr, right after it, since that is where the layer holds the
// file; on a system without merged /usr the extra name matches nothing.
// Empty lines, and lines longer than 4096 bytes (PATH_MAX: the walker
// skips such names), are skipped; a line that is not an absolute path is
// an error, and so is a list larger than MaxListSize. The list is read line by line, each path charged to the
// layer's budget (indexer.CountOwnedFile) as it is read.
func ParseList(ctx context.Context, r io.Reader) ([]string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, MaxListSize+1), 64<<10)
	var files []string
	var read int64
	for lineNo := 1; ; lineNo++ {
		if lineNo%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		b, err := br.ReadSlice('\n')
		read += int64(len(b))
		long := len(b) > maxListLine+1
		for errors.Is(err, bufio.ErrBufferFull) {
			// A path no file system can open (the walker skips such
			// names too): skipped, up to its end.
			b, err = br.ReadSlice('\n')
			read += int64(len(b))
			long = true
		}
		if read > MaxListSize {
			return nil, fmt.Errorf("larger than %d bytes", MaxListSize)
		}
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, err
		}
		line := bytes.TrimSuffix(b, []byte("\n"))
		if len(line) > 0 && !long {
			if line[0] != '/' || bytes.IndexByte(line, 0) >= 0 {
				return nil, fmt.Errorf("line %d: not an absolute path: %q", lineNo, truncate(line))
			}
			if p := path.Clean(string(line))[1:]; p != "" { // "/.", the root, is left out
				n := len(files)
				files = append(files, p)
				for _, d := range usrMerged {
					if strings.HasPrefix(p, d) || p == d[:len(d)-1] {
						files = append(files, "usr/"+p)
						break
					}
				}
				for _, f := range files[n:] {
					if err := indexer.CountOwnedFile(ctx, f); err != nil {
						return nil, err
					}
				}
			}
		}
		if err != nil {
			return files, nil
		}
	}
}
