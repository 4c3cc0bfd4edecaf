package version

import (
	"bufio"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/lapps/lapps/testenv"
	"gopkg.in/yaml.v3"
)

// Real versions, read from the shared vulnerability data and, when the
// test images are built (LAPPS_TEST_IMAGES), from their package lists.

// imagePackageVersions returns the versions of the "name version" package
// lists of the test images matching glob (relative to LAPPS_TEST_IMAGES).
func imagePackageVersions(t *testing.T, glob string) []string {
	t.Helper()
	dir := os.Getenv("LAPPS_TEST_IMAGES")
	if dir == "" {
		return nil
	}
	files, _ := filepath.Glob(filepath.Join(dir, glob))
	var out []string
	for _, f := range files {
		for _, l := range testenv.Lines(t, f) {
			if _, v, ok := strings.Cut(l, " "); ok {
				out = append(out, strings.TrimSpace(v))
			}
		}
	}
	return out
}

// dsaLine is a release line of the DSA and DLA lists:
// "\t[bullseye] - xorg-server 2:1.20.11-1+deb11u6".
var dsaLine = regexp.MustCompile(`^\s+\[[a-z]+\] - \S+ ([0-9][^\s]*)`)

// debianVersions returns the fixed versions of the DSA and DLA lists and
// the installed versions of the Debian test images.
func debianVersions(t *testing.T) []string {
	t.Helper()
	var out []string
	for _, list := range []string{"DSA", "DLA"} {
		f, err := os.Open(testenv.VulnData(t, "debian-security-tracker", "data", list, "list"))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if m := dsaLine.FindStringSubmatch(sc.Text()); m != nil {
				out = append(out, m[1])
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return append(out, imagePackageVersions(t, "debian*/*.packages")...)
}

// osvDoc is the part of an OSV record these tests read.
type osvDoc struct {
	Affected []struct {
		Package struct {
			Ecosystem string `json:"ecosystem" yaml:"ecosystem"`
		} `json:"package" yaml:"package"`
		Ranges []struct {
			Type   string              `json:"type" yaml:"type"`
			Events []map[string]string `json:"events" yaml:"events"`
		} `json:"ranges" yaml:"ranges"`
		Versions []string `json:"versions" yaml:"versions"`
	} `json:"affected" yaml:"affected"`
}

// osvVersions returns the range events (except introduced "0") and the
// explicit versions of the OSV records under dir, per ecosystem prefix.
func osvVersions(t *testing.T, dir string, withVersions bool) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		var doc osvDoc
		switch filepath.Ext(path) {
		case ".json":
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if json.Unmarshal(b, &doc) != nil {
				return nil
			}
		case ".yaml":
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if yaml.Unmarshal(b, &doc) != nil {
				return nil
			}
		default:
			return nil
		}
		for _, a := range doc.Affected {
			eco, _, _ := strings.Cut(a.Package.Ecosystem, ":")
			for _, r := range a.Ranges {
				if r.Type == "GIT" {
					continue
				}
				for _, ev := range r.Events {
					for _, v := range ev {
						if v != "0" && v != "" {
							out[eco] = append(out[eco], v)
						}
					}
				}
			}
			if withVersions {
				out[eco] = append(out[eco], a.Versions...)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// rpmVersions returns the fixed EVRs of the AlmaLinux and Rocky OSV data
// and the installed versions of the AlmaLinux test image.
func rpmVersions(t *testing.T) []string {
	t.Helper()
	var out []string
	for eco, vs := range osvVersions(t, testenv.VulnData(t, "almalinux-osv-database", "advisories"), false) {
		if eco == "AlmaLinux" {
			out = append(out, vs...)
		}
	}
	out = append(out, osvVersions(t, testenv.VulnData(t, "vunnel-format-samples", "tests", "unit", "providers", "rocky"), false)["Rocky Linux"]...)
	return append(out, imagePackageVersions(t, "rootfs/almalinux*.packages")...)
}

// apkVersions returns the fixed versions (secfixes keys) of every Alpine
// secdb file and the installed versions of the Alpine test images.
func apkVersions(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.VulnData(t, "alpine-secdb"), "v*", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no secdb files: %v", err)
	}
	var out []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var db struct {
			Packages []struct {
				Pkg struct {
					Secfixes map[string][]string `yaml:"secfixes"`
				} `yaml:"pkg"`
			} `yaml:"packages"`
		}
		if err := yaml.Unmarshal(b, &db); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, p := range db.Packages {
			for v := range p.Pkg.Secfixes {
				if v != "0" {
					out = append(out, v)
				}
			}
		}
	}
	return append(out, imagePackageVersions(t, "rootfs/alpine*.packages")...)
}

var (
	realOnce sync.Once
	realMap  map[Ordering][]string
)

// realVersions returns, per ordering, the real versions to test it on
// (read once per test binary).
func realVersions(t *testing.T) map[Ordering][]string {
	t.Helper()
	realOnce.Do(func() { realMap = readRealVersions(t) })
	if realMap == nil {
		testenv.Missing(t, "the real versions could not be read (see the first test that read them)")
	}
	return realMap
}

func readRealVersions(t *testing.T) map[Ordering][]string {
	t.Helper()
	ghsa := osvVersions(t, testenv.VulnData(t, "github-advisory-database", "advisories"), true)
	pypa := osvVersions(t, testenv.VulnData(t, "pypa-advisory-database", "vulns"), true)
	golang := osvVersions(t, testenv.VulnData(t, "golang-vulndb", "data", "osv"), false)
	return map[Ordering][]string{
		Dpkg:     debianVersions(t),
		RPM:      rpmVersions(t),
		APK:      apkVersions(t),
		Go:       append(golang["Go"], ghsa["Go"]...),
		Semver:   ghsa["npm"],
		PEP440:   append(pypa["PyPI"], ghsa["PyPI"]...),
		Maven:    ghsa["Maven"],
		RubyGems: ghsa["RubyGems"],
	}
}

// sample returns at most n of the distinct values of vs, spread evenly
// over their sorted order (deterministic).
func sample(vs []string, n int) []string {
	vs = slices.Clone(vs)
	slices.Sort(vs)
	vs = slices.Compact(vs)
	if len(vs) <= n {
		return vs
	}
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, vs[i*len(vs)/n])
	}
	return out
}

// parseAll parses vs with o, returning the versions that parse and those
// that do not.
func parseAll(o Ordering, vs []string) (ok []Version, bad []string) {
	for _, v := range vs {
		p, err := o.Parse(v)
		if err != nil {
			bad = append(bad, v)
			continue
		}
		ok = append(ok, p)
	}
	return ok, bad
}

// TestRealVersionsParse checks that the distributions' real versions all
// parse, and that most of the language ecosystems' do (their advisories
// carry a few versions that are not versions of the ecosystem).
func TestRealVersionsParse(t *testing.T) {
	for o, vs := range realVersions(t) {
		if len(vs) == 0 {
			t.Errorf("%s: no real versions found", o.Name())
			continue
		}
		vs = sample(vs, 1<<20)
		_, bad := parseAll(o, vs)
		t.Logf("%s: %d distinct real versions, %d do not parse %.10q", o.Name(), len(vs), len(bad), bad)
		limit := 0
		switch o {
		case Dpkg, RPM:
		case APK:
			// Four secdb keys are not apk versions (a hyphen not followed
			// by "r"): "1.11-20-r0", "2.7.16-33", "4.10-1-r1", "57-1-r2".
			limit = 4
		default:
			limit = len(vs) / 50
		}
		if len(bad) > limit {
			t.Errorf("%s: %d of %d real versions do not parse (at most %d allowed): %.20q", o.Name(), len(bad), len(vs), limit, bad)
		}
	}
}

// TestOrderingProperties checks antisymmetry and reflexivity on every pair
// of a sample of real versions, that sorting the sample gives an order
// every pair agrees with, and transitivity on every triple of a smaller
// sample.
func TestOrderingProperties(t *testing.T) {
	for o, raw := range realVersions(t) {
		t.Run(o.Name(), func(t *testing.T) {
			vs, _ := parseAll(o, sample(raw, 400))
			if len(vs) < 20 {
				t.Fatalf("only %d real versions", len(vs))
			}
			for i, a := range vs {
				if c := a.Compare(a); c != 0 {
					t.Errorf("cmp(%q, itself) = %d", a, c)
				}
				for _, b := range vs[i+1:] {
					ab, ba := a.Compare(b), b.Compare(a)
					if ab != -ba || ab < -1 || ab > 1 {
						t.Errorf("cmp(%q, %q) = %d but cmp(%q, %q) = %d", a, b, ab, b, a, ba)
					}
				}
			}
			sorted := slices.Clone(vs)
			slices.SortFunc(sorted, func(a, b Version) int { return a.Compare(b) })
			for i, a := range sorted {
				for _, b := range sorted[i+1:] {
					if a.Compare(b) > 0 {
						t.Errorf("sorted %q before %q but cmp = 1: not transitive", a, b)
					}
				}
			}
			small := sorted
			if len(small) > 60 {
				small = nil
				for i := 0; i < 60; i++ {
					small = append(small, vs[i*len(vs)/60])
				}
			}
			for _, a := range small {
				for _, b := range small {
					if a.Compare(b) > 0 {
						continue
					}
					for _, c := range small {
						if b.Compare(c) <= 0 && a.Compare(c) > 0 {
							t.Errorf("%q <= %q <= %q but %q > %q", a, b, c, a, c)
						}
					}
				}
			}
		})
	}
}
