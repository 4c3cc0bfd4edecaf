// Package php finds PHP packages installed by Composer: the
// vendor/composer/installed.json Composer writes on every install (the v1
// array and the v2 {"packages": […]} forms), and composer.lock files.
package php

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/vuln"
)

// CatalogerName is the name under which the cataloger's entries are
// recorded.
const CatalogerName = "composer"

// maxSize bounds what is read of one file.
const maxSize = 64 << 20

// Cataloger reads Composer's installed.json and composer.lock files.
type Cataloger struct{}

var _ indexer.Cataloger = Cataloger{}

// New returns the Composer cataloger.
func New() Cataloger { return Cataloger{} }

// Name implements indexer.Cataloger.
func (Cataloger) Name() string { return CatalogerName }

// Wants implements indexer.Cataloger: composer/installed.json (in the
// vendor directory, whatever its name), and composer.lock files outside
// a vendor directory (a lock file inside vendor/ is a dependency's own and
// describes nothing installed).
func (Cataloger) Wants(p string) bool {
	dir, base := path.Split(p)
	switch base {
	case "installed.json":
		return path.Base(strings.TrimSuffix(dir, "/")) == "composer"
	case "composer.lock":
		return !strings.HasPrefix(p, "vendor/") && !strings.Contains(p, "/vendor/")
	}
	return false
}

// Parse implements indexer.Cataloger.
func (Cataloger) Parse(_ context.Context, p string, r io.Reader) (indexer.Result, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return indexer.Result{}, fmt.Errorf("read %s: %w", p, err)
	}
	if len(b) > maxSize {
		return indexer.Result{}, fmt.Errorf("%s: larger than %d bytes", p, maxSize)
	}
	var pkgs []vuln.Package
	if path.Base(p) == "composer.lock" {
		pkgs, err = ParseLock(b)
	} else {
		pkgs, err = ParseInstalled(b)
	}
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	return indexer.Result{Packages: pkgs}, nil
}

// pkg is one package of either file.
type pkg struct {
	Name    string `json:"name"`
	Version string `json:"version"`
}

// ParseInstalled reads an installed.json: a JSON array of packages
// (Composer 1) or an object whose "packages" member is one (Composer 2).
// Development packages are reported too: they are installed.
func ParseInstalled(b []byte) ([]vuln.Package, error) {
	b = bytes.TrimSpace(b)
	var list []pkg
	switch {
	case len(b) > 0 && b[0] == '[':
		if err := json.Unmarshal(b, &list); err != nil {
			return nil, err
		}
	case len(b) > 0 && b[0] == '{':
		var v2 struct {
			Packages *[]pkg `json:"packages"`
		}
		if err := json.Unmarshal(b, &v2); err != nil {
			return nil, err
		}
		if v2.Packages == nil {
			return nil, fmt.Errorf("no packages member")
		}
		list = *v2.Packages
	default:
		return nil, fmt.Errorf("not a JSON array or object")
	}
	return packages(list), nil
}

// ParseLock reads a composer.lock: its "packages" and "packages-dev".
// Development packages may not be installed (composer install --no-dev);
// where vendor/composer/installed.json exists it says what is.
func ParseLock(b []byte) ([]vuln.Package, error) {
	var lock struct {
		Packages    *[]pkg `json:"packages"`
		PackagesDev []pkg  `json:"packages-dev"`
	}
	if err := json.Unmarshal(b, &lock); err != nil {
		return nil, err
	}
	if lock.Packages == nil {
		return nil, fmt.Errorf("no packages member")
	}
	return packages(append(*lock.Packages, lock.PackagesDev...)), nil
}

// packages turns Composer packages into lapps packages: names lower-cased
// (Packagist names are case-insensitive and advisories use the lower-case
// form), a "v" before a numeric version dropped ("v5.4.0" → "5.4.0", as
// Packagist advisories write versions). Entries without a vendor/name
// or a version are skipped.
func packages(list []pkg) []vuln.Package {
	out := make([]vuln.Package, 0, len(list))
	seen := map[string]bool{}
	for _, p := range list {
		name := strings.ToLower(strings.TrimSpace(p.Name))
		v := strings.TrimSpace(p.Version)
		if len(v) > 1 && (v[0] == 'v' || v[0] == 'V') && v[1] >= '0' && v[1] <= '9' {
			v = v[1:]
		}
		if !strings.Contains(name, "/") || v == "" || seen[name+"@"+v] {
			continue
		}
		seen[name+"@"+v] = true
		out = append(out, vuln.Package{Name: name, Version: v, Kind: vuln.KindComposer})
	}
	return out
}
