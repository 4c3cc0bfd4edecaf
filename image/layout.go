package image

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lapps/lapps/limits"
)

// layoutStore reads files of an OCI image layout, a directory (oci:) or a
// tar archive of one (oci-archive:).
type layoutStore interface {
	// open opens the file at the slash-separated path inside the layout.
	open(path string) (io.ReadCloser, int64, error)
}

// dirStore is an OCI layout directory, opened as an os.Root: no symbolic
// link or ".." inside the layout leads out of it.
type dirStore struct {
	root *os.Root
}

// open opens a regular file of the layout; anything else (a FIFO, a
// device, a directory) is ErrCorrupt, and is never read.
func (d dirStore) open(p string) (io.ReadCloser, int64, error) {
	f, err := openRegular(d.root, filepath.FromSlash(p))
	if err != nil {
		var nr *notRegularError
		if errors.As(err, &nr) {
			return nil, 0, fmt.Errorf("%w: %s", ErrCorrupt, nr)
		}
		return nil, 0, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, fi.Size(), nil
}

// tarStore is an OCI layout inside a tar archive, read in place.
type tarStore struct {
	f       *os.File
	members map[string]tarMember
}

func (t *tarStore) open(p string) (io.ReadCloser, int64, error) {
	m, ok := t.members[p]
	if !ok {
		return nil, 0, fmt.Errorf("%s: %w", p, os.ErrNotExist)
	}
	return io.NopCloser(io.NewSectionReader(t.f, m.offset, m.size)), m.size, nil
}

const refNameAnnotation = "org.opencontainers.image.ref.name"

// blobPath is where a blob lies in a layout; the digest is validated so
// that it cannot name a path outside blobs/.
func blobPath(d v1.Hash) (string, error) {
	if d.Algorithm != "sha256" || len(d.Hex) != 64 {
		return "", fmt.Errorf("unsupported digest %q", d)
	}
	if _, err := hex.DecodeString(d.Hex); err != nil {
		return "", fmt.Errorf("invalid digest %q", d)
	}
	return "blobs/" + d.Algorithm + "/" + d.Hex, nil
}

// readBlob reads a metadata blob (index, manifest, configuration) of a
// layout, at most MetadataBytes, verified against its digest.
func readBlob(s layoutStore, d v1.Hash, what string, l Limits) ([]byte, error) {
	p, err := blobPath(d)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	rc, size, err := s.open(p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	if size > l.MetadataBytes {
		return nil, l.metadataError(what + " " + d.String())
	}
	return readVerified(rc, d, what, l)
}

func openOCIDir(ctx context.Context, ref string, o *options, lfs *localFS) (Image, error) {
	p, sel := lfs.splitPath(ref)
	abs, err := absPath(prefixOCI, p)
	if err != nil {
		return nil, err
	}
	base := prefixOCI + abs
	root, err := lfs.openDir(abs)
	if err != nil {
		return nil, localError(base, err)
	}
	img := newOpenedImage(base, o)
	img.closer = root
	if err := openLayout(ctx, dirStore{root}, base, sel, o, img); err != nil {
		root.Close()
		return nil, err
	}
	return img, nil
}

func openOCIArchive(ctx context.Context, ref string, o *options, lfs *localFS) (Image, error) {
	p, sel := lfs.splitPath(ref)
	abs, err := absPath(prefixOCIArchive, p)
	if err != nil {
		return nil, err
	}
	base := prefixOCIArchive + abs
	f, err := lfs.openFile(abs)
	if err != nil {
		return nil, localError(base, err)
	}
	members, err := indexTar(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", base, err)
	}
	if _, ok := members["index.json"]; !ok {
		f.Close()
		return nil, fmt.Errorf("%w: %s does not hold an OCI image layout (no index.json)", ErrNotFound, base)
	}
	img := newOpenedImage(base, o)
	img.closer = f
	if err := openLayout(ctx, &tarStore{f: f, members: members}, base, sel, o, img); err != nil {
		f.Close()
		return nil, err
	}
	return img, nil
}

// openLayout reads the manifest chosen by sel (a tag, a digest, or empty
// when the layout holds a single image) and fills img.
func openLayout(ctx context.Context, s layoutStore, base, sel string, o *options, img *openedImage) error {
	rc, size, err := s.open("index.json")
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%w: %s is not an OCI image layout (no index.json)", ErrNotFound, base)
		}
		return fmt.Errorf("%s: index.json: %w", base, err)
	}
	lerr := o.limits.metadataError(base + " index.json")
	if size > o.limits.MetadataBytes {
		rc.Close()
		return lerr
	}
	b, err := limits.ReadAll(rc, o.limits.MetadataBytes, lerr)
	rc.Close()
	if err != nil {
		if errors.Is(err, limits.ErrExceeded) {
			return err
		}
		return fmt.Errorf("%s: read index.json: %w", base, err)
	}
	idx, err := parseIndex(b)
	if err != nil {
		return fmt.Errorf("%w: %s: index.json: %w", ErrCorrupt, base, err)
	}
	var tags []string
	for _, d := range idx.Manifests {
		if t := d.Annotations[refNameAnnotation]; t != "" {
			tags = append(tags, t)
		}
	}
	slices.Sort(tags)
	var desc v1.Descriptor
	name := base
	switch {
	case strings.HasPrefix(strings.TrimPrefix(sel, "@"), "sha256:"):
		h, err := v1.NewHash(strings.TrimPrefix(sel, "@"))
		if err != nil {
			return fmt.Errorf("%w: %s@%s: %w", ErrInvalidReference, base, sel, err)
		}
		i := slices.IndexFunc(idx.Manifests, func(d v1.Descriptor) bool { return d.Digest == h })
		if i < 0 {
			return fmt.Errorf("%w: %s has no manifest %s", ErrNotFound, base, h)
		}
		desc, name = idx.Manifests[i], base+"@"+h.String()
	case sel != "":
		i := slices.IndexFunc(idx.Manifests, func(d v1.Descriptor) bool { return d.Annotations[refNameAnnotation] == sel })
		if i < 0 {
			return fmt.Errorf("%w: %s has no tag %q (tags: %s)", ErrNotFound, base, sel, strings.Join(tags, ", "))
		}
		desc, name = idx.Manifests[i], base+":"+sel
	case len(idx.Manifests) == 1:
		desc = idx.Manifests[0]
		if t := desc.Annotations[refNameAnnotation]; t != "" {
			name = base + ":" + t
		}
	case len(idx.Manifests) == 0:
		return fmt.Errorf("%w: %s holds no image", ErrNotFound, base)
	default:
		return fmt.Errorf("%w: %s holds %d images, name one with %s:TAG (tags: %s)", ErrInvalidReference, base, len(idx.Manifests), base, strings.Join(tags, ", "))
	}
	img.setName(name)

	// Resolve (nested) indexes to the platform's manifest.
	fromIndex := false
	for depth := 0; ; depth++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		if !desc.MediaType.IsIndex() {
			break
		}
		if depth > 4 {
			return fmt.Errorf("%s: indexes nested too deep", name)
		}
		b, err := readBlob(s, desc.Digest, name+" image index", o.limits)
		if err != nil {
			return layoutBlobError(name, "index", err)
		}
		sub, err := parseIndex(b)
		if err != nil {
			return fmt.Errorf("%w: %s: index %s: %w", ErrCorrupt, name, desc.Digest, err)
		}
		if desc, err = choosePlatform(name, sub.Manifests, o); err != nil {
			return err
		}
		fromIndex = true
	}
	mb, err := readBlob(s, desc.Digest, name+" image manifest", o.limits)
	if err != nil {
		return layoutBlobError(name, "manifest", err)
	}
	m, err := parseManifest(mb)
	if err != nil {
		return fmt.Errorf("%w: %s: manifest %s: %w", ErrCorrupt, name, desc.Digest, err)
	}
	if err := o.limits.checkLayers(name, len(m.Layers)); err != nil {
		return err
	}
	if !m.Config.MediaType.IsConfig() && m.Config.MediaType != "" {
		return fmt.Errorf("%s: manifest %s is not a container image (config media type %s)", name, desc.Digest, m.Config.MediaType)
	}
	cb, err := readBlob(s, m.Config.Digest, name+" image configuration", o.limits)
	if err != nil {
		return layoutBlobError(name, "config", err)
	}
	cfg, err := parseConfig(cb)
	if err != nil {
		return fmt.Errorf("%w: %s: config %s: %w", ErrCorrupt, name, m.Config.Digest, err)
	}
	if !fromIndex {
		if err := checkConfigPlatform(name, cfg, o); err != nil {
			return err
		}
	}
	img.manifestDigest = desc.Digest.String()
	img.layers, err = imageLayers(name, m, cfg, o, img, func(d v1.Descriptor) blobOpener {
		return func(ctx context.Context) (io.ReadCloser, error) {
			p, err := blobPath(d.Digest)
			if err != nil {
				return nil, err
			}
			rc, _, err := s.open(p)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", name, err)
			}
			return rc, nil
		}
	})
	return err
}

func layoutBlobError(name, what string, err error) error {
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("%w: %s: %s blob missing: %w", ErrNotFound, name, what, err)
	case errors.Is(err, limits.ErrExceeded):
		return err
	}
	return fmt.Errorf("%s: %s: %w", name, what, err)
}

// parseIndex parses an image index (index.json); one that is not a JSON
// object is an error.
func parseIndex(b []byte) (*v1.IndexManifest, error) {
	if !jsonObject(b) {
		return nil, errors.New("not a JSON object")
	}
	return v1.ParseIndexManifest(bytes.NewReader(b))
}

// parseManifest parses an image manifest; one that is not a JSON object
// is an error.
func parseManifest(b []byte) (*v1.Manifest, error) {
	if !jsonObject(b) {
		return nil, errors.New("not a JSON object")
	}
	return v1.ParseManifest(bytes.NewReader(b))
}

// jsonObject reports whether b starts like a JSON object: the library
// parsers accept "null" as an empty document.
func jsonObject(b []byte) bool {
	return bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte("{"))
}
