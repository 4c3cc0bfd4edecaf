// Package npm finds Node.js packages: the package.json of every package
// installed under a node_modules directory, and the lock files of npm
// (package-lock.json v1–v3, npm-shrinkwrap.json), Yarn (yarn.lock, v1
// and Berry) and pnpm (pnpm-lock.yaml, v5–v9).
//
// A lock file describes what an install would put in node_modules. Where
// that node_modules tree exists, its package.json files are the truth and
// the lock file must not be counted as well; the walker hands files one at
// a time, so this cataloger reports both and the image fold drops the
// packages of a lock file at DIR/<lock> when the final file system holds
// any entry of this cataloger under DIR/node_modules/ (see
// LockSuperseded).
package npm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/vuln"
)

// CatalogerName is the name under which the cataloger's entries are
// recorded.
const CatalogerName = "npm"

// Lock file names.
const (
	PackageLock = "package-lock.json"
	Shrinkwrap  = "npm-shrinkwrap.json"
	YarnLock    = "yarn.lock"
	PnpmLock    = "pnpm-lock.yaml"
)

// Cataloger reads package.json files under node_modules and lock files.
type Cataloger struct{}

var _ indexer.Cataloger = Cataloger{}

// New returns the Node.js cataloger.
func New() Cataloger { return Cataloger{} }

// Name implements indexer.Cataloger.
func (Cataloger) Name() string { return CatalogerName }

// Wants implements indexer.Cataloger: the package.json at the root of an
// installed package (node_modules/NAME/package.json or
// node_modules/@SCOPE/NAME/package.json, at any depth), and lock files
// outside node_modules (a lock file inside node_modules belongs to a
// dependency's own development and describes nothing installed).
func (Cataloger) Wants(p string) bool {
	dir, base := path.Split(p)
	switch base {
	case "package.json":
		return InstalledPackageDir(strings.TrimSuffix(dir, "/"))
	case PackageLock, Shrinkwrap, YarnLock, PnpmLock:
		return !inNodeModules(p)
	}
	return false
}

// InstalledPackageDir reports whether dir is where npm, Yarn or pnpm
// install a package: a directory directly under node_modules, or under a
// scope directory ("@babel") directly under node_modules. Other
// package.json files inside a package (test fixtures, "type" markers in
// lib/) do not describe installed packages.
func InstalledPackageDir(dir string) bool {
	parent, name := path.Split(dir)
	parent = strings.TrimSuffix(parent, "/")
	if name == "" || name[0] == '.' || name[0] == '@' {
		return false
	}
	if path.Base(parent) == "node_modules" {
		return true
	}
	grand, scope := path.Split(parent)
	return len(scope) > 1 && scope[0] == '@' && path.Base(strings.TrimSuffix(grand, "/")) == "node_modules"
}

func inNodeModules(p string) bool {
	return strings.HasPrefix(p, "node_modules/") || strings.Contains(p, "/node_modules/")
}

// IsLockFile reports whether p names a lock file this cataloger reads.
func IsLockFile(p string) bool {
	switch path.Base(p) {
	case PackageLock, Shrinkwrap, YarnLock, PnpmLock:
		return true
	}
	return false
}

// LockSuperseded reports whether the packages of the lock file at lock
// are to be dropped because an installed tree exists beside it: some
// other path of this cataloger's entries (other) lies under the lock
// file's directory's node_modules. It is the rule the image fold applies.
func LockSuperseded(lock, other string) bool {
	if !IsLockFile(lock) {
		return false
	}
	prefix := "node_modules/"
	if dir := path.Dir(lock); dir != "." {
		prefix = dir + "/" + prefix
	}
	return strings.HasPrefix(other, prefix)
}

// Parse implements indexer.Cataloger. Every format is read as a stream,
// in bounded memory, each package charged to the layer's budget as it
// is read.
func (Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	var pkgs []vuln.Package
	var err error
	switch path.Base(p) {
	case "package.json":
		var pkg *vuln.Package
		pkg, err = ParsePackageJSON(r)
		if pkg != nil {
			pkgs = []vuln.Package{*pkg}
		}
	case PackageLock, Shrinkwrap:
		pkgs, err = ParsePackageLock(ctx, r)
	case YarnLock:
		pkgs, err = ParseYarnLock(ctx, r)
	case PnpmLock:
		pkgs, err = ParsePnpmLock(ctx, r)
	default:
		return indexer.Result{}, nil
	}
	if err != nil {
		if errors.Is(err, limits.ErrExceeded) {
			return indexer.Result{}, err
		}
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	return indexer.Result{Packages: pkgs}, nil
}

// stripBOM removes a UTF-8 byte order mark, which encoding/json and
// some editors disagree on.
func stripBOM(b []byte) []byte { return bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")) }

// set collects packages once each, in the order first seen.
type set struct {
	seen map[string]bool
	out  []vuln.Package
}

func (s *set) add(name, version string) {
	if name == "" || version == "" {
		return
	}
	k := name + "@" + version
	if s.seen == nil {
		s.seen = map[string]bool{}
	}
	if s.seen[k] {
		return
	}
	s.seen[k] = true
	s.out = append(s.out, vuln.Package{Name: name, Version: version, Kind: vuln.KindNPM})
}

// sorted returns the packages by name and version, so that a file
// always gives the same result whatever the order of Go's maps.
func (s *set) sorted() []vuln.Package {
	sort.Slice(s.out, func(i, j int) bool {
		if s.out[i].Name != s.out[j].Name {
			return s.out[i].Name < s.out[j].Name
		}
		return s.out[i].Version < s.out[j].Version
	})
	return s.out
}

// registryVersion reports whether v is a version as the npm registry
// gives it (semver, without a protocol): what a lock file records for a
// registry package, as opposed to "file:", "link:", git URLs, tarball
// URLs or workspace references, which say nothing a vulnerability
// database could match.
func registryVersion(v string) bool {
	if v == "" || v[0] < '0' || v[0] > '9' {
		return false
	}
	return !strings.ContainsAny(v, ":/ ")
}
