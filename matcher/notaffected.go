package matcher

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// Result is what MatchAll finds: the findings, the not-affected
// statements that applied to installed packages (each suppresses the
// finding its source, or another source of the ecosystem, would otherwise
// report), and warnings.
type Result struct {
	Findings    []vuln.Finding
	NotAffected []vuln.NotAffected
	Warnings    []string
}

// MatchAll matches as Match does and also returns the not-affected
// statements (records of status not-affected, such as CSAF/VEX
// known_not_affected entries) that applied to an installed package: one
// per statement id, package, version and source, sorted by package,
// version, id and source. NotAffected is never nil.
func MatchAll(ctx context.Context, src RecordSource, idx *model.ImageIndex) (*Result, error) {
	if idx == nil {
		return nil, fmt.Errorf("match: no image index")
	}
	m := &matcher{warned: map[string]bool{}, na: &notAffected{seen: map[vuln.NotAffected]bool{}}}
	var findings []vuln.Finding
	for _, g := range m.plan(idx) {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("match: %w", err)
		}
		recs, err := src.Records(ctx, g.ecosystem, g.names)
		if err != nil {
			return nil, fmt.Errorf("match: records of %s: %w", g.ecosystem, err)
		}
		findings = m.matchEcosystem(findings, g, recs)
	}
	if err := enrich(ctx, src, findings); err != nil {
		return nil, err
	}
	vuln.SortFindings(findings)
	na := m.na.list
	if na == nil {
		na = []vuln.NotAffected{}
	}
	slices.SortFunc(na, func(a, b vuln.NotAffected) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), cmp.Compare(a.Version, b.Version),
			cmp.Compare(a.ID, b.ID), cmp.Compare(a.Source, b.Source))
	})
	return &Result{Findings: findings, NotAffected: na, Warnings: m.warnings}, nil
}

// notAffected collects the not-affected statements of one match.
type notAffected struct {
	seen map[vuln.NotAffected]bool
	list []vuln.NotAffected
}

// note records that not-affected record r applied to installed package p;
// it does nothing when statements are not collected (n nil).
func (n *notAffected) note(eco string, p *vuln.Package, r *vuln.Record) {
	if n == nil {
		return
	}
	s := vuln.NotAffected{ID: r.ID, Package: p.Name, Version: p.Version, Ecosystem: eco, Source: r.Source, Justification: r.Justification}
	if !n.seen[s] {
		n.seen[s] = true
		n.list = append(n.list, s)
	}
}
