// Package php finds PHP packages installed by Composer: the
// vendor/composer/installed.json Composer writes on every install (the v1
// array and the v2 {"packages": […]} forms), and composer.lock files.
package php

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/jsonstream"
	"github.com/lapps/lapps/indexer/license"
	"github.com/lapps/lapps/vuln"
)

// CatalogerName is the name under which the cataloger's entries are
// recorded.
const CatalogerName = "composer"

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
func (Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	var pkgs []vuln.Package
	var err error
	if path.Base(p) == "composer.lock" {
		pkgs, err = ParseLock(ctx, r)
	} else {
		pkgs, err = ParseInstalled(ctx, r)
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
	// License is "license": a string, or an array of strings that
	// Composer reads as alternatives. Read by readLicense only (the
	// reference decoder of the tests, encoding/json, leaves it).
	License []string `json:"-"`
}

// ParseInstalled reads an installed.json: a JSON array of packages
// (Composer 1) or an object whose "packages" member is one (Composer 2).
// Development packages are reported too: they are installed. The file is
// read token by token, each package charged to the layer's budget
// (indexer.CountPackage) as it is decoded, with the semantics of
// encoding/json decoding into []{name, version string} (or a struct
// holding a pointer to one), after white space is trimmed.
func ParseInstalled(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	d, err := jsonstream.NewDecoderTrimmed(r)
	if err != nil {
		return nil, err
	}
	t, err := d.Token()
	if err == io.EOF {
		return nil, fmt.Errorf("not a JSON array or object")
	}
	if err != nil {
		return nil, err
	}
	var typeErr error
	var list []pkg
	switch t {
	case json.Delim('['):
		err = d.Array(func() error {
			p, err := decodePkg(ctx, d, &typeErr)
			list = append(list, p)
			return err
		})
	case json.Delim('{'):
		isNull := true
		err = d.Object(func(key string) error {
			if !strings.EqualFold(key, "packages") {
				return d.Skip()
			}
			var err error
			list, isNull, err = decodePkgs(ctx, d, &typeErr)
			return err
		})
		if err == nil && isNull && typeErr == nil {
			err = fmt.Errorf("no packages member")
		}
	default:
		return nil, fmt.Errorf("not a JSON array or object")
	}
	if err == nil {
		err = d.End()
	}
	if err == nil {
		err = typeErr
	}
	if err != nil {
		return nil, err
	}
	return packages(list), nil
}

// ParseLock reads a composer.lock: its "packages" and "packages-dev".
// Development packages may not be installed (composer install --no-dev);
// where vendor/composer/installed.json exists it says what is. It reads
// as ParseInstalled does.
func ParseLock(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	d := jsonstream.NewDecoder(r)
	var typeErr error
	var prod, dev []pkg
	prodNull := true
	_, err := d.ObjectOrNull(func(key string) error {
		var err error
		switch {
		case strings.EqualFold(key, "packages"):
			prod, prodNull, err = decodePkgs(ctx, d, &typeErr)
		case strings.EqualFold(key, "packages-dev"):
			dev, _, err = decodePkgs(ctx, d, &typeErr)
		default:
			err = d.Skip()
		}
		return err
	})
	if te, ok := err.(*jsonstream.TypeError); ok {
		typeErr, err = te, nil
	}
	if err == nil {
		err = d.End()
	}
	if err == nil {
		err = typeErr
	}
	if err != nil {
		return nil, err
	}
	if prodNull {
		return nil, fmt.Errorf("no packages member")
	}
	return packages(append(prod, dev...)), nil
}

// decodePkgs decodes an array of packages; isNull is true for null. A
// value of the wrong type is recorded in *typeErr, as encoding/json
// reports the first after decoding the rest.
func decodePkgs(ctx context.Context, d *jsonstream.Decoder, typeErr *error) (list []pkg, isNull bool, err error) {
	isArray, err := d.ArrayOrNull(func() error {
		p, err := decodePkg(ctx, d, typeErr)
		list = append(list, p)
		return err
	})
	if te, ok := err.(*jsonstream.TypeError); ok {
		if *typeErr == nil {
			*typeErr = te
		}
		return nil, false, nil
	}
	if list == nil && isArray {
		list = []pkg{}
	}
	return list, !isArray, err
}

// decodePkg decodes one package, charging it to the layer's budget.
func decodePkg(ctx context.Context, d *jsonstream.Decoder, typeErr *error) (pkg, error) {
	var p pkg
	keep := func(err error) error {
		if te, ok := err.(*jsonstream.TypeError); ok {
			if *typeErr == nil {
				*typeErr = te
			}
			return nil
		}
		return err
	}
	_, err := d.ObjectOrNull(func(key string) error {
		switch {
		case strings.EqualFold(key, "name"):
			return keep(d.String(&p.Name))
		case strings.EqualFold(key, "version"):
			return keep(d.String(&p.Version))
		case strings.EqualFold(key, "license"):
			p.License = nil
			return readLicense(d, &p.License)
		}
		return d.Skip()
	})
	if err := keep(err); err != nil {
		return p, err
	}
	return p, indexer.CountPackage(ctx, vuln.Package{Name: p.Name, Version: p.Version, Licenses: p.License})
}

// readLicense reads a "license" value: a string or an array of strings
// (at most license.MaxPerPackage kept); other values are skipped.
func readLicense(d *jsonstream.Decoder, out *[]string) error {
	c, err := d.Peek()
	if err != nil {
		return err
	}
	keep := func() error {
		var s string
		err := d.String(&s)
		if _, ok := err.(*jsonstream.TypeError); ok {
			return nil
		}
		if err == nil && s != "" && len(s) <= license.MaxLen && len(*out) < license.MaxPerPackage {
			*out = append(*out, s)
		}
		return err
	}
	switch c {
	case '"':
		return keep()
	case '[':
		_, err := d.ArrayOrNull(keep)
		return err
	}
	return d.Skip()
}

// licenses returns the SPDX expression of Composer's license list: its
// licenses are alternatives ("license": ["LGPL-2.1-only",
// "GPL-3.0-or-later"] lets the user choose), so several that are SPDX
// become one expression joined by OR; otherwise each, normalised.
func licenses(list []string) []string {
	out := license.List(list...)
	if len(out) < 2 {
		return out
	}
	parts := make([]string, len(out))
	for i, l := range out {
		if _, ok := license.Expression(l); !ok {
			return out
		}
		parts[i] = "(" + l + ")"
	}
	if e, ok := license.Expression(strings.Join(parts, " OR ")); ok {
		return []string{e}
	}
	return out
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
		out = append(out, vuln.Package{Name: name, Version: v, Kind: vuln.KindComposer, Licenses: licenses(p.License)})
	}
	return out
}
