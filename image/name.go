package image

import (
	"errors"
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
)

// ErrCorrupt marks an image whose content cannot be read as a valid image:
// a layer that does not match its digest or diffID, is truncated, or is
// not a valid (compressed) tar stream. Callers test it with errors.Is.
var ErrCorrupt = errors.New("corrupt image")

// NormalizeName returns the name scans of ref are numbered under, from the
// reference alone, without opening anything: for a registry reference the
// normalised reference ("debian:12" → "index.docker.io/library/debian:12"),
// for a transport the transport, the absolute path and the tag or digest
// as given ("oci:/abs/layout:tag"). The same string always gives the same
// name, so `list` and `report` find what `scan` recorded.
func NormalizeName(ref string) (string, error) {
	if strings.TrimSpace(ref) == "" {
		return "", fmt.Errorf("%w: empty reference", ErrInvalidReference)
	}
	for _, t := range []string{prefixOCIArchive, prefixOCI, prefixDockerArchive, prefixDir} {
		rest, ok := strings.CutPrefix(ref, t)
		if !ok {
			continue
		}
		p, suffix := rest, ""
		if t != prefixDir {
			p, suffix = splitPath(rest)
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
	r, err := name.ParseReference(strings.TrimPrefix(ref, prefixDocker))
	if err != nil {
		return "", fmt.Errorf("%w: %q: %w", ErrInvalidReference, ref, err)
	}
	return r.Name(), nil
}
