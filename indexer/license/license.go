// Package license turns the licenses that package metadata declares
// (npm's "license", an RPM License tag, a Debian copyright file's
// License: field, a PyPI classifier…) into SPDX license expressions.
//
// The SPDX license list and the expression grammar come from
// github.com/github/go-spdx/v2 (spdxexp, SPDX license list 3.29): this
// package only rewrites the names people write ("MIT License", "Apache
// 2.0", "GPLv2+", Debian's "GPL-2+" and "Expat") into candidate SPDX ids,
// and keeps a candidate only when that list knows it. What cannot be
// rewritten is kept as the metadata states it ("BSD", "public-domain"),
// never guessed.
package license

import (
	"regexp"
	"strings"

	"github.com/github/go-spdx/v2/spdxexp"
	"github.com/github/go-spdx/v2/spdxexp/spdxlicenses"
)

// Bounds on what a package may declare. Real declarations are a few
// words; longer ones are prose (a license's text pasted into a field).
const (
	// MaxLen is the longest declaration normalised or kept: a longer one
	// is dropped.
	MaxLen = 256
	// MaxPerPackage is the most licenses kept for one package.
	MaxPerPackage = 32
)

// Normalize returns the SPDX license expression for a declared license,
// normalised by the SPDX list's case ("mit" → "MIT"); or, when the
// declaration is a common name of an SPDX license or an expression of
// such names joined by "and"/"or" ("MIT License", "Apache License,
// Version 2.0", "GPLv2+ and LGPLv2+"), that SPDX expression; otherwise
// the declaration as stated, with its spaces collapsed. It returns "" for
// an empty declaration and one longer than MaxLen bytes.
func Normalize(s string) string {
	s = collapse(s)
	if s == "" || len(s) > MaxLen {
		return ""
	}
	if e, ok := Expression(s); ok {
		return e
	}
	if e, ok := atom(s); ok {
		return e
	}
	if e, ok := translate(s, atom); ok {
		return e
	}
	return s
}

// Debian returns the SPDX expression for the License: field of a Debian
// machine-readable copyright file (DEP-5): short names ("GPL-2+",
// "LGPL-2.1", "BSD-3-clause", "Expat", "Artistic") joined by "or" and
// "and", a comma marking the looser binding ("GPL-2+ or Artistic, and
// BSD-3-clause"), with "with X exception" clauses. A field that does not
// translate is returned as stated ("public-domain", "other").
func Debian(s string) string {
	s = collapse(s)
	if s == "" || len(s) > MaxLen {
		return ""
	}
	if e, ok := debianAtom(s); ok {
		return e
	}
	if e, ok := translate(s, debianAtom); ok {
		return e
	}
	return s
}

// Classifier returns the license of a PyPI trove classifier ("License ::
// OSI Approved :: MIT License" → "MIT"), and false for classifiers that
// are not about a license or name none ("License :: OSI Approved",
// "License :: Other/Proprietary License").
func Classifier(c string) (string, bool) {
	parts := strings.Split(c, "::")
	if len(parts) < 2 || strings.TrimSpace(parts[0]) != "License" {
		return "", false
	}
	last := strings.TrimSpace(parts[len(parts)-1])
	if len(parts) == 2 && last == "OSI Approved" {
		return "", false
	}
	if e, ok := atom(last); ok {
		return e, true
	}
	if strings.Contains(last, "Other/Proprietary") || last == "Freely Distributable" {
		return "", false
	}
	return last, true
}

// Expression reports whether s is a valid SPDX license expression, and
// returns it normalised (ids in the list's case, operators upper case)
// by go-spdx. Deprecated ids ("GPL-2.0", "GPL-2.0+") are rewritten as
// their replacements ("GPL-2.0-only", "GPL-2.0-or-later").
func Expression(s string) (e string, ok bool) {
	s = strings.TrimSpace(s)
	if s == "" || len(s) > MaxLen {
		return "", false
	}
	defer func() {
		if recover() != nil {
			e, ok = "", false
		}
	}()
	norm, invalid := spdxexp.ValidateAndNormalizeLicensesWithOptions([]string{s}, spdxexp.ValidateLicensesOptions{})
	if len(invalid) > 0 || len(norm) != 1 {
		return "", false
	}
	return undeprecate(norm[0]), true
}

// undeprecate rewrites the deprecated GNU ids of an expression (GPL-2.0,
// GPL-2.0+) as the current ones.
func undeprecate(e string) string {
	if !strings.Contains(e, "GPL-") && !strings.Contains(e, "GFDL-") {
		return e
	}
	f := strings.Fields(e)
	for i, t := range f {
		open := strings.TrimLeft(t, "(")
		word := strings.TrimRight(open, ")")
		pre, post := t[:len(t)-len(open)], open[len(word):]
		if id, ok := gnuCurrent(word); ok {
			f[i] = pre + id + post
		}
	}
	return strings.Join(f, " ")
}

// gnuCurrent maps a deprecated GNU id, with or without "+", to the
// current one.
func gnuCurrent(w string) (string, bool) {
	plus := strings.HasSuffix(w, "+")
	base := strings.TrimSuffix(w, "+")
	if ok, _ := spdxlicenses.IsDeprecatedLicense(base); !ok {
		return "", false
	}
	suffix := "-only"
	if plus {
		suffix = "-or-later"
	}
	if ok, id := spdxlicenses.IsActiveLicense(base + suffix); ok {
		return id, true
	}
	return "", false
}

// List normalises each declaration (Normalize), drops empty ones and
// duplicates, and keeps at most MaxPerPackage.
func List(decl ...string) []string {
	var out []string
	for _, d := range decl {
		out = Add(out, Normalize(d))
	}
	return out
}

// Add appends e to list unless it is empty, already there, or the list
// holds MaxPerPackage licenses.
func Add(list []string, e string) []string {
	if e == "" || len(list) >= MaxPerPackage {
		return list
	}
	for _, x := range list {
		if x == e {
			return list
		}
	}
	return append(list, e)
}

// collapse trims s and collapses its runs of white space to one space.
func collapse(s string) string {
	if len(s) > 4*MaxLen {
		return strings.Repeat("x", MaxLen+1) // too long either way
	}
	return strings.Join(strings.Fields(s), " ")
}

// translate rewrites an expression of license names joined by "and" and
// "or" (any case; a comma before the operator binds more loosely) into an
// SPDX expression, each name through conv, and validates the result. It
// fails when a name does not convert.
func translate(s string, conv func(string) (string, bool)) (string, bool) {
	// The loosest level: ", and" / ", or".
	groups, ops := splitOps(s, true)
	var b strings.Builder
	for i, g := range groups {
		if i > 0 {
			b.WriteString(" " + ops[i-1] + " ")
		}
		inner, innerOps := splitOps(g, false)
		if len(inner) > 1 && len(groups) > 1 {
			b.WriteString("(")
		}
		for j, n := range inner {
			if j > 0 {
				b.WriteString(" " + innerOps[j-1] + " ")
			}
			e, ok := convParen(n, conv)
			if !ok {
				return "", false
			}
			if strings.Contains(e, " ") && !strings.HasPrefix(e, "(") && (len(inner) > 1 || len(groups) > 1) && !strings.Contains(e, " WITH ") {
				e = "(" + e + ")"
			}
			b.WriteString(e)
		}
		if len(inner) > 1 && len(groups) > 1 {
			b.WriteString(")")
		}
	}
	return Expression(b.String())
}

// convParen converts one name, keeping parentheses around it ("(MIT"
// and "GPLv2)" in "(MIT or GPLv2)").
func convParen(n string, conv func(string) (string, bool)) (string, bool) {
	open := strings.TrimLeft(n, "(")
	word := strings.TrimRight(open, ")")
	pre, post := n[:len(n)-len(open)], open[len(word):]
	if strings.Count(pre, "(") > 2 || strings.Count(post, ")") > 2 {
		return "", false
	}
	e, ok := conv(strings.TrimSpace(word))
	if !ok {
		return "", false
	}
	if pre != "" && strings.Contains(e, " ") && !strings.Contains(e, " WITH ") {
		e = "(" + e + ")"
	}
	return pre + e + post, true
}

// splitOps splits s at the operators "and" and "or" (any case): with
// comma, only where a comma precedes the operator ("A or B, and C");
// without, at every operator not preceded by a comma.
func splitOps(s string, comma bool) (parts, ops []string) {
	words := strings.Split(s, " ")
	start := 0
	for i := 1; i < len(words)-1; i++ {
		op := strings.ToUpper(words[i])
		if op != "AND" && op != "OR" {
			continue
		}
		prev := words[i-1]
		hasComma := strings.HasSuffix(prev, ",")
		if hasComma != comma {
			continue
		}
		part := strings.Join(words[start:i], " ")
		if comma {
			part = strings.TrimSuffix(part, ",")
		}
		parts = append(parts, part)
		ops = append(ops, op)
		start = i + 1
	}
	parts = append(parts, strings.Join(words[start:], " "))
	return parts, ops
}

// aliases are common names of SPDX licenses that no pattern covers,
// lower case, without a trailing "license".
var aliases = map[string]string{
	"mit":                                  "MIT",
	"the mit":                              "MIT",
	"mit/x11":                              "MIT",
	"x11":                                  "X11",
	"expat":                                "MIT",
	"isc":                                  "ISC",
	"zlib":                                 "Zlib",
	"zlib/libpng":                          "Zlib",
	"boost":                                "BSL-1.0",
	"boost software":                       "BSL-1.0",
	"boost software license 1.0":           "BSL-1.0",
	"unlicense":                            "Unlicense",
	"the unlicense":                        "Unlicense",
	"wtfpl":                                "WTFPL",
	"cc0":                                  "CC0-1.0",
	"cc0 1.0 universal":                    "CC0-1.0",
	"0bsd":                                 "0BSD",
	"new bsd":                              "BSD-3-Clause",
	"modified bsd":                         "BSD-3-Clause",
	"bsd 3-clause":                         "BSD-3-Clause",
	"bsd-3":                                "BSD-3-Clause",
	"3-clause bsd":                         "BSD-3-Clause",
	"bsd 2-clause":                         "BSD-2-Clause",
	"bsd-2":                                "BSD-2-Clause",
	"simplified bsd":                       "BSD-2-Clause",
	"2-clause bsd":                         "BSD-2-Clause",
	"psf":                                  "PSF-2.0",
	"psfl":                                 "PSF-2.0",
	"python software foundation":           "PSF-2.0",
	"ruby":                                 "Ruby",
	"openssl":                              "OpenSSL",
	"perl":                                 "Artistic-1.0-Perl OR GPL-1.0-or-later",
	"mit-0":                                "MIT-0",
	"mit no attribution":                   "MIT-0",
	"apache software":                      "",
	"academic free license (afl)":          "",
	"eclipse public license 2.0 (epl-2.0)": "EPL-2.0",
	"eclipse public license 1.0 (epl-1.0)": "EPL-1.0",
	"mozilla public license 2.0 (mpl 2.0)": "MPL-2.0",
	"mozilla public license 1.1 (mpl 1.1)": "MPL-1.1",
	"historical permission notice and disclaimer (hpnd)": "HPND",
	"universal permissive license (upl)":                 "UPL-1.0",
	"the postgresql":                                     "PostgreSQL",
	"postgresql":                                         "PostgreSQL",
}

// families are the license families whose names carry a version: their
// common spellings (lower case) and the SPDX id prefix. gnu marks the
// families whose ids take -only/-or-later.
var families = map[string]struct {
	id  string
	gnu bool
}{
	"gpl": {"GPL", true}, "general public": {"GPL", true}, "gnu general public": {"GPL", true}, "gnu gpl": {"GPL", true},
	"lgpl": {"LGPL", true}, "lesser general public": {"LGPL", true}, "gnu lesser general public": {"LGPL", true},
	"library general public": {"LGPL", true}, "gnu library general public": {"LGPL", true}, "gnu lgpl": {"LGPL", true},
	"gnu library or lesser general public": {"LGPL", true},
	"agpl":                                 {"AGPL", true}, "affero general public": {"AGPL", true}, "gnu affero general public": {"AGPL", true},
	"gfdl": {"GFDL", true}, "fdl": {"GFDL", true}, "gnu free documentation": {"GFDL", true},
	"apache": {"Apache", false}, "asl": {"Apache", false}, "apache software": {"Apache", false}, "al": {"Apache", false},
	"mpl": {"MPL", false}, "mozilla public": {"MPL", false},
	"epl": {"EPL", false}, "eclipse public": {"EPL", false},
	"artistic": {"Artistic", false}, "cddl": {"CDDL", false},
	"zpl": {"ZPL", false}, "zope public": {"ZPL", false},
	"afl": {"AFL", false}, "academic free": {"AFL", false},
	"osl": {"OSL", false}, "open software": {"OSL", false},
	"python": {"Python", false}, "psf": {"PSF", false},
	"cc-by": {"CC-BY", false}, "cc-by-sa": {"CC-BY-SA", false}, "cc by": {"CC-BY", false}, "cc by-sa": {"CC-BY-SA", false},
	"ofl": {"OFL", false}, "sil open font": {"OFL", false},
	"lppl": {"LPPL", false}, "php": {"PHP", false}, "bsl": {"BSL", false},
	"upl": {"UPL", false}, "epl-": {"EPL", false},
}

// versioned matches "NAME[ ,-]v?[ersion ]N[.N][+| or later| or any later
// version| only]" and the same with a parenthesised abbreviation after it
// ("GNU General Public License v2 or later (GPLv2+)").
var versioned = regexp.MustCompile(`^(.*?)[ ,\-]*(?:v|version |ver\. ?|v\. ?)?\s*([0-9](?:\.[0-9]+)?)(\+| or later| or any later version| or newer|-or-later| only|-only)?(?: \([^()]*\))?$`)

// bsdClause matches "BSD-3-clause", "BSD 2-Clause", "3-Clause BSD" and
// their variants.
var bsdClause = regexp.MustCompile(`^(?:bsd[ -]?([0-4])[ -]clause|([0-4])[ -]clause[ -]bsd)$`)

// atom converts one license name, free text or an SPDX id.
func atom(s string) (string, bool) { return atomDepth(s, 0) }

// atomDepth is atom, looking into one level of parenthesised
// abbreviation at most: "Name (ABBR)" is tried as "Name" and as "ABBR",
// not deeper, so that the work stays linear whatever the nesting.
func atomDepth(s string, depth int) (string, bool) {
	if s == "" || len(s) > MaxLen {
		return "", false
	}
	if e, ok := Expression(s); ok && !strings.Contains(e, " ") {
		return e, true
	}
	l := strings.ToLower(s)
	l = strings.TrimSuffix(l, ".")
	l = strings.TrimPrefix(l, "the ")
	for _, suf := range []string{" license", " licence", " licensed"} {
		if t, ok := strings.CutSuffix(l, suf); ok {
			l = t
		}
	}
	if e, ok := aliases[l]; ok {
		return e, e != ""
	}
	if m := bsdClause.FindStringSubmatch(l); m != nil {
		return "BSD-" + m[1] + m[2] + "-Clause", true
	}
	// "GNU General Public License v2 (GPLv2)": the name without its
	// abbreviation, then the abbreviation.
	if i := strings.LastIndex(l, " ("); i > 0 && strings.HasSuffix(l, ")") && depth == 0 {
		if e, ok := atomDepth(strings.TrimSpace(l[:i]), depth+1); ok {
			return e, true
		}
		if e, ok := atomDepth(l[i+2:len(l)-1], depth+1); ok {
			return e, true
		}
	}
	return versionedID(l)
}

// versionedID converts a lower-case "family version[+]" name.
func versionedID(l string) (string, bool) {
	l = strings.ReplaceAll(l, " license", "")
	l = strings.ReplaceAll(l, " licence", "")
	l = strings.ReplaceAll(l, ",", "")
	m := versioned.FindStringSubmatch(l)
	if m == nil {
		return "", false
	}
	name := strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(m[1]), "-"))
	if strings.HasSuffix(name, " v") {
		name = strings.TrimSuffix(name, " v")
	}
	fam, ok := families[name]
	if !ok {
		// "gplv2", "gpl2", "lgplv2.1": no separator before the version.
		fam, ok = families[strings.TrimSuffix(name, "v")]
		if !ok {
			return "", false
		}
	}
	ver := m[2]
	if !strings.Contains(ver, ".") {
		ver += ".0"
	}
	later := m[3] != "" && m[3] != " only" && m[3] != "-only"
	if fam.gnu {
		suffix := "-only"
		if later {
			suffix = "-or-later"
		}
		if ok, id := spdxlicenses.IsActiveLicense(fam.id + "-" + ver + suffix); ok {
			return id, true
		}
		// LGPL-2 is LGPL-2.0; GFDL-1 is none.
		return "", false
	}
	ok, id := spdxlicenses.IsActiveLicense(fam.id + "-" + ver)
	if !ok {
		ok, id = spdxlicenses.IsActiveLicense(fam.id + "-" + m[2])
	}
	if !ok {
		return "", false
	}
	if later {
		id += "+"
	}
	return id, true
}

// debianAtom converts one Debian short name: the SPDX-like names with
// "+" for "or later" ("GPL-2+", "LGPL-2.1+"), and Debian's own ("Expat",
// "Artistic", "Perl", "public-domain" is kept as stated by Debian). A
// "NAME with X exception" clause becomes "ID WITH X-exception" when the
// SPDX list has such an exception.
func debianAtom(s string) (string, bool) {
	if lic, exc, ok := cutFold(s, " with "); ok {
		id, ok := debianAtom(lic)
		if !ok || strings.Contains(id, " ") {
			return "", false
		}
		exc = strings.TrimSpace(exc)
		exc = strings.TrimSuffix(strings.TrimSuffix(exc, " exception"), " Exception")
		cands := []string{exc + "-exception", exc, strings.ReplaceAll(exc, " ", "-") + "-exception"}
		if name, ver, ok := strings.Cut(exc, "-"); ok && ver != "" && ver[0] >= '0' && ver[0] <= '9' {
			cands = append(cands, name+"-exception-"+ver) // "Bison-2.2" → Bison-exception-2.2
		}
		// "GPL-3+ with Autoconf exception": the exception's version
		// follows the GPL's (Autoconf-exception-3.0, GCC-exception-3.1).
		if major, ok := gplMajor(id); ok {
			cands = append(cands, exc+"-exception-"+major+".1", exc+"-exception-"+major+".0")
		}
		if strings.EqualFold(exc, "Bison") {
			cands = append(cands, "Bison-exception-2.2")
		}
		for _, cand := range cands {
			if ok, e := spdxlicenses.IsException(cand); ok {
				return id + " WITH " + e, true
			}
		}
		return "", false
	}
	switch strings.ToLower(s) {
	case "expat":
		return "MIT", true
	case "artistic":
		return "Artistic-1.0", true
	case "perl":
		return "Artistic-1.0-Perl OR GPL-1.0-or-later", true
	case "gpl", "lgpl", "bsd", "public-domain", "other":
		return "", false
	}
	return atom(s)
}

// cutFold is strings.Cut with a case-insensitive separator.
// It compares byte windows of s, so that indexes stay those of s
// whatever its encoding (lower-casing invalid UTF-8 changes its length).
func cutFold(s, sep string) (before, after string, found bool) {
	for i := 0; i+len(sep) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sep)], sep) {
			return s[:i], s[i+len(sep):], true
		}
	}
	return s, "", false
}

// gplMajor returns the major version of a GPL id ("3" for
// GPL-3.0-or-later).
func gplMajor(id string) (string, bool) {
	rest, ok := strings.CutPrefix(id, "GPL-")
	if !ok || rest == "" {
		return "", false
	}
	return rest[:1], true
}
