// Package spdx writes image reports as SPDX 2.3 JSON documents through the
// SPDX Go tools, and registers the format "spdx-json" with package report.
//
// The document describes the image (a CONTAINER package whose version is
// the manifest digest); the image CONTAINS its distribution (an
// OPERATING_SYSTEM package) and the packages no OS package installed, the
// distribution CONTAINS its packages, and an OS package CONTAINS the
// language packages read from its files. Every package carries its purl
// as a PACKAGE-MANAGER external reference and its declared licenses as an
// SPDX expression; a license that is not a valid SPDX expression becomes
// a LicenseRef- with an extracted licensing info entry. SPDX 2.3 has no
// place for vulnerabilities: the findings are not part of the document.
package spdx

import (
	"fmt"
	"io"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/github/go-spdx/v2/spdxexp"
	"github.com/google/uuid"
	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx/v2/common"
	v23 "github.com/spdx/tools-golang/spdx/v2/v2_3"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/report/internal/sbom"
	"github.com/lapps/lapps/vuln"
)

// MediaType is the media type of the format.
const MediaType = "application/spdx+json"

// NamespacePrefix starts every document namespace.
const NamespacePrefix = "https://github.com/lapps/lapps/spdx/"

// Element ids of the image and its distribution (without "SPDXRef-").
const (
	ImageID = "Image"
	OSID    = "OperatingSystem"
)

const noAssertion = "NOASSERTION"

func init() {
	report.Register(report.Format{Name: "spdx-json", MediaType: MediaType, Write: Write})
}

// Write writes r to w as an indented SPDX 2.3 JSON document.
func Write(w io.Writer, r *report.Report) error {
	if err := spdxjson.Write(Document(r), w, spdxjson.Indent("  "), spdxjson.EscapeHTML(false)); err != nil {
		return fmt.Errorf("spdx: %w", err)
	}
	return nil
}

// Namespace is the document namespace of r: the image's name and a
// name-based (SHA-1) UUID of its manifest digest and the generation time,
// so that the same report always gives the same namespace.
func Namespace(r *report.Report) string {
	name := sanitize(r.Image)
	if len(name) > 64 {
		name = name[len(name)-64:]
	}
	id := uuid.NewSHA1(uuid.NameSpaceURL, []byte("lapps:"+r.ManifestDigest+"@"+r.GeneratedAt.UTC().Format(time.RFC3339Nano)))
	return NamespacePrefix + url.PathEscape(strings.Trim(name, "-.")) + "-" + id.String()
}

// Document builds the SPDX 2.3 document of r.
func Document(r *report.Report) *v23.Document {
	doc := &v23.Document{
		SPDXVersion:       v23.Version,
		DataLicense:       v23.DataLicense,
		SPDXIdentifier:    "DOCUMENT",
		DocumentName:      firstNonEmpty(r.Image, r.ManifestDigest, "image"),
		DocumentNamespace: Namespace(r),
		CreationInfo: &v23.CreationInfo{
			Creators: []common.Creator{
				{CreatorType: "Organization", Creator: "lapps"},
				{CreatorType: "Tool", Creator: "lapps-" + sbom.ToolVersion()},
			},
			Created: r.GeneratedAt.UTC().Format(time.RFC3339),
		},
	}
	rel := func(a, kind, b string) {
		doc.Relationships = append(doc.Relationships, &v23.Relationship{
			RefA: common.MakeDocElementID("", a), RefB: common.MakeDocElementID("", b), Relationship: kind,
		})
	}

	image := &v23.Package{
		PackageName:             doc.DocumentName,
		PackageSPDXIdentifier:   ImageID,
		PackageVersion:          r.ManifestDigest,
		PackageSupplier:         &common.Supplier{Supplier: noAssertion},
		PackageDownloadLocation: noAssertion,
		PackageLicenseConcluded: noAssertion,
		PackageLicenseDeclared:  noAssertion,
		PackageCopyrightText:    noAssertion,
		PrimaryPackagePurpose:   "CONTAINER",
	}
	if p := sbom.ImagePURL(r.Image, r.ManifestDigest); p != "" {
		image.PackageExternalReferences = []*v23.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: p}}
	}
	doc.Packages = append(doc.Packages, image)
	rel("DOCUMENT", "DESCRIBES", ImageID)

	hasOS := false
	if d := r.Distribution; !d.Empty() {
		hasOS = true
		doc.Packages = append(doc.Packages, &v23.Package{
			PackageName:             d.ID,
			PackageSPDXIdentifier:   OSID,
			PackageVersion:          firstNonEmpty(d.VersionID, d.Version),
			PackageSupplier:         &common.Supplier{Supplier: noAssertion},
			PackageDownloadLocation: noAssertion,
			PackageLicenseConcluded: noAssertion,
			PackageLicenseDeclared:  noAssertion,
			PackageCopyrightText:    noAssertion,
			PackageDescription:      d.PrettyName,
			PrimaryPackagePurpose:   "OPERATING_SYSTEM",
		})
		rel(ImageID, "CONTAINS", OSID)
	}

	lic := newLicenses()
	ids := map[string]bool{ImageID: true, OSID: true}
	type entry struct {
		p     *vuln.Package
		id    string
		owned bool
	}
	var all []entry
	osPkgs := map[string]string{} // "kind name" → id
	add := func(p *vuln.Package, owned bool) {
		base := strings.TrimRight("Package-"+sanitize(p.Kind+"-"+p.Name+"-"+p.Version), "-")
		id := base
		for n := 2; ids[id]; n++ {
			id = fmt.Sprintf("%s-%d", base, n)
		}
		ids[id] = true
		all = append(all, entry{p, id, owned})
		if isOSKind(p.Kind) && !owned {
			if _, ok := osPkgs[p.Kind+" "+p.Name]; !ok {
				osPkgs[p.Kind+" "+p.Name] = id
			}
		}
		pkg := &v23.Package{
			PackageName:             p.Name,
			PackageSPDXIdentifier:   common.ElementID(id),
			PackageVersion:          p.Version,
			PackageSupplier:         &common.Supplier{Supplier: noAssertion},
			PackageDownloadLocation: noAssertion,
			PackageLicenseConcluded: noAssertion,
			PackageLicenseDeclared:  lic.expression(p.Licenses),
			PackageCopyrightText:    noAssertion,
			PackageSourceInfo:       sourceInfo(p),
			PrimaryPackagePurpose:   purpose(p),
		}
		if p.PURL != "" {
			pkg.PackageExternalReferences = []*v23.PackageExternalReference{{Category: "PACKAGE-MANAGER", RefType: "purl", Locator: p.PURL}}
		}
		doc.Packages = append(doc.Packages, pkg)
	}
	for i := range r.Packages {
		add(&r.Packages[i], false)
	}
	for i := range r.OSOwnedPackages {
		add(&r.OSOwnedPackages[i], true)
	}
	for _, e := range all {
		switch {
		case e.p.OwnedBy != "" && osPkgs[e.p.OwnedBy] != "":
			rel(osPkgs[e.p.OwnedBy], "CONTAINS", e.id)
		case isOSKind(e.p.Kind) && hasOS:
			rel(OSID, "CONTAINS", e.id)
		default:
			rel(ImageID, "CONTAINS", e.id)
		}
	}
	doc.OtherLicenses = lic.others()
	return doc
}

// sourceInfo says where the package was found: the layer and the package
// database or manifest, and the source package it was built from.
func sourceInfo(p *vuln.Package) string {
	var parts []string
	if p.DBPath != "" {
		parts = append(parts, "read from /"+p.DBPath)
	}
	if p.Layer != "" {
		parts = append(parts, "in layer "+p.Layer)
	}
	if p.OwnedBy != "" {
		parts = append(parts, "installed by "+p.OwnedBy)
	}
	if p.SourceName != "" {
		src := "built from source package " + p.SourceName
		if p.SourceVersion != "" {
			src += " " + p.SourceVersion
		}
		parts = append(parts, src)
	}
	return strings.Join(parts, ", ")
}

func purpose(p *vuln.Package) string {
	if p.Application != "" {
		return "APPLICATION"
	}
	return "LIBRARY"
}

func isOSKind(k string) bool { return k == vuln.KindDeb || k == vuln.KindAPK || k == vuln.KindRPM }

var notIDChar = regexp.MustCompile(`[^A-Za-z0-9.-]+`)

// sanitize makes s fit an SPDX id (letters, digits, "." and "-").
func sanitize(s string) string { return notIDChar.ReplaceAllString(s, "-") }

// licenses turns declared licenses into SPDX expressions, collecting the
// ones that are not SPDX as LicenseRefs.
type licenses struct {
	refs  map[string]string // license text → LicenseRef id
	taken map[string]bool   // LicenseRef ids
	valid map[string]string // license → its normalized SPDX expression, "" when not one
}

func newLicenses() *licenses {
	return &licenses{refs: map[string]string{}, taken: map[string]bool{}, valid: map[string]string{}}
}

// expression returns the SPDX expression of a package's licenses, several
// joined with AND, NOASSERTION for none.
func (l *licenses) expression(ls []string) string {
	var parts []string
	for _, s := range ls {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		parts = append(parts, l.one(s))
	}
	switch len(parts) {
	case 0:
		return noAssertion
	case 1:
		return parts[0]
	}
	for i, p := range parts {
		if strings.Contains(p, " ") {
			parts[i] = "(" + p + ")"
		}
	}
	return strings.Join(parts, " AND ")
}

// one returns s when it is a valid SPDX expression, otherwise the
// LicenseRef standing for it.
func (l *licenses) one(s string) string {
	norm, seen := l.valid[s]
	if !seen {
		norm = sbom.NormalizeLicense(s)
		if strings.Contains(norm, "DocumentRef-") {
			// a reference into another document, which this one does
			// not name: kept as text
			norm = ""
		}
		l.valid[s] = norm
		// LicenseRefs of the metadata itself need their entry too.
		if norm != "" && strings.Contains(norm, "LicenseRef-") {
			ids, _ := spdxexp.ExtractLicenses(norm)
			for _, id := range ids {
				if strings.HasPrefix(id, "LicenseRef-") && !l.taken[id] {
					l.taken[id] = true
					l.refs[id] = id
				}
			}
		}
	}
	if norm != "" {
		return norm
	}
	if id, ok := l.refs[s]; ok {
		return id
	}
	base := "LicenseRef-" + strings.Trim(sanitize(s), "-.")
	if base == "LicenseRef-" {
		base = "LicenseRef-unknown"
	}
	if len(base) > 80 {
		base = base[:80]
	}
	id := base
	for n := 2; l.taken[id]; n++ {
		id = fmt.Sprintf("%s-%d", base, n)
	}
	l.taken[id] = true
	l.refs[s] = id
	return id
}

// others returns the extracted licensing info entries, sorted by id.
func (l *licenses) others() []*v23.OtherLicense {
	out := make([]*v23.OtherLicense, 0, len(l.refs))
	for text, id := range l.refs {
		out = append(out, &v23.OtherLicense{
			LicenseIdentifier: id,
			LicenseName:       text,
			ExtractedText:     text,
			LicenseComment:    "The package metadata states this license, which is not an SPDX license expression.",
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].LicenseIdentifier < out[j].LicenseIdentifier })
	if len(out) == 0 {
		return nil
	}
	return out
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}
