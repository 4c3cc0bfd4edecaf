// Package apk finds the packages installed by apk-tools, Alpine's (and
// Wolfi's) package manager, and the files each installed: the database
// lib/apk/db/installed.
package apk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/license"
	"github.com/lapps/lapps/vuln"
)

// InstalledPath is the path of apk's database of installed packages.
const InstalledPath = "lib/apk/db/installed"

// maxLine bounds one line of the database. Real lines are short (one
// file name, one dependency list); a longer one means the file is not an
// apk database.
const maxLine = 1 << 20

// maxPath is PATH_MAX, the longest file name kept.
const maxPath = 4096

// Cataloger reads apk's installed database.
type Cataloger struct{}

var _ indexer.Cataloger = Cataloger{}

// New returns the apk cataloger.
func New() Cataloger { return Cataloger{} }

// Name implements indexer.Cataloger.
func (Cataloger) Name() string { return "apk" }

// Wants implements indexer.Cataloger: lib/apk/db/installed.
func (Cataloger) Wants(p string) bool { return p == InstalledPath }

// Parse implements indexer.Cataloger: the installed packages, and the
// files each installed, as OwnedFiles keyed "apk NAME".
func (Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	pkgs, files, err := ParseInstalled(ctx, r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	for i := range pkgs {
		pkgs[i].DBPath = p
	}
	return indexer.Result{Packages: pkgs, OwnedFiles: files}, nil
}

// ParseInstalled reads an apk installed database: paragraphs separated by
// blank lines, each line a one-letter key, a colon and a value
// (https://wiki.alpinelinux.org/wiki/Apk_spec). It returns the packages in
// file order with Kind set to apk: P is the name, V the version, A the
// architecture and o the origin, the source package (SourceVersion is the
// package's version: an origin is built at one version).
//
// It also returns the files of each package, keyed "apk NAME": an F line
// names a directory (relative to the root) and the R lines after it the
// files in that directory; the paths are returned cleaned, relative to
// the root (the indexer's form). An R line before any F line of its
// paragraph names a file in the root directory. Other lines (a, Z, M…)
// are skipped. Paragraphs without P or V are skipped, with their files; a
// line that is not "X:value" is an error. It streams: packages and files
// are charged to the layer's budget (indexer.CountPackage,
// indexer.CountOwnedFile) as they are read.
func ParseInstalled(ctx context.Context, r io.Reader) ([]vuln.Package, map[string][]string, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		pkgs   []vuln.Package
		owned  = map[string][]string{}
		cur    vuln.Package
		dir    string   // the directory of the last F line, with a trailing "/"
		files  []string // of the current paragraph
		inPara bool
		lineNo int
	)
	flush := func() error {
		if !inPara {
			return nil
		}
		inPara = false
		if cur.Name != "" && cur.Version != "" {
			if err := indexer.CountPackage(ctx, cur); err != nil {
				return err
			}
			cur.Kind = vuln.KindAPK
			if cur.SourceName == "" {
				cur.SourceName = cur.Name
			}
			cur.SourceVersion = cur.Version
			pkgs = append(pkgs, cur)
			key := vuln.KindAPK + " " + cur.Name
			owned[key] = append(owned[key], files...)
		}
		cur, dir, files = vuln.Package{}, "", nil
		return nil
	}
	for sc.Scan() {
		lineNo++
		if lineNo%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
		}
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			if err := flush(); err != nil {
				return nil, nil, err
			}
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			return nil, nil, fmt.Errorf("line %d: not a \"X:value\" line: %q", lineNo, truncate(line))
		}
		inPara = true
		switch line[0] {
		case 'P':
			cur.Name = string(line[2:])
		case 'V':
			cur.Version = string(line[2:])
		case 'A':
			cur.Arch = string(line[2:])
		case 'o':
			cur.SourceName = string(line[2:])
		case 'L':
			// The license, SPDX in recent Alpine ("MIT AND BSD-3-Clause"),
			// free text in old releases ("GPL2+", "MIT BSD").
			cur.Licenses = license.List(string(line[2:]))
		case 'F':
			dir = string(line[2:]) + "/"
		case 'R':
			// Paths longer than PATH_MAX are skipped: no file system
			// holds them, and the walker skips such names.
			if len(line) > 2 && len(dir)+len(line)-2 <= maxPath {
				// One allocation per file: "/" keeps Clean from
				// climbing out of the root, and is dropped after it.
				if p := path.Clean("/" + dir + string(line[2:]))[1:]; p != "" {
					// Charged as read: a paragraph's files are held
					// until its end.
					if err := indexer.CountOwnedFile(ctx, p); err != nil {
						return nil, nil, err
					}
					files = append(files, p)
				}
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, nil, fmt.Errorf("line %d: longer than %d bytes", lineNo+1, maxLine)
		}
		return nil, nil, fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	if err := flush(); err != nil {
		return nil, nil, err
	}
	return pkgs, owned, nil
}

// truncate shortens a line for an error message.
func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
