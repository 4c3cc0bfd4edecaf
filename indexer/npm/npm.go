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
//
// It also wants Debian's installed modules (DebianModuleDir) and a
// project's own root package.json (ApplicationManifest).
func (Cataloger) Wants(p string) bool {
	dir, base := path.Split(p)
	switch base {
	case "package.json":
		dir = strings.TrimSuffix(dir, "/")
		return InstalledPackageDir(dir) || DebianModuleDir(dir) || ApplicationManifest(p)
	case PackageLock, Shrinkwrap, YarnLock, PnpmLock:
		return !inNodeModules(p)
	}
	return false
}

// debianModuleRoots are where Debian's node-* packages install modules,
// without node_modules: /usr/share/nodejs (architecture independent),
// /usr/lib/nodejs and /usr/lib/<triplet>/nodejs.
var debianModuleRoots = []string{"usr/share/nodejs", "usr/lib/nodejs"}

// debianModuleRoot returns the Debian module root dir lies under (dir
// itself or an ancestor), or "".
func debianModuleRoot(dir string) string {
	for _, r := range debianModuleRoots {
		if dir == r || strings.HasPrefix(dir, r+"/") {
			return r
		}
	}
	// usr/lib/x86_64-linux-gnu/nodejs
	if rest, ok := strings.CutPrefix(dir, "usr/lib/"); ok {
		triplet, after, _ := strings.Cut(rest, "/")
		if strings.Contains(triplet, "-linux-") && (after == "nodejs" || strings.HasPrefix(after, "nodejs/")) {
			return "usr/lib/" + triplet + "/nodejs"
		}
	}
	return ""
}

// DebianModuleDir reports whether dir is a module Debian installed where
// Node.js finds it without node_modules: ROOT/NAME or ROOT/@SCOPE/NAME
// for ROOT /usr/share/nodejs, /usr/lib/nodejs or
// /usr/lib/<triplet>/nodejs. Other package.json files below a module
// (lib/package.json "type" markers) are not modules; the modules a
// Debian package bundles under NAME/node_modules are InstalledPackageDir.
func DebianModuleDir(dir string) bool {
	root := debianModuleRoot(dir)
	if root == "" || dir == root {
		return false
	}
	rest := dir[len(root)+1:]
	first, second, nested := strings.Cut(rest, "/")
	if first == "" || first[0] == '.' {
		return false
	}
	if !nested {
		return first[0] != '@'
	}
	return first[0] == '@' && len(first) > 1 && second != "" && second[0] != '.' && !strings.Contains(second, "/")
}

// ApplicationManifest reports whether p is a package.json that is a
// project's own, the root of an application (/app/package.json,
// /usr/src/app/package.json): one outside every node_modules tree and
// outside Debian's module directories, and outside the system's own
// trees (/usr, /opt/…/lib, /proc…) where package.json files are parts of
// installed software. Ones under /usr/src, /usr/local/src, /srv, /opt,
// /home, /root and any top-level directory of the image's own are taken.
func ApplicationManifest(p string) bool {
	if path.Base(p) != "package.json" || inNodeModules(p) {
		return false
	}
	dir := path.Dir(p)
	if dir == "." {
		return true // a package.json at the image's root
	}
	if debianModuleRoot(dir) != "" {
		return false
	}
	top, _, _ := strings.Cut(dir, "/")
	switch top {
	case "usr":
		return strings.HasPrefix(dir, "usr/src/") || strings.HasPrefix(dir, "usr/local/src/") || dir == "usr/src" || dir == "usr/local/src"
	case "bin", "sbin", "lib", "lib32", "lib64", "libx32", "etc", "var", "proc", "sys", "dev", "run", "tmp", "boot", "nix":
		return false
	}
	return true
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
		if ApplicationManifest(p) {
			return parseApplication(p, r)
		}
		if DebianModuleDir(path.Dir(p)) {
			return parseDebianModule(p, r)
		}
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

// parseApplication reads a project's own package.json: one package,
// marked as the application, published (matched) when it has a name and
// a version and is not private, unpublished (listed, never matched)
// otherwise; nothing when it has no name.
func parseApplication(p string, r io.Reader) (indexer.Result, error) {
	m, err := ReadManifest(r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	if m.Name == "" {
		return indexer.Result{}, nil
	}
	pkg := vuln.Package{Name: m.Name, Version: m.Version, Kind: vuln.KindNPM, Application: vuln.ApplicationPublished, Licenses: m.Licenses}
	if m.Private || m.Version == "" {
		pkg.Application = vuln.ApplicationUnpublished
	}
	return indexer.Result{Packages: []vuln.Package{pkg}}, nil
}

// parseDebianModule reads the package.json of a module Debian
// installed: the package it names, private or not (Debian ships some
// modules with their repository's package.json, which is private: true,
// as lodash 4.17.21 and neo-async 2.6.2 in bookworm), nothing when it has
// no name or no version.
func parseDebianModule(p string, r io.Reader) (indexer.Result, error) {
	m, err := ReadManifest(r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	if m.Name == "" || m.Version == "" {
		return indexer.Result{}, nil
	}
	return indexer.Result{Packages: []vuln.Package{{Name: m.Name, Version: m.Version, Kind: vuln.KindNPM, Licenses: m.Licenses}}}, nil
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
