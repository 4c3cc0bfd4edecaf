// Package apk finds the packages installed by apk-tools, Alpine's (and
// Wolfi's) package manager: the database lib/apk/db/installed.
package apk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/vuln"
)

// InstalledPath is the path of apk's database of installed packages.
const InstalledPath = "lib/apk/db/installed"

// maxLine bounds one line of the database. Real lines are short (one
// file name, one dependency list); a longer one means the file is not an
// apk database.
const maxLine = 1 << 20

// Cataloger reads apk's installed database.
type Cataloger struct{}

var _ indexer.Cataloger = Cataloger{}

// New returns the apk cataloger.
func New() Cataloger { return Cataloger{} }

// Name implements indexer.Cataloger.
func (Cataloger) Name() string { return "apk" }

// Wants implements indexer.Cataloger: lib/apk/db/installed.
func (Cataloger) Wants(p string) bool { return p == InstalledPath }

// Parse implements indexer.Cataloger.
func (Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	pkgs, err := ParseInstalled(ctx, r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	for i := range pkgs {
		pkgs[i].DBPath = p
	}
	return indexer.Result{Packages: pkgs}, nil
}

// ParseInstalled reads an apk installed database: paragraphs separated by
// blank lines, each line a one-letter key, a colon and a value
// (https://wiki.alpinelinux.org/wiki/Apk_spec). It returns the packages in
// file order with Kind set to apk: P is the name, V the version, A the
// architecture and o the origin, the source package (SourceVersion is the
// package's version: an origin is built at one version). The file lists
// (F, R, a, Z…) are skipped. Paragraphs without P or V are skipped; a line
// that is not "X:value" is an error.
func ParseInstalled(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	var (
		pkgs   []vuln.Package
		cur    vuln.Package
		inPara bool
		lineNo int
	)
	flush := func() {
		if !inPara {
			return
		}
		inPara = false
		if cur.Name != "" && cur.Version != "" {
			cur.Kind = vuln.KindAPK
			if cur.SourceName == "" {
				cur.SourceName = cur.Name
			}
			cur.SourceVersion = cur.Version
			pkgs = append(pkgs, cur)
		}
		cur = vuln.Package{}
	}
	for sc.Scan() {
		lineNo++
		if lineNo%4096 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if len(bytes.TrimSpace(line)) == 0 {
			flush()
			continue
		}
		if len(line) < 2 || line[1] != ':' {
			return nil, fmt.Errorf("line %d: not a \"X:value\" line: %q", lineNo, truncate(line))
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
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: longer than %d bytes", lineNo+1, maxLine)
		}
		return nil, fmt.Errorf("line %d: %w", lineNo+1, err)
	}
	flush()
	return pkgs, nil
}

// truncate shortens a line for an error message.
func truncate(b []byte) string {
	if len(b) > 80 {
		return string(b[:80]) + "…"
	}
	return string(b)
}
