// Package notifier tells people when new vulnerability data changes what
// affects the images lapps has indexed.
//
// After each update operation of a source it works out which indexed
// manifests gain or lose a finding (Affected), without reading a layer or
// matching any manifest in full; it writes one notification per
// (manifest, vulnerability, added|removed) and webhook to the store's
// durable outbox, in pages, together with the source's cursor (Notify);
// and a Deliverer POSTs the outbox to the webhooks, at least once, with
// exponential backoff while a receiver is down.
//
// Every delivery is signed as Standard Webhooks specifies (webhook-id,
// webhook-timestamp, webhook-signature; see Sign), over its id, the time
// of the attempt and the body, so that it cannot be replayed later;
// receivers written in Go check it with Verify or Receiver.Handler.
package notifier

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/lapps/lapps/matcher"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// Actions of a Change.
const (
	// ActionAdded: the manifest has a finding after the update that it did
	// not have before.
	ActionAdded = "added"
	// ActionRemoved: the manifest had a finding before the update that it
	// no longer has (a withdrawn advisory, a fix now at or below the
	// installed version, a not-affected statement).
	ActionRemoved = "removed"
)

// Change is one vulnerability that an update operation added to or
// removed from one manifest.
type Change struct {
	ManifestDigest string
	// Images are the images whose latest scan is of the manifest (none
	// when the manifest was indexed but its scan is gone).
	Images []string
	// Finding is the finding as the matcher reports it: after the update
	// for an added one, before it for a removed one.
	Finding vuln.Finding
	// Action is ActionAdded or ActionRemoved.
	Action string
}

// Affected returns the changes that update operation to of a source makes
// against from, the operation before it (0 when to is the source's
// first), sorted by manifest digest, action, vulnerability id and package.
//
// How:
//
//  1. DiffUpdates(from, to) gives the records added, removed and changed.
//     They name, per ecosystem, a set of package names.
//  2. For each ecosystem, the package kind whose packages it describes
//     (the ecosystem registry's Kind: Debian/Ubuntu: deb;
//     Alpine/Wolfi/Chainguard: apk; AlmaLinux/Rocky Linux/Red Hat: rpm;
//     Go: golang; PyPI: pypi; …) and ManifestsWithPackages of
//     that kind and those names (which matches a package's name or its
//     source name) give the candidate manifests: the inverted index, not a
//     scan of every manifest.
//  3. Each candidate's stored index is loaded (no layer is read). A
//     distribution ecosystem applies only to manifests of that release
//     (vuln.DistributionEcosystem equal to the record's ecosystem: a
//     Debian:11 record does not concern a Debian 12 image). The index is
//     cut down to the packages of that kind whose name or source name the
//     diff names.
//  4. The cut-down index is matched twice with matcher.Match: against the
//     data as it was (the records of operation from for this source, the
//     current records of every other source) and as it is (operation to
//     for this source, the others unchanged). Other sources take part so
//     that the result is what a report shows: a record for a CVE that
//     another source already reports for the package, or that another
//     source declares not-affected, changes nothing. A finding (by id,
//     package, installed version, package database and kind) present
//     after but not before is added, before but not after removed; a
//     finding in both, even with another severity or fixed version, is
//     not a change.
//
// Cost: one diff, one inverted-index query per package kind, one index
// load per candidate manifest, and matching only the packages concerned; the
// records are fetched once per ecosystem and name and shared by every
// manifest.
//
// Limitation: ManifestsWithPackages compares names exactly; for the
// ecosystems whose names ignore case (NuGet, Packagist) a package
// indexed in another case than the record spells it is found only when
// one of them is all lower case.
func Affected(ctx context.Context, st AffectedStore, from, to int64) ([]Change, error) {
	diff, err := st.DiffUpdates(ctx, from, to)
	if err != nil {
		return nil, fmt.Errorf("affected by operation %d: %w", to, err)
	}
	return affected(ctx, st, from, to, diff)
}

// ecoNames is what a diff says of one ecosystem.
type ecoNames struct {
	ecosystem string
	names     map[string]bool
}

func affected(ctx context.Context, st AffectedStore, from, to int64, diff *store.Diff) ([]Change, error) {
	var source string
	byEco := map[string]*ecoNames{}
	for _, l := range [][]vuln.Record{diff.Added, diff.Removed, diff.Changed} {
		for _, r := range l {
			source = r.Source
			e := byEco[r.Ecosystem]
			if e == nil {
				e = &ecoNames{ecosystem: r.Ecosystem, names: map[string]bool{}}
				byEco[r.Ecosystem] = e
			}
			e.names[r.Package] = true
		}
	}
	if len(byEco) == 0 {
		return nil, nil
	}
	// Ecosystems by package kind: the Debian 9, 10 and 11 records of one
	// DSA list all concern deb packages, and a manifest is loaded once.
	byKind := map[string][]*ecoNames{}
	for _, eco := range sortedKeys(byEco) {
		if kind := KindOf(eco); kind != "" { // else no indexed package belongs to it
			byKind[kind] = append(byKind[kind], byEco[eco])
		}
	}
	before := newSnapshot(st, source, from)
	after := newSnapshot(st, source, to)
	var out []Change
	images := map[string][]string{}
	for _, kind := range sortedKeys(byKind) {
		ecos := byKind[kind]
		var query []string
		for _, e := range ecos {
			for n := range e.names {
				query = append(query, n)
				if caseless(e.ecosystem) {
					query = append(query, strings.ToLower(n))
				}
			}
		}
		if pr, ok := st.(store.PackageRows); ok {
			changes, err := affectedByRows(ctx, st, pr, kind, query, ecos, before, after, images)
			if err != nil {
				return nil, fmt.Errorf("affected by operation %d: %w", to, err)
			}
			out = append(out, changes...)
			continue
		}
		digests, err := st.ManifestsWithPackages(ctx, kind, query)
		if err != nil {
			return nil, fmt.Errorf("affected by operation %d: %w", to, err)
		}
		for _, d := range digests {
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("affected by operation %d: %w", to, err)
			}
			idx, err := st.Manifest(ctx, d)
			if err != nil {
				return nil, fmt.Errorf("affected by operation %d: %w", to, err)
			}
			for _, e := range ecos {
				sub := restrict(idx, e.ecosystem, kind, e.names)
				if sub == nil {
					continue
				}
				was, _, err := matcher.Match(ctx, before, sub)
				if err != nil {
					return nil, fmt.Errorf("affected by operation %d: manifest %s before: %w", to, d, err)
				}
				is, _, err := matcher.Match(ctx, after, sub)
				if err != nil {
					return nil, fmt.Errorf("affected by operation %d: manifest %s after: %w", to, d, err)
				}
				changes := compare(d, was, is)
				if len(changes) == 0 {
					continue
				}
				imgs, ok := images[d]
				if !ok {
					if imgs, err = st.ImagesOfManifest(ctx, d); err != nil {
						return nil, fmt.Errorf("affected by operation %d: %w", to, err)
					}
					images[d] = imgs
				}
				for i := range changes {
					changes[i].Images = imgs
				}
				out = append(out, changes...)
			}
		}
	}
	slices.SortFunc(out, func(a, b Change) int {
		return cmp.Or(
			cmp.Compare(a.ManifestDigest, b.ManifestDigest),
			cmp.Compare(a.Action, b.Action),
			cmp.Compare(a.Finding.ID, b.Finding.ID),
			cmp.Compare(a.Finding.Package, b.Finding.Package),
			cmp.Compare(a.Finding.InstalledVersion, b.Finding.InstalledVersion),
			cmp.Compare(a.Finding.DBPath, b.Finding.DBPath),
		)
	})
	return out, nil
}

// KindOf returns the package kind whose packages the records of a
// canonical ecosystem describe ("Debian:12" → deb, "Go" → golang), or ""
// for an ecosystem lapps indexes no packages of. A thin wrapper over the
// ecosystem registry (vuln.EcosystemOf).
func KindOf(ecosystem string) string {
	e, _ := vuln.EcosystemOf(ecosystem)
	return e.Kind
}

// caseless reports whether an ecosystem's package names ignore case (the
// registry's name rule).
func caseless(eco string) bool {
	e, _ := vuln.EcosystemOf(eco)
	return e.Names.Caseless()
}

// restrict returns a copy of idx holding only the packages of kind that
// the names of ecosystem eco concern, or nil when there are none or the
// manifest's distribution is not eco's release.
func restrict(idx *model.ImageIndex, eco, kind string, names map[string]bool) *model.ImageIndex {
	if vuln.DistributionKind(kind) && vuln.DistributionEcosystem(idx.Distribution) != eco {
		return nil
	}
	var pkgs []vuln.Package
	for _, p := range idx.Packages {
		if concerns(&p, eco, kind, names) {
			pkgs = append(pkgs, p)
		}
	}
	if len(pkgs) == 0 {
		return nil
	}
	return &model.ImageIndex{
		ManifestDigest: idx.ManifestDigest,
		IndexerVersion: idx.IndexerVersion,
		Distribution:   idx.Distribution,
		Packages:       pkgs,
	}
}

// concerns reports whether package p is of kind and named (by name or
// source name) by names, the package names of ecosystem eco in a diff.
func concerns(p *vuln.Package, eco, kind string, names map[string]bool) bool {
	if p.Kind != kind {
		return false
	}
	named := func(n string) bool {
		if n == "" {
			return false
		}
		if names[n] {
			return true
		}
		if caseless(eco) {
			for m := range names {
				if strings.EqualFold(m, n) {
					return true
				}
			}
		}
		return false
	}
	return named(p.Name) || named(p.SourceName)
}

// affectedByRows is the loop of affected over the manifests of one
// package kind, from the package rows of the store (store.PackageRows):
// one query gives, per manifest, only the packages the diff names, so no
// manifest index is decoded. A package's JSON is decoded once however
// many manifests hold it, and matched once (the matcher's findings are
// per package; with the same distribution and ecosystem, the same
// package byte for byte has the same findings in every image built on
// one base), its findings shared.
func affectedByRows(ctx context.Context, st AffectedStore, pr store.PackageRows, kind string, query []string, ecos []*ecoNames,
	before, after *snapshot, images map[string][]string) ([]Change, error) {
	found, err := pr.PackagesNamed(ctx, kind, query)
	if err != nil {
		return nil, err
	}
	type matched struct{ was, is []vuln.Finding }
	var (
		out      []Change
		packages = map[string]*vuln.Package{}
		dists    = map[string]*vuln.Distribution{}
		memo     = map[string]matched{}
		key      []byte
	)
	for _, m := range found {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		dist, ok := dists[string(m.Distribution)]
		if !ok {
			if err := json.Unmarshal(m.Distribution, &dist); err != nil {
				return nil, fmt.Errorf("manifest %s: distribution: %w", m.Digest, err)
			}
			dists[string(m.Distribution)] = dist
		}
		pkgs := make([]*vuln.Package, len(m.Packages))
		for i, raw := range m.Packages {
			p, ok := packages[string(raw)]
			if !ok {
				p = new(vuln.Package)
				if err := json.Unmarshal(raw, p); err != nil {
					return nil, fmt.Errorf("manifest %s: package: %w", m.Digest, err)
				}
				packages[string(raw)] = p
			}
			pkgs[i] = p
		}
		for _, e := range ecos {
			if vuln.DistributionKind(kind) && vuln.DistributionEcosystem(dist) != e.ecosystem {
				continue
			}
			// Findings are the matcher's per package: each distinct package
			// (with the distribution and ecosystem) is matched once, and a
			// manifest's findings are those of its packages.
			var was, is []vuln.Finding
			hit := false
			for i, p := range pkgs {
				if !concerns(p, e.ecosystem, kind, e.names) {
					continue
				}
				hit = true
				key = append(append(append(append(append(key[:0], e.ecosystem...), 0), m.Distribution...), 0), m.Packages[i]...)
				r, ok := memo[string(key)]
				if !ok {
					idx := &model.ImageIndex{ManifestDigest: m.Digest, IndexerVersion: m.IndexerVersion, Distribution: dist, Packages: []vuln.Package{*p}}
					if r.was, _, err = matcher.Match(ctx, before, idx); err != nil {
						return nil, fmt.Errorf("manifest %s before: %w", m.Digest, err)
					}
					if r.is, _, err = matcher.Match(ctx, after, idx); err != nil {
						return nil, fmt.Errorf("manifest %s after: %w", m.Digest, err)
					}
					memo[string(key)] = r
				}
				was, is = append(was, r.was...), append(is, r.is...)
			}
			if !hit {
				continue
			}
			r := matched{was: was, is: is}
			changes := compare(m.Digest, r.was, r.is)
			if len(changes) == 0 {
				continue
			}
			imgs, ok := images[m.Digest]
			if !ok {
				if imgs, err = st.ImagesOfManifest(ctx, m.Digest); err != nil {
					return nil, err
				}
				images[m.Digest] = imgs
			}
			for i := range changes {
				changes[i].Images = imgs
			}
			out = append(out, changes...)
		}
	}
	return out, nil
}

// findingKey identifies a finding across the two matches.
func findingKey(f *vuln.Finding) string {
	return strings.Join([]string{f.ID, f.PackageKind, f.Package, f.InstalledVersion, f.DBPath}, "\x00")
}

// compare returns the findings of is not in was (added) and of was not in
// is (removed).
func compare(digest string, was, is []vuln.Finding) []Change {
	before := make(map[string]bool, len(was))
	for i := range was {
		before[findingKey(&was[i])] = true
	}
	after := make(map[string]bool, len(is))
	var out []Change
	for i := range is {
		k := findingKey(&is[i])
		after[k] = true
		if !before[k] {
			out = append(out, Change{ManifestDigest: digest, Finding: is[i], Action: ActionAdded})
		}
	}
	for i := range was {
		if !after[findingKey(&was[i])] {
			out = append(out, Change{ManifestDigest: digest, Finding: was[i], Action: ActionRemoved})
		}
	}
	return out
}

// snapshot is a matcher.RecordSource serving the data as it stood with
// operation op as source's latest: op's records for source, the current
// records of every other source. Records are fetched once per ecosystem
// and package name.
type snapshot struct {
	st     AffectedStore
	source string
	op     int64 // 0: the source had no data
	cache  map[string]map[string][]vuln.Record
	byID   map[string][]vuln.Record // RecordsByID's, by id
}

func newSnapshot(st AffectedStore, source string, op int64) *snapshot {
	return &snapshot{st: st, source: source, op: op, cache: map[string]map[string][]vuln.Record{}, byID: map[string][]vuln.Record{}}
}

// RecordsByID implements matcher.RecordSource: the current records,
// which only enrich findings (severity, exploitation), never decide them.
func (s *snapshot) RecordsByID(ctx context.Context, ids []string) ([]vuln.Record, error) {
	var missing []string
	for _, id := range ids {
		if _, ok := s.byID[id]; !ok {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		recs, err := s.st.RecordsByID(ctx, missing)
		if err != nil {
			return nil, err
		}
		for _, id := range missing {
			s.byID[id] = nil
		}
		for _, r := range recs {
			s.byID[r.ID] = append(s.byID[r.ID], r)
		}
	}
	var out []vuln.Record
	seen := map[string]bool{}
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, s.byID[id]...)
		}
	}
	store.SortRecords(out)
	return out, nil
}

// Records implements matcher.RecordSource.
func (s *snapshot) Records(ctx context.Context, ecosystem string, packages []string) ([]vuln.Record, error) {
	c := s.cache[ecosystem]
	if c == nil {
		c = map[string][]vuln.Record{}
		s.cache[ecosystem] = c
	}
	var missing []string
	for _, p := range packages {
		if _, ok := c[p]; !ok {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		cur, err := s.st.Records(ctx, ecosystem, missing)
		if err != nil {
			return nil, err
		}
		var own []vuln.Record
		if s.op != 0 {
			if own, err = s.st.OperationRecords(ctx, s.op, ecosystem, missing); err != nil {
				return nil, err
			}
		}
		for _, p := range missing {
			c[p] = nil
		}
		for _, r := range cur {
			if r.Source != s.source {
				c[r.Package] = append(c[r.Package], r)
			}
		}
		for _, r := range own {
			c[r.Package] = append(c[r.Package], r)
		}
	}
	var out []vuln.Record
	for _, p := range packages {
		out = append(out, c[p]...)
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
