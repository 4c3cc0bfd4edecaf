package npm

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/lapps/lapps/indexer/internal/jsonstream"
	"github.com/lapps/lapps/indexer/license"
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
	return &vuln.Package{Name: m.Name, Version: m.Version, Kind: vuln.KindNPM, Licenses: m.Licenses}, nil
}

// Manifest is what lapps reads of a package.json: its top-level name,
// version and private fields.
type Manifest struct {
	Name, Version       string
	HasName, HasVersion bool // the field is there, as a string
	Private             bool
	// Licenses are the SPDX expressions (license.Normalize) of "license"
	// (a string, or the legacy {"type": …} object) or, without it, of
	// the legacy "licenses" array (of strings or such objects).
	Licenses []string
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
		lic, legacy     []string
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
			case "license":
				lic = nil
				return readLicenses(d, &lic)
			case "licenses":
				legacy = nil
				return readLicenses(d, &legacy)
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
	m := Manifest{Private: private, HasName: nameOK, HasVersion: verOK, Licenses: lic}
	if len(lic) == 0 {
		m.Licenses = legacy
	}
	if nameOK {
		m.Name = strings.TrimSpace(name)
	}
	if verOK {
		m.Version = strings.TrimSpace(version)
	}
	return m, nil
}

// readLicenses reads a license value: a string, an object whose "type"
// names the license, or an array of those; other values are skipped.
// What it finds is normalised and added to *out (license.Add bounds it).
func readLicenses(d *jsonstream.Decoder, out *[]string) error {
	c, err := d.Peek()
	if err != nil {
		return err
	}
	switch c {
	case '"':
		var s string
		if err := d.String(&s); err != nil {
			return err
		}
		*out = license.Add(*out, license.Normalize(s))
		return nil
	case '{':
		_, err := d.ObjectOrNull(func(key string) error {
			if key != "type" {
				return d.Skip()
			}
			var s string
			if err := d.String(&s); err != nil {
				if _, ok := err.(*jsonstream.TypeError); ok {
					return nil
				}
				return err
			}
			*out = license.Add(*out, license.Normalize(s))
			return nil
		})
		return err
	case '[':
		_, err := d.ArrayOrNull(func() error {
			c, err := d.Peek()
			if err != nil {
				return err
			}
			if c == '[' {
				return d.Skip() // no nesting beyond one array
			}
			return readLicenses(d, out)
		})
		return err
	}
	return d.Skip()
}
