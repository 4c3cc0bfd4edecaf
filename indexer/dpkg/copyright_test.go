package dpkg_test

import (
	"bytes"
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer/dpkg"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// Excerpts of real copyright files of Debian bookworm, shortened.
const (
	zlibCopyright = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: zlib
Source: https://zlib.net/

Files: *
Copyright: 1995-2013 Jean-loup Gailly and Mark Adler
License: Zlib

Files: debian/*
Copyright: 2012 Mark Brown <broonie@debian.org>
License: Zlib

License: Zlib
 This software is provided 'as-is', without any express or implied
 warranty.
`
	perlLike = `Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: Foo
License: GPL-1+ or Artistic

Files: *
Copyright: 1999, Foo Author
License: GPL-1+ or Artistic

Files: lib/Bar.pm
Copyright: 2001, Bar
License: Expat

Files: m4/*
Copyright: FSF
License: GPL-3+ with Autoconf exception

Files: doc/*
Copyright: somebody
License: public-domain

License: GPL-1+
 Text.
`
	glibcCopyright = `This is the Debian prepackaged version of the GNU C Library version
2.36.

It was put together by the GNU Libc Maintainers <debian-glibc@lists.debian.org>
from <http://ftp.gnu.org/gnu/glibc/>.

* Most of the GNU C library is under the following copyright:

License: LGPL-2.1+
`
	// An old draft of the format (DEP-5 before 1.0).
	dep5Draft = "Format-Specification: http://svn.debian.org/wsvn/dep/web/deps/dep5.mdwn?op=file&rev=135\nName: x\n\nFiles: *\nCopyright: y\nLicense: LGPL-2.1\n"
)

func TestParseCopyright(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
	}{
		{"zlib", zlibCopyright, []string{"Zlib"}},
		{"header and files", perlLike, []string{"GPL-1.0-or-later OR Artistic-1.0", "MIT", "GPL-3.0-or-later WITH Autoconf-exception-3.0", "public-domain"}},
		{"free text", glibcCopyright, nil},
		{"draft", dep5Draft, []string{"LGPL-2.1-only"}},
		{"crlf", strings.ReplaceAll(zlibCopyright, "\n", "\r\n"), []string{"Zlib"}},
		{"empty", "", nil},
		{"format only", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n", nil},
		{"standalone license paragraph", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nLicense: MIT\n Text\n", nil},
		{"free text after the header", "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\nThis is prose.\n\nFiles: *\nLicense: ISC\n", []string{"ISC"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := dpkg.ParseCopyright(context.Background(), strings.NewReader(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// TestCopyrightBounds: what lies past MaxCopyrightBytes is not read, a
// line longer than the line bound is skipped, and a file naming more
// licenses than a package keeps stops at the bound.
func TestCopyrightBounds(t *testing.T) {
	head := "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\nFiles: *\nLicense: MIT\n\n"
	pad := "License: Pad\n" + strings.Repeat(" "+strings.Repeat("x", 70)+"\n", dpkg.MaxCopyrightBytes/72+1) + "\n"
	got, err := dpkg.ParseCopyright(context.Background(), strings.NewReader(head+pad+"Files: late\nLicense: ISC\n"))
	if err != nil || !reflect.DeepEqual(got, []string{"MIT"}) {
		t.Errorf("past the bound: got %q, %v, want [MIT]", got, err)
	}
	long := head + "Files: x\nLicense: " + strings.Repeat("y", 128<<10) + "\n\nFiles: z\nLicense: ISC\n"
	got, err = dpkg.ParseCopyright(context.Background(), strings.NewReader(long))
	if err != nil || !reflect.DeepEqual(got, []string{"MIT", "ISC"}) {
		t.Errorf("long line: got %q, %v, want [MIT ISC]", got, err)
	}
	var many strings.Builder
	many.WriteString(head)
	for i := 0; i < 100; i++ {
		many.WriteString("Files: f\nLicense: LicenseRef-" + strings.Repeat("a", i+1) + "\n\n")
	}
	got, err = dpkg.ParseCopyright(context.Background(), strings.NewReader(many.String()))
	if err != nil || len(got) != 32 {
		t.Errorf("many licenses: kept %d, %v, want 32", len(got), err)
	}
}

func TestCopyrightCataloger(t *testing.T) {
	c := dpkg.New()
	for p, want := range map[string]bool{
		"usr/share/doc/zlib1g/copyright":        true,
		"usr/share/doc/libstdc++6/copyright":    true,
		"usr/share/doc/zlib1g/changelog.gz":     false,
		"usr/share/doc/copyright":               false,
		"usr/share/doc/a/b/copyright":           false,
		"usr/local/share/doc/zlib1g/copyright":  false,
		"usr/share/doc/-x/copyright":            false,
		"usr/share/doc/python3:amd64/copyright": false,
	} {
		if got := c.Wants(p); got != want {
			t.Errorf("Wants(%q) = %v, want %v", p, got, want)
		}
	}
	res, err := c.Parse(context.Background(), "usr/share/doc/zlib1g/copyright", strings.NewReader(zlibCopyright))
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string][]string{vuln.KindDeb + " zlib1g": {"Zlib"}}; !reflect.DeepEqual(res.Licenses, want) || len(res.Packages) != 0 {
		t.Errorf("got %+v, want licenses %v and no packages", res, want)
	}
	res, err = c.Parse(context.Background(), "usr/share/doc/libc6/copyright", strings.NewReader(glibcCopyright))
	if err != nil || len(res.Licenses) != 0 {
		t.Errorf("free text: %+v, %v", res, err)
	}
}

// TestCopyrightRealFiles reads every copyright file of the fat Debian
// image: none fails, and the share of machine-readable ones that give
// licenses is logged and bounded below.
func TestCopyrightRealFiles(t *testing.T) {
	var files, withLicenses int
	for _, blob := range testenv.LayerBlobs(t, "debian-bookworm-fat") {
		for p, b := range testenv.LayerFiles(t, blob, func(p string) bool { return dpkg.CopyrightPackage(p) != "" }) {
			files++
			got, err := dpkg.ParseCopyright(context.Background(), bytes.NewReader(b))
			if err != nil {
				t.Errorf("%s: %v", p, err)
			}
			if len(got) > 0 {
				withLicenses++
			}
			dep5 := bytes.HasPrefix(b, []byte("Format:")) && bytes.Contains(b, []byte("\nFiles:"))
			if dep5 && len(got) == 0 {
				t.Errorf("%s: a DEP-5 file without licenses", p)
			}
		}
	}
	t.Logf("%d copyright files, %d with licenses", files, withLicenses)
	if files == 0 || withLicenses*100 < 80*files {
		t.Errorf("%d of %d copyright files with licenses, want at least 80%%", withLicenses, files)
	}
}

func FuzzParseCopyright(f *testing.F) {
	for _, s := range []string{zlibCopyright, perlLike, glibcCopyright, dep5Draft, "Format: dep5\n\nFiles: *\nLicense: (((\n", "Format: dep5\n\n\tLicense: x\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := dpkg.ParseCopyright(context.Background(), bytes.NewReader(b))
		if err != nil {
			return
		}
		if len(got) > 32 {
			t.Fatalf("%d licenses", len(got))
		}
		for _, l := range got {
			if l == "" || len(l) > 1024 {
				t.Fatalf("license %q", l)
			}
		}
	})
}
