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
	// cve is the record's CVE when it names exactly one; multi is true
	// when it names several.
	cve   string
	multi bool
}

// recordCVEs returns the CVE a record names when it names exactly one, and
// whether it names several.
func recordCVEs(r *vuln.Record) (cve string, multi bool) {
	if isCVE(r.ID) {
		cve = r.ID
	}
	for _, a := range r.Aliases {
		if !isCVE(a) || a == cve {
			continue
		}
		if cve != "" {
			return "", true
		}
		cve = a
	}
	return cve, false
}

// eachCVE calls f with each CVE id a record names.
func eachCVE(r *vuln.Record, f func(string)) {
	if isCVE(r.ID) {
		f(r.ID)
	}
	for _, a := range r.Aliases {
		if isCVE(a) && a != r.ID {
			f(a)
		}
	}
}

// scratch holds what merging one package needs, reused across packages.
type scratch struct {
	parent     []int
	cveOf      []string
	gidOfRoot  []int
	keys       []string
	keyIsCVE   []bool
	pairs      []member
	members    []hit
	owner      map[string]int
	byCVE      map[string]int
	byAdvisory map[string]int
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
					cve, multi := recordCVEs(r)
					hits = append(hits, hit{rec: r, by: l.by, fix: fix, cve: cve, multi: multi})
				case outNotAffected:
					m.na.note(g.ecosystem, t.pkg, r)
					notAffected[r.ID] = true
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
func isCVE(id string) bool {
	return len(id) > 4 && strings.EqualFold(id[:4], "CVE-")
}

// grow returns s resized to n elements, all set to v.
func grow[T any](s []T, n int, v T) []T {
	s = slices.Grow(s[:0], n)[:n]
	for i := range s {
		s[i] = v
	}
	return s
}

// merge groups the hits of one package into vulnerabilities (see the
// package documentation) and appends a finding for each to out.
func (m *matcher) merge(out []vuln.Finding, g *ecoGroup, t target, hits []hit, notAffected map[string]bool) []vuln.Finding {
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(strings.Compare(a.rec.ID, b.rec.ID), strings.Compare(a.rec.Source, b.rec.Source))
	})
	sc := &m.scratch
	if sc.owner == nil {
		sc.owner, sc.byCVE, sc.byAdvisory = map[string]int{}, map[string]int{}, map[string]int{}
	}
	clear(sc.owner)
	clear(sc.byCVE)
	clear(sc.byAdvisory)
	n := len(hits)
	sc.parent = grow(sc.parent, n, 0)
	sc.cveOf = grow(sc.cveOf, n, "")
	parent, cveOf := sc.parent, sc.cveOf
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	// Records naming at most one CVE: union those that share an id or an
	// alias, never two different CVEs.
	unite := func(i int, id string) {
		j, ok := sc.owner[id]
		if !ok {
			sc.owner[id] = i
			return
		}
		a, b := find(i), find(j)
		if a == b || (cveOf[a] != "" && cveOf[b] != "" && cveOf[a] != cveOf[b]) {
			return
		}
		if cveOf[a] == "" {
			cveOf[a] = cveOf[b]
		}
		parent[b] = a
	}
	for i := range hits {
		parent[i] = i
		h := &hits[i]
		if h.multi {
			continue
		}
		cveOf[i] = h.cve
		unite(i, h.rec.ID)
		for _, a := range h.rec.Aliases {
			unite(i, a)
		}
	}
	sc.gidOfRoot = grow(sc.gidOfRoot, n, -1)
	sc.keys, sc.keyIsCVE, sc.pairs = sc.keys[:0], sc.keyIsCVE[:0], sc.pairs[:0]
	for i := range hits {
		if hits[i].multi {
			continue
		}
		root := find(i)
		gid := sc.gidOfRoot[root]
		if gid < 0 {
			gid = len(sc.keys)
			sc.gidOfRoot[root] = gid
			if c := cveOf[root]; c != "" {
				sc.keys, sc.keyIsCVE = append(sc.keys, c), append(sc.keyIsCVE, true)
				sc.byCVE[c] = gid
			} else {
				sc.keys, sc.keyIsCVE = append(sc.keys, hits[i].rec.ID), append(sc.keyIsCVE, false)
			}
		} else if !sc.keyIsCVE[gid] {
			sc.keys[gid] = min(sc.keys[gid], hits[i].rec.ID)
		}
		sc.pairs = append(sc.pairs, member{gid, i})
	}
	// Records naming several CVEs join each CVE's finding, or make one
	// finding of their own per advisory id.
	for i := range hits {
		h := &hits[i]
		if !h.multi {
			continue
		}
		joined := false
		eachCVE(h.rec, func(c string) {
			if gid, ok := sc.byCVE[c]; ok {
				sc.pairs = append(sc.pairs, member{gid, i})
				joined = true
			}
		})
		if joined {
			continue
		}
		gid, ok := sc.byAdvisory[h.rec.ID]
		if !ok {
			gid = len(sc.keys)
			sc.keys, sc.keyIsCVE = append(sc.keys, h.rec.ID), append(sc.keyIsCVE, false)
			sc.byAdvisory[h.rec.ID] = gid
		}
		sc.pairs = append(sc.pairs, member{gid, i})
	}
	slices.SortFunc(sc.pairs, func(a, b member) int { return cmp.Or(a.gid-b.gid, a.hit-b.hit) })
	sc.members = sc.members[:0]
	for _, p := range sc.pairs {
		sc.members = append(sc.members, hits[p.hit])
	}
	for lo := 0; lo < len(sc.pairs); {
		hi := lo + 1
		for hi < len(sc.pairs) && sc.pairs[hi].gid == sc.pairs[lo].gid {
			hi++
		}
		gid := sc.pairs[lo].gid
		if !notAffected[sc.keys[gid]] {
			out = append(out, finding(g, t, sc.keys[gid], sc.keyIsCVE[gid], sc.members[lo:hi]))
		}
		lo = hi
	}
	return out
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

// finding builds the finding of one group: its key (a CVE when keyIsCVE)
// and the hits that make it.
func finding(g *ecoGroup, t target, key string, keyIsCVE bool, members []hit) vuln.Finding {
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
	keep := func(id string) {
		if id != "" && id != f.ID && !(keyIsCVE && isCVE(id)) {
			aliases = append(aliases, id)
		}
	}
	for _, h := range members {
		keep(h.rec.ID)
		for _, a := range h.rec.Aliases {
			keep(a)
		}
	}
	if len(aliases) > 0 {
		slices.Sort(aliases)
		f.Aliases = slices.Compact(aliases)
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
