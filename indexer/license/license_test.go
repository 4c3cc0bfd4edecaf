package license

import (
	"strings"
	"testing"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"MIT", "MIT"},
		{"mit", "MIT"},
		{"MIT License", "MIT"},
		{"The MIT License (MIT)", "MIT"},
		{"Apache 2.0", "Apache-2.0"},
		{"Apache-2", "Apache-2.0"},
		{"Apache License, Version 2.0", "Apache-2.0"},
		{"Apache License 2.0", "Apache-2.0"},
		{"ASL 2.0", "Apache-2.0"},
		{"GPLv2+", "GPL-2.0-or-later"},
		{"GPLv2", "GPL-2.0-only"},
		{"GPL-2.0", "GPL-2.0-only"},
		{"GPL-2.0+", "GPL-2.0-or-later"},
		{"GPL-3.0-or-later", "GPL-3.0-or-later"},
		{"LGPLv2.1+", "LGPL-2.1-or-later"},
		{"GPLv2+ and LGPLv2+", "GPL-2.0-or-later AND LGPL-2.0-or-later"},
		{"(MIT OR Apache-2.0)", "MIT OR Apache-2.0"},
		{"MIT or Apache-2.0", "MIT OR Apache-2.0"},
		{"MIT AND (LGPL-2.1-or-later OR BSD-3-Clause)", "MIT AND (LGPL-2.1-or-later OR BSD-3-Clause)"},
		{"BSD", "BSD"},
		{"BSD-3-Clause", "BSD-3-Clause"},
		{"BSD 3-Clause", "BSD-3-Clause"},
		{"New BSD License", "BSD-3-Clause"},
		{"Mozilla Public License 2.0", "MPL-2.0"},
		{"MPLv2.0", "MPL-2.0"},
		{"GNU General Public License v2 or later (GPLv2+)", "GPL-2.0-or-later"},
		{"GNU Lesser General Public License v3 (LGPLv3)", "LGPL-3.0-only"},
		{"Public Domain", "Public Domain"},
		{"Python Software Foundation License", "PSF-2.0"},
		{"  ISC  ", "ISC"},
		{"", ""},
		{"Proprietary", "Proprietary"},
		{"GPL-2.0-only WITH Classpath-exception-2.0", "GPL-2.0-only WITH Classpath-exception-2.0"},
		{"LicenseRef-Foo", "LicenseRef-Foo"},
		{"Zlib", "Zlib"},
		{"zlib/libpng", "Zlib"},
		{"Boost Software License 1.0", "BSL-1.0"},
		{"EPL-1.0", "EPL-1.0"},
		{"Eclipse Public License 1.0", "EPL-1.0"},
		{"CDDL 1.1", "CDDL-1.1"},
	} {
		if got := Normalize(tc.in); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestDebian(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"GPL-2+", "GPL-2.0-or-later"},
		{"GPL-2", "GPL-2.0-only"},
		{"LGPL-2.1+", "LGPL-2.1-or-later"},
		{"LGPL-2.1", "LGPL-2.1-only"},
		{"BSD-3-clause", "BSD-3-Clause"},
		{"BSD-2-Clause", "BSD-2-Clause"},
		{"Expat", "MIT"},
		{"GPL-2+ or Artistic", "GPL-2.0-or-later OR Artistic-1.0"},
		{"Artistic or GPL-1+", "Artistic-1.0 OR GPL-1.0-or-later"},
		{"GPL-2+ or Artistic-2.0, and BSD-3-clause", "(GPL-2.0-or-later OR Artistic-2.0) AND BSD-3-Clause"},
		{"GPL-3+ with GCC exception", "GPL-3.0-or-later WITH GCC-exception-3.1"},
		{"GPL-3+ with Bison exception", "GPL-3.0-or-later WITH Bison-exception-2.2"},
		{"GPL-3+ with Bison-2.2 exception", "GPL-3.0-or-later WITH Bison-exception-2.2"},
		{"GPL-3+ with Autoconf exception", "GPL-3.0-or-later WITH Autoconf-exception-3.0"},
		{"GPL-2+ with Autoconf exception", "GPL-2.0-or-later WITH Autoconf-exception-2.0"},
		{"GPL-2+ with Libtool exception", "GPL-2.0-or-later WITH Libtool-exception"},
		{"FSF-unlimited and GPL-2+ with Libtool exception", ""},
		{"GPL-2+ with distribution exception", ""},
		{"GPL-3+ with GCC-exception-3.1 exception", "GPL-3.0-or-later WITH GCC-exception-3.1"},
		{"GPL-2+ with Autoconf-exception-2.0 exception", "GPL-2.0-or-later WITH Autoconf-exception-2.0"},
		{"public-domain", "public-domain"},
		{"Zlib", "Zlib"},
		{"ISC", "ISC"},
		{"Apache-2.0", "Apache-2.0"},
		{"GFDL-1.2+", "GFDL-1.2-or-later"},
		{"MPL-1.1", "MPL-1.1"},
		{"Perl", "Artistic-1.0-Perl OR GPL-1.0-or-later"},
		{"CC-BY-SA-3.0", "CC-BY-SA-3.0"},
		{"GPL", "GPL"},
	} {
		want := tc.want
		if want == "" {
			want = tc.in
		}
		if got := Debian(tc.in); got != want {
			t.Errorf("Debian(%q) = %q, want %q", tc.in, got, want)
		}
	}
}

func TestClassifier(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"License :: OSI Approved :: MIT License", "MIT", true},
		{"License :: OSI Approved :: Apache Software License", "Apache Software License", true},
		{"License :: OSI Approved :: BSD License", "BSD License", true},
		{"License :: OSI Approved :: GNU General Public License v2 or later (GPLv2+)", "GPL-2.0-or-later", true},
		{"License :: OSI Approved :: GNU Lesser General Public License v2 (LGPLv2)", "LGPL-2.0-only", true},
		{"License :: OSI Approved :: Mozilla Public License 2.0 (MPL 2.0)", "MPL-2.0", true},
		{"License :: OSI Approved :: Python Software Foundation License", "PSF-2.0", true},
		{"License :: OSI Approved :: ISC License (ISCL)", "ISC", true},
		{"License :: OSI Approved", "", false},
		{"License :: Other/Proprietary License", "", false},
		{"Programming Language :: Python", "", false},
	} {
		got, ok := Classifier(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Classifier(%q) = %q, %v, want %q, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestBounds(t *testing.T) {
	long := make([]byte, MaxLen+1)
	for i := range long {
		long[i] = 'a'
	}
	if got := Normalize(string(long)); got != "" {
		t.Errorf("Normalize of %d bytes = %q, want empty", len(long), got)
	}
	var decl []string
	for i := 0; i < MaxPerPackage+5; i++ {
		decl = append(decl, "LicenseRef-x"+string(rune('a'+i%26))+string(rune('a'+i/26)))
	}
	if got := List(decl...); len(got) != MaxPerPackage {
		t.Errorf("List of %d licenses kept %d, want %d", len(decl), len(got), MaxPerPackage)
	}
}

func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"MIT", "GPLv2+ and (LGPLv2+ or MIT)", "GPL-2+ or Artistic, and BSD-3-clause", "GPL-3+ with GCC-exception-3.1 exception", "((((", "a OR", "License :: OSI Approved :: MIT License"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		for _, got := range []string{Normalize(s), Debian(s)} {
			if len(got) > 4*MaxLen {
				t.Fatalf("%q gave %d bytes", s, len(got))
			}
		}
		Classifier(s)
		if e, ok := Expression(s); ok {
			if e2, ok2 := Expression(e); !ok2 || e2 != e {
				t.Fatalf("Expression(%q) = %q, which normalises to %q, %v", s, e, e2, ok2)
			}
		}
	})
}

// TestNestedInputs: deeply nested parentheses and long chains of
// operators finish (the nesting once made atom exponential, which the
// fuzzer found: such an input never returned).
func TestNestedInputs(t *testing.T) {
	for _, s := range []string{
		strings.Repeat("a (", 80) + strings.Repeat(")", 80),
		strings.Repeat("MIT or ", 36),
		strings.Repeat("(", 120) + "MIT" + strings.Repeat(")", 120),
		strings.Repeat("GPL-2+ with x exception, and ", 8),
	} {
		Normalize(s)
		Debian(s)
	}
}
