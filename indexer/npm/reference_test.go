package npm

// This file keeps the parsers as they were before they were made to
// stream (issue 12): the reference the fuzz tests compare the streaming
// parsers with. Only the function names are changed.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/vuln"
)

// refParsePackageJSON returns the package a package.json describes, or nil
// when it names none a vulnerability database could know: no name or no
// version (as strings), or "private": true (never published, so no
// advisory can be about it). Only malformed JSON is an error.
func refParsePackageJSON(b []byte) (*vuln.Package, error) {
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

// refPackageLock is the part of package-lock.json (and npm-shrinkwrap.json)
// that says what is installed. Version 1 (npm 5, 6) nests "dependencies";
// version 3 (npm 9+) has only the flat "packages" keyed by install path;
// version 2 has both, and "packages" is the precise one.
type refPackageLock struct {
	LockfileVersion int                       `json:"lockfileVersion"`
	Packages        map[string]refLockPackage `json:"packages"`
	Dependencies    map[string]refLockV1Entry `json:"dependencies"`
}

type refLockPackage struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Dev     bool   `json:"dev"`
	Link    bool   `json:"link"`
}

type refLockV1Entry struct {
	Version      string                    `json:"version"`
	Dev          bool                      `json:"dev"`
	Dependencies map[string]refLockV1Entry `json:"dependencies"`
}

// refParsePackageLock returns the packages a package-lock.json installs,
// without development dependencies ("dev": true, which a production
// install leaves out), workspace packages and links. Packages are named
// by what they are, not by an alias they are installed under.
func refParsePackageLock(b []byte) ([]vuln.Package, error) {
	var lock refPackageLock
	if err := json.Unmarshal(stripBOM(b), &lock); err != nil {
		return nil, fmt.Errorf("package-lock: %w", err)
	}
	var s set
	if lock.Packages != nil {
		for key, p := range lock.Packages {
			i := strings.LastIndex(key, "node_modules/")
			if i < 0 || p.Dev || p.Link {
				continue // the root project, a workspace's sources, a link to one
			}
			name := key[i+len("node_modules/"):]
			if p.Name != "" {
				name = p.Name // installed under an alias
			}
			s.add(name, p.Version)
		}
		return s.sorted(), nil
	}
	if lock.Dependencies == nil && lock.LockfileVersion == 0 {
		return nil, fmt.Errorf("package-lock: neither packages nor dependencies: not a lock file")
	}
	var walk func(map[string]refLockV1Entry)
	walk = func(deps map[string]refLockV1Entry) {
		for name, d := range deps {
			if d.Dev {
				continue
			}
			version := d.Version
			if real, ok := strings.CutPrefix(version, "npm:"); ok {
				// "alias": {"version": "npm:real-name@1.2.3"}
				if at := strings.LastIndex(real, "@"); at > 0 {
					name, version = real[:at], real[at+1:]
				}
			}
			if registryVersion(version) {
				s.add(name, version)
			}
			walk(d.Dependencies)
		}
	}
	walk(lock.Dependencies)
	return s.sorted(), nil
}

// refParseYarnLock returns the packages a yarn.lock resolves, in either of
// its formats: Yarn 1's own format, or the YAML of Yarn 2+ ("Berry",
// recognised by its __metadata entry). yarn.lock does not say which
// packages are development dependencies; all are reported.
func refParseYarnLock(b []byte) ([]vuln.Package, error) {
	b = stripBOM(b)
	if refBerry(b) {
		return refParseBerry(b)
	}
	return refParseYarnV1(b)
}

func refBerry(b []byte) bool {
	return bytes.HasPrefix(b, []byte("__metadata:")) || bytes.Contains(b, []byte("\n__metadata:"))
}

// refBerryEntry is an entry of a Yarn 2+ lock file.
type refBerryEntry struct {
	Version    string `yaml:"version"`
	Resolution string `yaml:"resolution"`
}

// refParseBerry reads a Yarn 2+ lock file: YAML whose entries carry a
// resolution "name@npm:1.2.3". Packages resolved by other protocols
// (workspace:, patch:, link:, portal:, file:, git) are not reported: a
// patch: entry repeats a package that is also listed unpatched, the others
// are local or not from the registry.
func refParseBerry(b []byte) ([]vuln.Package, error) {
	var m map[string]yaml.Node
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("yarn.lock: %w", err)
	}
	var s set
	for key, node := range m {
		if key == "__metadata" {
			continue
		}
		var e refBerryEntry
		if err := node.Decode(&e); err != nil {
			return nil, fmt.Errorf("yarn.lock: entry %q: %w", key, err)
		}
		name, rest := splitAt(e.Resolution)
		v, ok := strings.CutPrefix(rest, "npm:")
		if !ok {
			continue
		}
		v, _, _ = strings.Cut(v, "::") // "1.0.0::__archiveUrl=…" from other registries
		if registryVersion(v) {
			s.add(name, v)
		}
	}
	return s.sorted(), nil
}

// refPnpmLock is the part of pnpm-lock.yaml that says what is installed.
// Packages are keyed "/name/1.2.3_peers" (lockfile 5.x),
// "/name@1.2.3(peers)" (6.x) or "name@1.2.3" (9.x). Up to 6.x a package
// says whether it is a development dependency; 9.x moved the dependency
// graph to snapshots, walked from the importers.
type refPnpmLock struct {
	LockfileVersion any                        `yaml:"lockfileVersion"`
	Importers       map[string]refPnpmImporter `yaml:"importers"`
	Packages        map[string]refPnpmPackage  `yaml:"packages"`
	Snapshots       map[string]refPnpmSnapshot `yaml:"snapshots"`
}

type refPnpmImporter struct {
	Dependencies         map[string]refPnpmImporterDep `yaml:"dependencies"`
	OptionalDependencies map[string]refPnpmImporterDep `yaml:"optionalDependencies"`
}

// refPnpmImporterDep is {specifier, version} from lockfile 6.0 on, a bare
// version string before.
type refPnpmImporterDep struct {
	Version string `yaml:"version"`
}

// UnmarshalYAML implements yaml.Unmarshaler, accepting both forms.
func (d *refPnpmImporterDep) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		d.Version = n.Value
		return nil
	}
	var v struct {
		Version string `yaml:"version"`
	}
	if err := n.Decode(&v); err != nil {
		return err
	}
	d.Version = v.Version
	return nil
}

type refPnpmPackage struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	Dev     bool   `yaml:"dev"`
}

type refPnpmSnapshot struct {
	Dependencies         map[string]string `yaml:"dependencies"`
	OptionalDependencies map[string]string `yaml:"optionalDependencies"`
}

// refParsePnpmLock returns the packages a pnpm-lock.yaml installs, without
// development dependencies where the lock file tells them apart.
func refParsePnpmLock(b []byte) ([]vuln.Package, error) {
	var lock refPnpmLock
	if err := yaml.Unmarshal(stripBOM(b), &lock); err != nil {
		return nil, fmt.Errorf("pnpm-lock: %w", err)
	}
	major, err := pnpmMajor(lock.LockfileVersion)
	if err != nil {
		return nil, err
	}
	var prod map[string]bool
	if major >= 9 {
		prod = lock.reachable()
	}
	var s set
	for key, p := range lock.Packages {
		if p.Dev {
			continue
		}
		name, version := pnpmKey(key, major)
		if prod != nil && !prod[name+"@"+version] {
			continue
		}
		if p.Name != "" && p.Version != "" {
			// A tarball or git dependency: the key is its URL.
			name, version = p.Name, p.Version
		} else if !registryVersion(version) {
			continue
		}
		s.add(name, version)
	}
	return s.sorted(), nil
}

// reachable returns the "name@version" of every package reached from an
// importer's dependencies and optional dependencies through the
// snapshots of a 9.x lock file: the production install. It returns nil
// (no filtering) when the lock file has no importers or snapshots.
func (l *refPnpmLock) reachable() map[string]bool {
	if len(l.Importers) == 0 || len(l.Snapshots) == 0 {
		return nil
	}
	seen := map[string]bool{} // snapshot keys, with peer suffixes
	out := map[string]bool{}
	var stack []string
	push := func(name, version string) {
		var key string
		switch {
		case version == "":
			return
		case version[0] >= '0' && version[0] <= '9':
			key = name + "@" + version
		case strings.Contains(version[1:], "@") && !strings.Contains(version, ":"):
			key = version // an alias: "real-name@1.2.3"
		default:
			return // link:, file:, workspace packages
		}
		if !seen[key] {
			seen[key] = true
			stack = append(stack, key)
		}
	}
	for _, imp := range l.Importers {
		for name, d := range imp.Dependencies {
			push(name, d.Version)
		}
		for name, d := range imp.OptionalDependencies {
			push(name, d.Version)
		}
	}
	for len(stack) > 0 {
		key := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		bare, _, _ := strings.Cut(key, "(")
		out[bare] = true
		snap := l.Snapshots[key]
		for name, v := range snap.Dependencies {
			push(name, v)
		}
		for name, v := range snap.OptionalDependencies {
			push(name, v)
		}
	}
	return out
}

func refParseYarnV1(b []byte) ([]vuln.Package, error) {
	var s set
	var name, version string
	var entries int
	flush := func() {
		if name != "" && version != "" {
			s.add(name, version)
		}
		name, version = "", ""
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<20)
	for line := 1; sc.Scan(); line++ {
		text := strings.TrimRight(sc.Text(), " \t\r")
		if text == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		if text[0] != ' ' && text[0] != '\t' {
			flush()
			if !strings.HasSuffix(text, ":") {
				return nil, fmt.Errorf("yarn.lock line %d: entry %q does not end in a colon", line, text)
			}
			entries++
			name = yarnPatternName(strings.TrimSuffix(text, ":"))
			continue
		}
		key, val, ok := strings.Cut(strings.TrimSpace(text), " ")
		if ok && key == "version" && name != "" && strings.HasPrefix(text, "  ") && !strings.HasPrefix(text, "   ") {
			version = unquote(strings.TrimSpace(val))
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("yarn.lock: %w", err)
	}
	flush()
	if entries == 0 && !bytes.Contains(b, []byte("yarn lockfile v1")) {
		return nil, errors.New("yarn.lock: no entries")
	}
	return s.sorted(), nil
}
