package matcher

import (
	"strings"

	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/vuln/version"
)

// parsedRange is a range with its bounds parsed once.
type parsedRange struct {
	ord                version.Ordering
	intro, fixed, last version.Version
	introZero          bool
}

// parsedRecord is what matching needs of a record, parsed once however
// many packages it is compared with.
type parsedRecord struct {
	done   bool
	ranges []parsedRange // the usable ranges
	// versions are the explicit versions, parsed lazily (only when the
	// record has no usable ranges and no exact string match).
	versions       []version.Version
	versionsParsed bool
}

// installed is a version of an installed package, parsed lazily per
// ordering (a record's SEMVER range and the ecosystem's ordering may
// differ).
type installed struct {
	raw    string
	pkg    *vuln.Package
	parsed []installedAs
}

type installedAs struct {
	ord version.Ordering
	v   version.Version
}

// as returns the installed version parsed by ord, or nil (with a warning)
// when it does not parse.
func (m *matcher) as(in *installed, ord version.Ordering) version.Version {
	for _, p := range in.parsed {
		if p.ord == ord {
			return p.v
		}
	}
	v, err := ord.Parse(in.raw)
	if err != nil {
		m.warn("%s %s: installed version does not parse, its comparisons were skipped: %v", in.pkg.Name, in.pkg.Version, err)
		v = nil
	}
	in.parsed = append(in.parsed, installedAs{ord: ord, v: v})
	return v
}

var boundNames = [...]string{"introduced", "fixed", "last affected"}

// parseRecord parses a record's range bounds into pr, warning about those
// that do not parse (the range is then skipped). Ranges are appended to
// the arena, shared by the records of one ecosystem to save allocations.
func (m *matcher) parseRecord(g *ecoGroup, r *vuln.Record, pr *parsedRecord, arena *[]parsedRange) {
	pr.done = true
	start := len(*arena)
	for _, rg := range r.Ranges {
		ord := version.ForRange(g.ord, rg.Type)
		if ord == nil {
			continue
		}
		if !rg.Bounded() {
			// No bound at all: an empty fixed or last_affected that a
			// feed gave must not become "every version".
			m.warn("%s %s (%s) for %s: range without any bound, skipped", r.ID, r.Source, g.ecosystem, r.Package)
			continue
		}
		var bounds [3]version.Version
		ok := true
		for k, b := range [...]string{rg.Introduced, rg.Fixed, rg.LastAffected} {
			if b == "" || (k == 0 && b == "0") {
				continue
			}
			v, err := ord.Parse(b)
			if err != nil {
				m.warn("%s %s (%s) for %s: %s version does not parse, range skipped: %v", r.ID, r.Source, g.ecosystem, r.Package, boundNames[k], err)
				ok = false
				continue
			}
			bounds[k] = v
		}
		p := parsedRange{ord: ord, intro: bounds[0], fixed: bounds[1], last: bounds[2]}
		p.introZero = p.intro == nil
		if ok {
			*arena = append(*arena, p)
		}
	}
	pr.ranges = (*arena)[start:len(*arena):len(*arena)]
}

// outcome is what one record says of one installed version.
type outcome int

const (
	outNone outcome = iota
	outAffected
	outNotAffected
)

// evaluate decides record r for installed version in. For an affecting
// record it returns the smallest fix above the installed version (nil when
// there is none).
func (m *matcher) evaluate(g *ecoGroup, r *vuln.Record, pr *parsedRecord, in *installed) (outcome, version.Version) {
	if len(r.Ranges) == 0 && len(r.Versions) == 0 {
		switch r.Status {
		case vuln.StatusNotAffected:
			return outNotAffected, nil
		case vuln.StatusUnfixed, vuln.StatusWontFix, "":
			return outAffected, nil
		}
		m.warn("%s %s (%s) for %s: status %s without ranges or versions, skipped", r.ID, r.Source, g.ecosystem, r.Package, r.Status)
		return outNone, nil
	}
	hit, fix := m.inRanges(pr, in)
	if !hit {
		hit = m.inVersions(g, r, pr, in)
	}
	switch {
	case !hit:
		return outNone, nil
	case r.Status == vuln.StatusNotAffected:
		return outNotAffected, nil
	}
	return outAffected, fix
}

// inRanges reports whether the installed version lies in one of the
// ranges, and the smallest fixed version of those that hold it.
func (m *matcher) inRanges(pr *parsedRecord, in *installed) (bool, version.Version) {
	hit := false
	var fix version.Version
	for i := range pr.ranges {
		rg := &pr.ranges[i]
		v := m.as(in, rg.ord)
		if v == nil {
			continue
		}
		if !rg.introZero && v.Compare(rg.intro) < 0 {
			continue
		}
		if rg.fixed != nil && v.Compare(rg.fixed) >= 0 {
			continue
		}
		if rg.last != nil && v.Compare(rg.last) > 0 {
			continue
		}
		hit = true
		if rg.fixed != nil && (fix == nil || rg.fixed.Compare(fix) < 0) {
			fix = rg.fixed
		}
	}
	return hit, fix
}

// inVersions reports whether the installed version is one of the
// record's explicit versions: the same string (ignoring a "v" prefix), or,
// for a record without usable ranges, equal in the ecosystem's ordering.
func (m *matcher) inVersions(g *ecoGroup, r *vuln.Record, pr *parsedRecord, in *installed) bool {
	if len(r.Versions) == 0 {
		return false
	}
	want := strings.TrimPrefix(in.raw, "v")
	for _, s := range r.Versions {
		if s = strings.TrimPrefix(s, "v"); s != "" && s == want {
			return true
		}
	}
	if len(pr.ranges) > 0 {
		// The explicit versions enumerate the ranges; the ranges decided.
		return false
	}
	v := m.as(in, g.ord)
	if v == nil {
		return false
	}
	if !pr.versionsParsed {
		pr.versionsParsed = true
		for _, s := range r.Versions {
			if w, err := g.ord.Parse(s); err == nil {
				pr.versions = append(pr.versions, w)
			}
		}
	}
	for _, w := range pr.versions {
		if v.Compare(w) == 0 {
			return true
		}
	}
	return false
}
