// Package cyclonedx writes image reports as CycloneDX 1.6 JSON SBOMs (with
// their vulnerabilities, a VDR) through the CycloneDX Go library, and
// registers the format "cyclonedx" with package report.
//
// The image is the metadata component (type container, purl pkg:oci/…),
// its distribution an operating-system component, every package of the
// report (Packages and OSOwnedPackages) a library component with its purl,
// licenses and the layer and database path it came from as lapps:
// properties; the findings are the vulnerabilities, and the sources'
// not-affected statements are vulnerabilities with an analysis.
package cyclonedx

import (
	"fmt"
	"io"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	cdx "github.com/CycloneDX/cyclonedx-go"
	"github.com/google/uuid"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/internal/sbom"
	"github.com/lapps/lapps/vuln"
)

// MediaType is the media type of the format.
const MediaType = "application/vnd.cyclonedx+json; version=1.6"

// Property names, in the lapps namespace as Trivy uses aquasecurity:trivy:.
const (
	PropLayer          = "lapps:layer"
	PropDBPath         = "lapps:db_path"
	PropSourceName     = "lapps:source_name"
	PropSourceVersion  = "lapps:source_version"
	PropOSOwned        = "lapps:os_owned_by"
	PropApplication    = "lapps:application"
	PropKnownExploited = "lapps:known_exploited"
	PropKEVDateAdded   = "lapps:known_exploited:date_added"
	PropKEVDueDate     = "lapps:known_exploited:due_date"
	PropKEVRansomware  = "lapps:known_exploited:ransomware_use"
	PropEPSSScore      = "lapps:epss:score"
	PropEPSSPercentile = "lapps:epss:percentile"
	PropEPSSDate       = "lapps:epss:date"
	PropStatus         = "lapps:status"
	PropSources        = "lapps:sources"
	PropManifestDigest = "lapps:manifest_digest"
	PropScanIndex      = "lapps:scan_index"
	PropLive           = "lapps:live"
	// PropConfigFinding and PropSecret carry the checks' findings on the
	// image component (CycloneDX has no type for a misconfiguration or a
	// secret): "ID|severity|layer|path|detail" and
	// "rule|severity|path:line|layer|preview", the secret redacted.
	PropConfigFinding = "lapps:config_finding"
	PropSecret        = "lapps:secret"
)

func init() {
	report.Register(report.Format{Name: "cyclonedx", MediaType: MediaType, Write: Write})
}

// Write writes r to w as an indented CycloneDX 1.6 JSON document.
func Write(w io.Writer, r *report.Report) error {
	bom := BOM(r)
	enc := cdx.NewBOMEncoder(w, cdx.BOMFileFormatJSON)
	enc.SetPretty(true).SetEscapeHTML(false)
	if err := enc.Encode(bom); err != nil {
		return fmt.Errorf("cyclonedx: %w", err)
	}
	return nil
}

// BOM builds the CycloneDX 1.6 document of r. Its serial number is a UUID
// derived from the manifest digest and the generation time, so that the
// same report always gives the same document.
func BOM(r *report.Report) *cdx.BOM {
	bom := &cdx.BOM{
		JSONSchema:   "http://cyclonedx.org/schema/bom-1.6.schema.json",
		BOMFormat:    cdx.BOMFormat,
		SpecVersion:  cdx.SpecVersion1_6,
		Version:      1,
		SerialNumber: SerialNumber(r),
	}
	image := imageComponent(r)
	bom.Metadata = &cdx.Metadata{
		Timestamp: r.GeneratedAt.UTC().Format(time.RFC3339),
		Tools: &cdx.ToolsChoice{Components: &[]cdx.Component{{
			Type: cdx.ComponentTypeApplication, Name: "lapps", Group: "github.com/lapps", Version: sbom.ToolVersion(),
		}}},
		Component: &image,
	}

	refs := newRefs()
	refs.taken[image.BOMRef] = true
	var comps []cdx.Component
	var osRef string
	if d := r.Distribution; !d.Empty() {
		osRef = refs.add("os:" + d.ID + "@" + firstNonEmpty(d.VersionID, d.Version))
		comps = append(comps, cdx.Component{
			BOMRef: osRef, Type: cdx.ComponentTypeOS, Name: d.ID,
			Version: firstNonEmpty(d.VersionID, d.Version), Description: d.PrettyName, CPE: validCPE(d.CPE),
		})
	}

	// Packages, then those an OS package installed: bom-refs are the
	// purls, made unique by the database path, then a counter.
	type entry struct {
		p   *vuln.Package
		ref string
	}
	all := make([]entry, 0, len(r.Packages)+len(r.OSOwnedPackages))
	index := map[string]string{}  // kind, db path, name, version → ref
	byPURL := map[string]string{} // first ref of a purl
	osPkgs := map[string]string{} // "kind name" of OS packages → ref
	add := func(p *vuln.Package, owned bool) {
		base := p.PURL
		if base == "" {
			base = "lapps:" + p.Kind + "/" + p.Name + "@" + p.Version
		}
		if refs.taken[base] && p.DBPath != "" {
			base += "#" + p.DBPath
		}
		ref := refs.add(base)
		all = append(all, entry{p, ref})
		index[findKey(p.Kind, p.DBPath, p.Name, p.Version)] = ref
		if _, ok := byPURL[p.PURL]; !ok && p.PURL != "" {
			byPURL[p.PURL] = ref
		}
		if isOSKind(p.Kind) && !owned {
			if _, ok := osPkgs[p.Kind+" "+p.Name]; !ok {
				osPkgs[p.Kind+" "+p.Name] = ref
			}
		}
		comps = append(comps, component(p, ref))
	}
	for i := range r.Packages {
		add(&r.Packages[i], false)
	}
	for i := range r.OSOwnedPackages {
		add(&r.OSOwnedPackages[i], true)
	}
	if len(comps) > 0 {
		bom.Components = &comps
	}

	// Dependencies: the image on its OS and the packages no OS package
	// installed, the OS on its packages, an OS package on the language
	// packages read from its files.
	imageDeps, osDeps := []string{}, []string{}
	if osRef != "" {
		imageDeps = append(imageDeps, osRef)
	}
	owned := map[string][]string{}
	for _, e := range all {
		switch {
		case e.p.OwnedBy != "" && osPkgs[e.p.OwnedBy] != "":
			owner := osPkgs[e.p.OwnedBy]
			owned[owner] = append(owned[owner], e.ref)
		case isOSKind(e.p.Kind) && osRef != "":
			osDeps = append(osDeps, e.ref)
		default:
			imageDeps = append(imageDeps, e.ref)
		}
	}
	deps := []cdx.Dependency{{Ref: image.BOMRef, Dependencies: &imageDeps}}
	if osRef != "" {
		deps = append(deps, cdx.Dependency{Ref: osRef, Dependencies: &osDeps})
	}
	for _, e := range all {
		d := cdx.Dependency{Ref: e.ref}
		if o := owned[e.ref]; len(o) > 0 {
			d.Dependencies = &o
		}
		deps = append(deps, d)
	}
	bom.Dependencies = &deps

	vulns := make([]cdx.Vulnerability, 0, len(r.Vulnerabilities)+len(r.NotAffected))
	for i := range r.Vulnerabilities {
		f := &r.Vulnerabilities[i]
		ref := index[findKey(f.PackageKind, f.DBPath, f.Package, f.InstalledVersion)]
		if ref == "" {
			ref = byPURL[f.PURL]
		}
		vulns = append(vulns, vulnerability(f, ref))
	}
	for i := range r.NotAffected {
		na := &r.NotAffected[i]
		var refs []string
		for _, e := range all {
			if e.p.Name == na.Package && e.p.Version == na.Version {
				refs = append(refs, e.ref)
			}
		}
		vulns = append(vulns, notAffected(na, refs))
	}
	if len(vulns) > 0 {
		bom.Vulnerabilities = &vulns
	}
	return bom
}

func findKey(kind, dbPath, name, version string) string {
	return kind + "\x00" + dbPath + "\x00" + name + "\x00" + version
}

func isOSKind(k string) bool { return k == vuln.KindDeb || k == vuln.KindAPK || k == vuln.KindRPM }

// refs hands out unique bom-refs.
type refs struct{ taken map[string]bool }

func newRefs() *refs { return &refs{taken: map[string]bool{}} }

func (r *refs) add(base string) string {
	ref := base
	for n := 2; r.taken[ref]; n++ {
		ref = base + "#" + strconv.Itoa(n)
	}
	r.taken[ref] = true
	return ref
}

// SerialNumber is the document's serial number: a name-based (SHA-1) UUID
// of the manifest digest and the generation time.
func SerialNumber(r *report.Report) string {
	return "urn:uuid:" + uuid.NewSHA1(uuid.NameSpaceURL, []byte("lapps:"+r.ManifestDigest+"@"+r.GeneratedAt.UTC().Format(time.RFC3339Nano))).String()
}

func imageComponent(r *report.Report) cdx.Component {
	c := cdx.Component{
		BOMRef:     firstNonEmpty(sbom.ImagePURL(r.Image, r.ManifestDigest), "lapps:image:"+r.Image+"@"+r.ManifestDigest),
		Type:       cdx.ComponentTypeContainer,
		Name:       r.Image,
		Version:    r.ManifestDigest,
		PackageURL: sbom.ImagePURL(r.Image, r.ManifestDigest),
	}
	props := []cdx.Property{{Name: PropScanIndex, Value: strconv.Itoa(r.ScanIndex)}, {Name: PropLive, Value: strconv.FormatBool(r.Live)}}
	if r.ManifestDigest != "" {
		props = append(props, cdx.Property{Name: PropManifestDigest, Value: r.ManifestDigest})
	}
	for _, l := range r.Layers {
		if l.Digest != "" {
			props = append(props, cdx.Property{Name: PropLayer, Value: l.Digest})
		}
	}
	for _, f := range r.ConfigFindings {
		props = append(props, cdx.Property{Name: PropConfigFinding, Value: strings.Join([]string{f.ID, f.Severity.String(), f.Layer, f.Path, f.Detail}, "|")})
	}
	for _, s := range r.Secrets {
		props = append(props, cdx.Property{Name: PropSecret, Value: strings.Join([]string{s.Rule, s.Severity.String(), fmt.Sprintf("%s:%d", s.Path, s.Line), s.Layer, s.Preview}, "|")})
	}
	c.Properties = &props
	return c
}

func component(p *vuln.Package, ref string) cdx.Component {
	c := cdx.Component{
		BOMRef: ref, Type: cdx.ComponentTypeLibrary, Name: p.Name, Version: p.Version, PackageURL: p.PURL,
	}
	if p.Kind == vuln.KindMaven {
		if g, a, ok := strings.Cut(p.Name, ":"); ok {
			c.Group, c.Name = g, a
		}
	}
	if ls := Licenses(p.Licenses); ls != nil {
		c.Licenses = ls
	}
	var props []cdx.Property
	addProp := func(k, v string) {
		if v != "" {
			props = append(props, cdx.Property{Name: k, Value: v})
		}
	}
	addProp(PropLayer, p.Layer)
	addProp(PropDBPath, p.DBPath)
	addProp(PropSourceName, p.SourceName)
	if p.SourceVersion != p.Version {
		addProp(PropSourceVersion, p.SourceVersion)
	}
	addProp(PropOSOwned, p.OwnedBy)
	addProp(PropApplication, p.Application)
	if len(props) > 0 {
		c.Properties = &props
	}
	return c
}

// Licenses returns the CycloneDX licenses of a package's declared
// licenses: one expression when every one is a valid SPDX expression
// (several are joined with AND), otherwise each as a license name (the
// schema allows either expressions or licenses, not both); nil for none.
func Licenses(ls []string) *cdx.Licenses {
	var clean, exprs []string
	for _, l := range ls {
		if l = strings.TrimSpace(l); l != "" {
			clean = append(clean, l)
			if n := sbom.NormalizeLicense(l); n != "" {
				exprs = append(exprs, n)
			}
		}
	}
	if len(clean) == 0 {
		return nil
	}
	if len(exprs) == len(clean) {
		expr := exprs[0]
		if len(exprs) > 1 {
			for i, e := range exprs {
				if strings.Contains(e, " ") {
					exprs[i] = "(" + e + ")"
				}
			}
			expr = strings.Join(exprs, " AND ")
		}
		return &cdx.Licenses{{Expression: expr}}
	}
	out := make(cdx.Licenses, len(clean))
	for i, l := range clean {
		out[i] = cdx.LicenseChoice{License: &cdx.License{Name: l}}
	}
	return &out
}

// Source returns the source of a vulnerability id by its prefix: the
// database it comes from and the id's page there.
func Source(id string) *cdx.Source {
	pre, _, _ := strings.Cut(id, "-")
	id = url.PathEscape(id)
	switch strings.ToUpper(pre) {
	case "CVE":
		return &cdx.Source{Name: "NVD", URL: "https://nvd.nist.gov/vuln/detail/" + id}
	case "GHSA":
		return &cdx.Source{Name: "GitHub Advisory Database", URL: "https://github.com/advisories/" + id}
	case "GO":
		return &cdx.Source{Name: "Go Vulnerability Database", URL: "https://pkg.go.dev/vuln/" + id}
	case "PYSEC":
		return &cdx.Source{Name: "PyPA Advisory Database", URL: "https://osv.dev/vulnerability/" + id}
	case "RUSTSEC":
		return &cdx.Source{Name: "RustSec Advisory Database", URL: "https://rustsec.org/advisories/" + id}
	case "DSA", "DLA", "DTSA", "TEMP":
		return &cdx.Source{Name: "Debian Security Tracker", URL: "https://security-tracker.debian.org/tracker/" + id}
	case "USN", "UBUNTU":
		return &cdx.Source{Name: "Ubuntu Security Notices", URL: "https://ubuntu.com/security/notices/" + strings.TrimPrefix(id, "USN-")}
	case "ALSA", "ALBA", "ALEA":
		return &cdx.Source{Name: "AlmaLinux Errata", URL: "https://errata.almalinux.org/"}
	case "RLSA", "RLBA", "RLEA":
		return &cdx.Source{Name: "Rocky Linux Errata", URL: "https://errata.rockylinux.org/" + id}
	case "RHSA", "RHBA", "RHEA":
		return &cdx.Source{Name: "Red Hat", URL: "https://access.redhat.com/errata/" + id}
	case "ALPINE":
		return &cdx.Source{Name: "Alpine SecDB", URL: "https://security.alpinelinux.org/"}
	}
	return &cdx.Source{Name: "OSV", URL: "https://osv.dev/vulnerability/" + id}
}

// Method returns the CycloneDX scoring method of a CVSS version.
func Method(version string) cdx.ScoringMethod {
	switch version {
	case "2.0", "2":
		return cdx.ScoringMethodCVSSv2
	case "3.0", "3":
		return cdx.ScoringMethodCVSSv3
	case "3.1":
		return cdx.ScoringMethodCVSSv31
	case "4.0", "4":
		return cdx.ScoringMethodCVSSv4
	}
	return cdx.ScoringMethodOther
}

// severity maps a lapps severity to CycloneDX's (negligible is "none").
func severity(s vuln.Severity) cdx.Severity {
	switch s {
	case vuln.SeverityCritical:
		return cdx.SeverityCritical
	case vuln.SeverityHigh:
		return cdx.SeverityHigh
	case vuln.SeverityMedium:
		return cdx.SeverityMedium
	case vuln.SeverityLow:
		return cdx.SeverityLow
	case vuln.SeverityNegligible:
		return cdx.SeverityNone
	}
	return cdx.SeverityUnknown
}

func vulnerability(f *vuln.Finding, ref string) cdx.Vulnerability {
	v := cdx.Vulnerability{
		ID:          f.ID,
		Source:      Source(f.ID),
		Description: f.Title,
	}
	// References: the other ids of the vulnerability, with their sources.
	var vrefs []cdx.VulnerabilityReference
	seen := map[string]bool{f.ID: true}
	for _, ids := range [][]string{f.Aliases, f.CVEs} {
		for _, id := range ids {
			if id != "" && !seen[id] {
				seen[id] = true
				vrefs = append(vrefs, cdx.VulnerabilityReference{ID: id, Source: Source(id)})
			}
		}
	}
	if len(vrefs) > 0 {
		v.References = &vrefs
	}
	// Ratings: the severity lapps gives, from its source, then each CVSS
	// rating.
	var src *cdx.Source
	if f.SeveritySource != "" {
		src = &cdx.Source{Name: f.SeveritySource}
	}
	ratings := []cdx.VulnerabilityRating{{Source: src, Severity: severity(f.Severity), Justification: sourceSeverity(f)}}
	for _, c := range f.CVSS {
		r := cdx.VulnerabilityRating{Source: src, Method: Method(c.Version), Vector: c.Vector}
		if c.Score > 0 && c.Score <= 10 {
			score := c.Score
			r.Score = &score
			r.Severity = severity(vuln.CVSSSeverity(c))
		}
		ratings = append(ratings, r)
	}
	v.Ratings = &ratings
	if len(f.Links) > 0 {
		adv := make([]cdx.Advisory, 0, len(f.Links))
		for _, l := range f.Links {
			if validURL(l) {
				adv = append(adv, cdx.Advisory{URL: l})
			}
		}
		if len(adv) > 0 {
			v.Advisories = &adv
		}
	}
	if f.FixedVersion != "" {
		v.Recommendation = "Upgrade " + f.Package + " to " + f.FixedVersion + " or later."
	}
	if ref != "" {
		v.Affects = &[]cdx.Affects{affects(ref, f.InstalledVersion, cdx.VulnerabilityStatusAffected)}
	}
	var props []cdx.Property
	addProp := func(k, val string) {
		if val != "" {
			props = append(props, cdx.Property{Name: k, Value: val})
		}
	}
	addProp(PropStatus, string(f.Status))
	addProp(PropSources, f.Source)
	if k := f.KnownExploited; k != nil {
		addProp(PropKnownExploited, "true")
		addProp(PropKEVDateAdded, k.DateAdded)
		addProp(PropKEVDueDate, k.DueDate)
		addProp(PropKEVRansomware, strconv.FormatBool(k.RansomwareUse))
	}
	if e := f.EPSS; e != nil {
		addProp(PropEPSSScore, strconv.FormatFloat(e.Score, 'f', -1, 64))
		addProp(PropEPSSPercentile, strconv.FormatFloat(e.Percentile, 'f', -1, 64))
		addProp(PropEPSSDate, e.Date)
	}
	if len(props) > 0 {
		v.Properties = &props
	}
	return v
}

// sourceSeverity explains the severity rating: the source's own word for
// it, when it differs from the normalised one.
func sourceSeverity(f *vuln.Finding) string {
	if f.SourceSeverity != "" && !strings.EqualFold(f.SourceSeverity, f.Severity.String()) {
		return "source severity: " + f.SourceSeverity
	}
	return ""
}

// Justification maps a CSAF/OpenVEX not-affected justification to
// CycloneDX's, "" where CycloneDX has no equivalent.
func Justification(j string) cdx.ImpactAnalysisJustification {
	switch j {
	case "component_not_present", "vulnerable_code_not_present":
		return cdx.IAJCodeNotPresent
	case "vulnerable_code_not_in_execute_path":
		return cdx.IAJCodeNotReachable
	case "inline_mitigations_already_exist":
		return cdx.IAJProtectedByMitigatingControl
	}
	return ""
}

func notAffected(na *vuln.NotAffected, refs []string) cdx.Vulnerability {
	v := cdx.Vulnerability{
		ID:     na.ID,
		Source: Source(na.ID),
		Analysis: &cdx.VulnerabilityAnalysis{
			State:         cdx.IASNotAffected,
			Justification: Justification(na.Justification),
			Detail:        strings.TrimSpace(fmt.Sprintf("%s states that %s %s (%s) is not affected. %s", na.Source, na.Package, na.Version, na.Ecosystem, justificationDetail(na.Justification))),
		},
	}
	if len(refs) > 0 {
		sort.Strings(refs)
		as := make([]cdx.Affects, len(refs))
		for i, ref := range refs {
			as[i] = affects(ref, na.Version, cdx.VulnerabilityStatusNotAffected)
		}
		v.Affects = &as
	}
	return v
}

// affects is an affects entry of ref, with the version and its status
// when the version is known.
func affects(ref, version string, status cdx.VulnerabilityStatus) cdx.Affects {
	a := cdx.Affects{Ref: ref}
	if version != "" {
		a.Range = &[]cdx.AffectedVersions{{Version: version, Status: status}}
	}
	return a
}

// validURL reports whether s is an absolute http(s) URL without spaces or
// control characters: links come from the feeds, and the schema wants
// IRI references.
func validURL(s string) bool {
	if strings.IndexFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == utf8.RuneError }) >= 0 {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != ""
}

func justificationDetail(j string) string {
	if j == "" {
		return ""
	}
	return "Justification: " + j + "."
}

// validCPE returns cpe when it is a CPE 2.3 formatted string or a CPE 2.2
// URI (the schema accepts either), "" otherwise.
func validCPE(cpe string) string {
	if strings.HasPrefix(cpe, "cpe:2.3:") || strings.HasPrefix(cpe, "cpe:/") {
		return cpe
	}
	return ""
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
