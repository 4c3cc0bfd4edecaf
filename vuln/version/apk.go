package version

import (
	"fmt"
	"strings"
)

// The apk ordering is a port of apk-tools' version.c (apk_version_validate
// and apk_version_compare_blob) working on the string in place, rather than
// github.com/knqyf263/go-apk-version, which ports the same code on top of
// a bufio.Reader: every comparison allocates two 4 KiB buffers and takes
// about 9 µs, too slow for Wolfi and Chainguard images whose packages
// each have dozens of fixes. The tests hold this port to that library on
// every pair of real Alpine versions and in a differential fuzz target.

type apkOrdering struct{}

func (apkOrdering) Name() string { return "apk" }

type apkVersion string

func (v apkVersion) String() string { return string(v) }

func (v apkVersion) Compare(w Version) int {
	o, ok := w.(apkVersion)
	if !ok {
		return mismatch(v, w)
	}
	return apkCompare(string(v), string(o))
}

func (apkOrdering) Parse(s string) (Version, error) {
	s = strings.TrimSpace(s)
	if err := checkText("apk", s); err != nil {
		return nil, err
	}
	// Alpine's grammar is digit{.digit}...{letter}{_suf{#}}...{-r#}:
	// apk-tools' tokenizer also lets through degenerate strings that start
	// with something else or end with a separator ("_", "1.0."); they are
	// no package's version, so they are refused here.
	if !isDigit(s[0]) || strings.ContainsRune("._-", rune(s[len(s)-1])) || !apkValid(s) {
		return nil, fmt.Errorf("apk version %q: not a valid version", s)
	}
	return apkVersion(s), nil
}

// Token types of apk-tools, in the order the comparison relies on.
const (
	apkInvalid = iota - 1
	apkDigitOrZero
	apkDigit
	apkLetter
	apkSuffix
	apkSuffixNo
	apkRevisionNo
	apkEnd
)

var (
	apkPreSuffixes  = [...]string{"alpha", "beta", "pre", "rc"}
	apkPostSuffixes = [...]string{"cvs", "svn", "git", "hg", "p"}
)

// apkNextToken is apk-tools' next_token: it reads the separator that
// follows a token and says what kind of token comes next.
func apkNextToken(t int, s string) (int, string) {
	n := apkInvalid
	switch {
	case len(s) == 0:
		n = apkEnd
	case (t == apkDigit || t == apkDigitOrZero) && s[0] >= 'a' && s[0] <= 'z':
		n = apkLetter
	case t == apkLetter && isDigit(s[0]):
		n = apkDigit
	case t == apkSuffix && isDigit(s[0]):
		n = apkSuffixNo
	default:
		switch s[0] {
		case '.':
			n = apkDigitOrZero
		case '_':
			n = apkSuffix
		case '-':
			if len(s) > 1 && s[1] == 'r' {
				n = apkRevisionNo
				s = s[1:]
			}
		}
		s = s[1:]
	}
	if n < t {
		if !((n == apkDigitOrZero && t == apkDigit) ||
			(n == apkSuffix && t == apkSuffixNo) ||
			(n == apkDigit && t == apkLetter)) {
			n = apkInvalid
		}
	}
	return n, s
}

// apkGetToken is apk-tools' get_token: the value of the token of type t at
// the start of s, the type of the next token and the rest of s.
func apkGetToken(t int, s string) (v int64, next int, rest string) {
	if len(s) == 0 {
		return 0, apkEnd, s
	}
	i, nt := 0, apkInvalid
	switch t {
	case apkDigitOrZero, apkDigit, apkSuffixNo, apkRevisionNo:
		if t == apkDigitOrZero && s[0] == '0' {
			// Leading zeros get a special treatment.
			for i < len(s) && s[i] == '0' {
				i++
			}
			nt = apkDigit
			v = int64(-i)
			break
		}
		for i < len(s) && isDigit(s[i]) {
			v = v*10 + int64(s[i]-'0')
			i++
		}
	case apkLetter:
		v = int64(s[0])
		i = 1
	case apkSuffix:
		found := false
		for k, suf := range apkPreSuffixes {
			if strings.HasPrefix(s, suf) {
				v, i, found = int64(k-len(apkPreSuffixes)), len(suf), true
				break
			}
		}
		if !found {
			for k, suf := range apkPostSuffixes {
				if strings.HasPrefix(s, suf) {
					v, i, found = int64(k), len(suf), true
					break
				}
			}
		}
		if !found {
			return -1, apkInvalid, s
		}
	default:
		return -1, apkInvalid, s
	}
	s = s[i:]
	switch {
	case len(s) == 0:
		return v, apkEnd, s
	case nt != apkInvalid:
		return v, nt, s
	}
	next, s = apkNextToken(t, s)
	return v, next, s
}

// apkValid is apk_version_validate.
func apkValid(s string) bool {
	t := apkDigit
	for t != apkEnd && t != apkInvalid {
		_, t, s = apkGetToken(t, s)
	}
	return t == apkEnd
}

// apkCompare is apk_version_compare_blob.
func apkCompare(a, b string) int {
	at, bt := apkDigit, apkDigit
	var av, bv int64
	for at == bt && at != apkEnd && at != apkInvalid && av == bv {
		av, at, a = apkGetToken(at, a)
		bv, bt, b = apkGetToken(bt, b)
	}
	switch {
	case av < bv:
		return -1
	case av > bv:
		return 1
	case at == bt:
		return 0
	}
	// The leading components are equal: the longer version is greater,
	// unless what follows is a pre-release suffix.
	if at == apkSuffix {
		if v, _, _ := apkGetToken(at, a); v < 0 {
			return -1
		}
	}
	if bt == apkSuffix {
		if v, _, _ := apkGetToken(bt, b); v < 0 {
			return 1
		}
	}
	switch {
	case at > bt:
		return -1
	case bt > at:
		return 1
	}
	return 0
}
