package rust

// The parsers as they were before they were made to stream (issue 12):
// the reference the differential fuzz targets compare the streaming ones
// with.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/lapps/lapps/vuln"
)

// ParseAuditJSON reads cargo-auditable's VersionInfo document
// ({"packages": [{name, version, source, kind, dependencies, root}]}).
// Only crates compiled into the executable are reported: kind "runtime"
// (the default when absent), not "build" (build scripts and procedural
// macros run at build time only). Crates with source "local" (the
// workspace's own crates, including the root when built from a checkout)
// are not crates.io packages and are skipped.
func refParseAuditJSON(b []byte) ([]vuln.Package, error) {
	var info struct {
		Packages *[]auditPackage `json:"packages"`
	}
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, err
	}
	if info.Packages == nil {
		return nil, errors.New("no packages member")
	}
	var out []vuln.Package
	seen := map[string]bool{}
	for _, p := range *info.Packages {
		if p.Kind != "" && p.Kind != "runtime" {
			continue
		}
		if p.Source == "local" || p.Name == "" || p.Version == "" || seen[p.Name+"@"+p.Version] {
			continue
		}
		seen[p.Name+"@"+p.Version] = true
		out = append(out, vuln.Package{Name: p.Name, Version: p.Version, Kind: vuln.KindCargo})
	}
	return out, nil
}

// ParseCargoLock reads the [[package]] tables of a Cargo.lock (every
// format version: v1 to v4 differ in checksums and dependency
// references, not in packages). Packages without a source are the
// workspace's own crates (path dependencies) and are skipped; registry
// and git crates are reported. A document without a package array is an
// error.
func refParseCargoLock(b []byte) ([]vuln.Package, error) {
	var lock struct {
		Package []struct {
			Name    string `toml:"name"`
			Version string `toml:"version"`
			Source  string `toml:"source"`
		} `toml:"package"`
	}
	md, err := toml.Decode(string(b), &lock)
	if err != nil {
		return nil, err
	}
	if !md.IsDefined("package") {
		return nil, errors.New("no [[package]] tables")
	}
	var out []vuln.Package
	seen := map[string]bool{}
	for _, p := range lock.Package {
		if p.Source == "" || p.Name == "" || p.Version == "" || seen[p.Name+"@"+p.Version] {
			continue
		}
		seen[p.Name+"@"+p.Version] = true
		out = append(out, vuln.Package{Name: p.Name, Version: p.Version, Kind: vuln.KindCargo})
	}
	return out, nil
}

// FuzzAuditJSONReference checks that the streaming parser finds what the
// former one found, and fails where it failed.
func FuzzAuditJSONReference(f *testing.F) {
	for _, s := range []string{`{"packages":[{"name":"a","version":"1","source":"crates.io"},{"name":"b","version":"2","kind":"build"},null]}`,
		`{"packages":null}`, `{"Packages":[{"Name":"a","version":"1","root":"x"}]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := ParseAuditJSON(context.Background(), bytes.NewReader(b))
		want, wantErr := refParseAuditJSON(b)
		same(t, got, want, gotErr, wantErr)
	})
}

// FuzzCargoLockReference checks that the parser finds what the former
// one found, and that reading a lock file table by table, whatever its
// size, finds what decoding it whole finds whenever it succeeds.
func FuzzCargoLockReference(f *testing.F) {
	for _, s := range []string{"version = 3\n\n[[package]]\nname = \"a\"\nversion = \"1\"\nsource = \"registry+x\"\n\n[metadata]\nx = \"y\"\n",
		"package = [{name = \"a\", version = \"1\", source = \"s\"}]\n[[package]]\nname = \"b\"\n", "[metadata]\n[metadata]\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := ParseCargoLock(context.Background(), bytes.NewReader(b))
		want, wantErr := refParseCargoLock(b)
		same(t, got, want, gotErr, wantErr)
		if pkgs, err := cargoChunks(context.Background(), bytes.NewReader(b)); err == nil {
			var chunked []vuln.Package
			seen := map[string]bool{}
			for _, p := range pkgs {
				if p.Source == "" || p.Name == "" || p.Version == "" || seen[p.Name+"@"+p.Version] {
					continue
				}
				seen[p.Name+"@"+p.Version] = true
				chunked = append(chunked, vuln.Package{Name: p.Name, Version: p.Version, Kind: vuln.KindCargo})
			}
			same(t, chunked, want, nil, wantErr)
		}
	})
}

func same(t *testing.T, got, want []vuln.Package, gotErr, wantErr error) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("error %v, the reference's %v", gotErr, wantErr)
	}
	if gotErr == nil && !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
