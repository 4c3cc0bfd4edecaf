package npm

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/indexer"
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
// development dependencies where the lock file tells them apart. A lock
// file of up to 256 KiB is parsed as one YAML document; a larger one
// entry by entry (see yamlChunks), each entry charged to the layer's
// budget (indexer.CountPackage) as it is read: packages, snapshots and
// their dependencies, importers' dependencies.
func ParsePnpmLock(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	head, rest, err := readHead(r, maxYAMLDocument)
	if err != nil {
		return nil, fmt.Errorf("pnpm-lock: %w", err)
	}
	var lock pnpmLock
	if rest == nil {
		if err := yaml.Unmarshal(stripBOM(head), &lock); err != nil {
			return nil, fmt.Errorf("pnpm-lock: %w", err)
		}
		if err := lock.count(ctx); err != nil {
			return nil, err
		}
	} else if err := lock.decodeChunks(ctx, io.MultiReader(bytes.NewReader(stripBOM(head)), rest)); err != nil {
		return nil, fmt.Errorf("pnpm-lock: %w", err)
	}
	return lock.installed()
}

// readHead reads r up to max bytes. When r holds no more, it returns
// them and a nil rest; otherwise what it read and the rest of r.
func readHead(r io.Reader, max int) (head []byte, rest io.Reader, err error) {
	head, err = io.ReadAll(io.LimitReader(r, int64(max)+1))
	if err != nil {
		return nil, nil, err
	}
	if len(head) <= max {
		return head, nil, nil
	}
	return head, r, nil
}

// count charges what a lock file decoded whole holds.
func (l *pnpmLock) count(ctx context.Context) error {
	for key, p := range l.Packages {
		if err := indexer.CountPackage(ctx, vuln.Package{Name: key, Version: p.Version, SourceName: p.Name}); err != nil {
			return err
		}
	}
	for key, s := range l.Snapshots {
		if err := countSnapshot(ctx, key, s); err != nil {
			return err
		}
	}
	for key, imp := range l.Importers {
		if err := countImporter(ctx, key, imp); err != nil {
			return err
		}
	}
	return nil
}

func countSnapshot(ctx context.Context, key string, s pnpmSnapshot) error {
	if err := indexer.CountPackage(ctx, vuln.Package{Name: key}); err != nil {
		return err
	}
	for _, deps := range []map[string]string{s.Dependencies, s.OptionalDependencies} {
		for name, v := range deps {
			if err := indexer.CountPackage(ctx, vuln.Package{Name: name, Version: v}); err != nil {
				return err
			}
		}
	}
	return nil
}

func countImporter(ctx context.Context, key string, imp pnpmImporter) error {
	if err := indexer.CountPackage(ctx, vuln.Package{Name: key}); err != nil {
		return err
	}
	for _, deps := range []map[string]pnpmImporterDep{imp.Dependencies, imp.OptionalDependencies} {
		for name, d := range deps {
			if err := indexer.CountPackage(ctx, vuln.Package{Name: name, Version: d.Version}); err != nil {
				return err
			}
		}
	}
	return nil
}

// pnpmSections are the top-level keys whose entries are read one by
// one.
func pnpmSections(key string) bool {
	return key == "importers" || key == "packages" || key == "snapshots"
}

// decodeChunks decodes a large lock file entry by entry, as yaml.v3
// would decode the whole document: a repeated key is an error, as is an
// entry of the wrong type.
func (l *pnpmLock) decodeChunks(ctx context.Context, r io.Reader) error {
	top := map[string]bool{}
	seen := map[string]map[string]bool{}
	return yamlChunks(r, pnpmSections, func(section string, chunk []byte) error {
		if section == "" {
			var m map[string]yaml.Node
			if err := yaml.Unmarshal(chunk, &m); err != nil {
				return err
			}
			for key, node := range m {
				if top[key] {
					return fmt.Errorf("mapping key %q already defined", key)
				}
				top[key] = true
				var err error
				switch key {
				case "lockfileVersion":
					err = node.Decode(&l.LockfileVersion)
				case "importers":
					err = node.Decode(&l.Importers)
					for k, imp := range l.Importers {
						if err == nil {
							err = countImporter(ctx, k, imp)
						}
					}
				case "packages":
					err = node.Decode(&l.Packages)
					for k, p := range l.Packages {
						if err == nil {
							err = indexer.CountPackage(ctx, vuln.Package{Name: k, Version: p.Version, SourceName: p.Name})
						}
					}
				case "snapshots":
					err = node.Decode(&l.Snapshots)
					for k, s := range l.Snapshots {
						if err == nil {
							err = countSnapshot(ctx, k, s)
						}
					}
				}
				if err != nil {
					return err
				}
			}
			return nil
		}
		if seen[section] == nil {
			seen[section] = map[string]bool{}
		}
		dup := func(key string) error {
			if seen[section][key] {
				return fmt.Errorf("%s: mapping key %q already defined", section, key)
			}
			seen[section][key] = true
			return nil
		}
		switch section {
		case "importers":
			var m map[string]pnpmImporter
			if err := yaml.Unmarshal(chunk, &m); err != nil {
				return err
			}
			if l.Importers == nil {
				l.Importers = map[string]pnpmImporter{}
			}
			for k, v := range m {
				if err := dup(k); err != nil {
					return err
				}
				if err := countImporter(ctx, k, v); err != nil {
					return err
				}
				l.Importers[k] = v
			}
		case "packages":
			var m map[string]pnpmPackage
			if err := yaml.Unmarshal(chunk, &m); err != nil {
				return err
			}
			if l.Packages == nil {
				l.Packages = map[string]pnpmPackage{}
			}
			for k, v := range m {
				if err := dup(k); err != nil {
					return err
				}
				if err := indexer.CountPackage(ctx, vuln.Package{Name: k, Version: v.Version, SourceName: v.Name}); err != nil {
					return err
				}
				l.Packages[k] = v
			}
		case "snapshots":
			var m map[string]pnpmSnapshot
			if err := yaml.Unmarshal(chunk, &m); err != nil {
				return err
			}
			if l.Snapshots == nil {
				l.Snapshots = map[string]pnpmSnapshot{}
			}
			for k, v := range m {
				if err := dup(k); err != nil {
					return err
				}
				if err := countSnapshot(ctx, k, v); err != nil {
					return err
				}
				l.Snapshots[k] = v
			}
		}
		return nil
	})
}

// installed returns the packages the lock file installs.
func (l *pnpmLock) installed() ([]vuln.Package, error) {
	major, err := pnpmMajor(l.LockfileVersion)
	if err != nil {
		return nil, err
	}
	var prod map[string]bool
	if major >= 9 {
		prod = l.reachable()
	}
	var s set
	for key, p := range l.Packages {
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
