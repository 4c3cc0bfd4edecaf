// Package ruby finds Ruby gems: the specifications RubyGems writes for
// every installed gem (GEM_HOME/specifications/NAME-VERSION.gemspec, the
// default gems under specifications/default/, and Debian's
// rubygems-integration directories), and the gems a Bundler lock file
// (Gemfile.lock) pins.
package ruby

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"path"
	"regexp"
	"strings"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/license"
	"github.com/lapps/lapps/vuln"
)

// CatalogerName is the name under which the cataloger's entries are
// recorded.
const CatalogerName = "ruby"

// maxLine bounds one line of a gemspec or lock file: real ones are short
// but for a gemspec's description, written on one line.
const maxLine = 1 << 20

// Cataloger reads installed gem specifications and Gemfile.lock files.
type Cataloger struct{}

var _ indexer.Cataloger = Cataloger{}

// New returns the Ruby cataloger.
func New() Cataloger { return Cataloger{} }

// Name implements indexer.Cataloger.
func (Cataloger) Name() string { return CatalogerName }

// installedGemDir matches the inside of an installed gem or a Bundler git
// checkout (…/gems/rbs-2.7.0/…, …/bundler/gems/rails-abc123/…): a Gemfile.lock there is the gem's own
// development lock file and describes nothing installed.
var installedGemDir = regexp.MustCompile(`(^|/)(bundler/gems/[^/]+|gems/[^/]+-\d[^/]*)/`)

// Wants implements indexer.Cataloger: *.gemspec files directly in a
// "specifications" directory (or its "default" subdirectory), and
// Gemfile.lock files outside installed gems.
func (Cataloger) Wants(p string) bool {
	dir, base := path.Split(p)
	switch {
	case base == "Gemfile.lock":
		return !installedGemDir.MatchString(p)
	case strings.HasSuffix(base, ".gemspec") && len(base) > len(".gemspec"):
		dir = strings.TrimSuffix(dir, "/")
		dir = strings.TrimSuffix(dir, "/default")
		return path.Base(dir) == "specifications"
	}
	return false
}

// Parse implements indexer.Cataloger. Both formats are read line by
// line.
func (Cataloger) Parse(ctx context.Context, p string, r io.Reader) (indexer.Result, error) {
	if path.Base(p) == "Gemfile.lock" {
		pkgs, err := ParseGemfileLock(ctx, r)
		if err != nil {
			return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
		}
		return indexer.Result{Packages: pkgs}, nil
	}
	pkg, err := ParseGemspec(r)
	if err != nil {
		return indexer.Result{}, fmt.Errorf("parse %s: %w", p, err)
	}
	return indexer.Result{Packages: []vuln.Package{pkg}}, nil
}

// assignRE matches the assignments of a gemspec's name and version:
// `s.name = "rack".freeze`, `spec.version = Gem::Version.new("1.0")`,
// `s.name = %q{rack}`.
var assignRE = regexp.MustCompile(`^\s*[A-Za-z_]\w*\.(name|version)\s*=\s*(.*)$`)

// ParseGemspec reads the name and version of an installed gem's
// specification. RubyGems writes these files itself (Gem::Specification#to_ruby),
// in a fixed shape; they are Ruby code, which lapps does not run: the
// string literals assigned to name and version are read instead, in the
// forms RubyGems has written them over the years ("rack", "rack".freeze,
// 'rack', %q{rack}, %q<rack>, Gem::Version.new("1.0")). The first
// assignment of each wins. The licenses (s.licenses, s.license) are read
// the same way, normalised (license.Normalize).
func ParseGemspec(r io.Reader) (vuln.Package, error) {
	var (
		name, version string
		licenses      []string
		sawLicenses   bool
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		if lm := licensesRE.FindStringSubmatch(sc.Text()); lm != nil && !sawLicenses {
			// s.licenses = ["MIT".freeze, "Ruby".freeze], or s.license = "MIT".
			sawLicenses = true
			for _, q := range quotedRE.FindAllStringSubmatch(lm[1], license.MaxPerPackage) {
				licenses = license.Add(licenses, license.Normalize(q[1]+q[2]))
			}
			continue
		}
		m := assignRE.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		v, ok := rubyString(m[2])
		if !ok {
			continue
		}
		switch {
		case m[1] == "name" && name == "":
			name = v
		case m[1] == "version" && version == "":
			version = v
		}
	}
	if err := sc.Err(); err != nil {
		return vuln.Package{}, err
	}
	switch {
	case name == "":
		return vuln.Package{}, fmt.Errorf("no gem name")
	case version == "":
		return vuln.Package{}, fmt.Errorf("gem %s: no version", name)
	case !validName(name) || !validVersion(version):
		return vuln.Package{}, fmt.Errorf("gem %q version %q: not a gem name and version", name, version)
	}
	return vuln.Package{Name: name, Version: version, Kind: vuln.KindGem, Licenses: licenses}, nil
}

// licensesRE matches the assignment of a gemspec's licenses, and
// quotedRE the string literals of its value.
var (
	licensesRE = regexp.MustCompile(`^\s*[A-Za-z_]\w*\.licen[sc]es?\s*=\s*(.*)$`)
	quotedRE   = regexp.MustCompile(`"([^"]*)"|'([^']*)'`)
)

// rubyString returns the first string literal of a Ruby expression:
// "…", '…', %q{…}, %q<…>, %q(…), %q[…], %Q of the same.
func rubyString(expr string) (string, bool) {
	expr = strings.TrimSpace(expr)
	expr = strings.TrimPrefix(expr, "Gem::Version.new(")
	expr = strings.TrimSpace(expr)
	if expr == "" {
		return "", false
	}
	switch expr[0] {
	case '"', '\'':
		if i := strings.IndexByte(expr[1:], expr[0]); i >= 0 {
			return expr[1 : 1+i], true
		}
	case '%':
		if len(expr) >= 3 && (expr[1] == 'q' || expr[1] == 'Q') {
			closer, ok := map[byte]byte{'{': '}', '<': '>', '(': ')', '[': ']', '|': '|', '!': '!'}[expr[2]]
			if !ok {
				return "", false
			}
			if i := strings.IndexByte(expr[3:], closer); i >= 0 {
				return expr[3 : 3+i], true
			}
		}
	}
	return "", false
}

var (
	gemNameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	gemVersionRE = regexp.MustCompile(`^[0-9]+(\.[0-9A-Za-z]+)*(-[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*)?$`)
)

func validName(s string) bool    { return len(s) <= 256 && gemNameRE.MatchString(s) }
func validVersion(s string) bool { return len(s) <= 128 && gemVersionRE.MatchString(s) }

// ParseGemfileLock reads the gems a Bundler lock file pins: the specs of
// its GEM sections (gems from a gem server) and GIT sections (gems from a
// git repository, at the version of their gemspec). PATH sections are
// local gems, usually the application itself, and are not reported.
// A spec line is "    NAME (VERSION)" or "    NAME (VERSION-PLATFORM)"
// (four spaces; six-space lines are a spec's dependencies); the platform
// is dropped, as Bundler's own parser does (a version ends at the first
// "-"). A file without any section Bundler writes is an error. Each gem
// is charged to the layer's budget (indexer.CountPackage) as it is read.
func ParseGemfileLock(ctx context.Context, r io.Reader) ([]vuln.Package, error) {
	var (
		out     []vuln.Package
		section string
		inSpecs bool
		known   bool
		seen    = map[string]bool{}
	)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		if line[0] != ' ' {
			section = strings.TrimSpace(line)
			inSpecs = false
			switch section {
			case "GEM", "GIT", "PATH", "PLATFORMS", "DEPENDENCIES", "BUNDLED WITH", "RUBY VERSION", "PLUGIN SOURCE", "CHECKSUMS":
				known = true
			}
			continue
		}
		if section != "GEM" && section != "GIT" {
			continue
		}
		if strings.HasPrefix(line, "  ") && !strings.HasPrefix(line, "   ") {
			inSpecs = strings.TrimSpace(line) == "specs:"
			continue
		}
		if !inSpecs || !strings.HasPrefix(line, "    ") || strings.HasPrefix(line, "     ") {
			continue
		}
		name, rest, ok := strings.Cut(strings.TrimSpace(line), " (")
		if !ok || !strings.HasSuffix(rest, ")") {
			continue
		}
		version, _, _ := strings.Cut(strings.TrimSuffix(rest, ")"), "-")
		if !validName(name) || !validVersion(version) || seen[name+"@"+version] {
			continue
		}
		p := vuln.Package{Name: name, Version: version, Kind: vuln.KindGem}
		if err := indexer.CountPackage(ctx, p); err != nil {
			return nil, err
		}
		seen[name+"@"+version] = true
		out = append(out, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !known {
		return nil, fmt.Errorf("not a Bundler lock file: no GEM, GIT, PATH or DEPENDENCIES section")
	}
	return out, nil
}
