// Package sbom reads software bills of materials (CycloneDX and SPDX JSON,
// as written by lapps, Syft and Trivy) into lapps' package model, so that
// an SBOM can be matched like the index of an image.
//
// Packages are taken by their package URL (a CycloneDX component's purl,
// an SPDX package's PACKAGE-MANAGER purl reference): the purl type is the
// package kind, its namespace and name the package name, its version the
// version. The operating system comes from the SBOM's operating-system
// component (CycloneDX) or package (SPDX purpose OPERATING-SYSTEM), else
// from the distro qualifier of the OS packages' purls. Source packages
// come from the upstream qualifier (Syft), Trivy's SrcName/SrcVersion
// properties or SPDX sourceInfo. Components without a purl, or with a
// purl of a type lapps does not match, are counted in warnings and not
// matched.
package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/vuln"
)

// Formats of Document.Format.
const (
	FormatCycloneDX = "cyclonedx"
	FormatSPDX      = "spdx"
)

// Media types of the synthetic layer an SBOM is indexed as.
const (
	MediaTypeCycloneDX = "application/vnd.cyclonedx+json"
	MediaTypeSPDX      = "application/spdx+json"
)

// ErrFormat marks a file that is not a CycloneDX or SPDX JSON document
// lapps reads, or that does not parse as one.
var ErrFormat = errors.New("not a readable SBOM")

// Limits bound what Read accepts.
type Limits struct {
	// Bytes bounds the SBOM file (default 64 MiB; key limits.sbom_bytes).
	// Decoding takes about 10 times the file's size in memory at peak.
	Bytes int64
	// Components bounds the components (CycloneDX, nested ones included)
	// or packages (SPDX) of the document (default 100,000; key
	// limits.sbom_components).
	Components int64
}

// DefaultLimits are used for zero fields of Limits.
var DefaultLimits = Limits{Bytes: 64 << 20, Components: 100_000}

// withDefaults fills zero fields from DefaultLimits.
func (l Limits) withDefaults() Limits {
	if l.Bytes <= 0 {
		l.Bytes = DefaultLimits.Bytes
	}
	if l.Components <= 0 {
		l.Components = DefaultLimits.Components
	}
	return l
}

// Document is what lapps takes from an SBOM.
type Document struct {
	// Format is FormatCycloneDX or FormatSPDX; SpecVersion the version of
	// the specification the document declares ("1.6", "SPDX-2.3").
	Format      string
	SpecVersion string
	// MediaType is MediaTypeCycloneDX or MediaTypeSPDX.
	MediaType string
	// Digest is the sha256 of the document's bytes ("sha256:…"), Size
	// their number.
	Digest string
	Size   int64
	// Name is the SBOM's subject: the CycloneDX metadata component's name
	// (with its version when that is not a digest), or the SPDX document
	// name; "" when the document names none.
	Name string
	// Distribution is the operating system the OS packages belong to, nil
	// when the document gives none.
	Distribution *vuln.Distribution
	// Packages are the packages with a purl lapps matches, in document
	// order, without duplicates (vuln.Package.Key).
	Packages []vuln.Package
	// OSOwned are language packages that the SBOM says an OS package
	// installed (a lapps SBOM's lapps:os_owned_by property, or "installed
	// by" in its SPDX sourceInfo), with OwnedBy set: matched as that OS
	// package, not again, as in an image's index.
	OSOwned []vuln.Package
	// Warnings say what was not taken: components without a purl, purls
	// of other types, purls that do not parse.
	Warnings []string
}

// Read reads one SBOM from r, at most lim.Bytes bytes, and parses it.
// Crossing a bound is a *limits.Error; a document that is not CycloneDX
// or SPDX JSON, or does not parse, is ErrFormat. A panic of a parser is
// recovered into ErrFormat.
func Read(r io.Reader, lim Limits) (*Document, error) {
	lim = lim.withDefaults()
	data, err := limits.ReadAll(r, lim.Bytes, limits.New("SBOM", lim.Bytes, "bytes", "limits.sbom_bytes"))
	if err != nil {
		return nil, err
	}
	return Parse(data, lim)
}

// Parse parses an SBOM held in data (Read without the byte bound, which
// Parse still applies to len(data)).
func Parse(data []byte, lim Limits) (doc *Document, err error) {
	lim = lim.withDefaults()
	if int64(len(data)) > lim.Bytes {
		return nil, limits.New("SBOM", lim.Bytes, "bytes", "limits.sbom_bytes")
	}
	defer func() {
		if p := recover(); p != nil {
			doc, err = nil, fmt.Errorf("%w: parser panic: %v", ErrFormat, p)
		}
	}()
	return parse(data, lim)
}

// parse is Parse without the recovery of panics (which fuzzing looks for).
func parse(data []byte, lim Limits) (*Document, error) {
	var err error
	var head struct {
		BOMFormat   string `json:"bomFormat"`
		SpecVersion string `json:"specVersion"`
		SPDXVersion string `json:"spdxVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	sum := sha256.Sum256(data)
	var b builder
	b.lim = lim
	switch {
	case head.BOMFormat == "CycloneDX":
		err = b.cyclonedx(data)
	case strings.HasPrefix(head.SPDXVersion, "SPDX-"):
		err = b.spdx(data, head.SPDXVersion)
	default:
		return nil, fmt.Errorf("%w: neither CycloneDX (bomFormat) nor SPDX (spdxVersion) JSON", ErrFormat)
	}
	if err != nil {
		return nil, err
	}
	b.doc.Digest = "sha256:" + hex.EncodeToString(sum[:])
	b.doc.Size = int64(len(data))
	b.finish()
	return &b.doc, nil
}

// builder collects a document's packages.
type builder struct {
	lim   Limits
	doc   Document
	seen  map[string]bool
	count int64
	// distros counts the distributions named by OS packages' distro
	// qualifiers, when the document has no OS component.
	distros map[vuln.Distribution]int
	noPURL  []string
	other   map[string]int
	bad     []string
}

// component counts one component against Limits.Components.
func (b *builder) component() error {
	b.count++
	if b.count > b.lim.Components {
		return limits.New("SBOM components", b.lim.Components, "components", "limits.sbom_components")
	}
	return nil
}

// hints are what a format knows about a package beside its purl.
type hints struct {
	sourceName, sourceVersion string
	path                      string
	licenses                  []string
	// ownedBy and application are vuln.Package's OwnedBy and Application
	// as a lapps SBOM records them.
	ownedBy, application string
}

// add takes one component: its purl, or a warning.
func (b *builder) add(name, version, purl string, h hints) {
	if purl == "" {
		b.noPURL = append(b.noPURL, strings.TrimSpace(name+" "+version))
		return
	}
	p, d, err := fromPURL(purl)
	if err != nil {
		if errors.Is(err, errOtherType) {
			if b.other == nil {
				b.other = map[string]int{}
			}
			b.other[err.(*typeError).typ]++
			return
		}
		b.bad = append(b.bad, fmt.Sprintf("%s: %v", purl, err))
		return
	}
	if h.sourceName != "" && p.SourceName == "" {
		p.SourceName = h.sourceName
	}
	if h.sourceVersion != "" && p.SourceVersion == "" && p.SourceName != "" {
		p.SourceVersion = h.sourceVersion
	}
	if p.SourceName == p.Name && (p.SourceVersion == "" || p.SourceVersion == p.Version) {
		p.SourceName, p.SourceVersion = "", ""
	}
	p.DBPath = strings.TrimPrefix(h.path, "/")
	p.Licenses = h.licenses
	p.PURL = purl
	p.OwnedBy = h.ownedBy
	if h.application == vuln.ApplicationPublished || h.application == vuln.ApplicationUnpublished {
		p.Application = h.application
	}
	if d != nil {
		if b.distros == nil {
			b.distros = map[vuln.Distribution]int{}
		}
		b.distros[*d]++
	}
	if b.seen == nil {
		b.seen = map[string]bool{}
	}
	if b.seen[p.Key()] {
		return
	}
	b.seen[p.Key()] = true
	if p.OwnedBy != "" {
		b.doc.OSOwned = append(b.doc.OSOwned, p)
		return
	}
	b.doc.Packages = append(b.doc.Packages, p)
}

// maxListed is how many names a warning lists.
const maxListed = 10

// finish settles the distribution and writes the warnings.
func (b *builder) finish() {
	if b.doc.Distribution.Empty() && len(b.distros) > 0 {
		var best vuln.Distribution
		n := -1
		for d, c := range b.distros {
			if c > n || (c == n && d.VersionID < best.VersionID) {
				best, n = d, c
			}
		}
		b.doc.Distribution = &best
		if len(b.distros) > 1 {
			b.doc.Warnings = append(b.doc.Warnings, fmt.Sprintf("SBOM: the OS packages name %d distributions; matched as %s %s", len(b.distros), best.ID, best.VersionID))
		}
	}
	if len(b.noPURL) > 0 {
		b.doc.Warnings = append(b.doc.Warnings, fmt.Sprintf("SBOM: %d components without a purl are not matched: %s", len(b.noPURL), list(b.noPURL)))
	}
	if len(b.other) > 0 {
		var types []string
		for t, n := range b.other {
			types = append(types, fmt.Sprintf("%s (%d)", t, n))
		}
		sort.Strings(types)
		b.doc.Warnings = append(b.doc.Warnings, "SBOM: components of purl types lapps does not match are not matched: "+strings.Join(types, ", "))
	}
	if len(b.bad) > 0 {
		b.doc.Warnings = append(b.doc.Warnings, fmt.Sprintf("SBOM: %d purls do not parse and are not matched: %s", len(b.bad), list(b.bad)))
	}
}

// list joins at most maxListed names.
func list(names []string) string {
	if len(names) <= maxListed {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:maxListed], ", ") + fmt.Sprintf(" and %d more", len(names)-maxListed)
}

// newDecoderReader is a reader over data for the libraries' decoders.
func newDecoderReader(data []byte) io.Reader { return bytes.NewReader(data) }
