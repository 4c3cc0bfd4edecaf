package version

import (
	"fmt"
	"strings"
)

// The dpkg ordering is a direct port of dpkg's own parseversion and
// verrevcmp (lib/dpkg/parsehelp.c, lib/dpkg/version.c) rather than
// github.com/knqyf263/go-deb-version, because that library turns digit runs
// that overflow an int into 0 (so "0.0~git20230101123456789" compares
// wrongly), returns differences rather than -1/0/+1, and allocates on every
// comparison (regular expressions, reflect.DeepEqual), which the matcher
// cannot afford on tens of thousands of records. The tests compare this
// port with the library on every pair of real versions where the library
// is right, and with dpkg's documented pairs.

type dpkgOrdering struct{}

func (dpkgOrdering) Name() string { return "dpkg" }

// dpkgVersion is a parsed [epoch:]upstream[-revision].
type dpkgVersion struct {
	raw      string
	epoch    string // digits without leading zeros; "" is 0
	upstream string
	revision string
}

func (v *dpkgVersion) String() string { return v.raw }

func (v *dpkgVersion) Compare(w Version) int {
	o, ok := w.(*dpkgVersion)
	if !ok {
		return mismatch(v, w)
	}
	if c := compareDigits(v.epoch, o.epoch); c != 0 {
		return c
	}
	if c := verrevcmp(v.upstream, o.upstream); c != 0 {
		return c
	}
	return verrevcmp(v.revision, o.revision)
}

// Parse follows dpkg's parseversion: an optional numeric epoch before the
// first colon, the revision after the last hyphen. As in dpkg, an upstream
// version that does not start with a digit is accepted (dpkg only warns).
func (dpkgOrdering) Parse(s string) (Version, error) {
	v := strings.TrimSpace(s)
	if err := checkText("dpkg", v); err != nil {
		return nil, err
	}
	p := &dpkgVersion{raw: v}
	rest := v
	if e, r, ok := strings.Cut(v, ":"); ok {
		if e == "" {
			return nil, fmt.Errorf("dpkg version %q: empty epoch", v)
		}
		if !allDigits(e) {
			return nil, fmt.Errorf("dpkg version %q: epoch is not a number", v)
		}
		p.epoch = strings.TrimLeft(e, "0")
		if len(p.epoch) > 9 {
			return nil, fmt.Errorf("dpkg version %q: epoch is too big", v)
		}
		if r == "" {
			return nil, fmt.Errorf("dpkg version %q: nothing after colon", v)
		}
		rest = r
	}
	p.upstream = rest
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		p.upstream, p.revision = rest[:i], rest[i+1:]
		if p.revision == "" {
			return nil, fmt.Errorf("dpkg version %q: empty revision", v)
		}
	}
	if p.upstream == "" {
		return nil, fmt.Errorf("dpkg version %q: empty upstream version", v)
	}
	for i := 0; i < len(p.upstream); i++ {
		if c := p.upstream[i]; dpkgChars[c]&dpkgUpstream == 0 {
			return nil, fmt.Errorf("dpkg version %q: invalid character %q in upstream version", v, c)
		}
	}
	for i := 0; i < len(p.revision); i++ {
		if c := p.revision[i]; dpkgChars[c]&dpkgRevision == 0 {
			return nil, fmt.Errorf("dpkg version %q: invalid character %q in revision", v, c)
		}
	}
	return p, nil
}

// Characters dpkg allows in the upstream version and in the revision.
const (
	dpkgUpstream = 1 << iota
	dpkgRevision
)

var dpkgChars = func() (t [256]byte) {
	for c := 0; c < 256; c++ {
		if isAlnum(byte(c)) {
			t[c] = dpkgUpstream | dpkgRevision
		}
	}
	for _, c := range ".+~" {
		t[c] |= dpkgUpstream | dpkgRevision
	}
	t['-'] |= dpkgUpstream
	t[':'] |= dpkgUpstream
	return t
}()

// dpkgOrder is dpkg's order(): letters sort before non-letters, a tilde
// before anything, even the end of the part.
func dpkgOrder(c int) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case isAlpha(byte(c)):
		return c
	case c == '~':
		return -1
	case c != 0:
		return c + 256
	}
	return 0
}

// verrevcmp is dpkg's verrevcmp on an upstream version or a revision.
func verrevcmp(a, b string) int {
	at := func(s string, i int) int {
		if i < len(s) {
			return int(s[i])
		}
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for (i < len(a) && !isDigit(a[i])) || (j < len(b) && !isDigit(b[j])) {
			ac, bc := dpkgOrder(at(a, i)), dpkgOrder(at(b, j))
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		firstDiff := 0
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

// compareDigits compares two digit strings without leading zeros by value.
func compareDigits(a, b string) int {
	if len(a) != len(b) {
		return sign(len(a) - len(b))
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
