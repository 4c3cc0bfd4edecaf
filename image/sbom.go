package image

import (
	"fmt"
	"os"
	"strings"
)

// prefixSBOM names an SBOM file ("sbom:FILE"): CycloneDX or SPDX JSON,
// scanned instead of an image (package sbom reads it; the service indexes
// it). Open refuses it: an SBOM has no layers to read.
const prefixSBOM = "sbom:"

// IsSBOM reports whether ref names an SBOM file ("sbom:FILE").
func IsSBOM(ref string) bool { return strings.HasPrefix(ref, prefixSBOM) }

// OpenSBOM opens the SBOM file of ref ("sbom:FILE") for reading and
// returns the name its scans are numbered under ("sbom:" and the absolute
// path, as NormalizeName gives). With WithLocalRoots among opts (a
// server), the path must be absolute and under one of the roots, and is
// opened through the root's os.Root as the other local transports are;
// without, any path. Only a regular file is opened (a FIFO or a device is
// refused without blocking). Errors wrap ErrInvalidReference, ErrNotFound
// or ErrForbidden where one applies.
func OpenSBOM(ref string, opts ...Option) (name string, f *os.File, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	rest, ok := strings.CutPrefix(ref, prefixSBOM)
	if !ok {
		return "", nil, fmt.Errorf("%w: %s is not an SBOM reference (sbom:FILE)", ErrInvalidReference, ref)
	}
	if err := CheckLocal(ref, o.localRoots); err != nil {
		return "", nil, err
	}
	abs, err := absPath(prefixSBOM, rest)
	if err != nil {
		return "", nil, err
	}
	lfs, err := newLocalFS(o.localRoots)
	if err != nil {
		return "", nil, err
	}
	defer lfs.close()
	p := rest
	if o.localRoots != nil {
		p = abs
	}
	f, err = lfs.openFile(p)
	if err != nil {
		if os.IsNotExist(err) {
			return "", nil, statError(ref, err)
		}
		return "", nil, fmt.Errorf("%s: %w", ref, err)
	}
	return prefixSBOM + abs, f, nil
}
