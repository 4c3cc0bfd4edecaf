package npm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/vuln"
)

// ParseYarnLock returns the packages a yarn.lock resolves, in either of
// its formats: Yarn 1's own format, or the YAML of Yarn 2+ ("Berry",
// recognised by its __metadata entry). yarn.lock does not say which
// packages are development dependencies; all are reported.
func ParseYarnLock(b []byte) ([]vuln.Package, error) {
	b = stripBOM(b)
	if berry(b) {
		return parseBerry(b)
	}
	return parseYarnV1(b)
}

func berry(b []byte) bool {
	return bytes.HasPrefix(b, []byte("__metadata:")) || bytes.Contains(b, []byte("\n__metadata:"))
}

// maxYarnLine bounds one line of a Yarn 1 lock file.
const maxYarnLine = 1 << 20

// parseYarnV1 reads Yarn 1's format: entries of a line of comma-separated
// quoted or bare "name@range" patterns ending in ":", then indented
// "key value" lines of which only version matters. There is no Go
// library for it (it is neither YAML nor JSON), hence this small reader.
func parseYarnV1(b []byte) ([]vuln.Package, error) {
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
	sc.Buffer(nil, maxYarnLine)
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

// yarnPatternName returns the package an entry's patterns resolve to
// ("lodash@^4.17.0, lodash@^4.17.21" → "lodash"; "alias@npm:real@^1" →
// "real"), or "" for packages from the local file system, which no
// advisory is about.
func yarnPatternName(patterns string) string {
	first, _, _ := strings.Cut(patterns, ",")
	name, rng := splitAt(unquote(strings.TrimSpace(first)))
	if real, ok := strings.CutPrefix(rng, "npm:"); ok {
		if n, _ := splitAt(real); n != "" && strings.Contains(real[1:], "@") {
			return n
		}
		return name
	}
	for _, local := range []string{"file:", "link:", "portal:", "workspace:"} {
		if strings.HasPrefix(rng, local) {
			return ""
		}
	}
	return name
}

// splitAt splits "name@rest" at the "@" that ends the name, allowing for
// a scope ("@babel/core@^7" → "@babel/core", "^7").
func splitAt(s string) (name, rest string) {
	if len(s) < 2 {
		return s, ""
	}
	i := strings.Index(s[1:], "@")
	if i < 0 {
		return s, ""
	}
	return s[:i+1], s[i+2:]
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// berryEntry is an entry of a Yarn 2+ lock file.
type berryEntry struct {
	Version    string `yaml:"version"`
	Resolution string `yaml:"resolution"`
}

// parseBerry reads a Yarn 2+ lock file: YAML whose entries carry a
// resolution "name@npm:1.2.3". Packages resolved by other protocols
// (workspace:, patch:, link:, portal:, file:, git) are not reported: a
// patch: entry repeats a package that is also listed unpatched, the others
// are local or not from the registry.
func parseBerry(b []byte) ([]vuln.Package, error) {
	var m map[string]yaml.Node
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("yarn.lock: %w", err)
	}
	var s set
	for key, node := range m {
		if key == "__metadata" {
			continue
		}
		var e berryEntry
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
