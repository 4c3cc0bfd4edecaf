package dotnet

// The parser as it was before it was made to stream (issue 12): the
// reference FuzzDepsJSONReference compares the streaming one with.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/lapps/lapps/vuln"
)

// ParseDepsJSON reads a dependency manifest: every entry of "libraries"
// whose type is "package" ("Newtonsoft.Json/13.0.1") is a NuGet package.
// Projects (the application and its project references) and references
// are not packages of a feed and are skipped. Names keep their case
// (NuGet ids are case-insensitive; advisories use the gallery's casing);
// packages are sorted by name and version.
func refParseDepsJSON(b []byte) ([]vuln.Package, error) {
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

// FuzzDepsJSONReference checks that the streaming parser finds what the
// former one found, and fails where it failed.
func FuzzDepsJSONReference(f *testing.F) {
	for _, s := range []string{`{"libraries":{"A/1.0":{"type":"package"},"B/2":{"type":"project"}},"Libraries":{"C/3":{"Type":"Package"}}}`,
		`{"libraries":null}`, `null`, `{"libraries":{"a/1":5}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := ParseDepsJSON(context.Background(), bytes.NewReader(b))
		want, wantErr := refParseDepsJSON(b)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("error %v, the reference's %v", gotErr, wantErr)
		}
		if gotErr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}
