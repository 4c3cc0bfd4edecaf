package updater

import (
	"bytes"
	"encoding/json"
	"slices"
	"sort"
	"strings"

	"github.com/lapps/lapps/vuln"
)

// Dedupe merges records with the same Key into one, as the store requires.
// Real feeds hold such duplicates: an OSV record listing one package in
// several affected entries (one per range), or the same advisory in two
// files. The merge is deterministic whatever the input order:
//
//   - affected versions are the union: ranges and versions of every part
//     (a part without ranges or versions that is affected means every
//     version, and so does the merge);
//   - status is fixed when a range of the merge carries a fix, else the
//     most affecting of the parts' (unfixed, wont-fix, fixed,
//     not-affected);
//   - ranges are sorted by their fields as strings;
//   - aliases, CVSS ratings and links are the union; severity the
//     highest, with the source's rating that gave it;
//   - title and description come from the most recently modified part;
//     published is the earliest, modified the latest.
//
// Groups keep the position of their first record.
func Dedupe(recs []vuln.Record) []vuln.Record {
	index := make(map[string]int, len(recs))
	var groups map[int][]vuln.Record
	out := recs[:0:0]
	out = slices.Grow(out, len(recs))
	for _, r := range recs {
		k := r.Key()
		if i, ok := index[k]; ok {
			if groups == nil {
				groups = map[int][]vuln.Record{}
			}
			if _, ok := groups[i]; !ok {
				groups[i] = []vuln.Record{out[i]}
			}
			groups[i] = append(groups[i], r)
			continue
		}
		index[k] = len(out)
		out = append(out, r)
	}
	for i, g := range groups {
		out[i] = merge(g)
	}
	return out
}

// merge merges records of one key.
func merge(g []vuln.Record) vuln.Record {
	// A canonical order makes the result independent of the input order.
	enc := make([][]byte, len(g))
	for i := range g {
		enc[i], _ = json.Marshal(&g[i])
	}
	idx := make([]int, len(g))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return bytes.Compare(enc[idx[a]], enc[idx[b]]) < 0 })
	parts := make([]vuln.Record, len(g))
	for i, j := range idx {
		parts[i] = g[j]
	}

	base := 0
	for i := range parts {
		if parts[i].Modified.After(parts[base].Modified) {
			base = i
		}
	}
	m := parts[base]
	m.Aliases, m.Ranges, m.Versions, m.CVSS, m.Links = nil, nil, nil, nil, nil

	rank := map[vuln.Status]int{vuln.StatusUnfixed: 4, vuln.StatusWontFix: 3, "": 2, vuln.StatusFixed: 1, vuln.StatusNotAffected: 0}
	affecting := func(s vuln.Status) bool { return s != vuln.StatusNotAffected && s != vuln.StatusFixed }
	allVersions := false
	anyAffected := false
	for _, p := range parts {
		if len(p.Ranges) == 0 && len(p.Versions) == 0 && affecting(p.Status) {
			allVersions = true
		}
		if p.Status != vuln.StatusNotAffected {
			anyAffected = true
		}
	}
	status := vuln.StatusNotAffected
	seenRange := map[vuln.Range]bool{}
	seenVersion := map[string]bool{}
	for _, p := range parts {
		if anyAffected && p.Status == vuln.StatusNotAffected {
			continue
		}
		if allVersions && !(len(p.Ranges) == 0 && len(p.Versions) == 0) {
			continue
		}
		if rank[p.Status] > rank[status] {
			status = p.Status
		}
		for _, r := range p.Ranges {
			if !seenRange[r] {
				seenRange[r] = true
				m.Ranges = append(m.Ranges, r)
			}
		}
		for _, v := range p.Versions {
			if !seenVersion[v] {
				seenVersion[v] = true
				m.Versions = append(m.Versions, v)
			}
		}
	}
	sort.Slice(m.Ranges, func(i, j int) bool {
		a, b := m.Ranges[i], m.Ranges[j]
		return a.Type+"\x00"+a.Introduced+"\x00"+a.Fixed+"\x00"+a.LastAffected < b.Type+"\x00"+b.Introduced+"\x00"+b.Fixed+"\x00"+b.LastAffected
	})
	for _, r := range m.Ranges {
		if r.Fixed != "" {
			status = vuln.StatusFixed
			break
		}
	}
	m.Status = status

	var aliases []string
	seenCVSS := map[vuln.CVSS]bool{}
	seenLink := map[string]bool{}
	m.Severity, m.SourceSeverity = vuln.SeverityUnknown, ""
	for _, p := range parts {
		aliases = append(aliases, p.Aliases...)
		for _, c := range p.CVSS {
			if !seenCVSS[c] {
				seenCVSS[c] = true
				m.CVSS = append(m.CVSS, c)
			}
		}
		for _, l := range p.Links {
			if !seenLink[l] {
				seenLink[l] = true
				m.Links = append(m.Links, l)
			}
		}
		if p.Severity > m.Severity || (m.SourceSeverity == "" && p.Severity == m.Severity) {
			m.Severity, m.SourceSeverity = p.Severity, p.SourceSeverity
		}
		if m.Title == "" {
			m.Title = p.Title
		}
		if m.Description == "" {
			m.Description = p.Description
		}
		if !p.Published.IsZero() && (m.Published.IsZero() || p.Published.Before(m.Published)) {
			m.Published = p.Published
		}
	}
	m.Aliases = SortAliases(m.ID, aliases)
	return m
}

// SortAliases returns the distinct ids of aliases other than id: CVE ids
// first, then the others, each group sorted.
func SortAliases(id string, aliases []string) []string {
	seen := map[string]bool{id: true, "": true}
	var cves, others []string
	for _, a := range aliases {
		a = strings.TrimSpace(a)
		if seen[a] {
			continue
		}
		seen[a] = true
		if strings.HasPrefix(a, "CVE-") {
			cves = append(cves, a)
		} else {
			others = append(others, a)
		}
	}
	sort.Strings(cves)
	sort.Strings(others)
	if len(cves)+len(others) == 0 {
		return nil
	}
	return append(cves, others...)
}
