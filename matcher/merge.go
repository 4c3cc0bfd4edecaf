package matcher

import (
	"cmp"
	"slices"
	"strings"

	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/vuln/version"
)

// hit is one record that affects one installed package.
type hit struct {
	rec *vuln.Record
	by  string
	fix version.Version // nil: no fix
	// advisory is true when the record is a distribution advisory
	// (vuln.IsAdvisoryID).
	advisory bool
}

// isIdentity reports whether alias a of a record names the record's
// vulnerability itself, so that records sharing it merge. A distribution
// advisory's CVE aliases are the CVEs it fixes, not its names (sources
// that predate Record.CVEs put them there); a vulnerability's advisory
// aliases (a tracker's CVE naming the DSA that fixed it) name the
// advisory, which is not the vulnerability.
func isIdentity(advisory bool, a string) bool {
	if advisory {
		return !vuln.IsCVE(a)
	}
	return !vuln.IsAdvisoryID(a)
}

// eachCVE calls f with each CVE id a record is about or fixes: its id, its
// aliases and its CVEs.
func eachCVE(r *vuln.Record, f func(string)) {
	if isCVE(r.ID) {
		f(r.ID)
	}
	for _, a := range r.Aliases {
		if isCVE(a) && a != r.ID {
			f(a)
		}
	}
	for _, c := range r.CVEs {
		f(c)
	}
}

// scratch holds what merging one package needs, reused across packages.
type scratch struct {
	parent    []int
	gidOfRoot []int
	keys      []string
	pairs     []member
	members   []hit
	owner     map[string]int
}

// member places a hit in a group.
type member struct{ gid, hit int }

// matchEcosystem matches the targets of g against the records of its
// ecosystem, appending the findings to out.
func (m *matcher) matchEcosystem(out []vuln.Finding, g *ecoGroup, recs []vuln.Record) []vuln.Finding {
	byName := make(map[string][]int, len(g.names))
	for i := range recs {
		if recs[i].Ecosystem != "" && recs[i].Ecosystem != g.ecosystem {
			// The release's own data only.
			continue
		}
		n := normName(g.ecosystem, recs[i].Package)
		byName[n] = append(byName[n], i)
	}
	parsed := make([]parsedRecord, len(recs))
	arena := make([]parsedRange, 0, len(recs))
	var hits []hit
	notAffected := map[string]bool{}
	for _, t := range g.targets {
		hits = hits[:0]
		clear(notAffected)
		for _, l := range t.lookups {
			ids := byName[l.name]
			if len(ids) == 0 {
				continue
			}
			in := &installed{raw: l.ver, pkg: t.pkg}
			for _, i := range ids {
				r := &recs[i]
				if !parsed[i].done {
					m.parseRecord(g, r, &parsed[i], &arena)
				}
				switch o, fix := m.evaluate(g, r, &parsed[i], in); o {
				case outAffected:
					hits = append(hits, hit{rec: r, by: l.by, fix: fix, advisory: vuln.IsAdvisoryID(r.ID)})
				case outNotAffected:
					m.na.note(g.ecosystem, t.pkg, r)
					notAffected[r.ID] = true
					adv := vuln.IsAdvisoryID(r.ID)
					for _, a := range r.Aliases {
						if isIdentity(adv, a) {
							notAffected[a] = true
						}
					}
					eachCVE(r, func(c string) { notAffected[c] = true })
				}
			}
		}
		if len(hits) > 0 {
			out = m.merge(out, g, t, hits, notAffected)
		}
	}
	return out
}

// isCVE reports whether id is a CVE id.
func isCVE(id string) bool { return vuln.IsCVE(id) }

// grow returns s resized to n elements, all set to v.
func grow[T any](s []T, n int, v T) []T {
	s = slices.Grow(s[:0], n)[:n]
	for i := range s {
		s[i] = v
	}
	return s
}

// merge groups the hits of one package into vulnerabilities (see the
// package documentation) and appends a finding for each to out: records
// are one vulnerability when they share their id or an identity alias
// (isIdentity), never through the CVEs an advisory fixes or related ids.
func (m *matcher) merge(out []vuln.Finding, g *ecoGroup, t target, hits []hit, notAffected map[string]bool) []vuln.Finding {
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(strings.Compare(a.rec.ID, b.rec.ID), strings.Compare(a.rec.Source, b.rec.Source))
	})
	sc := &m.scratch
	if sc.owner == nil {
		sc.owner = map[string]int{}
	}
	clear(sc.owner)
	n := len(hits)
	sc.parent = grow(sc.parent, n, 0)
	parent := sc.parent
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	unite := func(i int, id string) {
		j, ok := sc.owner[id]
		if !ok {
			sc.owner[id] = i
			return
		}
		if a, b := find(i), find(j); a != b {
			parent[b] = a
		}
	}
	for i := range hits {
		parent[i] = i
		h := &hits[i]
		unite(i, h.rec.ID)
		for _, a := range h.rec.Aliases {
			if a != "" && isIdentity(h.advisory, a) {
				unite(i, a)
			}
		}
	}
	// The key of a group: its smallest CVE id, else its smallest record id.
	sc.gidOfRoot = grow(sc.gidOfRoot, n, -1)
	sc.keys, sc.pairs = sc.keys[:0], sc.pairs[:0]
	preferKey := func(cur, id string) bool {
		if cur == "" {
			return true
		}
		if ci, ii := isCVE(cur), isCVE(id); ci != ii {
			return ii
		}
		return id < cur
	}
	for i := range hits {
		root := find(i)
		gid := sc.gidOfRoot[root]
		if gid < 0 {
			gid = len(sc.keys)
			sc.gidOfRoot[root] = gid
			sc.keys = append(sc.keys, "")
		}
		h := &hits[i]
		if preferKey(sc.keys[gid], h.rec.ID) {
			sc.keys[gid] = h.rec.ID
		}
		for _, a := range h.rec.Aliases {
			if isCVE(a) && isIdentity(h.advisory, a) && preferKey(sc.keys[gid], a) {
				sc.keys[gid] = a
			}
		}
		sc.pairs = append(sc.pairs, member{gid, i})
	}
	slices.SortFunc(sc.pairs, func(a, b member) int { return cmp.Or(a.gid-b.gid, a.hit-b.hit) })
	sc.members = sc.members[:0]
	for _, p := range sc.pairs {
		sc.members = append(sc.members, hits[p.hit])
	}
	// Vulnerabilities first, then the distribution advisories: an
	// advisory every CVE of which is reported for this package by a
	// vulnerability's own record (a DSA beside the tracker's CVEs, a USN
	// beside Ubuntu's CVEs) adds no row of its own; its id is listed as
	// related on those findings. Any other advisory is a finding of its
	// own, listing its CVEs.
	first := len(out)
	var advisories [][2]int
	for lo := 0; lo < len(sc.pairs); {
		hi := lo + 1
		for hi < len(sc.pairs) && sc.pairs[hi].gid == sc.pairs[lo].gid {
			hi++
		}
		switch {
		case suppressed(sc.members[lo:hi], notAffected):
		case advisoryOnly(sc.members[lo:hi]):
			advisories = append(advisories, [2]int{lo, hi})
		default:
			out = append(out, finding(g, t, sc.keys[sc.pairs[lo].gid], sc.members[lo:hi]))
		}
		lo = hi
	}
	if len(advisories) == 0 {
		return out
	}
	byCVE := map[string]int{}
	for i := first; i < len(out); i++ {
		if isCVE(out[i].ID) {
			byCVE[out[i].ID] = i
		}
		for _, a := range out[i].Aliases {
			if isCVE(a) {
				byCVE[a] = i
			}
		}
	}
	for _, a := range advisories {
		members := sc.members[a[0]:a[1]]
		var into []int
		covered := true
		for _, h := range members {
			eachCVE(h.rec, func(c string) {
				i, ok := byCVE[c]
				covered = covered && ok
				into = append(into, i)
			})
		}
		if !covered || len(into) == 0 {
			out = append(out, finding(g, t, sc.keys[sc.pairs[a[0]].gid], members))
			continue
		}
		for _, i := range into {
			for _, h := range members {
				out[i].Related = append(out[i].Related, h.rec.ID)
			}
			slices.Sort(out[i].Related)
			out[i].Related = slices.Compact(out[i].Related)
		}
	}
	return out
}

// advisoryOnly reports whether a group is made of distribution advisories
// only.
func advisoryOnly(members []hit) bool {
	for _, h := range members {
		if !h.advisory {
			return false
		}
	}
	return true
}

// suppressed reports whether a not-affected statement names the
// vulnerability of a group: one of its records' ids or identity aliases.
func suppressed(members []hit, notAffected map[string]bool) bool {
	if len(notAffected) == 0 {
		return false
	}
	for _, h := range members {
		if notAffected[h.rec.ID] {
			return true
		}
		for _, a := range h.rec.Aliases {
			if notAffected[a] && isIdentity(h.advisory, a) {
				return true
			}
		}
	}
	return false
}

// better reports whether a should give a finding's severity over b.
func better(a, b *vuln.Record) bool {
	if a.Severity != b.Severity {
		return a.Severity > b.Severity
	}
	if (len(a.CVSS) > 0) != (len(b.CVSS) > 0) {
		return len(a.CVSS) > 0
	}
	if a.Source != b.Source {
		return a.Source < b.Source
	}
	return a.ID < b.ID
}

// finding builds the finding of one group: its key and the hits that
// make it.
func finding(g *ecoGroup, t target, key string, members []hit) vuln.Finding {
	p := t.pkg
	top := members[0].rec
	for _, h := range members[1:] {
		if better(h.rec, top) {
			top = h.rec
		}
	}
	f := vuln.Finding{
		ID:               key,
		Package:          p.Name,
		InstalledVersion: p.Version,
		Status:           vuln.StatusUnfixed,
		Severity:         top.Severity,
		SourceSeverity:   top.SourceSeverity,
		CVSS:             top.CVSS,
		Title:            top.Title,
		Layer:            p.Layer,
		Ecosystem:        g.ecosystem,
		PackageKind:      p.Kind,
		PURL:             p.PURL,
		DBPath:           p.DBPath,
	}
	var fix version.Version
	oneSource, otherLinks, nAliases := true, false, 0
	for _, h := range members {
		r := h.rec
		if h.fix != nil && (fix == nil || h.fix.Compare(fix) < 0) {
			fix = h.fix
		}
		if r.Status == vuln.StatusWontFix {
			f.Status = vuln.StatusWontFix
		}
		if h.by == vuln.MatchedBySource || f.MatchedBy == "" {
			f.MatchedBy = h.by
		}
		if len(f.CVSS) == 0 && len(r.CVSS) > 0 {
			f.CVSS = r.CVSS
		}
		if f.Title == "" {
			f.Title = r.Title
		}
		oneSource = oneSource && r.Source == top.Source
		otherLinks = otherLinks || (r != top && len(r.Links) > 0)
		nAliases += 1 + len(r.Aliases)
	}
	if fix != nil {
		f.FixedVersion = fix.String()
		f.Status = vuln.StatusFixed
	}
	switch {
	case f.Severity != vuln.SeverityUnknown:
		f.SeveritySource = top.Source
	default:
		// No record rates it, but one may carry a CVSS score.
		if c, ok := vuln.BestCVSS(top.CVSS); ok {
			f.Severity, f.SeveritySource = vuln.CVSSSeverity(c), top.Source
		}
	}
	if f.MatchedBy == vuln.MatchedBySource && p.SourceName != "" && p.SourceName != p.Name {
		f.SourcePackage = p.SourceName
	}
	f.Source = top.Source
	if !oneSource {
		var others []string
		for _, h := range members {
			if h.rec.Source != top.Source {
				others = append(others, h.rec.Source)
			}
		}
		slices.Sort(others)
		f.Source = strings.Join(append([]string{top.Source}, slices.Compact(others)...), ", ")
	}
	aliases := make([]string, 0, nAliases)
	var cves, related []string
	for _, h := range members {
		if h.rec.ID != f.ID {
			aliases = append(aliases, h.rec.ID)
		}
		for _, a := range h.rec.Aliases {
			switch {
			case a == "" || a == f.ID:
			case isIdentity(h.advisory, a):
				aliases = append(aliases, a)
			case h.advisory:
				cves = append(cves, a)
			default:
				related = append(related, a)
			}
		}
		cves = append(cves, h.rec.CVEs...)
		related = append(related, h.rec.Related...)
	}
	if len(aliases) > 0 {
		slices.Sort(aliases)
		f.Aliases = slices.Compact(aliases)
	}
	if len(cves) > 0 {
		slices.Sort(cves)
		f.CVEs = slices.Compact(cves)
	}
	// Related ids that are the finding's own are not related.
	related = slices.DeleteFunc(related, func(id string) bool {
		_, alias := slices.BinarySearch(f.Aliases, id)
		_, cve := slices.BinarySearch(f.CVEs, id)
		return id == "" || id == f.ID || alias || cve
	})
	if len(related) > 0 {
		slices.Sort(related)
		f.Related = slices.Compact(related)
	}
	f.Links = top.Links
	if otherLinks {
		links := slices.Clone(top.Links)
		for _, h := range members {
			if h.rec != top {
				links = append(links, h.rec.Links...)
			}
		}
		f.Links = dedupe(links)
	}
	return f
}

// dedupe returns s without repeated values, in order.
func dedupe(s []string) []string {
	if len(s) < 2 {
		return s
	}
	seen := make(map[string]bool, len(s))
	out := s[:0:0]
	for _, v := range s {
		if v != "" && !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
