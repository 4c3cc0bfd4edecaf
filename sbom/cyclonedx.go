package sbom

import (
	"fmt"
	"strings"

	cdx "github.com/CycloneDX/cyclonedx-go"

	"github.com/lapps/lapps/vuln"
)

// cyclonedx reads a CycloneDX JSON document with cyclonedx-go.
func (b *builder) cyclonedx(data []byte) error {
	var bom cdx.BOM
	if err := cdx.NewBOMDecoder(newDecoderReader(data), cdx.BOMFileFormatJSON).Decode(&bom); err != nil {
		return fmt.Errorf("%w: CycloneDX: %w", ErrFormat, err)
	}
	b.doc.Format, b.doc.MediaType = FormatCycloneDX, MediaTypeCycloneDX
	b.doc.SpecVersion = bom.SpecVersion.String()
	if bom.SpecVersion < cdx.SpecVersion1_2 {
		return fmt.Errorf("%w: CycloneDX %s JSON (lapps reads 1.2 and later)", ErrFormat, bom.SpecVersion)
	}
	if m := bom.Metadata; m != nil && m.Component != nil {
		c := m.Component
		b.doc.Name = c.Name
		if c.Group != "" {
			b.doc.Name = c.Group + "/" + c.Name
		}
		if c.Version != "" && !strings.HasPrefix(c.Version, "sha256:") {
			b.doc.Name += ":" + c.Version
		}
	}
	if bom.Components == nil {
		return nil
	}
	return b.cdxComponents(*bom.Components, 0)
}

// maxDepth bounds the nesting of CycloneDX components walked.
const maxDepth = 64

// cdxComponents takes components and their nested components.
func (b *builder) cdxComponents(cs []cdx.Component, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("%w: CycloneDX components nested deeper than %d", ErrFormat, maxDepth)
	}
	for i := range cs {
		c := &cs[i]
		if err := b.component(); err != nil {
			return err
		}
		props := cdxProperties(c.Properties)
		switch {
		case c.Type == cdx.ComponentTypeOS:
			if b.doc.Distribution.Empty() {
				b.doc.Distribution = cdxOS(c, props)
			}
		case c.PackageURL != "" || cdxPackageType(c.Type):
			b.add(c.Name, c.Version, c.PackageURL, hints{
				sourceName:    firstNonEmpty(props["lapps:source_name"], props["aquasecurity:trivy:SrcName"]),
				sourceVersion: firstNonEmpty(props["lapps:source_version"], trivySourceVersion(props)),
				path:          firstNonEmpty(props["lapps:db_path"], props["aquasecurity:trivy:FilePath"], props["syft:location:0:path"]),
				licenses:      cdxLicenses(c.Licenses),
				ownedBy:       props["lapps:os_owned_by"],
				application:   props["lapps:application"],
			})
		}
		if c.Components != nil {
			if err := b.cdxComponents(*c.Components, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

// cdxPackageType reports whether components of type t without a purl are
// packages lapps should have matched (and so warns about): libraries,
// frameworks and untyped components. Applications, files, containers and
// the like without a purl are not packages.
func cdxPackageType(t cdx.ComponentType) bool {
	return t == "" || t == cdx.ComponentTypeLibrary || t == cdx.ComponentTypeFramework
}

// cdxProperties maps property names to their first value.
func cdxProperties(ps *[]cdx.Property) map[string]string {
	m := map[string]string{}
	if ps == nil {
		return m
	}
	for _, p := range *ps {
		if _, ok := m[p.Name]; !ok {
			m[p.Name] = p.Value
		}
	}
	return m
}

// trivySourceVersion assembles Trivy's SrcEpoch, SrcVersion and
// SrcRelease properties into a package version ("1:4.13+dfsg1-1").
func trivySourceVersion(props map[string]string) string {
	v := props["aquasecurity:trivy:SrcVersion"]
	if v == "" {
		return ""
	}
	if r := props["aquasecurity:trivy:SrcRelease"]; r != "" {
		v += "-" + r
	}
	if e := props["aquasecurity:trivy:SrcEpoch"]; e != "" && e != "0" {
		v = e + ":" + v
	}
	return v
}

// cdxOS is the distribution of an operating-system component: Syft's
// syft:distro:* properties where present, else its name and version.
func cdxOS(c *cdx.Component, props map[string]string) *vuln.Distribution {
	d := &vuln.Distribution{
		ID:              strings.ToLower(firstNonEmpty(props["syft:distro:id"], c.Name)),
		VersionID:       firstNonEmpty(props["syft:distro:versionID"], c.Version),
		VersionCodename: props["syft:distro:versionCodename"],
		PrettyName:      firstNonEmpty(props["syft:distro:prettyName"], c.Description),
		Version:         c.Version,
		IDLike:          props["syft:distro:idLike"],
		CPE:             c.CPE,
	}
	if d.ID == "" {
		return nil
	}
	return d
}

// cdxLicenses are a component's licenses as SPDX ids or expressions
// where given, names otherwise.
func cdxLicenses(ls *cdx.Licenses) []string {
	if ls == nil {
		return nil
	}
	var out []string
	for _, l := range *ls {
		switch {
		case l.Expression != "":
			out = append(out, l.Expression)
		case l.License != nil && l.License.ID != "":
			out = append(out, l.License.ID)
		case l.License != nil && l.License.Name != "":
			out = append(out, l.License.Name)
		}
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
