// Package matcher correlates the packages of an image index with stored
// vulnerability records, deciding each with its ecosystem's own version
// ordering (package vuln/version), and merges what several sources say about
// the same vulnerability of the same package into one finding.
//
// Rules (what differs between ecosystems comes from the ecosystem
// registry, vuln.Ecosystems: the kind, ordering, name rule and
// source-package matching of each):
//
//   - Distribution packages take the records of the image's distribution
//     ecosystem (vuln.DistributionEcosystem: "Debian:12", "AlmaLinux:9", …)
//     and of no other release; language packages those of their kind's
//     ecosystem (vuln.KindEcosystem). The names of one ecosystem are asked
//     of the RecordSource in one call.
//   - Debian and Ubuntu (deb) packages match records of their source package
//     and of their binary package. Through the source package the source
//     version is compared (Package.SourceVersion; when the index has none,
//     the binary version without a binNMU "+bN" suffix, which Debian's
//     data never carries). Alpine, Wolfi and Chainguard (apk) packages
//     match on their origin (the source name, or the name when there is
//     none). RPM packages match on the binary name.
//   - A record affects the installed version when it lies in one of the
//     record's ranges (introduced ≤ v < fixed, or ≤ last_affected; an empty
//     or "0" introduced means from the start; ranges of type SEMVER are
//     compared as semantic versions, those of type ECOSYSTEM with the
//     ecosystem's ordering, others are ignored) or equals one of its
//     explicit versions. A record with neither ranges nor versions affects
//     every version when its status is unfixed or wont-fix.
//   - The fixed version shown is the smallest fix above the installed
//     version. Unfixed and wont-fix records are reported with that status.
//   - A not-affected record (which applies when it has no ranges or
//     versions, or they hold the installed version) is the distribution's
//     or the maintainers' statement that the package does not have the
//     vulnerability: it produces no finding, and it suppresses the finding
//     for the same vulnerability (its id, an alias, or one of the CVEs it
//     names) and the same package from the other sources of the ecosystem,
//     as a VEX not_affected statement would. MatchAll returns such statements
//     that applied, with the source's justification, beside the findings.
//     (Trivy keeps one
//     source per distribution and drops such entries when it builds its
//     database; with several sources for one ecosystem the statement of the
//     source that knows the package best has to win over a generic range.)
//   - One finding per vulnerability and installed package. The finding's
//     InstalledVersion is the package's own (binary) version, as installed.
//     Records are the same vulnerability when they share their id or an
//     alias, and only then: never through the CVEs a distribution advisory
//     fixes (Record.CVEs; an advisory's CVE aliases count as such, see
//     vuln.IsAdvisoryID), nor a vulnerability's alias naming an advisory,
//     nor OSV related ids (Record.Related). So an advisory such as
//     ALSA-2024:3339 or DSA-5514-1 is a finding of its own, listing the
//     CVEs it fixes in CVEs, unless every one of those CVEs is reported
//     for the package by a vulnerability's own record (the Debian
//     tracker's CVE beside the DSA): the advisory then adds no row, and
//     its id is listed in Related of those findings. A finding is shown under its smallest CVE id
//     where it has one, otherwise under the smallest record id; the
//     others are kept in Aliases; CVEs and Related are the union of the
//     records'. It keeps the highest severity and the source rating and
//     CVSS of the record that gave it (SeveritySource: its source).
//   - Findings are then enriched (enrich.go) from every current record,
//     of any ecosystem, about one of their ids (ID, Aliases, CVEs): the
//     severity when no matched record gives one, known exploitation and
//     EPSS.
//   - A version that does not parse never aborts the report: the
//     comparisons that need it are skipped and a warning says so.
package matcher

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/vuln/version"
)

// RecordSource gives the current vulnerability records of an ecosystem
// for a set of package names, and those of any ecosystem by id (which
// enrich findings); store.Store satisfies it.
type RecordSource interface {
	Records(ctx context.Context, ecosystem string, packages []string) ([]vuln.Record, error)
	// RecordsByID returns the current records whose ID is one of ids, of
	// any ecosystem and source (store.RecordLookup).
	RecordsByID(ctx context.Context, ids []string) ([]vuln.Record, error)
}

// Match matches the packages of idx against the records of src. It returns
// the findings, sorted by vuln.SortFindings, and warnings about what could
// not be decided (unknown distribution, versions that do not parse, records
// that make no sense); an error only when src fails or ctx is done.
func Match(ctx context.Context, src RecordSource, idx *model.ImageIndex) ([]vuln.Finding, []string, error) {
	res, err := MatchAll(ctx, src, idx)
	if err != nil {
		return nil, nil, err
	}
	return res.Findings, res.Warnings, nil
}

// target is one installed package to match and the names it is matched by.
type target struct {
	pkg     *vuln.Package
	lookups []lookup
}

// lookup is one name a package is matched by, and the version compared
// when a record names it.
type lookup struct {
	name string // normalised
	by   string // vuln.MatchedBySource, vuln.MatchedByBinary or ""
	ver  string
}

// ecoGroup is the work for one ecosystem: one query to the source.
type ecoGroup struct {
	ecosystem string
	eco       vuln.Ecosystem // its registry entry
	ord       version.Ordering
	names     []string
	targets   []target
}

type matcher struct {
	warnings []string
	warned   map[string]bool
	scratch  scratch
	na       *notAffected // not-affected statements, when collected (MatchAll)
}

// warn records a warning once.
func (m *matcher) warn(format string, args ...any) {
	s := fmt.Sprintf(format, args...)
	if !m.warned[s] {
		m.warned[s] = true
		m.warnings = append(m.warnings, s)
	}
}

// plan groups the packages of idx by ecosystem and works out the names
// each is looked up by.
func (m *matcher) plan(idx *model.ImageIndex) []*ecoGroup {
	byEco := map[string]*ecoGroup{}
	distroEco := vuln.DistributionEcosystem(idx.Distribution)
	unmatched := map[string]int{}
	for i := range idx.Packages {
		p := &idx.Packages[i]
		if p.Application == vuln.ApplicationUnpublished {
			continue // a private or versionless project: no advisory is about it
		}
		var eco string
		if vuln.DistributionKind(p.Kind) {
			eco = distroEco
			if eco == "" {
				unmatched["distribution "+describeDistro(idx.Distribution)+" has no vulnerability data model"]++
				continue
			}
			if e, _ := vuln.EcosystemOf(eco); e.Kind != p.Kind {
				unmatched[fmt.Sprintf("%s packages in a %s image", p.Kind, eco)]++
				continue
			}
		} else {
			eco = vuln.KindEcosystem(p.Kind)
			if eco == "" {
				unmatched[fmt.Sprintf("unknown package kind %q", p.Kind)]++
				continue
			}
		}
		g := byEco[eco]
		if g == nil {
			e, _ := vuln.EcosystemOf(eco)
			ord, _ := version.ByName(e.Ordering)
			g = &ecoGroup{ecosystem: eco, eco: e, ord: ord}
			byEco[eco] = g
		}
		t := target{pkg: p, lookups: lookups(g.eco, p)}
		for _, l := range t.lookups {
			g.names = append(g.names, l.name)
		}
		if raw := strings.TrimSpace(p.Name); raw != g.eco.NormalizeName(raw) {
			// Sources that do not normalise names store them as spelled.
			g.names = append(g.names, raw)
		}
		g.targets = append(g.targets, t)
	}
	for _, why := range sortedKeys(unmatched) {
		m.warn("%d package(s) not matched: %s", unmatched[why], why)
	}
	out := make([]*ecoGroup, 0, len(byEco))
	for _, g := range byEco {
		slices.Sort(g.names)
		g.names = slices.Compact(g.names)
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ecosystem < out[j].ecosystem })
	return out
}

func describeDistro(d *vuln.Distribution) string {
	if d.Empty() {
		return "(none detected)"
	}
	return strings.TrimSpace(d.ID + " " + d.VersionID)
}

// lookups returns the names a package is matched by in ecosystem e, as
// its registry entry's Match says.
func lookups(e vuln.Ecosystem, p *vuln.Package) []lookup {
	name := e.NormalizeName(p.Name)
	switch e.Match {
	case vuln.MatchSourceAndBinary:
		src := e.NormalizeName(p.SourceName)
		srcVer := p.SourceVersion
		if srcVer == "" {
			srcVer = stripBinNMU(p.Version)
		}
		if src == "" || src == name {
			// Without a Source: field the source package has the binary's
			// name and version.
			return []lookup{{name: name, by: vuln.MatchedBySource, ver: srcVer}}
		}
		return []lookup{
			{name: src, by: vuln.MatchedBySource, ver: srcVer},
			{name: name, by: vuln.MatchedByBinary, ver: p.Version},
		}
	case vuln.MatchOrigin:
		if src := e.NormalizeName(p.SourceName); src != "" {
			return []lookup{{name: src, by: vuln.MatchedBySource, ver: p.Version}}
		}
		return []lookup{{name: name, by: vuln.MatchedBySource, ver: p.Version}}
	case vuln.MatchBinary:
		return []lookup{{name: name, by: vuln.MatchedByBinary, ver: p.Version}}
	}
	return []lookup{{name: name, ver: p.Version}}
}

// stripBinNMU removes a binNMU suffix ("+b1") from a Debian binary version.
func stripBinNMU(v string) string {
	i := strings.LastIndex(v, "+b")
	if i < 0 || i+2 == len(v) {
		return v
	}
	for _, c := range v[i+2:] {
		if c < '0' || c > '9' {
			return v
		}
	}
	return v[:i]
}

// normName normalises a package name for comparison within an ecosystem
// (vuln.NormalizeName: the registry's name rule).
func normName(eco, name string) string { return vuln.NormalizeName(eco, name) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
