package policy

import (
	"fmt"
	"os"
	"strings"

	"github.com/openvex/go-vex/pkg/vex"
	packageurl "github.com/package-url/packageurl-go"

	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/vuln"
)

// VEX is a set of OpenVEX documents. Matching is go-vex's: a statement
// applies to a finding when its vulnerability (name, @id or aliases) is
// the finding's ID or one of its aliases, one of its products is the image
// (see imageIdentifiers) and, when the product lists subcomponents, one of
// them is the finding's package URL (purls match from the more generic to
// the more specific, so pkg:golang/golang.org/x/text matches every version).
// Of the statements that apply, the latest (by timestamp) is the one in
// force; it suppresses the finding when its status is not_affected or
// fixed.
type VEX struct {
	docs  []*vex.VEX
	names []string
}

// LoadVEX reads and validates OpenVEX documents (JSON) from paths.
func LoadVEX(paths ...string) (*VEX, error) {
	v := &VEX{}
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("vex: %w", err)
		}
		if err := v.Add(p, b); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Add parses the OpenVEX document data, called name in verdicts, and adds
// it to v. Documents with no statements or invalid statements are errors.
func (v *VEX) Add(name string, data []byte) error {
	doc, err := vex.Parse(data)
	if err != nil {
		return fmt.Errorf("vex %s: %w", name, err)
	}
	if !strings.HasPrefix(doc.Context, "https://openvex.dev/ns") {
		return fmt.Errorf("vex %s: not an OpenVEX document (@context %q)", name, doc.Context)
	}
	if len(doc.Statements) == 0 {
		return fmt.Errorf("vex %s: no statements", name)
	}
	for i := range doc.Statements {
		st := &doc.Statements[i]
		if err := st.Validate(); err != nil {
			return fmt.Errorf("vex %s: statement %d (%s): %w", name, i, st.Vulnerability.Name, err)
		}
		if len(st.Products) == 0 {
			return fmt.Errorf("vex %s: statement %d (%s): no products", name, i, st.Vulnerability.Name)
		}
	}
	v.docs = append(v.docs, doc)
	v.names = append(v.names, name)
	return nil
}

// Len returns the number of documents.
func (v *VEX) Len() int {
	if v == nil {
		return 0
	}
	return len(v.docs)
}

// match returns the suppressing statement in force for f in the image of
// r, described for a verdict, or ok false.
func (v *VEX) match(ids []string, r *report.Report, f *vuln.Finding, installed vuln.Package) (rule, reason string, ok bool) {
	if v == nil {
		return "", "", false
	}
	var sub []string
	if f.PURL != "" {
		sub = []string{f.PURL}
		if src := sourcePURL(f.PURL, f.Package, installed); src != "" {
			sub = append(sub, src)
		}
	}
	for d, doc := range v.docs {
		for _, prod := range imageIdentifiers(r) {
			for _, id := range ids {
				sts := doc.Matches(id, prod, sub)
				if len(sts) == 0 {
					continue
				}
				st := sts[len(sts)-1] // the latest is in force
				if st.Status != vex.StatusNotAffected && st.Status != vex.StatusFixed {
					return "", "", false
				}
				rule = fmt.Sprintf("vex %s: %s %s", v.names[d], st.Vulnerability.Name, st.Status)
				reason = string(st.Justification)
				if st.ImpactStatement != "" {
					reason = strings.TrimSpace(reason + ": " + st.ImpactStatement)
				}
				if st.StatusNotes != "" {
					reason = strings.TrimSpace(reason + " " + st.StatusNotes)
				}
				return rule, strings.TrimPrefix(reason, ": "), true
			}
		}
	}
	return "", "", false
}

// sourcePURL is the package URL of the source package an installed
// distribution package was built from (pkg:rpm/almalinux/glibc@… for
// glibc-common), so that a statement naming the source package applies to
// its binaries; "" when the package names no other source. The version is
// the source version when known, else the binary's; arch is dropped.
func sourcePURL(purl, name string, installed vuln.Package) string {
	if installed.SourceName == "" || installed.SourceName == name {
		return ""
	}
	p, err := packageurl.FromString(purl)
	if err != nil {
		return ""
	}
	p.Name = installed.SourceName
	if installed.SourceVersion != "" {
		p.Version = installed.SourceVersion
	}
	q := p.Qualifiers[:0:0]
	for _, kv := range p.Qualifiers {
		if kv.Key != "arch" && kv.Key != "upstream" {
			q = append(q, kv)
		}
	}
	p.Qualifiers = q
	return p.ToString()
}

// imageIdentifiers are the product identifiers of the image of r: its
// package URL pkg:oci/NAME@DIGEST (with repository_url for a registry
// image; NAME is the repository's last element, or the tag of an OCI
// layout reference), its manifest digest and its name.
func imageIdentifiers(r *report.Report) []string {
	var ids []string
	if r.ManifestDigest != "" {
		name, repo := ociName(r.Image)
		if name != "" {
			var q packageurl.Qualifiers
			if repo != "" {
				q = packageurl.QualifiersFromMap(map[string]string{"repository_url": repo})
			}
			ids = append(ids, packageurl.NewPackageURL("oci", "", name, r.ManifestDigest, q, "").ToString())
		}
		ids = append(ids, r.ManifestDigest)
	}
	if r.Image != "" {
		ids = append(ids, r.Image)
	}
	return ids
}

// ociName returns the purl name and repository of an image name:
// "index.docker.io/library/debian:12" gives "debian" and
// "index.docker.io/library/debian"; "oci:/path/oci:debian-bookworm-mid"
// gives "debian-bookworm-mid" and no repository.
func ociName(image string) (name, repo string) {
	for _, t := range []string{"oci:", "oci-archive:", "docker-archive:", "dir:"} {
		if rest, ok := strings.CutPrefix(image, t); ok {
			if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i+1:], "/") {
				return strings.ToLower(rest[i+1:]), ""
			}
			rest = strings.TrimSuffix(rest, "/")
			base := rest[strings.LastIndex(rest, "/")+1:]
			return strings.ToLower(strings.TrimSuffix(base, ".tar")), ""
		}
	}
	repo, _, _ = strings.Cut(image, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	return strings.ToLower(repo[strings.LastIndex(repo, "/")+1:]), repo
}
