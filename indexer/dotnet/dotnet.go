// Package dotnet finds the NuGet packages of .NET applications: the
// libraries of type "package" that an application's NAME.deps.json (the
// dependency manifest the .NET SDK writes next to the application) lists.
package dotnet

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/jsonstream"
	"github.com/lapps/lapps/vuln"
)

// CatalogerName is the name under which the cataloger's entries are
// recorded.
const CatalogerName = "dotnet"

// Cataloger reads .deps.json files.
type Cataloger struct{}

var _ indexer.Cataloger = Cataloger{}

// New returns the .NET cataloger.
func New() Cataloger { return Cataloger{} }

// Name implements indexer.Cataloger.
func (Cataloger) Name() string { return CatalogerName }

// Wants implements indexer.Cataloger: files named *.deps.json.
func (Cataloger) Wants(p string) bool {
	base := p[strings.LastIndex(p, "/")+1:]
	return strings.HasSuffix(base, ".deps.json") && len(base) > len(".deps.json")
}

// Parse implements indexer.Cataloger.
func (Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	pkgs, err := ParseDepsJSON(ctx, r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	return indexer.Result{Packages: pkgs}, nil
}

// ParseDepsJSON reads a dependency manifest: every entry of "libraries"
// whose type is "package" ("Newtonsoft.Json/13.0.1") is a NuGet package.
// Projects (the application and its project references) and references
// are not packages of a feed and are skipped. Names keep their case
// (NuGet ids are case-insensitive; advisories use the gallery's casing);
// packages are sorted by name and version. The file is read token by
// token (the "targets" beside "libraries" are most of it, and skipped),
// each library charged to the layer's budget (indexer.CountPackage) as it
// is decoded, with the semantics of encoding/json decoding into
// {libraries *map[string]{type string}}.
func ParseDepsJSON(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	d := jsonstream.NewDecoder(r)
	var typeErr error
	keep := func(err error) error {
		if te, ok := err.(*jsonstream.TypeError); ok {
			if typeErr == nil {
				typeErr = te
			}
			return nil
		}
		return err
	}
	var libs map[string]string // key → type
	_, err := d.ObjectOrNull(func(key string) error {
		if !strings.EqualFold(key, "libraries") {
			return d.Skip()
		}
		m := libs
		if m == nil {
			m = map[string]string{}
		}
		isMap, err := d.ObjectOrNull(func(lib string) error {
			var typ string
			_, err := d.ObjectOrNull(func(k string) error {
				if strings.EqualFold(k, "type") {
					return keep(d.String(&typ))
				}
				return d.Skip()
			})
			if err := keep(err); err != nil {
				return err
			}
			m[lib] = typ
			return indexer.CountPackage(ctx, vuln.Package{Name: lib, Version: typ})
		})
		if err := keep(err); err != nil {
			return err
		}
		switch {
		case isMap:
			libs = m
		case err == nil:
			libs = nil // null
		}
		return nil
	})
	if err := keep(err); err != nil {
		return nil, err
	}
	if err := d.End(); err != nil {
		return nil, err
	}
	if typeErr != nil {
		return nil, typeErr
	}
	if libs == nil {
		return nil, fmt.Errorf("no libraries member")
	}
	var out []vuln.Package
	for key, typ := range libs {
		if !strings.EqualFold(typ, "package") {
			continue
		}
		name, version, ok := strings.Cut(key, "/")
		name, version = strings.TrimSpace(name), strings.TrimSpace(version)
		if !ok || name == "" || version == "" || strings.Contains(version, "/") {
			continue
		}
		out = append(out, vuln.Package{Name: name, Version: version, Kind: vuln.KindNuGet})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].Version < out[j].Version
	})
	return out, nil
}
