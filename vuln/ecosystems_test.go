package vuln_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/vuln/version"
)

// orderingSamples is a pair of versions per ordering, the first sorting
// before the second. An ordering named by the registry without a pair
// here fails TestRegistry.
var orderingSamples = map[string][2]string{
	"dpkg":      {"1:2.36-9+deb12u3", "1:2.36-9+deb12u10"},
	"rpm":       {"2.34-83.el9_3.7", "2.34-100.el9_4.2"},
	"apk":       {"1.1.1d-r3", "1.1.1g-r0"},
	"go":        {"go1.21.5", "v1.22.0-rc.1"},
	"semver":    {"1.2.3-beta.1", "1.2.3"},
	"pep440":    {"2.0.0rc1", "2.0.0.post1"},
	"maven":     {"1.0-alpha", "1.0"},
	"rubygems":  {"1.0.0.pre", "1.0.0"},
	"nuget":     {"1.0.0-beta", "1.0.0.1"},
	"packagist": {"v1.9.9", "1.10.0"},
}

// sampleNames are package names every name rule must normalise stably.
var sampleNames = []string{"", "curl", "Foo_Bar.baz", "foo_", "_x_", "Newtonsoft.Json", "golang.org/x/net", "@types/node",
	"org.apache.logging.log4j:log4j-core", "  PyYAML  ", "a--__..b", "ÄÖÜ-ß", "\xff\xfe"}

// TestRegistry is the round trip over every entry of the registry: its
// spellings normalise to one stable canonical ecosystem, kind → ecosystem
// → kind, distribution → ecosystem → os-release id, its ordering resolves
// and orders a sample pair, its name rule is idempotent; and entries do
// not collide.
func TestRegistry(t *testing.T) {
	reg := vuln.Ecosystems()
	if len(reg) == 0 {
		t.Fatal("empty registry")
	}
	spellings := map[string]string{}
	osids := map[string]string{}
	kinds := map[string]vuln.Ecosystem{}
	for _, e := range reg {
		t.Run(e.Name, func(t *testing.T) {
			if e.Name == "" || e.Kind == "" || strings.Contains(e.Name, ":") {
				t.Fatalf("entry %+v: name and kind are required, the name without ':'", e)
			}
			// Spellings (name and aliases) are unique, ignoring case.
			for _, s := range append([]string{e.Name}, e.Aliases...) {
				if other, ok := spellings[strings.ToLower(s)]; ok {
					t.Errorf("spelling %q of %s is already %s's", s, e.Name, other)
				}
				spellings[strings.ToLower(s)] = e.Name
			}
			// Every ecosystem of one kind orders and matches alike.
			if k, ok := kinds[e.Kind]; ok && (k.Ordering != e.Ordering || k.Match != e.Match || k.Distribution() != e.Distribution()) {
				t.Errorf("kind %s: %s and %s disagree on ordering, matching or being a distribution", e.Kind, k.Name, e.Name)
			}
			kinds[e.Kind] = e

			// The canonical ecosystem, from the name and from every alias
			// in any case, and it is stable.
			release := ""
			if e.Release != vuln.Unversioned {
				release = ":1.2.3"
			}
			canon, ok := vuln.NormalizeEcosystem(e.Name + release)
			if !ok {
				t.Fatalf("NormalizeEcosystem(%q) refused", e.Name+release)
			}
			if again, ok := vuln.NormalizeEcosystem(canon); !ok || again != canon {
				t.Errorf("NormalizeEcosystem(%q) = %q, %v: not stable", canon, again, ok)
			}
			for _, s := range append([]string{e.Name}, e.Aliases...) {
				for _, spelled := range []string{s, strings.ToLower(s), strings.ToUpper(s)} {
					if got, ok := vuln.NormalizeEcosystem(spelled + release); !ok || got != canon {
						t.Errorf("NormalizeEcosystem(%q) = %q, %v; want %q", spelled+release, got, ok, canon)
					}
				}
			}
			if e.Release != vuln.Unversioned {
				if got, ok := vuln.NormalizeEcosystem(e.Name + ":"); ok {
					t.Errorf("NormalizeEcosystem(%q) = %q accepted without a release", e.Name+":", got)
				}
			}
			back, ok := vuln.EcosystemOf(canon)
			if !ok || back.Name != e.Name {
				t.Errorf("EcosystemOf(%q) = %s, %v; want %s", canon, back.Name, ok, e.Name)
			}

			// Kind → ecosystem → kind for language ecosystems; distribution
			// → ecosystem → os-release id for distributions.
			if e.Distribution() {
				if !vuln.DistributionKind(e.Kind) || vuln.KindEcosystem(e.Kind) != "" {
					t.Errorf("distribution kind %s: DistributionKind %v, KindEcosystem %q", e.Kind, vuln.DistributionKind(e.Kind), vuln.KindEcosystem(e.Kind))
				}
				for _, id := range e.OSIDs {
					if other, ok := osids[id]; ok {
						t.Errorf("os-release id %q of %s is already %s's", id, e.Name, other)
					}
					osids[id] = e.Name
					d := &vuln.Distribution{ID: id, VersionID: strings.TrimPrefix(release, ":")}
					got := vuln.DistributionEcosystem(d)
					if got != canon {
						t.Errorf("DistributionEcosystem(%+v) = %q, want %q", d, got, canon)
					}
					if b, ok := vuln.EcosystemOf(got); !ok || !slices.Contains(b.OSIDs, id) {
						t.Errorf("EcosystemOf(%q) = %+v: os-release id %q lost", got, b, id)
					}
					if e.Release != vuln.Unversioned {
						if got := vuln.DistributionEcosystem(&vuln.Distribution{ID: id}); got != "" {
							t.Errorf("DistributionEcosystem(%s without a release) = %q", id, got)
						}
					}
					for cn, rel := range e.Codenames {
						want, _ := vuln.NormalizeEcosystem(e.Name + ":" + rel)
						if got := vuln.DistributionEcosystem(&vuln.Distribution{ID: strings.ToUpper(id), VersionCodename: cn}); got != want {
							t.Errorf("DistributionEcosystem(%s %s) = %q, want %q", id, cn, got, want)
						}
					}
				}
			} else {
				if len(e.Codenames) > 0 || e.Release != vuln.Unversioned {
					t.Errorf("language ecosystem %s has releases", e.Name)
				}
				if vuln.DistributionKind(e.Kind) || vuln.KindEcosystem(e.Kind) != e.Name || back.Kind != e.Kind {
					t.Errorf("kind %s → %q → %s", e.Kind, vuln.KindEcosystem(e.Kind), back.Kind)
				}
			}

			// The ordering resolves, for the canonical ecosystem too, and
			// orders its sample pair.
			ord, ok := version.ByName(e.Ordering)
			if !ok {
				t.Fatalf("ordering %q is not in vuln/version", e.Ordering)
			}
			if o, ok := version.For(canon); !ok || o != ord {
				t.Errorf("version.For(%q) = %v, %v; want %s", canon, o, ok, e.Ordering)
			}
			pair, ok := orderingSamples[e.Ordering]
			if !ok {
				t.Fatalf("no sample pair for ordering %q: add one to orderingSamples", e.Ordering)
			}
			if c, err := version.Compare(ord, pair[0], pair[1]); err != nil || c != -1 {
				t.Errorf("%s: %s vs %s = %d, %v; want -1", e.Ordering, pair[0], pair[1], c, err)
			}
			if c, err := version.Compare(ord, pair[1], pair[0]); err != nil || c != 1 {
				t.Errorf("%s: %s vs %s = %d, %v; want 1", e.Ordering, pair[1], pair[0], c, err)
			}

			// The name rule is idempotent, and NormalizeName applies it.
			for _, n := range sampleNames {
				once := e.NormalizeName(n)
				if twice := e.NormalizeName(once); twice != once {
					t.Errorf("NormalizeName(%q) = %q, then %q", n, once, twice)
				}
				if got := vuln.NormalizeName(canon, n); got != once {
					t.Errorf("vuln.NormalizeName(%q, %q) = %q, want %q", canon, n, got, once)
				}
				if e.Names.Caseless() && strings.ToLower(once) != once {
					t.Errorf("caseless rule of %s keeps case: %q", e.Name, once)
				}
			}
		})
	}
	// Every ordering of vuln/version has a sample pair (and so is
	// exercised once some ecosystem names it).
	for _, o := range version.All {
		if _, ok := orderingSamples[o.Name()]; !ok {
			t.Errorf("no sample pair for ordering %q", o.Name())
		}
	}
	// Names outside the registry.
	for _, eco := range []string{"", "Hackage", "SUSE:15", "debian:12", "Wolfi:1", "Go:1"} {
		if e, ok := vuln.EcosystemOf(eco); ok {
			t.Errorf("EcosystemOf(%q) = %s", eco, e.Name)
		}
	}
	if got := vuln.NormalizeName("Hackage", "  X_y "); got != "X_y" {
		t.Errorf("NormalizeName of an unknown ecosystem = %q, want trimmed only", got)
	}
}

func TestPEP503(t *testing.T) {
	for in, want := range map[string]string{
		"PyYAML": "pyyaml", "charset_normalizer": "charset-normalizer", "zope.interface": "zope-interface",
		"Foo__Bar-.-baz": "foo-bar-baz", "foo_": "foo-", "_private_": "-private-", "-": "-", "": "",
	} {
		if got := vuln.PEP503(in); got != want {
			t.Errorf("PEP503(%q) = %q, want %q", in, got, want)
		}
		if got := vuln.NormalizeName(vuln.EcosystemPyPI, " "+in+" "); got != want {
			t.Errorf("NormalizeName(PyPI, %q) = %q, want %q", in, got, want)
		}
	}
}

// pep503Spec is the specification's own expression,
// re.sub(r"[-_.]+", "-", name).lower().
var pep503Spec = regexp.MustCompile(`[-_.]+`)

// FuzzNormalizers checks every name rule and the ecosystem normaliser on
// any input: PEP 503 agrees with the specification's expression, each
// name rule is idempotent, and NormalizeEcosystem is stable on what it
// accepts.
func FuzzNormalizers(f *testing.F) {
	for _, n := range sampleNames {
		f.Add(n)
	}
	for _, e := range vuln.Ecosystems() {
		f.Add(e.Name)
		f.Add(e.Name + ":1.2.3")
		f.Add(strings.ToLower(e.Name) + ":v1.2:LTS")
	}
	f.Add("Ubuntu:Pro:18.04:LTS")
	f.Add("Alpine:v.3")
	f.Add("Debian:.5")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := vuln.PEP503(s), strings.ToLower(pep503Spec.ReplaceAllString(s, "-")); got != want {
			t.Errorf("PEP503(%q) = %q, the specification says %q", s, got, want)
		}
		for _, r := range []vuln.NameRule{vuln.NamesExact, vuln.NamesCaseless, vuln.NamesPEP503} {
			once := r.Normalize(s)
			if twice := r.Normalize(once); twice != once {
				t.Errorf("rule %d: %q → %q → %q", r, s, once, twice)
			}
		}
		if c, ok := vuln.NormalizeEcosystem(s); ok {
			if again, ok := vuln.NormalizeEcosystem(c); !ok || again != c {
				t.Errorf("NormalizeEcosystem(%q) = %q, then %q, %v", s, c, again, ok)
			}
			if e, ok := vuln.EcosystemOf(c); ok && !strings.HasPrefix(c, e.Name) {
				t.Errorf("EcosystemOf(%q) = %s", c, e.Name)
			}
		}
	})
}
