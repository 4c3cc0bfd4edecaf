package csaf

import (
	"crypto/sha256"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/lapps/lapps/vuln"
	"github.com/lapps/lapps/vuln/version"
)

// key is what one record is about.
type key struct{ id, eco, pkg string }

// fix is a fixed record being built: the smallest fixed EVR of a
// document's products in one ecosystem for one package.
type fix struct {
	vex      bool
	evr      string
	parsed   version.Version
	stream   string
	cves     []string // a set, kept sorted: a few CVEs, where a map would take hundreds of bytes
	severity vuln.Severity
	rating   string
	cvss     []vuln.CVSS
	meta     *meta
}

// statement is an affected or not-affected record being built.
type statement struct {
	vex           bool
	status        vuln.Status
	justification string
	severity      vuln.Severity
	rating        string
	cvss          []vuln.CVSS
	meta          *meta
	released      time.Time
}

// meta is what records take from their document.
type meta struct {
	id, title, description string
	aliases                []string
	links                  []string
	published, modified    time.Time
}

// collector gathers the facts of a feed's documents and turns them into
// records (see the package documentation for the deduplication rules).
//
// An advisory's fixes are records of their own as soon as its document is
// read: they are handed to emit then, and only the (CVE, ecosystem,
// package) they fix is kept, to drop the VEX statements that repeat them.
// A feed's VEX fixes and statements are kept until every document is
// read, since the rules that choose between them need all of them. Fixes
// of one advisory id in several documents are emitted once per document
// and merged as Parser.Merge says.
type collector struct {
	// emit takes an advisory's fixed records as its document is read
	// (records of the same key may follow from later documents).
	emit func(vuln.Record) error
	// fixes are the VEX documents' fixes (and, while a document is
	// added, its own advisory fixes: see add).
	fixes      map[key]*fix
	statements map[key]*statement
	// advisoryCVEs holds, as a hash (16 bytes where the three strings
	// would take a hundred; a collision is 2^-128 unlikely), each
	// (CVE, ecosystem, package) an advisory of the feed fixes.
	advisoryCVEs map[[16]byte]struct{}
	skips        map[string]int
}

func newCollector(emit func(vuln.Record) error) *collector {
	return &collector{emit: emit, fixes: map[key]*fix{}, statements: map[key]*statement{},
		advisoryCVEs: map[[16]byte]struct{}{}, skips: map[string]int{}}
}

// cveKey is the hash of (cve, eco, pkg) in advisoryCVEs.
func cveKey(k key) [16]byte {
	h := sha256.Sum256([]byte(k.id + "\x00" + k.eco + "\x00" + k.pkg))
	return [16]byte(h[:16])
}

// rlsaRE finds the Rocky Linux advisory a CIQ advisory republishes, which
// OSV's Rocky Linux data names it by.
var rlsaRE = regexp.MustCompile(`\bRL[SBE]A-\d{4}:\d+\b`)

// resolved is a product_status id resolved to an ecosystem and an RPM.
type resolved struct {
	eco string
	rpm rpm
}

// add adds the facts of one document; an advisory's fixes are emitted.
func (c *collector) add(doc *document) error {
	d := &doc.Document
	vex := d.Category == "csaf_vex"
	if d.Tracking.ID == "" || (!vex && d.Category != "csaf_security_advisory") {
		c.skips[SkipDocument]++
		return nil
	}
	fixes := c.fixes
	if !vex {
		// This advisory's fixes, emitted once it is read.
		fixes = map[key]*fix{}
	}
	m := &meta{
		id:        strings.TrimSpace(d.Tracking.ID),
		title:     d.Title,
		published: parseTime(d.Tracking.InitialReleaseDate),
		modified:  parseTime(d.Tracking.CurrentReleaseDate),
	}
	for _, n := range d.Notes {
		if n.Category == "description" || (m.description == "" && n.Category == "summary") {
			m.description = n.Text
		}
	}
	for _, r := range d.References {
		if r.URL != "" && len(m.links) < 16 {
			m.links = append(m.links, r.URL)
		}
		if !vex {
			if a := rlsaRE.FindString(r.Summary); a != "" && a != m.id && !contains(m.aliases, a) {
				m.aliases = append(m.aliases, a)
			}
		}
	}
	products := map[string]product{}
	var walk func([]branch)
	walk = func(bs []branch) {
		for i := range bs {
			if p := bs[i].Product; p != nil && p.ProductID != "" {
				products[p.ProductID] = *p
			}
			walk(bs[i].Branches)
		}
	}
	walk(doc.ProductTree.Branches)
	for _, p := range doc.ProductTree.FullProductNames {
		products[p.ProductID] = p
	}
	rels := map[string]relationship{}
	for _, r := range doc.ProductTree.Relationships {
		if r.Category == "default_component_of" {
			rels[r.FullProductName.ProductID] = r
		}
	}
	cache := map[string]*resolved{}
	resolve := func(pid string) *resolved {
		if r, ok := cache[pid]; ok {
			return r
		}
		var out *resolved
		defer func() { cache[pid] = out }()
		rel, ok := rels[pid]
		if !ok {
			c.skips[SkipUnresolved]++
			return nil
		}
		comp, ok := parseComponent(products[rel.ProductReference], rel.ProductReference)
		if !ok {
			c.skips[SkipUnresolved]++
			return nil
		}
		eco := ecosystemOf(products[rel.RelatesTo], comp.evr)
		if eco == "" {
			c.skips[SkipProduct]++
			return nil
		}
		out = &resolved{eco: eco, rpm: comp}
		return out
	}
	for i := range doc.Vulnerabilities {
		v := &doc.Vulnerabilities[i]
		cve := strings.TrimSpace(v.CVE)
		flags := map[string]string{}
		for _, f := range v.Flags {
			for _, p := range f.ProductIDs {
				flags[p] = f.Label
			}
		}
		noFix := map[string]bool{}
		for _, r := range v.Remediations {
			if r.Category == "no_fix_planned" {
				for _, p := range r.ProductIDs {
					noFix[p] = true
				}
			}
		}
		for status, ids := range v.ProductStatus {
			switch status {
			case "fixed", "first_fixed":
			case "known_affected", "first_affected", "last_affected":
			case "known_not_affected":
			case "under_investigation":
				c.skips[SkipInvestigation] += len(ids)
				continue
			default:
				continue
			}
			for _, pid := range ids {
				r := resolve(pid)
				if r == nil {
					continue
				}
				sev, rating := impact(v, pid, d.AggregateSeverity.Text)
				cvss := scores(v, pid)
				switch status {
				case "fixed", "first_fixed":
					c.addFix(fixes, vex, m, cve, r, sev, rating, cvss)
				default:
					if cve == "" {
						continue
					}
					st := &statement{vex: vex, severity: sev, rating: rating, cvss: cvss, meta: m, released: parseTime(v.ReleaseDate)}
					switch {
					case status == "known_not_affected":
						st.status = vuln.StatusNotAffected
						st.justification = flags[pid]
					case noFix[pid]:
						st.status = vuln.StatusWontFix
					default:
						st.status = vuln.StatusUnfixed
					}
					c.addStatement(key{cve, r.eco, r.rpm.name}, st)
				}
			}
		}
	}
	if vex {
		return nil
	}
	for k, f := range fixes {
		for _, cve := range f.cves {
			c.advisoryCVEs[cveKey(key{cve, k.eco, k.pkg})] = struct{}{}
		}
		if err := c.emit(fixedRecord(k, f)); err != nil {
			return err
		}
	}
	return nil
}

func (c *collector) addFix(fixes map[key]*fix, vex bool, m *meta, cve string, r *resolved, sev vuln.Severity, rating string, cvss []vuln.CVSS) {
	if r.rpm.evr == "" {
		c.skips[SkipVersion]++
		return
	}
	id := m.id
	if vex {
		if cve == "" {
			return
		}
		id = cve
	}
	parsed, err := rpmOrder.Parse(r.rpm.evr)
	if err != nil {
		c.skips[SkipVersion]++
		return
	}
	k := key{id, r.eco, r.rpm.name}
	f := fixes[k]
	if f == nil {
		f = &fix{vex: vex, evr: r.rpm.evr, parsed: parsed, stream: r.rpm.stream, meta: m}
		fixes[k] = f
	} else if parsed.Compare(f.parsed) < 0 {
		f.evr, f.parsed, f.stream = r.rpm.evr, parsed, r.rpm.stream
	}
	if cve != "" {
		if i, found := slices.BinarySearch(f.cves, cve); !found {
			f.cves = slices.Insert(f.cves, i, cve)
		}
	}
	if sev > f.severity {
		f.severity, f.rating = sev, rating
	}
	// Only ratings not seen yet: a fix of many products would otherwise
	// keep the same rating once per product.
	for _, v := range cvss {
		if !slices.Contains(f.cvss, v) {
			f.cvss = append(f.cvss, v)
		}
	}
}

func (c *collector) addStatement(k key, st *statement) {
	old := c.statements[k]
	switch {
	case old == nil:
	case old.vex && !st.vex:
		return
	case old.vex == st.vex && !st.released.After(old.released) && st.meta.modified.Before(old.meta.modified):
		return
	}
	c.statements[k] = st
}

// impact returns the severity a vulnerability's threats of category
// impact give a product (or the document's aggregate severity).
func impact(v *vulnerability, pid, aggregate string) (vuln.Severity, string) {
	for _, t := range v.Threats {
		if t.Category != "impact" {
			continue
		}
		if len(t.ProductIDs) == 0 || contains(t.ProductIDs, pid) {
			if s := severityOf(t.Details); s != vuln.SeverityUnknown {
				return s, t.Details
			}
		}
	}
	if s := severityOf(aggregate); s != vuln.SeverityUnknown {
		return s, aggregate
	}
	return vuln.SeverityUnknown, ""
}

// scores returns the CVSS v3 ratings of a product.
func scores(v *vulnerability, pid string) []vuln.CVSS {
	var out []vuln.CVSS
	for _, s := range v.Scores {
		if s.CVSSv3 == nil || s.CVSSv3.VectorString == "" {
			continue
		}
		if len(s.Products) > 0 && !contains(s.Products, pid) {
			continue
		}
		ver := s.CVSSv3.Version
		if ver == "" {
			ver = "3.1"
		}
		out = append(out, vuln.CVSS{Version: ver, Vector: s.CVSSv3.VectorString, Score: s.CVSSv3.BaseScore})
	}
	return out
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// each turns the facts kept until every document was read (VEX fixes
// and statements) into records, deduplicated against each other and the
// advisories' fixes, and hands them to emit one at a time, in no
// particular order.
func (c *collector) each(emit func(vuln.Record) error) error {
	for k, f := range c.fixes {
		if _, dup := c.advisoryCVEs[cveKey(k)]; dup && f.vex {
			c.skips[SkipDuplicate]++
			continue
		}
		if err := emit(fixedRecord(k, f)); err != nil {
			return err
		}
	}
	for k, st := range c.statements {
		if _, dup := c.advisoryCVEs[cveKey(k)]; dup || c.fixes[k] != nil {
			c.skips[SkipDuplicate]++
			continue
		}
		r := st.meta.record(k)
		r.Aliases = nil
		r.Status = st.status
		r.Justification = st.justification
		r.Severity, r.SourceSeverity, r.CVSS = st.severity, st.rating, sortCVSS(st.cvss)
		if err := emit(r); err != nil {
			return err
		}
	}
	return nil
}

// fixedRecord is the record of fix f of k.
func fixedRecord(k key, f *fix) vuln.Record {
	r := f.meta.record(k)
	r.Status = vuln.StatusFixed
	r.Ranges = []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: introduced(f.stream, k.pkg, f.evr), Fixed: f.evr}}
	if !f.vex {
		r.CVEs = slices.Clone(f.cves)
	}
	r.Severity, r.SourceSeverity, r.CVSS = f.severity, f.rating, sortCVSS(f.cvss)
	return r
}

// merge merges the records of one key in the order they were emitted:
// an advisory's fixes of one package in several documents (the same
// advisory id), as one collector would have merged their facts — the
// smallest fixed version with its range, the union of CVEs and CVSS
// ratings, the highest severity (the first that gave it), the rest from
// the first. Of records not all fixed, a fixed one wins, as in each.
func merge(parts []vuln.Record) vuln.Record {
	var fixed []vuln.Record
	for _, p := range parts {
		if p.Status == vuln.StatusFixed && len(p.Ranges) == 1 {
			fixed = append(fixed, p)
		}
	}
	if len(fixed) == 0 {
		return parts[len(parts)-1]
	}
	m := fixed[0]
	m.CVEs, m.CVSS = slices.Clone(m.CVEs), slices.Clone(m.CVSS)
	best, _ := rpmOrder.Parse(m.Ranges[0].Fixed)
	for _, p := range fixed[1:] {
		if v, err := rpmOrder.Parse(p.Ranges[0].Fixed); err == nil && (best == nil || v.Compare(best) < 0) {
			best, m.Ranges = v, p.Ranges
		}
		for _, cve := range p.CVEs {
			if i, found := slices.BinarySearch(m.CVEs, cve); !found {
				m.CVEs = slices.Insert(m.CVEs, i, cve)
			}
		}
		if p.Severity > m.Severity {
			m.Severity, m.SourceSeverity = p.Severity, p.SourceSeverity
		}
		for _, v := range p.CVSS {
			if !slices.Contains(m.CVSS, v) {
				m.CVSS = append(m.CVSS, v)
			}
		}
	}
	m.CVSS = sortCVSS(m.CVSS)
	return m
}

func (m *meta) record(k key) vuln.Record {
	r := vuln.Record{
		ID: k.id, Ecosystem: k.eco, Package: k.pkg,
		Title: m.title, Description: m.description,
		Links: m.links, Published: m.published, Modified: m.modified,
	}
	if k.id == m.id {
		r.Aliases = m.aliases
	}
	return r
}

// introduced is the start of a module package's range: for a package of
// the module's own name ("ruby", "ruby-libs" of stream "ruby:2.5"), the
// stream's version when the fixed version lies in it (2.5.9-111… →
// "2.5"); else "0".
func introduced(stream, pkg, evr string) string {
	mod, sv, ok := strings.Cut(stream, ":")
	if !ok || sv == "" || sv[0] < '0' || sv[0] > '9' || (pkg != mod && !strings.HasPrefix(pkg, mod+"-")) {
		return "0"
	}
	epoch, ver := "", evr
	if e, v, ok := strings.Cut(evr, ":"); ok {
		epoch, ver = e+":", v
	}
	if ver == sv || strings.HasPrefix(ver, sv+".") || strings.HasPrefix(ver, sv+"-") {
		return epoch + sv
	}
	return "0"
}
