package npm

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/vuln"
)

// ParseYarnLock returns the packages a yarn.lock resolves, in either of
// its formats: Yarn 1's own format, or the YAML of Yarn 2+ ("Berry",
// recognised by its __metadata entry). yarn.lock does not say which
// packages are development dependencies; all are reported. Each entry is
// charged to the layer's budget (indexer.CountPackage) as it is read.
// Yarn 1's format is read line by line; a Berry lock file of up to 256
// KiB is parsed as one YAML document, a larger one entry by entry (see
// yamlChunks), and must say it is one (__metadata) in its first 256 KiB.
func ParseYarnLock(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	head, rest, err := readHead(r, maxYAMLDocument)
	if err != nil {
		return nil, fmt.Errorf("yarn.lock: %w", err)
	}
	head = stripBOM(head)
	if berry(head) {
		if rest == nil {
			return parseBerry(ctx, head)
		}
		return parseBerryChunks(ctx, io.MultiReader(bytes.NewReader(head), rest))
	}
	if rest == nil {
		rest = eof{}
	}
	return parseYarnV1(ctx, io.MultiReader(bytes.NewReader(head), rest))
}

type eof struct{}

func (eof) Read([]byte) (int, error) { return 0, io.EOF }

func berry(b []byte) bool {
	return bytes.HasPrefix(b, []byte("__metadata:")) || bytes.Contains(b, []byte("\n__metadata:"))
}

// maxYarnLine bounds one line of a Yarn 1 lock file.
const maxYarnLine = 1 << 20

// parseYarnV1 reads Yarn 1's format: entries of a line of comma-separated
// quoted or bare "name@range" patterns ending in ":", then indented
// "key value" lines of which only version matters. There is no Go
// library for it (it is neither YAML nor JSON), hence this small reader.
// A line starting with "__metadata:" (a Berry lock file whose marker
// came too late to be seen) is an error.
func parseYarnV1(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	var s set
	var name, version string
	var entries int
	var marker bool
	flush := func() error {
		if name != "" && version != "" {
			if err := indexer.CountPackage(ctx, vuln.Package{Name: name, Version: version}); err != nil {
				return err
			}
			s.add(name, version)
		}
		name, version = "", ""
		return nil
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(nil, maxYarnLine)
	for line := 1; sc.Scan(); line++ {
		raw := sc.Text()
		if !marker && strings.Contains(raw, "yarn lockfile v1") {
			marker = true
		}
		if strings.HasPrefix(raw, "__metadata:") {
			return nil, fmt.Errorf("yarn.lock line %d: a Yarn 2+ lock file larger than %d bytes that does not say so at its start", line, maxYAMLDocument)
		}
		text := strings.TrimRight(raw, " \t\r")
		if text == "" || strings.HasPrefix(strings.TrimSpace(text), "#") {
			continue
		}
		if text[0] != ' ' && text[0] != '\t' {
			if err := flush(); err != nil {
				return nil, err
			}
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
	if err := flush(); err != nil {
		return nil, err
	}
	if entries == 0 && !marker {
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
func parseBerry(ctx context.Context, b []byte) ([]vuln.Package, error) {
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
		if err := addBerry(ctx, &s, e); err != nil {
			return nil, err
		}
	}
	return s.sorted(), nil
}

// parseBerryChunks is parseBerry for a large lock file, read entry by
// entry.
func parseBerryChunks(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	var s set
	seen := map[string]bool{}
	err := yamlChunks(r, func(string) bool { return false }, func(_ string, chunk []byte) error {
		var m map[string]yaml.Node
		if err := yaml.Unmarshal(chunk, &m); err != nil {
			return err
		}
		for key, node := range m {
			if seen[key] {
				return fmt.Errorf("mapping key %q already defined", key)
			}
			seen[key] = true
			if key == "__metadata" {
				continue
			}
			var e berryEntry
			if err := node.Decode(&e); err != nil {
				return fmt.Errorf("entry %q: %w", key, err)
			}
			if err := addBerry(ctx, &s, e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("yarn.lock: %w", err)
	}
	return s.sorted(), nil
}

// addBerry adds the package of an entry resolved from the npm registry.
func addBerry(ctx context.Context, s *set, e berryEntry) error {
	if err := indexer.CountPackage(ctx, vuln.Package{Name: e.Resolution, Version: e.Version}); err != nil {
		return err
	}
	name, rest := splitAt(e.Resolution)
	v, ok := strings.CutPrefix(rest, "npm:")
	if !ok {
		return nil
	}
	v, _, _ = strings.Cut(v, "::") // "1.0.0::__archiveUrl=…" from other registries
	if registryVersion(v) {
		s.add(name, v)
	}
	return nil
}
