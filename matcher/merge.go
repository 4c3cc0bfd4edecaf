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
	rec  *vuln.Record
	by   string
	fix  version.Version // nil: no fix
	cves []string
}

// matchEcosystem matches the targets of g against the records of its
// ecosystem.
func (m *matcher) matchEcosystem(g *ecoGroup, recs []vuln.Record) []vuln.Finding {
	byName := make(map[string][]int, len(g.names))
	for i := range recs {
		if recs[i].Ecosystem != "" && recs[i].Ecosystem != g.ecosystem {
			// The release's own data only.
			continue
		}
		n := normName(g.ecosystem, recs[i].Package)
		byName[n] = append(byName[n], i)
	}
	parsed := make([]*parsedRecord, len(recs))
	var out []vuln.Finding
	for _, t := range g.targets {
		var hits []hit
		var notAffected map[string]bool
		for _, l := range t.lookups {
			ids := byName[l.name]
			if len(ids) == 0 {
				continue
			}
			in := &installed{raw: l.ver, pkg: t.pkg}
			for _, i := range ids {
				r := &recs[i]
				if parsed[i] == nil {
					parsed[i] = m.parseRecord(g, r)
				}
				switch o, fix := m.evaluate(g, r, parsed[i], in); o {
				case outAffected:
					hits = append(hits, hit{rec: r, by: l.by, fix: fix, cves: cveIDs(r)})
				case outNotAffected:
					if notAffected == nil {
						notAffected = map[string]bool{}
					}
					if cves := cveIDs(r); len(cves) > 0 {
						for _, c := range cves {
							notAffected[c] = true
						}
					} else {
						notAffected[r.ID] = true
					}
				}
			}
		}
		if len(hits) > 0 {
			out = append(out, m.merge(g, t, hits, notAffected)...)
		}
	}
	return out
}

// isCVE reports whether id is a CVE id.
func isCVE(id string) bool {
	return len(id) > 4 && strings.EqualFold(id[:4], "CVE-")
}

// cveIDs returns the distinct CVE ids a record names (its id and aliases).
func cveIDs(r *vuln.Record) []string {
	var out []string
	add := func(id string) {
		if isCVE(id) && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	add(r.ID)
	for _, a := range r.Aliases {
		add(a)
	}
	return out
}

// group is the records that make one finding.
type group struct {
	key     string // the CVE, or the advisory id
	cve     bool
	members []hit
}

// merge groups the hits of one package into vulnerabilities (see the
// package documentation) and turns each group into a finding.
func (m *matcher) merge(g *ecoGroup, t target, hits []hit, notAffected map[string]bool) []vuln.Finding {
	slices.SortFunc(hits, func(a, b hit) int {
		return cmp.Or(strings.Compare(a.rec.ID, b.rec.ID), strings.Compare(a.rec.Source, b.rec.Source))
	})
	// Records naming at most one CVE: union those that share an id or an
	// alias, never two different CVEs.
	parent := make([]int, len(hits))
	cveOf := make([]string, len(hits))
	for i := range parent {
		parent[i] = i
	}
	find := func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	owner := map[string]int{}
	var multi []int
	for i, h := range hits {
		if len(h.cves) > 1 {
			multi = append(multi, i)
			continue
		}
		if len(h.cves) == 1 {
			cveOf[i] = h.cves[0]
		}
		for _, id := range append([]string{h.rec.ID}, h.rec.Aliases...) {
			j, ok := owner[id]
			if !ok {
				owner[id] = i
				continue
			}
			a, b := find(i), find(j)
			if a == b || (cveOf[a] != "" && cveOf[b] != "" && cveOf[a] != cveOf[b]) {
				continue
			}
			if cveOf[a] == "" {
				cveOf[a] = cveOf[b]
			}
			parent[b] = a
		}
	}
	var groups []*group
	byRoot := map[int]*group{}
	byCVE := map[string]*group{}
	for i := range hits {
		if len(hits[i].cves) > 1 {
			continue
		}
		root := find(i)
		gr := byRoot[root]
		if gr == nil {
			gr = &group{}
			if c := cveOf[root]; c != "" {
				gr.key, gr.cve = c, true
				byCVE[c] = gr
			}
			byRoot[root] = gr
			groups = append(groups, gr)
		}
		gr.members = append(gr.members, hits[i])
	}
	for _, gr := range groups {
		if !gr.cve {
			gr.key = gr.members[0].rec.ID
			for _, h := range gr.members[1:] {
				gr.key = min(gr.key, h.rec.ID)
			}
		}
	}
	// Records naming several CVEs join each CVE's finding, or make one
	// finding of their own per advisory id.
	byAdvisory := map[string]*group{}
	for _, i := range multi {
		h := hits[i]
		joined := false
		for _, c := range h.cves {
			if gr := byCVE[c]; gr != nil {
				gr.members = append(gr.members, h)
				joined = true
			}
		}
		if joined {
			continue
		}
		gr := byAdvisory[h.rec.ID]
		if gr == nil {
			gr = &group{key: h.rec.ID}
			byAdvisory[h.rec.ID] = gr
			groups = append(groups, gr)
		}
		gr.members = append(gr.members, h)
	}
	out := make([]vuln.Finding, 0, len(groups))
	for _, gr := range groups {
		if notAffected[gr.key] {
			continue
		}
		out = append(out, finding(g, t, gr))
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

// finding builds the finding of one group.
func finding(g *ecoGroup, t target, gr *group) vuln.Finding {
	p := t.pkg
	top := gr.members[0].rec
	for _, h := range gr.members[1:] {
		if better(h.rec, top) {
			top = h.rec
		}
	}
	f := vuln.Finding{
		ID:               gr.key,
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
	sources := []string{top.Source}
	var ids, links []string
	links = append(links, top.Links...)
	for _, h := range gr.members {
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
		sources = append(sources, r.Source)
		ids = append(ids, r.ID)
		ids = append(ids, r.Aliases...)
		if r != top {
			links = append(links, r.Links...)
		}
	}
	if fix != nil {
		f.FixedVersion = fix.String()
		f.Status = vuln.StatusFixed
	}
	if f.MatchedBy == vuln.MatchedBySource && p.SourceName != "" && p.SourceName != p.Name {
		f.SourcePackage = p.SourceName
	}
	f.Source = strings.Join(append(sources[:1], uniqueSorted(sources[1:], sources[0])...), ", ")
	var aliases []string
	for _, id := range ids {
		if id == "" || id == f.ID || (gr.cve && isCVE(id)) {
			continue
		}
		aliases = append(aliases, id)
	}
	if len(aliases) > 0 {
		f.Aliases = uniqueSorted(aliases, "")
	}
	f.Links = dedupe(links)
	return f
}

// uniqueSorted returns the distinct values of s other than skip, sorted.
func uniqueSorted(s []string, skip string) []string {
	out := slices.DeleteFunc(slices.Clone(s), func(v string) bool { return v == skip || v == "" })
	slices.Sort(out)
	return slices.Compact(out)
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
