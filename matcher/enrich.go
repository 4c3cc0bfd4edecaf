package matcher

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/lapps/lapps/vuln"
)

// idsPerCall bounds the ids of one RecordsByID call (the store's own bound,
// store.MaxRecordIDs, is larger): a report with more asks in batches.
const idsPerCall = 1000

// enrich fills what the matched records do not say of each finding from
// every other current record about the same vulnerability, found by the
// finding's ids (its ID, Aliases and CVEs; never Related), in one
// RecordsByID call per idsPerCall ids:
//
//   - Severity, SourceSeverity, CVSS and SeveritySource, when the matched
//     records give no severity: from an enrichment record
//     (vuln.EcosystemEnrichment: CVE JSON 5) first, else from any other
//     record that rates it (a GHSA, a distribution tracker, another OSV
//     database); within each, the record with the highest CVSS version,
//     then the highest score, then the highest rating. A record with a
//     score but no rating gives the score's band (vuln.CVSSSeverity).
//   - KnownExploited, from a record that carries it (a KEV entry), and EPSS,
//     the highest score among the ids. Both catalogues key by CVE, so for
//     a finding its own records rate only its CVE ids are asked.
func enrich(ctx context.Context, src RecordSource, fs []vuln.Finding) error {
	if len(fs) == 0 {
		return nil
	}
	// A finding its own records rate needs only what is known of
	// exploitation, which catalogues (KEV, EPSS) key by CVE: only its CVE
	// ids are asked, sparing the store every record of its advisories.
	var ids []string
	for i := range fs {
		if fs[i].Severity == vuln.SeverityUnknown {
			ids = appendIDs(ids, &fs[i])
		} else {
			ids = appendCVEs(ids, &fs[i])
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	byID := map[string][]*vuln.Record{}
	for start := 0; start < len(ids); start += idsPerCall {
		recs, err := src.RecordsByID(ctx, ids[start:min(start+idsPerCall, len(ids))])
		if err != nil {
			return fmt.Errorf("match: records by id: %w", err)
		}
		for i := range recs {
			r := &recs[i]
			byID[r.ID] = append(byID[r.ID], r)
		}
	}
	if len(byID) == 0 {
		return nil
	}
	var scratch []string
	for i := range fs {
		f := &fs[i]
		scratch = appendIDs(scratch[:0], f)
		enrichFinding(f, scratch, byID)
	}
	return nil
}

// appendCVEs appends the CVE ids among a finding's ID, Aliases and CVEs.
func appendCVEs(ids []string, f *vuln.Finding) []string {
	if vuln.IsCVE(f.ID) {
		ids = append(ids, f.ID)
	}
	for _, a := range f.Aliases {
		if vuln.IsCVE(a) {
			ids = append(ids, a)
		}
	}
	return append(ids, f.CVEs...)
}

// appendIDs appends the ids a finding is known by: ID, Aliases and CVEs.
func appendIDs(ids []string, f *vuln.Finding) []string {
	ids = append(ids, f.ID)
	ids = append(ids, f.Aliases...)
	return append(ids, f.CVEs...)
}

// enrichFinding enriches one finding from the records of its ids.
func enrichFinding(f *vuln.Finding, ids []string, byID map[string][]*vuln.Record) {
	var rater, enrichRater *vuln.Record
	for _, id := range ids {
		for _, r := range byID[id] {
			if r.KnownExploited != nil && (f.KnownExploited == nil || r.KnownExploited.DateAdded < f.KnownExploited.DateAdded) {
				f.KnownExploited = r.KnownExploited
			}
			if r.EPSS != nil && (f.EPSS == nil || r.EPSS.Score > f.EPSS.Score) {
				f.EPSS = r.EPSS
			}
			if f.Severity != vuln.SeverityUnknown || !rates(r) {
				continue
			}
			if r.Ecosystem == vuln.EcosystemEnrichment {
				if enrichRater == nil || betterRater(r, enrichRater) {
					enrichRater = r
				}
			} else if rater == nil || betterRater(r, rater) {
				rater = r
			}
		}
	}
	if enrichRater != nil {
		rater = enrichRater
	}
	if rater == nil {
		return
	}
	f.Severity, f.SourceSeverity = rater.Severity, rater.SourceSeverity
	if f.Severity == vuln.SeverityUnknown {
		c, _ := vuln.BestCVSS(rater.CVSS)
		f.Severity = vuln.CVSSSeverity(c)
	}
	if len(rater.CVSS) > 0 {
		f.CVSS = rater.CVSS
	}
	f.SeveritySource = rater.Source
}

// rates reports whether a record gives a severity: a rating, or a CVSS
// score.
func rates(r *vuln.Record) bool {
	if r.Severity != vuln.SeverityUnknown {
		return true
	}
	_, ok := vuln.BestCVSS(r.CVSS)
	return ok
}

// betterRater reports whether a should give a finding's severity over b:
// a scored CVSS of a higher version, or of the same version a higher
// score; then the higher rating; then, for a stable choice, the smaller
// source and id.
func betterRater(a, b *vuln.Record) bool {
	ca, oka := vuln.BestCVSS(a.CVSS)
	cb, okb := vuln.BestCVSS(b.CVSS)
	if oka != okb {
		return oka
	}
	if oka {
		if va, vb := vuln.CVSSVersionRank(ca.Version), vuln.CVSSVersionRank(cb.Version); va != vb {
			return va > vb
		}
		if ca.Score != cb.Score {
			return ca.Score > cb.Score
		}
	}
	if a.Severity != b.Severity {
		return a.Severity > b.Severity
	}
	return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.ID, b.ID), cmp.Compare(a.Ecosystem, b.Ecosystem), cmp.Compare(a.Package, b.Package)) < 0
}
