package npm

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/lapps/lapps/indexer/internal/jsonstream"
	"github.com/lapps/lapps/vuln"
)

// ParsePackageJSON returns the package a package.json describes, or nil
// when it names none a vulnerability database could know: no name or no
// version (as strings), or "private": true (never published, so no
// advisory can be about it). Only malformed JSON is an error. The file is
// read token by token (a package.json can carry a readme of any size):
// only the top-level name, version and private are kept, the last of
// each when a key repeats, as encoding/json would decode them.
func ParsePackageJSON(r io.Reader) (*vuln.Package, error) {
	m, err := ReadManifest(r)
	if err != nil {
		return nil, err
	}
	if m.Private || !m.HasName || !m.HasVersion || m.Name == "" || m.Version == "" {
		return nil, nil
	}
	return &vuln.Package{Name: m.Name, Version: m.Version, Kind: vuln.KindNPM}, nil
}

// Manifest is what lapps reads of a package.json: its top-level name,
// version and private fields.
type Manifest struct {
	Name, Version       string
	HasName, HasVersion bool // the field is there, as a string
	Private             bool
}

// ReadManifest reads the top-level name, version and private fields of a
// package.json, as ParsePackageJSON does (the last of each when a key
// repeats; a field of another type is absent), with name and version
// trimmed. Only malformed JSON is an error.
func ReadManifest(r io.Reader) (Manifest, error) {
	d := jsonstream.NewDecoder(jsonstream.SkipBOM(r))
	t, err := d.Token()
	if err != nil {
		return Manifest{}, fmt.Errorf("package.json: %w", err)
	}
	// A field of an unexpected type (a "version" object, a "private"
	// string) does not fail the file: it leaves no name, no version, or
	// not private.
	var (
		name, version   string
		nameOK, verOK   bool
		private         bool
		isObject, empty = t == json.Delim('{'), t == nil
	)
	if !isObject && !empty {
		return Manifest{}, fmt.Errorf("package.json: a JSON %v, not an object", t)
	}
	if isObject {
		err = d.Object(func(key string) error {
			var err error
			switch key {
			case "name":
				name = ""
				err = d.String(&name)
				nameOK = err == nil
			case "version":
				version = ""
				err = d.String(&version)
				verOK = err == nil
			case "private":
				private = false
				if err = d.Bool(&private); err != nil {
					private = false
				}
			default:
				return d.Skip()
			}
			if _, ok := err.(*jsonstream.TypeError); ok {
				return nil
			}
			return err
		})
		if err != nil {
			return Manifest{}, fmt.Errorf("package.json: %w", err)
		}
	}
	if err := d.End(); err != nil {
		return Manifest{}, fmt.Errorf("package.json: %w", err)
	}
	m := Manifest{Private: private, HasName: nameOK, HasVersion: verOK}
	if nameOK {
		m.Name = strings.TrimSpace(name)
	}
	if verOK {
		m.Version = strings.TrimSpace(version)
	}
	return m, nil
}
