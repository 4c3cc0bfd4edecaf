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
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// layoutStore reads files of an OCI image layout, a directory (oci:) or a
// tar archive of one (oci-archive:).
type layoutStore interface {
	// open opens the file at the slash-separated path inside the layout.
	open(path string) (io.ReadCloser, int64, error)
}

// dirStore is an OCI layout directory.
type dirStore string

func (d dirStore) open(p string) (io.ReadCloser, int64, error) {
	f, err := os.Open(filepath.Join(string(d), filepath.FromSlash(p)))
	if err != nil {
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

func readBlob(s layoutStore, d v1.Hash) ([]byte, error) {
	p, err := blobPath(d)
	if err != nil {
		return nil, err
	}
	rc, _, err := s.open(p)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return readVerified(rc, d)
}

func openOCIDir(ctx context.Context, ref string, o *options) (Image, error) {
	p, sel := splitPath(ref)
	abs, err := absPath(prefixOCI, p)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(abs, "index.json")); err != nil {
		if _, serr := os.Stat(abs); serr != nil {
			return nil, statError(prefixOCI+abs, serr)
		}
		return nil, fmt.Errorf("%w: %s%s is not an OCI image layout (no index.json)", ErrNotFound, prefixOCI, abs)
	}
	img := &openedImage{closed: new(atomic.Bool)}
	if err := openLayout(ctx, dirStore(abs), prefixOCI+abs, sel, o, img); err != nil {
		return nil, err
	}
	return img, nil
}

func openOCIArchive(ctx context.Context, ref string, o *options) (Image, error) {
	p, sel := splitPath(ref)
	abs, err := absPath(prefixOCIArchive, p)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(abs)
	if err != nil {
		return nil, statError(prefixOCIArchive+abs, err)
	}
	members, err := indexTar(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s%s: %w", prefixOCIArchive, abs, err)
	}
	if _, ok := members["index.json"]; !ok {
		f.Close()
		return nil, fmt.Errorf("%w: %s%s does not hold an OCI image layout (no index.json)", ErrNotFound, prefixOCIArchive, abs)
	}
	img := &openedImage{closed: new(atomic.Bool), closer: f}
	if err := openLayout(ctx, &tarStore{f: f, members: members}, prefixOCIArchive+abs, sel, o, img); err != nil {
		f.Close()
		return nil, err
	}
	return img, nil
}

// openLayout reads the manifest chosen by sel (a tag, a digest, or empty
// when the layout holds a single image) and fills img.
func openLayout(ctx context.Context, s layoutStore, base, sel string, o *options, img *openedImage) error {
	rc, _, err := s.open("index.json")
	if err != nil {
		return fmt.Errorf("%s: %w", base, err)
	}
	b, err := io.ReadAll(io.LimitReader(rc, maxMetadata))
	rc.Close()
	if err != nil {
		return fmt.Errorf("%s: read index.json: %w", base, err)
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("%s: parse index.json: %w", base, err)
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
	img.name = name

	// Resolve (nested) indexes to the platform's manifest.
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
		b, err := readBlob(s, desc.Digest)
		if err != nil {
			return layoutBlobError(name, "index", err)
		}
		sub, err := v1.ParseIndexManifest(bytes.NewReader(b))
		if err != nil {
			return fmt.Errorf("%s: parse index %s: %w", name, desc.Digest, err)
		}
		if desc, err = choosePlatform(name, sub.Manifests, o); err != nil {
			return err
		}
	}
	mb, err := readBlob(s, desc.Digest)
	if err != nil {
		return layoutBlobError(name, "manifest", err)
	}
	m, err := v1.ParseManifest(bytes.NewReader(mb))
	if err != nil {
		return fmt.Errorf("%s: parse manifest %s: %w", name, desc.Digest, err)
	}
	if !m.Config.MediaType.IsConfig() && m.Config.MediaType != "" {
		return fmt.Errorf("%s: manifest %s is not a container image (config media type %s)", name, desc.Digest, m.Config.MediaType)
	}
	cb, err := readBlob(s, m.Config.Digest)
	if err != nil {
		return layoutBlobError(name, "config", err)
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(cb))
	if err != nil {
		return fmt.Errorf("%s: parse config %s: %w", name, m.Config.Digest, err)
	}
	img.manifestDigest = desc.Digest.String()
	img.layers, err = imageLayers(name, m, cfg, o, img.closed, func(d v1.Descriptor) blobOpener {
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
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: %s: %s blob missing: %w", ErrNotFound, name, what, err)
	}
	return fmt.Errorf("%s: %s: %w", name, what, err)
}
