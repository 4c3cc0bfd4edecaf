package service

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// distroKinds are the package kinds matched against the image's
// distribution ecosystem rather than a language ecosystem of their own.
var distroKinds = map[string]bool{vuln.KindDeb: true, vuln.KindRPM: true, vuln.KindAPK: true}

// imageEcosystems counts the packages of idx by the ecosystem they are
// matched in: the distribution release's ecosystem ("Debian:12") for OS
// packages, their kind's for language packages. Packages that no
// ecosystem takes (an unknown distribution) are left out: the matcher
// warns of them already. Packages an OS package installed are matched as
// that package, so they do not count.
func imageEcosystems(idx *model.ImageIndex) map[string]int {
	out := map[string]int{}
	distro := vuln.DistributionEcosystem(idx.Distribution)
	for i := range idx.Packages {
		p := &idx.Packages[i]
		eco := vuln.KindEcosystem(p.Kind)
		if distroKinds[p.Kind] {
			eco = distro
		}
		if eco != "" {
			out[eco]++
		}
	}
	return out
}

// coverage works out which sources cover an image whose packages fall in
// ecos (imageEcosystems), and what no source covers. A source covers an
// ecosystem when its current data has records in it; enrichment sources
// (vuln.EcosystemEnrichment), which score vulnerabilities rather than
// packages, cover an image with findings. It returns the covering
// sources, by name, each with the age of its newest record at at, and
// one warning per ecosystem of the image that no source covers, in
// ecosystem order.
func coverage(ecos map[string]int, data []store.SourceData, findings int, at time.Time) ([]report.DataSource, []string) {
	covered := map[string]bool{}
	out := []report.DataSource{}
	for i := range data {
		d := &data[i]
		var covers []string
		for eco := range ecos {
			if d.Ecosystems[eco] > 0 {
				covers = append(covers, eco)
				covered[eco] = true
			}
		}
		if findings > 0 && d.Ecosystems[vuln.EcosystemEnrichment] > 0 {
			covers = append(covers, vuln.EcosystemEnrichment)
		}
		if len(covers) == 0 {
			continue
		}
		sort.Strings(covers)
		ds := report.DataSource{
			Name: d.Source, Type: d.Type, Operation: d.Operation, UpdatedAt: d.UpdatedAt,
			Age: report.Age(d.NewestRecord, at), Covers: covers,
		}
		if !d.NewestRecord.IsZero() {
			t := d.NewestRecord
			ds.NewestRecord = &t
		}
		out = append(out, ds)
	}
	slices.SortFunc(out, func(a, b report.DataSource) int {
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	var warnings []string
	names := make([]string, 0, len(ecos))
	for eco := range ecos {
		names = append(names, eco)
	}
	sort.Strings(names)
	for _, eco := range names {
		if !covered[eco] {
			warnings = append(warnings, uncoveredWarning(eco, ecos[eco]))
		}
	}
	return out, warnings
}

// uncoveredWarning is the warning for an ecosystem of the image, holding
// n of its packages, that no source covers.
func uncoveredWarning(eco string, n int) string {
	pkgs := "packages"
	if n == 1 {
		pkgs = "package"
	}
	return fmt.Sprintf("no vulnerability source covers %s; findings for its %d %s cannot be reported", eco, n, pkgs)
}
