package ruby_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/hostile"
	"github.com/lapps/lapps/indexer/ruby"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// specFileRE matches, independently of the cataloger, installed gem
// specifications, capturing the name and version of the file name
// (RubyGems names them NAME-VERSION.gemspec).
var specFileRE = regexp.MustCompile(`/specifications/(?:default/)?(.+)-([0-9][^-/]*)\.gemspec$`)

// TestImage runs the cataloger through the real layer walk over the fat
// image: every gemspec under a specifications directory (Ruby's default
// and bundled gems, Debian's rubygems-integration gems such as
// ruby-rack's) must give the gem its file name promises; the Gemfile.lock
// files inside installed gems (rbs, typeprof) are their development
// lock files and must not be read.
func TestImage(t *testing.T) {
	want := map[string]string{}
	got := map[string]string{}
	ix := indexer.New([]indexer.Cataloger{ruby.New()})
	locks := 0
	for _, b := range testenv.LayerBlobs(t, "debian-bookworm-fat") {
		for name := range testenv.LayerFiles(t, b, regexp.MustCompile(`(\.gemspec|Gemfile\.lock)$`).MatchString) {
			if strings.HasSuffix(name, "Gemfile.lock") {
				locks++
				continue
			}
			if m := specFileRE.FindStringSubmatch(name); m != nil {
				want[name] = m[1] + "@" + m[2]
			}
		}
		li, err := ix.IndexLayer(context.Background(), "test", testenv.OpenLayer(t, b))
		if err != nil {
			t.Fatal(err)
		}
		if len(li.Warnings) != 0 {
			t.Errorf("warnings: %q", li.Warnings)
		}
		for _, e := range li.Entries {
			if len(e.Packages) != 1 {
				t.Errorf("%s: %d packages", e.Path, len(e.Packages))
				continue
			}
			p := e.Packages[0]
			if p.Kind != vuln.KindGem || p.DBPath != e.Path {
				t.Errorf("%s: %+v", e.Path, p)
			}
			got[e.Path] = p.Name + "@" + p.Version
		}
	}
	if len(want) < 50 || locks == 0 {
		t.Fatalf("only %d gemspecs and %d lock files in the image", len(want), locks)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: not an installed gemspec", k)
		}
	}
	// Spot checks that do not trust file names: Debian's ruby-rack
	// installs the rack gem at the package's upstream version (from the
	// image's dpkg list, whatever the Debian point release), and Ruby's
	// default and bundled gems are both found.
	rack := ""
	for _, l := range testenv.Lines(t, filepath.Join(testenv.Images(t), "debian", "debian-bookworm-fat.packages")) {
		if name, version, ok := strings.Cut(l, " "); ok && name == "ruby-rack" {
			rack, _, _ = strings.Cut(version, "-")
		}
	}
	if rack == "" {
		t.Fatal("ruby-rack is not in the fat image's package list")
	}
	rackSpec := "usr/share/rubygems-integration/all/specifications/rack-" + rack + ".gemspec"
	if got[rackSpec] != "rack@"+rack {
		t.Errorf("%s: got %q, want %q (the ruby-rack package's version)", rackSpec, got[rackSpec], "rack@"+rack)
	}
	var defaults, bundled int
	for path := range got {
		switch {
		case strings.Contains(path, "/specifications/default/"):
			defaults++
		case strings.HasPrefix(path, "usr/lib/ruby/gems/"):
			bundled++
		}
	}
	if defaults < 20 || bundled < 5 {
		t.Errorf("%d default and %d bundled gems of Ruby found, want at least 20 and 5", defaults, bundled)
	}
	if purl := vuln.PURL(vuln.Package{Name: "rack", Version: "2.2.22", Kind: vuln.KindGem}, nil); purl != "pkg:gem/rack@2.2.22" {
		t.Errorf("purl %s", purl)
	}
	t.Logf("%d gemspecs (%d default and %d bundled gems of Ruby), %d Gemfile.lock files skipped", len(got), defaults, bundled, locks)
}

// TestGemfileLockReal parses the real lock files the image ships (inside
// installed gems, where the cataloger does not read them, but real Bundler
// output all the same) and compares with a line count.
func TestGemfileLockReal(t *testing.T) {
	// The Ruby packages are in the fat image's second layer.
	blobs := testenv.LayerBlobs(t, "debian-bookworm-fat")[1:2]
	specLine := regexp.MustCompile(`(?m)^    ([^ ]+) \(([^)-]+)(?:-[^)]*)?\)$`)
	n := 0
	for _, b := range blobs {
		for name, data := range testenv.LayerFiles(t, b, regexp.MustCompile(`Gemfile\.lock$`).MatchString) {
			n++
			pkgs, err := ruby.ParseGemfileLock(context.Background(), bytes.NewReader(data))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			// The independent count: four-space spec lines of the GEM
			// sections only.
			want := map[string]bool{}
			for _, sec := range strings.Split(string(data), "\n\n") {
				if strings.HasPrefix(sec, "GEM\n") || strings.HasPrefix(sec, "GIT\n") {
					for _, m := range specLine.FindAllStringSubmatch(sec, -1) {
						want[m[1]+"@"+m[2]] = true
					}
				}
			}
			if len(pkgs) != len(want) || len(want) == 0 {
				t.Errorf("%s: %d gems, want %d", name, len(pkgs), len(want))
			}
			for _, p := range pkgs {
				if !want[p.Name+"@"+p.Version] {
					t.Errorf("%s: unexpected %s@%s", name, p.Name, p.Version)
				}
			}
		}
	}
	if n == 0 {
		t.Fatal("no Gemfile.lock in the image")
	}
}

func TestParseGemspec(t *testing.T) {
	tests := []struct{ in, want, wantErr string }{
		{"Gem::Specification.new do |s|\n  s.name = \"rack\".freeze\n  s.version = \"2.2.4\"\nend\n", "rack@2.2.4", ""},
		{"Gem::Specification.new do |s|\n  s.name = %q{rack}\n  s.version = %q<2.2.4>\nend\n", "rack@2.2.4", ""},
		{"Gem::Specification.new do |spec|\n  spec.name = 'nokogiri'\n  spec.version = Gem::Version.new(\"1.13.6\")\nend\n", "nokogiri@1.13.6", ""},
		{"s.version = \"1.0.0.pre\"\ns.name = \"x\"\ns.name = \"y\"\n", "x@1.0.0.pre", ""},
		{"s.name = \"x\"\n", "", "no version"},
		{"s.version = \"1\"\n", "", "no gem name"},
		{"s.name = NAME\ns.version = VERSION\n", "", "no gem name"},
		{"s.name = \"a b\"\ns.version = \"1\"\n", "", "not a gem name"},
		{"", "", "no gem name"},
	}
	for _, tc := range tests {
		p, err := ruby.ParseGemspec(strings.NewReader(tc.in))
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || p.Name+"@"+p.Version != tc.want || p.Kind != vuln.KindGem {
			t.Errorf("%q: %+v, %v", tc.in, p, err)
		}
	}
}

func TestParseGemfileLock(t *testing.T) {
	lock := `GIT
  remote: https://github.com/rails/rails.git
  revision: abc
  specs:
    rails (7.1.0.alpha)
      actionpack (= 7.1.0.alpha)

PATH
  remote: .
  specs:
    myapp (0.1.0)

GEM
  remote: https://rubygems.org/
  specs:
    nokogiri (1.13.6-x86_64-linux)
      racc (~> 1.4)
    racc (1.6.0)

PLATFORMS
  x86_64-linux

DEPENDENCIES
  nokogiri

BUNDLED WITH
   2.3.14
`
	pkgs, err := ruby.ParseGemfileLock(context.Background(), strings.NewReader(strings.ReplaceAll(lock, "\n", "\r\n")))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Name+"@"+p.Version)
	}
	if strings.Join(got, " ") != "rails@7.1.0.alpha nokogiri@1.13.6 racc@1.6.0" {
		t.Errorf("got %v", got)
	}
	if _, err := ruby.ParseGemfileLock(context.Background(), strings.NewReader("just text\n")); err == nil {
		t.Error("no error for a file that is not a lock file")
	}
}

func TestWants(t *testing.T) {
	for p, want := range map[string]bool{
		"usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec":            true,
		"usr/lib/ruby/gems/3.1.0/specifications/default/json-2.6.1.gemspec":     true,
		"usr/share/rubygems-integration/all/specifications/rack-2.2.22.gemspec": true,
		"app/vendor/bundle/ruby/3.1.0/specifications/rack-3.0.0.gemspec":        true,
		"app/Gemfile.lock": true,
		"Gemfile.lock":     true,
		"usr/lib/ruby/gems/3.1.0/gems/rbs-2.7.0/Gemfile.lock":                    false,
		"usr/lib/ruby/gems/3.1.0/gems/rbs-2.7.0/steep/Gemfile.lock":              false,
		"app/vendor/bundle/ruby/3.1.0/bundler/gems/rails-abc123def/Gemfile.lock": false,
		"usr/lib/ruby/gems/3.1.0/gems/rack-2.2.4/rack.gemspec":                   false,
		"usr/lib/ruby/gems/3.1.0/specifications/.gemspec":                        false,
		"usr/lib/ruby/gems/3.1.0/specifications/default/nested/x-1.gemspec":      false,
		"usr/lib/ruby/gems/3.1.0/specifications/rake-13.0.6.gemspec.bak":         false,
	} {
		if got := ruby.New().Wants(p); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
}

// realSeeds returns gemspecs and lock files of the fat image for the
// fuzz corpora, when the images are there.
func realSeeds(f *testing.F, re *regexp.Regexp) {
	dir := os.Getenv("LAPPS_TEST_IMAGES")
	if dir == "" {
		return
	}
	if _, err := os.Stat(filepath.Join(dir, "debian", "oci", "index.json")); err != nil {
		return
	}
	n := 0
	for _, b := range testenv.LayerBlobs(f, "debian-bookworm-fat") {
		for _, data := range testenv.LayerFiles(f, b, re.MatchString) {
			if n < 20 {
				f.Add(data)
				n++
			}
		}
	}
}

func FuzzGemspec(f *testing.F) {
	f.Add([]byte("s.name = \"rack\".freeze\ns.version = \"2.2.4\"\n"))
	f.Add([]byte("s.name = %q{a}\ns.version = Gem::Version.new('1')\n"))
	realSeeds(f, regexp.MustCompile(`specifications/.*\.gemspec$`))
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ruby.ParseGemspec(bytes.NewReader(b))
		if err == nil && (p.Name == "" || p.Version == "" || strings.ContainsAny(p.Name+p.Version, " \n\"'")) {
			t.Fatalf("bad package %+v", p)
		}
	})
}

func FuzzGemfileLock(f *testing.F) {
	f.Add([]byte("GEM\n  remote: https://rubygems.org/\n  specs:\n    rack (2.2.4)\n    nokogiri (1.0-java)\n"))
	realSeeds(f, regexp.MustCompile(`Gemfile\.lock$`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := ruby.ParseGemfileLock(context.Background(), bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || strings.ContainsAny(p.Name+p.Version, " ()\n") {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}

// TestBudget runs the cataloger through the walker on a generated
// Gemfile.lock of tiny gems, refused as it is read, and on a gemspec with
// a line too long to be one.
func TestBudget(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{ruby.New()}, indexer.WithLimits(indexer.Limits{Packages: 1000}))
	layer := hostile.Files(hostile.Records("srv/Gemfile.lock", "GEM\n  remote: https://rubygems.org/\n  specs:\n", 800_000,
		func(i int) string { return fmt.Sprintf("    g%07d (1.0.0)\n", i) }, ""))
	_, err := ix.IndexLayer(context.Background(), "sha256:l", layer)
	var le *limits.Error
	if !errors.As(err, &le) || le.Key != "limits.packages" {
		t.Fatalf("error %v, want a limit of limits.packages", err)
	}
	li, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(
		hostile.Repeat("usr/lib/ruby/gems/3.1.0/specifications/a-1.gemspec", 3<<20, "# a\n", "x", "\n")))
	if err != nil || len(li.Warnings) != 1 {
		t.Fatalf("warnings %q, %v", li.Warnings, err)
	}
}
