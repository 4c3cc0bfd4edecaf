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
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
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
// first), sorted by manifest digest, action, vulnerability id, package,
// installed version, package database, package kind and layer.
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
// Steps 2 and 3 as written are what a store without package rows gets.
// A store.PackageRows gives instead, in one query per kind, the packages
// of that kind and those names with their manifests, each distinct
// package's JSON once (no manifest index is decoded); each distinct
// package is then matched once per ecosystem and distribution and its
// changes worked out once, a manifest's changes being those of its
// packages (see affectedByRows for the one exception), and the images
// of the manifests with changes are asked for in batches
// (ImagesOfManifests). The result is the same.
//
// Cost: one diff, one inverted-index query per package kind, one index
// load per candidate manifest (none with package rows), and matching only
// the packages concerned; the records are fetched once per ecosystem and
// name and shared by every manifest.
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
	pr, _ := st.(store.PackageRows)
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
		if pr != nil {
			found, err := pr.PackagesNamed(ctx, kind, query)
			if err != nil {
				return nil, fmt.Errorf("affected by operation %d: %w", to, err)
			}
			changes, err := affectedByRows(ctx, pr, kind, ecos, before, after, found)
			if err != nil {
				return nil, fmt.Errorf("affected by operation %d: %w", to, err)
			}
			if out == nil {
				out = changes // the one kind of most updates: not copied
			} else {
				out = append(out, changes...)
			}
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
	// By index: a Change is large, and SortFunc would copy two per
	// comparison.
	sort.Slice(out, func(i, j int) bool { return compareChanges(&out[i], &out[j]) < 0 })
	if pr != nil {
		if err := imagesOf(ctx, pr, out); err != nil {
			return nil, fmt.Errorf("affected by operation %d: %w", to, err)
		}
	}
	return out, nil
}

// compareChanges orders changes by manifest digest, action,
// vulnerability id, package, installed version, package database, then
// package kind and layer (a package installed twice), comparing no more
// of them than it needs.
func compareChanges(a, b *Change) int {
	if c := strings.Compare(a.ManifestDigest, b.ManifestDigest); c != 0 {
		return c
	}
	if c := strings.Compare(a.Action, b.Action); c != 0 {
		return c
	}
	if c := strings.Compare(a.Finding.ID, b.Finding.ID); c != 0 {
		return c
	}
	if c := strings.Compare(a.Finding.Package, b.Finding.Package); c != 0 {
		return c
	}
	if c := strings.Compare(a.Finding.InstalledVersion, b.Finding.InstalledVersion); c != 0 {
		return c
	}
	if c := strings.Compare(a.Finding.DBPath, b.Finding.DBPath); c != 0 {
		return c
	}
	if c := strings.Compare(a.Finding.PackageKind, b.Finding.PackageKind); c != 0 {
		return c
	}
	return strings.Compare(a.Finding.Layer, b.Finding.Layer)
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
// many manifests hold it (the store returns one slice for one package),
// and matched once per ecosystem and distribution (the matcher's
// findings are per package: with the same distribution and ecosystem,
// the same package byte for byte has the same findings in every image
// built on one base), and the changes of those findings worked out once
// too: a manifest's changes are those of its packages, put together.
// That holds when no two of its packages with findings share the
// package's part of a finding's identity (kind, name, version, database
// path: findingKey); a manifest where two do is compared in full, as
// before. The images of the manifests with changes are not looked up
// here: the caller asks for them in batches (imagesOf).
func affectedByRows(ctx context.Context, pr store.PackageRows, kind string, ecos []*ecoNames,
	before, after *snapshot, found []store.ManifestPackages) ([]Change, error) {
	type pkg struct {
		p  *vuln.Package
		id string // the package's part of findingKey
	}
	type matched struct {
		concerned bool
		was, is   []vuln.Finding
		changes   []Change // compare's, without a manifest digest
	}
	type memoKey struct {
		eco  *ecoNames
		dist *vuln.Distribution
		p    *pkg
	}
	// emit is the changes of one manifest: those of a package (shared by
	// every manifest that holds it), or a manifest's own. The changes are
	// put together once their number is known: a Change is large, and
	// growing one slice of them by appending copied each several times.
	type emit struct {
		digest  string
		changes []Change
	}
	var (
		emits    []emit
		total    int
		byAddr   = map[*byte]*pkg{}  // by the first byte of the store's slice
		byBytes  = map[string]*pkg{} // the same JSON in another slice
		dists    = map[string]*vuln.Distribution{}
		distEcos = map[*vuln.Distribution]string{}
		memo     = map[memoKey]*matched{}
		hits     []*matched
		ids      []string
	)
	decode := func(raw []byte) (*pkg, error) {
		if len(raw) == 0 {
			return nil, errors.New("empty package row")
		}
		if p := byAddr[&raw[0]]; p != nil {
			return p, nil
		}
		p := byBytes[string(raw)]
		if p == nil {
			p = &pkg{p: new(vuln.Package)}
			if err := json.Unmarshal(raw, p.p); err != nil {
				return nil, err
			}
			p.id = strings.Join([]string{p.p.Kind, p.p.Name, p.p.Version, p.p.DBPath}, "\x00")
			byBytes[string(raw)] = p
		}
		byAddr[&raw[0]] = p
		return p, nil
	}
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
			distEcos[dist] = vuln.DistributionEcosystem(dist)
		}
		pkgs := make([]*pkg, len(m.Packages))
		for i, raw := range m.Packages {
			p, err := decode(raw)
			if err != nil {
				return nil, fmt.Errorf("manifest %s: package: %w", m.Digest, err)
			}
			pkgs[i] = p
		}
		for _, e := range ecos {
			if vuln.DistributionKind(kind) && distEcos[dist] != e.ecosystem {
				continue
			}
			hits, ids = hits[:0], ids[:0]
			concerned := false
			for _, p := range pkgs {
				k := memoKey{e, dist, p}
				r := memo[k]
				if r == nil {
					r = &matched{concerned: concerns(p.p, e.ecosystem, kind, e.names)}
					if r.concerned {
						idx := &model.ImageIndex{ManifestDigest: m.Digest, IndexerVersion: m.IndexerVersion, Distribution: dist, Packages: []vuln.Package{*p.p}}
						var err error
						if r.was, _, err = matcher.Match(ctx, before, idx); err != nil {
							return nil, fmt.Errorf("manifest %s before: %w", m.Digest, err)
						}
						if r.is, _, err = matcher.Match(ctx, after, idx); err != nil {
							return nil, fmt.Errorf("manifest %s after: %w", m.Digest, err)
						}
						r.changes = compare("", r.was, r.is)
					}
					memo[k] = r
				}
				if !r.concerned {
					continue
				}
				concerned = true
				if len(r.was)+len(r.is) > 0 {
					hits = append(hits, r)
					ids = append(ids, p.id)
				}
			}
			if !concerned || len(hits) == 0 {
				continue
			}
			slices.Sort(ids)
			if len(slices.Compact(ids)) < len(hits) {
				// Two packages share a finding's identity: compare the
				// manifest's findings together, as they would be reported.
				var was, is []vuln.Finding
				for _, r := range hits {
					was, is = append(was, r.was...), append(is, r.is...)
				}
				own := compare(m.Digest, was, is)
				emits, total = append(emits, emit{m.Digest, own}), total+len(own)
				continue
			}
			for _, r := range hits {
				if len(r.changes) > 0 {
					emits, total = append(emits, emit{m.Digest, r.changes}), total+len(r.changes)
				}
			}
		}
	}
	if total == 0 {
		return nil, nil
	}
	out := make([]Change, 0, total)
	for _, e := range emits {
		n := len(out)
		out = append(out, e.changes...)
		for i := n; i < len(out); i++ {
			out[i].ManifestDigest = e.digest
		}
	}
	return out, nil
}

// imagesBatch is how many manifests one ImagesOfManifests call asks for.
const imagesBatch = 5000

// imagesOf sets the Images of changes (sorted by manifest digest), asking
// the store for those of many manifests at once.
func imagesOf(ctx context.Context, pr store.PackageRows, changes []Change) error {
	var digests []string
	for i, c := range changes {
		if i == 0 || c.ManifestDigest != changes[i-1].ManifestDigest {
			digests = append(digests, c.ManifestDigest)
		}
	}
	images := make(map[string][]string, len(digests))
	for len(digests) > 0 {
		batch := digests[:min(imagesBatch, len(digests))]
		digests = digests[len(batch):]
		got, err := pr.ImagesOfManifests(ctx, batch)
		if err != nil {
			return err
		}
		for _, d := range batch {
			images[d] = got[d]
		}
	}
	for i := range changes {
		changes[i].Images = images[changes[i].ManifestDigest]
	}
	return nil
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
