// Package gotoolchain finds Go toolchains installed in an image: the
// GOROOT of the official golang images (/usr/local/go), of Debian's
// golang-1.NN-go packages (/usr/lib/go-1.NN), of toolchains that
// GOTOOLCHAIN fetched into the module cache
// (…/pkg/mod/golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64) and of
// golang.org/dl downloads (…/sdk/go1.22.5), by the VERSION file at its
// root ("go1.22.5", then "time 2024-06-04T20:39:32Z" since Go 1.21).
//
// A toolchain is reported as two Go packages at its version, as the Go
// vulnerability database names them: "stdlib", the standard library
// that every program it builds links, and "toolchain", the go command
// and the other tools themselves.
package gotoolchain

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/gobinary"
	"github.com/lapps/lapps/vuln"
)

// CatalogerName is the name under which the cataloger's entries are
// recorded.
const CatalogerName = "go-toolchain"

// ToolchainName is the package name of the go command and the other
// tools in the Go vulnerability database.
const ToolchainName = "toolchain"

// maxLine bounds the first line read of a VERSION file: real ones are a
// dozen bytes ("go1.22.5", "go1.21rc2", "go1.22.1 X:boringcrypto").
const maxLine = 256

// Cataloger reads the VERSION file of Go toolchains.
type Cataloger struct{}

var _ indexer.Cataloger = Cataloger{}

// New returns the Go toolchain cataloger.
func New() Cataloger { return Cataloger{} }

// Name implements indexer.Cataloger.
func (Cataloger) Name() string { return CatalogerName }

// Wants implements indexer.Cataloger: the VERSION file at the root of a
// GOROOT, by the places toolchains are installed (a file named VERSION
// elsewhere is anybody's).
func (Cataloger) Wants(p string) bool {
	dir, base := path.Split(p)
	if base != "VERSION" {
		return false
	}
	return GOROOT(strings.TrimSuffix(dir, "/"))
}

// GOROOT reports whether dir is where a Go toolchain is installed:
// usr/local/go, opt/go, usr/lib/go, usr/lib/go-1.NN, usr/local/go1.NN…;
// a directory named go1.NN… under an "sdk" directory (golang.org/dl);
// golang.org/toolchain@VERSION in a module cache.
func GOROOT(dir string) bool {
	switch dir {
	case "usr/local/go", "opt/go", "usr/lib/go", "go", "usr/local/lib/go":
		return true
	}
	parent, base := path.Split(dir)
	parent = strings.TrimSuffix(parent, "/")
	switch {
	case parent == "usr/lib" && strings.HasPrefix(base, "go-1."):
		return true
	case (parent == "usr/local" || parent == "opt") && strings.HasPrefix(base, "go1."):
		return true
	case path.Base(parent) == "sdk" && strings.HasPrefix(base, "go1."):
		return true
	case strings.HasPrefix(base, "toolchain@v") && strings.HasSuffix(parent, "pkg/mod/golang.org"):
		return true
	}
	return false
}

// Parse implements indexer.Cataloger. A VERSION file whose first line is
// not a Go release version ("devel go1.23-abcdef", garbage) gives
// nothing and no error; one whose first line is longer than any version
// is an error.
func (Cataloger) Parse(_ context.Context, p string, r io.Reader) (indexer.Result, error) {
	v, err := ParseVersion(r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	if v == "" {
		return indexer.Result{}, nil
	}
	return indexer.Result{Packages: []vuln.Package{
		{Name: gobinary.StdlibName, Version: v, Kind: vuln.KindGo},
		{Name: ToolchainName, Version: v, Kind: vuln.KindGo},
	}}, nil
}

// ParseVersion returns the version a GOROOT's VERSION file names, as the
// Go vulnerability database writes it ("go1.22.5" → "1.22.5", "go1.21rc2"
// → "1.21.0-rc.2", gobinary.StdlibVersion), or "" when its first line is
// not a release version. It reads at most maxLine bytes of the first
// line; a longer line is an error.
func ParseVersion(r io.Reader) (string, error) {
	br := bufio.NewReaderSize(io.LimitReader(r, maxLine+1), maxLine+1)
	line, err := br.ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	if !strings.HasSuffix(line, "\n") && len(line) > maxLine {
		return "", fmt.Errorf("first line longer than %d bytes", maxLine)
	}
	line = strings.TrimSpace(strings.TrimPrefix(line, "\ufeff"))
	return gobinary.StdlibVersion(line), nil
}
