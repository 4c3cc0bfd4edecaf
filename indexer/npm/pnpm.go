package npm

import (
	"fmt"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/vuln"
)

// pnpmLock is the part of pnpm-lock.yaml that says what is installed.
// Packages are keyed "/name/1.2.3_peers" (lockfile 5.x),
// "/name@1.2.3(peers)" (6.x) or "name@1.2.3" (9.x). Up to 6.x a package
// says whether it is a development dependency; 9.x moved the dependency
// graph to snapshots, walked from the importers.
type pnpmLock struct {
	LockfileVersion any                     `yaml:"lockfileVersion"`
	Importers       map[string]pnpmImporter `yaml:"importers"`
	Packages        map[string]pnpmPackage  `yaml:"packages"`
	Snapshots       map[string]pnpmSnapshot `yaml:"snapshots"`
}

type pnpmImporter struct {
	Dependencies         map[string]pnpmImporterDep `yaml:"dependencies"`
	OptionalDependencies map[string]pnpmImporterDep `yaml:"optionalDependencies"`
}

// pnpmImporterDep is {specifier, version} from lockfile 6.0 on, a bare
// version string before.
type pnpmImporterDep struct {
	Version string `yaml:"version"`
}

// UnmarshalYAML implements yaml.Unmarshaler, accepting both forms.
func (d *pnpmImporterDep) UnmarshalYAML(n *yaml.Node) error {
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

type pnpmPackage struct {
	Name    string `yaml:"name"`
	Version string `yaml:"version"`
	Dev     bool   `yaml:"dev"`
}

type pnpmSnapshot struct {
	Dependencies         map[string]string `yaml:"dependencies"`
	OptionalDependencies map[string]string `yaml:"optionalDependencies"`
}

// ParsePnpmLock returns the packages a pnpm-lock.yaml installs, without
// development dependencies where the lock file tells them apart.
func ParsePnpmLock(b []byte) ([]vuln.Package, error) {
	var lock pnpmLock
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

// pnpmMajor returns the major lockfileVersion: 5.4 (a YAML number) or
// '6.0', '9.0' (strings).
func pnpmMajor(v any) (int, error) {
	var s string
	switch v := v.(type) {
	case string:
		s = v
	case float64:
		s = strconv.FormatFloat(v, 'f', -1, 64)
	case int:
		s = strconv.Itoa(v)
	default:
		return 0, fmt.Errorf("pnpm-lock: lockfileVersion %v: not a pnpm lock file", v)
	}
	major, _, _ := strings.Cut(s, ".")
	n, err := strconv.Atoi(major)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("pnpm-lock: lockfileVersion %q: %w", s, err)
	}
	return n, nil
}

// pnpmKey splits a package key into name and version, dropping the peer
// dependency suffix.
func pnpmKey(key string, major int) (name, version string) {
	key = strings.TrimPrefix(key, "/")
	if major < 6 {
		i := strings.LastIndex(key, "/")
		if i <= 0 {
			return key, ""
		}
		name, version = key[:i], key[i+1:]
		version, _, _ = strings.Cut(version, "_")
		return name, version
	}
	key, _, _ = strings.Cut(key, "(")
	name, version = splitAt(key)
	return name, version
}

// reachable returns the "name@version" of every package reached from an
// importer's dependencies and optional dependencies through the
// snapshots of a 9.x lock file: the production install. It returns nil
// (no filtering) when the lock file has no importers or snapshots.
func (l *pnpmLock) reachable() map[string]bool {
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
