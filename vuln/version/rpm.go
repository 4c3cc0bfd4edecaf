package version

import (
	"fmt"
	"strings"
)

// The rpm ordering is a direct port of rpm's rpmvercmp (rpmio/rpmvercmp.c,
// rpm 4.18) and of the epoch/version/release comparison of labelCompare,
// rather than github.com/knqyf263/go-rpm-version, because that library
// splits segments with a regular expression and compares with
// reflect.DeepEqual on every call (allocating, and too slow for tens of
// thousands of records), and silently turns an unparsable epoch into 0.
// The tests compare this port with the library on real versions and with
// rpm itself (python3-rpm) where it is installed.

type rpmOrdering struct{}

func (rpmOrdering) Name() string { return "rpm" }

// rpmVersion is a parsed [epoch:]version[-release].
type rpmVersion struct {
	raw     string
	epoch   string // digits without leading zeros; "" is 0
	version string
	release string
}

func (v *rpmVersion) String() string { return v.raw }

// Compare compares epoch, version and release in turn. A missing release
// is the empty string, which sorts before any release, as rpm.labelCompare
// has it for ("0", "1.0", "") against ("0", "1.0", "1").
func (v *rpmVersion) Compare(w Version) int {
	o, ok := w.(*rpmVersion)
	if !ok {
		return mismatch(v, w)
	}
	if c := compareDigits(v.epoch, o.epoch); c != 0 {
		return c
	}
	if c := rpmvercmp(v.version, o.version); c != 0 {
		return c
	}
	return rpmvercmp(v.release, o.release)
}

// Parse splits an EVR: the epoch before the first colon (a number), the
// release after the last hyphen.
func (rpmOrdering) Parse(s string) (Version, error) {
	v := strings.TrimSpace(s)
	if err := checkText("rpm", v); err != nil {
		return nil, err
	}
	p := &rpmVersion{raw: v}
	rest := v
	if e, r, ok := strings.Cut(v, ":"); ok {
		if !allDigits(e) {
			return nil, fmt.Errorf("rpm version %q: epoch is not a number", v)
		}
		p.epoch = strings.TrimLeft(e, "0")
		rest = r
	}
	p.version = rest
	if i := strings.LastIndexByte(rest, '-'); i >= 0 {
		p.version, p.release = rest[:i], rest[i+1:]
		if p.release == "" {
			return nil, fmt.Errorf("rpm version %q: empty release", v)
		}
	}
	if p.version == "" {
		return nil, fmt.Errorf("rpm version %q: empty version", v)
	}
	if strings.ContainsRune(p.version, ':') || strings.ContainsRune(p.release, ':') {
		return nil, fmt.Errorf("rpm version %q: more than one colon", v)
	}
	return p, nil
}

// rpmvercmp is rpm's rpmvercmp: alternating numeric and alphabetic
// segments, anything else a separator; a tilde sorts before everything,
// even the end of the string; a caret after the end of the string but
// before any other segment.
func rpmvercmp(a, b string) int {
	if a == b {
		return 0
	}
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		for i < len(a) && !isAlnum(a[i]) && a[i] != '~' && a[i] != '^' {
			i++
		}
		for j < len(b) && !isAlnum(b[j]) && b[j] != '~' && b[j] != '^' {
			j++
		}
		ca, cb := byte(0), byte(0)
		if i < len(a) {
			ca = a[i]
		}
		if j < len(b) {
			cb = b[j]
		}
		if ca == '~' || cb == '~' {
			if ca != '~' {
				return 1
			}
			if cb != '~' {
				return -1
			}
			i++
			j++
			continue
		}
		if ca == '^' || cb == '^' {
			if ca == 0 {
				return -1
			}
			if cb == 0 {
				return 1
			}
			if ca != '^' {
				return 1
			}
			if cb != '^' {
				return -1
			}
			i++
			j++
			continue
		}
		if ca == 0 || cb == 0 {
			break
		}
		si, sj := i, j
		isNum := isDigit(ca)
		if isNum {
			for i < len(a) && isDigit(a[i]) {
				i++
			}
			for j < len(b) && isDigit(b[j]) {
				j++
			}
		} else {
			for i < len(a) && isAlpha(a[i]) {
				i++
			}
			for j < len(b) && isAlpha(b[j]) {
				j++
			}
		}
		if sj == j {
			// Segments of different types: numeric is newer than alpha.
			if isNum {
				return 1
			}
			return -1
		}
		sa, sb := a[si:i], b[sj:j]
		if isNum {
			sa, sb = strings.TrimLeft(sa, "0"), strings.TrimLeft(sb, "0")
			if c := compareDigits(sa, sb); c != 0 {
				return c
			}
			continue
		}
		if c := strings.Compare(sa, sb); c != 0 {
			return c
		}
	}
	endA, endB := i >= len(a), j >= len(b)
	switch {
	case endA && endB:
		return 0
	case endA:
		return -1
	}
	return 1
}
