// Package dotnet finds the NuGet packages of .NET applications: the
// libraries of type "package" that an application's NAME.deps.json (the
// dependency manifest the .NET SDK writes next to the application) lists.
package dotnet

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/vuln"
)

// CatalogerName is the name under which the cataloger's entries are
// recorded.
const CatalogerName = "dotnet"

// maxSize bounds what is read of one file.
const maxSize = 64 << 20

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
func (Cataloger) Parse(_ context.Context, p string, r io.Reader) (indexer.Result, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxSize+1))
	if err != nil {
		return indexer.Result{}, fmt.Errorf("read %s: %w", p, err)
	}
	if len(b) > maxSize {
		return indexer.Result{}, fmt.Errorf("%s: larger than %d bytes", p, maxSize)
	}
	pkgs, err := ParseDepsJSON(b)
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
// packages are sorted by name and version.
func ParseDepsJSON(b []byte) ([]vuln.Package, error) {
	var deps struct {
		Libraries *map[string]struct {
			Type string `json:"type"`
		} `json:"libraries"`
	}
	if err := json.Unmarshal(b, &deps); err != nil {
		return nil, err
	}
	if deps.Libraries == nil {
		return nil, fmt.Errorf("no libraries member")
	}
	var out []vuln.Package
	for key, lib := range *deps.Libraries {
		if !strings.EqualFold(lib.Type, "package") {
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
