package npm

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/jsonstream"
	"github.com/lapps/lapps/vuln"
)

// The parts of package-lock.json (and npm-shrinkwrap.json) that say what
// is installed. Version 1 (npm 5, 6) nests "dependencies"; version 3
// (npm 9+) has only the flat "packages" keyed by install path; version 2
// has both, and "packages" is the precise one.
type lockPackage struct {
	name, version string
	dev, link     bool
}

type lockV1Entry struct {
	version      string
	dev          bool
	dependencies map[string]*lockV1Entry
}

// ParsePackageLock returns the packages a package-lock.json installs,
// without development dependencies ("dev": true, which a production
// install leaves out), workspace packages and links. Packages are named
// by what they are, not by an alias they are installed under.
//
// The file is read token by token, each entry charged to the layer's
// budget (indexer.CountPackage) as it is decoded, with the semantics of
// encoding/json decoding into {lockfileVersion int, packages
// map[string]{name, version string; dev, link bool}, dependencies
// map[string]{version string; dev bool; dependencies …}}: keys matched
// without regard to case, a repeated key's entry replacing the earlier
// one, a repeated map merging into the earlier one, null leaving a field
// unset (or a map nil), a field of the wrong type an error.
func ParsePackageLock(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	pkgs, deps, version, err := decodePackageLock(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("package-lock: %w", err)
	}
	var s set
	if pkgs != nil {
		for key, p := range pkgs {
			i := strings.LastIndex(key, "node_modules/")
			if i < 0 || p.dev || p.link {
				continue // the root project, a workspace's sources, a link to one
			}
			name := key[i+len("node_modules/"):]
			if p.name != "" {
				name = p.name // installed under an alias
			}
			s.add(name, p.version)
		}
		return s.sorted(), nil
	}
	if deps == nil && version == 0 {
		return nil, fmt.Errorf("package-lock: neither packages nor dependencies: not a lock file")
	}
	var walk func(map[string]*lockV1Entry)
	walk = func(deps map[string]*lockV1Entry) {
		for name, d := range deps {
			if d.dev {
				continue
			}
			version := d.version
			if real, ok := strings.CutPrefix(version, "npm:"); ok {
				// "alias": {"version": "npm:real-name@1.2.3"}
				if at := strings.LastIndex(real, "@"); at > 0 {
					name, version = real[:at], real[at+1:]
				}
			}
			if registryVersion(version) {
				s.add(name, version)
			}
			walk(d.dependencies)
		}
	}
	walk(deps)
	return s.sorted(), nil
}

// decodePackageLock decodes what ParsePackageLock needs.
func decodePackageLock(ctx context.Context, r io.Reader) (pkgs map[string]lockPackage, deps map[string]*lockV1Entry, version int, err error) {
	d := jsonstream.NewDecoder(jsonstream.SkipBOM(r))
	var typeErr error // encoding/json reports the first, after decoding the rest
	keep := func(err error) error {
		if te, ok := err.(*jsonstream.TypeError); ok {
			if typeErr == nil {
				typeErr = te
			}
			return nil
		}
		return err
	}
	_, err = d.ObjectOrNull(func(key string) error {
		switch {
		case strings.EqualFold(key, "lockfileVersion"):
			return keep(d.Int(&version))
		case strings.EqualFold(key, "packages"):
			if pkgs == nil {
				pkgs = map[string]lockPackage{}
			}
			isMap, err := d.ObjectOrNull(func(path string) error {
				var p lockPackage
				_, err := d.ObjectOrNull(func(k string) error {
					switch {
					case strings.EqualFold(k, "name"):
						return keep(d.String(&p.name))
					case strings.EqualFold(k, "version"):
						return keep(d.String(&p.version))
					case strings.EqualFold(k, "dev"):
						return keep(d.Bool(&p.dev))
					case strings.EqualFold(k, "link"):
						return keep(d.Bool(&p.link))
					}
					return d.Skip()
				})
				if err := keep(err); err != nil {
					return err
				}
				if err := indexer.CountPackage(ctx, vuln.Package{Name: path, Version: p.version, SourceName: p.name}); err != nil {
					return err
				}
				pkgs[path] = p
				return nil
			})
			if err := keep(err); err != nil {
				return err
			}
			if !isMap && err == nil {
				pkgs = nil // null
			}
			return nil
		case strings.EqualFold(key, "dependencies"):
			var err error
			deps, err = decodeV1Deps(ctx, d, deps, keep)
			return err
		}
		return d.Skip()
	})
	if err := keep(err); err != nil {
		return nil, nil, 0, err
	}
	if err := d.End(); err != nil {
		return nil, nil, 0, err
	}
	if typeErr != nil {
		return nil, nil, 0, typeErr
	}
	return pkgs, deps, version, nil
}

// decodeV1Deps decodes a "dependencies" object of lock file version 1
// into m (merging, as encoding/json does into an existing map), or sets
// it to nil for null.
func decodeV1Deps(ctx context.Context, d *jsonstream.Decoder, m map[string]*lockV1Entry, keep func(error) error) (map[string]*lockV1Entry, error) {
	if m == nil {
		m = map[string]*lockV1Entry{}
	}
	isMap, err := d.ObjectOrNull(func(name string) error {
		e := &lockV1Entry{}
		_, err := d.ObjectOrNull(func(k string) error {
			switch {
			case strings.EqualFold(k, "version"):
				return keep(d.String(&e.version))
			case strings.EqualFold(k, "dev"):
				return keep(d.Bool(&e.dev))
			case strings.EqualFold(k, "dependencies"):
				var err error
				e.dependencies, err = decodeV1Deps(ctx, d, e.dependencies, keep)
				return err
			}
			return d.Skip()
		})
		if err := keep(err); err != nil {
			return err
		}
		if err := indexer.CountPackage(ctx, vuln.Package{Name: name, Version: e.version}); err != nil {
			return err
		}
		m[name] = e
		return nil
	})
	if err := keep(err); err != nil {
		return nil, err
	}
	if !isMap && err == nil {
		return nil, nil
	}
	return m, nil
}
