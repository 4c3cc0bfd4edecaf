package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ErrCorrupt marks an image whose content cannot be read as a valid image:
// an archive that is empty, not a tar archive or truncated; a manifest.json,
// index.json, manifest, index or configuration that does not parse or does
// not match its digest; a layer that does not match its digest or diffID,
// is truncated, or is not a valid (compressed) tar stream. A file that is
// missing is ErrNotFound instead. Callers test it with errors.Is.
var ErrCorrupt = errors.New("corrupt image")

// NormalizeName returns the name scans of ref are numbered under, from the
// reference alone, without opening anything: for a registry reference the
// normalised reference ("debian:12" → "index.docker.io/library/debian:12"),
// for a transport the transport, the absolute path and the tag or digest
// as given ("oci:/abs/layout:tag"), for an SBOM "sbom:" and the absolute
// path ("sbom:/abs/bom.json"). The same string always gives the same
// name, so `list` and `report` find what `scan` recorded.
//
// A reference without a transport prefix that names an existing local
// file or directory is refused with ErrInvalidReference saying which
// transport to use, as Open does; with WithLocalRoots among opts (a
// server), such references are registry references and the local file
// system is not looked at, and transport paths are split from their tags
// looking only under the roots.
func NormalizeName(ref string, opts ...Option) (string, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if strings.TrimSpace(ref) == "" {
		return "", fmt.Errorf("%w: empty reference", ErrInvalidReference)
	}
	lfs, err := newLocalFS(o.localRoots)
	if err != nil {
		return "", err
	}
	defer lfs.close()
	for _, t := range []string{prefixOCIArchive, prefixOCI, prefixDockerArchive, prefixDir, prefixSBOM} {
		rest, ok := strings.CutPrefix(ref, t)
		if !ok {
			continue
		}
		p, suffix := rest, ""
		if t != prefixDir && t != prefixSBOM {
			p, suffix = lfs.splitPath(rest)
		}
		abs, err := absPath(t, p)
		if err != nil {
			return "", err
		}
		switch {
		case suffix == "":
			return t + abs, nil
		case strings.HasPrefix(suffix, "@"):
			return t + abs + suffix, nil
		}
		return t + abs + ":" + suffix, nil
	}
	if o.localRoots == nil && !strings.HasPrefix(ref, prefixDocker) {
		if err := bareLocalPath(ref); err != nil {
			return "", err
		}
	}
	r, err := name.ParseReference(strings.TrimPrefix(ref, prefixDocker))
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrInvalidReference, ref, err)
	}
	return r.Name(), nil
}

// bareLocalPath refuses a reference without a transport prefix that names
// an existing local file or directory: `lapps scan image.tar` would
// otherwise look for index.docker.io/library/image.tar. The error says
// which transport fits, from a look at the file: a tar archive holding
// manifest.json is a docker-archive, one holding index.json an
// oci-archive; a directory holding index.json an OCI layout, another
// directory a root file system.
func bareLocalPath(ref string) error {
	fi, err := os.Lstat(ref)
	if err != nil {
		return nil
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		if fi, err = os.Stat(ref); err != nil {
			return nil
		}
	}
	registry := ""
	if _, err := name.ParseReference(ref); err == nil {
		registry = "; to scan the registry image of that name, write " + prefixDocker + ref
	}
	suggest := ""
	switch {
	case fi.IsDir():
		suggest = prefixDir + ref
		if st, err := os.Stat(filepath.Join(ref, "index.json")); err == nil && st.Mode().IsRegular() {
			suggest = prefixOCI + ref
		}
	case fi.Mode().IsRegular():
		suggest = sniffArchive(ref)
	default:
		return fmt.Errorf("%w: %s is a local file (%s), not an image%s", ErrInvalidReference, ref, describeMode(fi.Mode()), registry)
	}
	if suggest == "" {
		return fmt.Errorf("%w: %s is a local file, not an image reference: name an image archive docker-archive:%s or oci-archive:%s%s",
			ErrInvalidReference, ref, ref, ref, registry)
	}
	return fmt.Errorf("%w: %s is a local path, not an image reference: to scan it, write %s%s", ErrInvalidReference, ref, suggest, registry)
}

// sniffArchive returns the transport reference for an archive at p:
// "docker-archive:p" when it holds manifest.json, "oci-archive:p" when
// it holds index.json, "" otherwise. It reads at most sniffEntries
// headers.
func sniffArchive(p string) string {
	const sniffEntries = 4096
	f, err := openRegular(nil, p)
	if err != nil {
		return ""
	}
	defer f.Close()
	tr := tar.NewReader(f)
	oci := false
	for range sniffEntries {
		hdr, err := tr.Next()
		if err != nil {
			break
		}
		switch cleanMember(hdr.Name) {
		case "manifest.json":
			return prefixDockerArchive + p
		case "index.json":
			oci = true
		}
	}
	if oci {
		return prefixOCIArchive + p
	}
	return ""
}
