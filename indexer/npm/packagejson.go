package npm

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/lapps/lapps/vuln"
)

// ParsePackageJSON returns the package a package.json describes, or nil
// when it names none a vulnerability database could know: no name or no
// version (as strings), or "private": true (never published, so no
// advisory can be about it). Only malformed JSON is an error.
func ParsePackageJSON(b []byte) (*vuln.Package, error) {
	// Fields are decoded one by one so that a field of an unexpected type
	// (a "version" object, a "private" string) does not fail the file.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(stripBOM(b), &m); err != nil {
		return nil, fmt.Errorf("package.json: %w", err)
	}
	var private bool
	_ = json.Unmarshal(m["private"], &private)
	if private {
		return nil, nil
	}
	var name, version string
	if json.Unmarshal(m["name"], &name) != nil || json.Unmarshal(m["version"], &version) != nil {
		return nil, nil
	}
	name, version = strings.TrimSpace(name), strings.TrimSpace(version)
	if name == "" || version == "" {
		return nil, nil
	}
	return &vuln.Package{Name: name, Version: version, Kind: vuln.KindNPM}, nil
}
