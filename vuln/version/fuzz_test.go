package version

import "testing"

// fuzzOrdering checks, on any pair of strings, that parsing and comparing
// never panic, and that two versions that parse compare antisymmetrically
// and each equal to itself. Seeds: the known pairs of the ordering.
func fuzzOrdering(f *testing.F, o Ordering) {
	for _, k := range knownPairs[o] {
		f.Add(k.a, k.b)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		va, errA := o.Parse(a)
		vb, errB := o.Parse(b)
		if errA != nil || errB != nil {
			return
		}
		if va.Compare(va) != 0 || vb.Compare(vb) != 0 {
			t.Fatalf("%q or %q does not equal itself", a, b)
		}
		ab, ba := va.Compare(vb), vb.Compare(va)
		if ab != -ba || ab < -1 || ab > 1 {
			t.Fatalf("cmp(%q, %q) = %d, cmp(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		if c, err := Compare(o, a, b); err != nil || c != ab {
			t.Fatalf("Compare(%q, %q) = %d, %v; parsed versions say %d", a, b, c, err, ab)
		}
	})
}

func FuzzDpkgCompare(f *testing.F)      { fuzzOrdering(f, Dpkg) }
func FuzzRPMCompare(f *testing.F)       { fuzzOrdering(f, RPM) }
func FuzzAPKCompare(f *testing.F)       { fuzzOrdering(f, APK) }
func FuzzSemverCompare(f *testing.F)    { fuzzOrdering(f, Semver) }
func FuzzGoCompare(f *testing.F)        { fuzzOrdering(f, Go) }
func FuzzPEP440Compare(f *testing.F)    { fuzzOrdering(f, PEP440) }
func FuzzMavenCompare(f *testing.F)     { fuzzOrdering(f, Maven) }
func FuzzRubyGemsCompare(f *testing.F)  { fuzzOrdering(f, RubyGems) }
func FuzzNuGetCompare(f *testing.F)     { fuzzOrdering(f, NuGet) }
func FuzzPackagistCompare(f *testing.F) { fuzzOrdering(f, Packagist) }
