package rustsec

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/mod/semver"

	"github.com/lapps/lapps/vuln"
)

// bound is one end of an interval of versions; an empty v is unbounded.
type bound struct {
	v    string // canonical semver without "v": "1.2.3", "1.2.4-0"
	incl bool
}

func (b bound) unbounded() bool { return b.v == "" }

// interval is a set of unaffected versions, from start to end.
type interval struct{ start, end bound }

// cmpVer compares two canonical versions in semver precedence.
func cmpVer(a, b string) int { return semver.Compare("v"+a, "v"+b) }

// AffectedRanges turns the patched and unaffected requirements of an
// advisory into SEMVER ranges of affected versions, as documented on
// Parser.
func AffectedRanges(patched, unaffected []string) ([]vuln.Range, error) {
	var ivs []interval
	for _, req := range append(slices.Clone(patched), unaffected...) {
		iv, err := parseRequirement(req)
		if err != nil {
			return nil, err
		}
		ivs = append(ivs, iv)
	}
	if len(ivs) == 0 {
		return []vuln.Range{{Type: vuln.RangeSemver, Introduced: "0"}}, nil
	}
	// Order by start (unbounded first; at equal versions inclusive first),
	// then merge overlapping or touching intervals.
	slices.SortFunc(ivs, func(a, b interval) int {
		switch {
		case a.start.unbounded() && b.start.unbounded():
			return 0
		case a.start.unbounded():
			return -1
		case b.start.unbounded():
			return 1
		}
		if c := cmpVer(a.start.v, b.start.v); c != 0 {
			return c
		}
		switch {
		case a.start.incl == b.start.incl:
			return 0
		case a.start.incl:
			return -1
		}
		return 1
	})
	merged := []interval{ivs[0]}
	for _, iv := range ivs[1:] {
		cur := &merged[len(merged)-1]
		if touches(cur.end, iv.start) {
			cur.end = maxEnd(cur.end, iv.end)
			continue
		}
		merged = append(merged, iv)
	}
	var out []vuln.Range
	add := func(intro, fixed string) {
		if intro != "0" && fixed != "" && cmpVer(intro, fixed) >= 0 {
			return // empty gap between adjacent intervals
		}
		out = append(out, vuln.Range{Type: vuln.RangeSemver, Introduced: intro, Fixed: fixed})
	}
	if first := merged[0].start; !first.unbounded() {
		add("0", startAsFixed(first))
	}
	for i := 0; i+1 < len(merged); i++ {
		add(endAsIntroduced(merged[i].end), startAsFixed(merged[i+1].start))
	}
	if last := merged[len(merged)-1].end; !last.unbounded() {
		add(endAsIntroduced(last), "")
	}
	return out, nil
}

// touches reports whether an interval ending at end and one starting at
// start (no earlier than the first's start) overlap or leave no version
// between them.
func touches(end, start bound) bool {
	if end.unbounded() || start.unbounded() {
		return true
	}
	c := cmpVer(start.v, end.v)
	return c < 0 || (c == 0 && (start.incl || end.incl))
}

// maxEnd returns the later of two end bounds.
func maxEnd(a, b bound) bound {
	if a.unbounded() || b.unbounded() {
		return bound{}
	}
	switch c := cmpVer(a.v, b.v); {
	case c > 0:
		return a
	case c < 0:
		return b
	}
	return bound{v: a.v, incl: a.incl || b.incl}
}

// startAsFixed is the first unaffected version of an interval starting at
// b: the fixed version of the affected range below it.
func startAsFixed(b bound) string {
	if b.incl {
		return b.v
	}
	return increment(b.v)
}

// endAsIntroduced is the first version after an interval ending at b: the
// introduced version of the affected range above it.
func endAsIntroduced(b bound) string {
	if b.incl {
		return increment(b.v)
	}
	return b.v
}

// increment returns the smallest version above v in semver precedence:
// "1.2.3" → "1.2.4-0", "1.2.3-rc.1" → "1.2.3-rc.1.0".
func increment(v string) string {
	if core, pre, ok := strings.Cut(v, "-"); ok {
		return core + "-" + pre + ".0"
	}
	p := strings.Split(v, ".")
	n, _ := strconv.ParseUint(p[2], 10, 64)
	return p[0] + "." + p[1] + "." + strconv.FormatUint(n+1, 10) + "-0"
}

// partial is a version as a requirement writes it: minor and patch may be
// missing ("1", "1.2").
type partial struct {
	major, minor, patch uint64
	hasMinor, hasPatch  bool
	pre                 string
}

// full returns the version with missing parts as 0.
func (p partial) full() string {
	s := fmt.Sprintf("%d.%d.%d", p.major, p.minor, p.patch)
	if p.pre != "" {
		s += "-" + p.pre
	}
	return s
}

// parseRequirement parses one Cargo version requirement (one to two
// comma-separated comparators) into the interval of versions it matches,
// under the constraints RustSec's OSV export imposes: at most one lower
// and one upper bound; "=", "^", "~" and bare versions alone.
func parseRequirement(req string) (interval, error) {
	var iv interval
	parts := strings.Split(req, ",")
	if len(parts) > 2 {
		return iv, fmt.Errorf("requirement %q: more than two comparators", req)
	}
	var haveStart, haveEnd bool
	for _, c := range parts {
		c = strings.TrimSpace(c)
		op := ""
		for _, o := range []string{">=", "<=", ">", "<", "=", "^", "~"} {
			if strings.HasPrefix(c, o) {
				op = o
				break
			}
		}
		p, err := parsePartial(strings.TrimSpace(c[len(op):]))
		if err != nil {
			return iv, fmt.Errorf("requirement %q: %w", req, err)
		}
		v := p.full()
		switch op {
		case ">=", ">":
			if haveStart {
				return iv, fmt.Errorf("requirement %q: two lower bounds", req)
			}
			haveStart = true
			iv.start = bound{v: v, incl: op == ">="}
		case "<=", "<":
			if haveEnd {
				return iv, fmt.Errorf("requirement %q: two upper bounds", req)
			}
			haveEnd = true
			iv.end = bound{v: v, incl: op == "<="}
		default:
			if len(parts) != 1 {
				return iv, fmt.Errorf("requirement %q: %q must stand alone", req, c)
			}
			iv.start = bound{v: v, incl: true}
			switch op {
			case "=":
				iv.end = bound{v: v, incl: true}
			case "~":
				iv.end = bound{v: tildeEnd(p)}
			default: // "^" or none: Cargo's default is the caret
				iv.end = bound{v: caretEnd(p)}
			}
		}
	}
	if !iv.start.unbounded() && !iv.end.unbounded() {
		c := cmpVer(iv.start.v, iv.end.v)
		if c > 0 || (c == 0 && !(iv.start.incl && iv.end.incl)) {
			return iv, fmt.Errorf("requirement %q: matches no version", req)
		}
	}
	return iv, nil
}

// caretEnd is the exclusive upper end of ^p: the next incompatible
// version, as its lowest pre-release ("-0"), so that pre-releases of that
// version are outside.
func caretEnd(p partial) string {
	switch {
	case p.major > 0:
		return fmt.Sprintf("%d.0.0-0", p.major+1)
	case !p.hasMinor:
		return "1.0.0-0"
	case p.minor > 0 || !p.hasPatch:
		return fmt.Sprintf("0.%d.0-0", p.minor+1)
	}
	return fmt.Sprintf("0.0.%d-0", p.patch+1)
}

// tildeEnd is the exclusive upper end of ~p.
func tildeEnd(p partial) string {
	if !p.hasMinor {
		return fmt.Sprintf("%d.0.0-0", p.major+1)
	}
	return fmt.Sprintf("%d.%d.0-0", p.major, p.minor+1)
}

// parsePartial parses "1", "1.2", "1.2.3", "1.2.3-pre.1" (build metadata
// is dropped). Wildcards are not supported.
func parsePartial(s string) (partial, error) {
	var p partial
	if s == "" {
		return p, fmt.Errorf("no version")
	}
	core := s
	if i := strings.IndexByte(core, '+'); i >= 0 {
		core = core[:i]
	}
	if c, pre, ok := strings.Cut(core, "-"); ok {
		core, p.pre = c, pre
	}
	nums := strings.Split(core, ".")
	if len(nums) > 3 {
		return p, fmt.Errorf("version %q: too many parts", s)
	}
	dst := []*uint64{&p.major, &p.minor, &p.patch}
	for i, n := range nums {
		if n == "" || strings.Trim(n, "0123456789") != "" || (len(n) > 1 && n[0] == '0') {
			return p, fmt.Errorf("version %q: %q is not a number", s, n)
		}
		v, err := strconv.ParseUint(n, 10, 63)
		if err != nil {
			return p, fmt.Errorf("version %q: %w", s, err)
		}
		*dst[i] = v
	}
	p.hasMinor, p.hasPatch = len(nums) >= 2, len(nums) == 3
	if p.pre != "" && !p.hasPatch {
		return p, fmt.Errorf("version %q: a pre-release needs major.minor.patch", s)
	}
	if !semver.IsValid("v" + p.full()) {
		return p, fmt.Errorf("version %q: not a semantic version", s)
	}
	return p, nil
}
