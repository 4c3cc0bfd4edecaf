package sbom

import (
	"fmt"
	"strings"

	spdxjson "github.com/spdx/tools-golang/json"
	"github.com/spdx/tools-golang/spdx"

	"github.com/lapps/lapps/vuln"
)

// spdx reads an SPDX JSON document (2.2 or 2.3; tools-golang converts
// both to its 2.3 model).
func (b *builder) spdx(data []byte, version string) error {
	switch version {
	case "SPDX-2.2", "SPDX-2.3":
	default:
		return fmt.Errorf("%w: %s JSON (lapps reads SPDX-2.2 and SPDX-2.3)", ErrFormat, version)
	}
	doc, err := spdxjson.Read(newDecoderReader(data))
	if err != nil {
		return fmt.Errorf("%w: SPDX: %w", ErrFormat, err)
	}
	b.doc.Format, b.doc.MediaType, b.doc.SpecVersion = FormatSPDX, MediaTypeSPDX, version
	b.doc.Name = doc.DocumentName
	for _, p := range doc.Packages {
		if p == nil {
			continue
		}
		if err := b.component(); err != nil {
			return err
		}
		if p.PrimaryPackagePurpose == "CONTAINER" {
			// The image the document describes (Syft, Trivy), not a package.
			continue
		}
		if p.PrimaryPackagePurpose == "OPERATING-SYSTEM" {
			if b.doc.Distribution.Empty() && p.PackageName != "" {
				b.doc.Distribution = &vuln.Distribution{ID: strings.ToLower(p.PackageName), VersionID: p.PackageVersion, Version: p.PackageVersion}
			}
			continue
		}
		purl := ""
		for _, r := range p.PackageExternalReferences {
			if r == nil {
				continue
			}
			cat := strings.ReplaceAll(strings.ToUpper(r.Category), "_", "-")
			if cat == "PACKAGE-MANAGER" && r.RefType == "purl" {
				purl = r.Locator
				break
			}
		}
		if purl == "" && !spdxPackagePurpose(p.PrimaryPackagePurpose) {
			continue
		}
		src, srcVer := spdxSource(p.PackageSourceInfo)
		b.add(p.PackageName, p.PackageVersion, purl, hints{sourceName: src, sourceVersion: srcVer, licenses: spdxLicenses(p)})
	}
	return nil
}

// spdxPackagePurpose reports whether packages of purpose p without a purl
// are packages lapps should have matched (and so warns about).
func spdxPackagePurpose(p string) bool {
	switch p {
	case "", "LIBRARY", "FRAMEWORK":
		return true
	}
	return false
}

// spdxSource reads Trivy's sourceInfo "built package from: glibc
// 2.36-9+deb12u4" into a source package name and version.
func spdxSource(info string) (name, version string) {
	rest, ok := strings.CutPrefix(strings.TrimSpace(info), "built package from: ")
	if !ok {
		return "", ""
	}
	name, version, _ = strings.Cut(strings.TrimSpace(rest), " ")
	return name, strings.TrimSpace(version)
}

// spdxLicenses is a package's concluded license, else its declared one,
// unless absent (NOASSERTION, NONE).
func spdxLicenses(p *spdx.Package) []string {
	for _, l := range []string{p.PackageLicenseConcluded, p.PackageLicenseDeclared} {
		if l != "" && l != "NOASSERTION" && l != "NONE" {
			return []string{l}
		}
	}
	return nil
}
