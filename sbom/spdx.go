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
		// The JSON schema spells purposes OPERATING_SYSTEM, the
		// specification's text OPERATING-SYSTEM: both are written.
		purpose := strings.ReplaceAll(strings.ToUpper(p.PrimaryPackagePurpose), "_", "-")
		if purpose == "CONTAINER" {
			// The image the document describes (Syft, Trivy, lapps), not
			// a package.
			continue
		}
		if purpose == "OPERATING-SYSTEM" {
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
		if purl == "" && !spdxPackagePurpose(purpose) {
			continue
		}
		h := spdxSourceInfo(p.PackageSourceInfo)
		h.licenses = spdxLicenses(p)
		b.add(p.PackageName, p.PackageVersion, purl, h)
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

// spdxSourceInfo reads what a package's sourceInfo says: Trivy's "built
// package from: glibc 2.36-9+deb12u4", or lapps' comma-separated "read
// from /PATH", "installed by KIND NAME" and "built from source package
// NAME [VERSION]".
func spdxSourceInfo(info string) hints {
	var h hints
	info = strings.TrimSpace(info)
	if rest, ok := strings.CutPrefix(info, "built package from: "); ok {
		h.sourceName, h.sourceVersion, _ = strings.Cut(strings.TrimSpace(rest), " ")
		h.sourceVersion = strings.TrimSpace(h.sourceVersion)
		return h
	}
	for _, part := range strings.Split(info, ", ") {
		switch {
		case strings.HasPrefix(part, "read from /"):
			h.path = strings.TrimPrefix(part, "read from ")
		case strings.HasPrefix(part, "installed by "):
			h.ownedBy = strings.TrimPrefix(part, "installed by ")
		case strings.HasPrefix(part, "built from source package "):
			h.sourceName, h.sourceVersion, _ = strings.Cut(strings.TrimPrefix(part, "built from source package "), " ")
		}
	}
	return h
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
