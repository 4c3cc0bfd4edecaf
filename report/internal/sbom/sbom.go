// Package sbom holds what the SBOM formats (report/cyclonedx,
// report/spdx) share: the image's package URL and the tool's version.
package sbom

import (
	"path"
	"runtime/debug"
	"strings"

	"github.com/github/go-spdx/v2/spdxexp"
	gcrname "github.com/google/go-containerregistry/pkg/name"
	packageurl "github.com/package-url/packageurl-go"
)

// ToolVersion is the version of lapps for the documents' tool entries: the
// main module's version from the build information, "devel" when built
// from a work tree.
func ToolVersion() string {
	v := "devel"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		v = bi.Main.Version
	}
	return v
}

// ImagePURL returns the package URL of the image as Trivy and Syft write
// it: pkg:oci/NAME@DIGEST?repository_url=REGISTRY/REPO&tag=TAG for an
// image of a registry. An image of a local OCI layout or archive
// ("oci:DIR:TAG") has no repository: its name is the tag (the layout's
// ref.name), else the directory's. No digest gives no purl.
func ImagePURL(ref, digest string) string {
	if digest == "" || ref == "" {
		return ""
	}
	var name string
	var q packageurl.Qualifiers
	if local, tag, ok := localRef(ref); ok {
		name = tag
		if name == "" {
			name = path.Base(strings.TrimRight(local, "/"))
		}
		if i := strings.LastIndex(name, "/"); i >= 0 {
			name = name[i+1:]
		}
	} else if r, err := gcrname.ParseReference(strings.TrimPrefix(ref, "docker://")); err == nil {
		repo := r.Context()
		name = path.Base(repo.RepositoryStr())
		q = append(q, packageurl.Qualifier{Key: "repository_url", Value: repo.RegistryStr() + "/" + repo.RepositoryStr()})
		if t, ok := r.(gcrname.Tag); ok && !strings.Contains(ref, "@") {
			q = append(q, packageurl.Qualifier{Key: "tag", Value: t.TagStr()})
		}
	} else {
		return ""
	}
	if name == "" || name == "." || name == "/" {
		return ""
	}
	// The digest's colon percent-encoded, as Trivy and Syft write it.
	s := packageurl.NewPackageURL("oci", "", strings.ToLower(name), digest, q, "").ToString()
	return strings.Replace(s, "@"+digest, "@"+strings.ReplaceAll(digest, ":", "%3A"), 1)
}

// localRef splits a reference to a local image ("oci:DIR:TAG",
// "oci-archive:FILE", "docker-archive:FILE", "sbom:FILE", a path) into
// the path and the tag.
func localRef(ref string) (local, tag string, ok bool) {
	for _, t := range []string{"oci:", "oci-archive:", "docker-archive:", "sbom:"} {
		if rest, found := strings.CutPrefix(ref, t); found {
			if i := strings.LastIndex(rest, ":"); i >= 0 && !strings.Contains(rest[i:], "/") {
				return rest[:i], rest[i+1:], true
			}
			return rest, "", true
		}
	}
	if strings.HasPrefix(ref, "/") || strings.HasPrefix(ref, ".") {
		return ref, "", true
	}
	return "", "", false
}

// NormalizeLicense returns s as a normalized SPDX license expression ("mit" →
// "MIT"), "" when it is not a valid one.
func NormalizeLicense(s string) string {
	norm, invalid := spdxexp.ValidateAndNormalizeLicensesWithOptions([]string{s}, spdxexp.ValidateLicensesOptions{})
	if len(invalid) > 0 || len(norm) != 1 {
		return ""
	}
	return norm[0]
}
