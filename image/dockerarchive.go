package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/lapps/lapps/limits"
)

// dockerManifestEntry is one image of a `docker save` archive's
// manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// openDockerArchive opens a `docker save` tarball, read in place.
//
// go-containerregistry's tarball package is not used: for the uncompressed
// layers such archives hold, it computes each layer's compressed digest,
// and the image digest, by gzipping the layer, which takes seconds per
// layer. Here a docker-archive layer's Digest is its diffID (the sha256 of
// the uncompressed file, which is what the archive stores), and
// ManifestDigest is the image ID, the digest of the configuration
// ("sha256:…", what `docker images --digests` calls IMAGE ID); there is no
// registry manifest to take a digest of.
func openDockerArchive(ctx context.Context, ref string, o *options, lfs *localFS) (Image, error) {
	p, sel := lfs.splitPath(ref)
	if _, err := lfs.stat(p); err != nil {
		if i := strings.LastIndexByte(ref, '@'); i > 0 {
			if _, err := lfs.stat(ref[:i]); err == nil {
				p, sel = ref[:i], ref[i:]
			}
		}
	}
	abs, err := absPath(prefixDockerArchive, p)
	if err != nil {
		return nil, err
	}
	base := prefixDockerArchive + abs
	f, err := lfs.openFile(abs)
	if err != nil {
		return nil, localError(base, err)
	}
	img, err := readDockerArchive(ctx, f, base, sel, o)
	if err != nil {
		f.Close()
		return nil, err
	}
	return img, nil
}

func readDockerArchive(ctx context.Context, f *os.File, base, sel string, o *options) (*openedImage, error) {
	members, err := indexTar(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", base, err)
	}
	store := &tarStore{f: f, members: members}
	readMember := func(p, what string) ([]byte, error) {
		rc, size, err := store.open(cleanMember(p))
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		lerr := o.limits.metadataError(what)
		if size > o.limits.MetadataBytes {
			return nil, lerr
		}
		return limits.ReadAll(rc, o.limits.MetadataBytes, lerr)
	}
	mb, err := readMember("manifest.json", base+" manifest.json")
	if err != nil {
		if errors.Is(err, limits.ErrExceeded) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %s is not a docker-archive (docker save) tarball: %w", ErrNotFound, base, err)
	}
	entries, err := parseDockerManifest(mb)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrCorrupt, base, err)
	}
	entry, name, err := selectDockerImage(base, sel, entries)
	if err != nil {
		return nil, err
	}
	if err := o.limits.checkLayers(name, len(entry.Layers)); err != nil {
		return nil, err
	}
	cb, err := readMember(entry.Config, name+" image configuration")
	if err != nil {
		if errors.Is(err, limits.ErrExceeded) {
			return nil, err
		}
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%w: %s: image configuration %s missing from the archive", ErrNotFound, name, entry.Config)
		}
		return nil, fmt.Errorf("%s: image configuration %s: %w", name, entry.Config, err)
	}
	cfg, err := parseConfig(cb)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: image configuration %s: %w", ErrCorrupt, name, entry.Config, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(entry.Layers) {
		return nil, fmt.Errorf("%w: %s: the image configuration lists %d diff_ids for %d layers", ErrCorrupt, name, len(cfg.RootFS.DiffIDs), len(entry.Layers))
	}
	if err := checkConfigPlatform(name, cfg, o); err != nil {
		return nil, err
	}
	img := newOpenedImage(name, o)
	img.manifestDigest = fmt.Sprintf("sha256:%x", sha256.Sum256(cb))
	img.closer = f
	img.config = cfg
	for i, lp := range entry.Layers {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		diffID := cfg.RootFS.DiffIDs[i]
		if diffID.Algorithm != "sha256" {
			return nil, fmt.Errorf("%s: layer %s: only sha256 digests are supported", name, diffID)
		}
		m, ok := members[cleanMember(lp)]
		if !ok {
			return nil, fmt.Errorf("%w: %s: layer %s missing from the archive", ErrNotFound, name, lp)
		}
		l := &layer{
			digest:           diffID.String(),
			diffID:           diffID.String(),
			mediaType:        string(types.DockerUncompressedLayer),
			size:             m.size,
			digestVerifiable: true,
			diffIDVerifiable: true,
			progress:         o.progress,
			closed:           img.closed,
			budget:           img.budget,
			open: func(context.Context) (io.ReadCloser, error) {
				return io.NopCloser(io.NewSectionReader(f, m.offset, m.size)), nil
			},
		}
		// Archives written by newer Docker or by hand may hold compressed
		// layers: then the blob's own digest is known only from a
		// content-addressed name, and otherwise the uncompressed stream
		// alone is verified (against the diffID).
		var magic [6]byte
		n, _ := f.ReadAt(magic[:], m.offset)
		if compressedArchive(magic[:n]) != nil {
			l.mediaType = string(types.DockerLayer)
			if hexSum, ok := strings.CutPrefix(cleanMember(lp), "blobs/sha256/"); ok && len(hexSum) == 64 {
				l.digest = "sha256:" + hexSum
			} else {
				l.digestVerifiable = false
			}
		}
		img.layers = append(img.layers, l)
	}
	return img, nil
}

// parseDockerManifest parses a docker-archive's manifest.json.
func parseDockerManifest(b []byte) ([]dockerManifestEntry, error) {
	var entries []dockerManifestEntry
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("parse manifest.json: %w", err)
	}
	for i, e := range entries {
		if e.Config == "" {
			return nil, fmt.Errorf("manifest.json: image %d names no configuration", i)
		}
	}
	return entries, nil
}

// parseConfig parses an image configuration; a configuration that is not
// a JSON object is an error (v1.ParseConfigFile accepts "null").
func parseConfig(b []byte) (*v1.ConfigFile, error) {
	if !jsonObject(b) {
		return nil, errors.New("not a JSON object")
	}
	return v1.ParseConfigFile(bytes.NewReader(b))
}

// selectDockerImage chooses the image of an archive: sel is "" (the only
// one), a reference among RepoTags, or "@N" (the N-th, from 0).
func selectDockerImage(base, sel string, entries []dockerManifestEntry) (dockerManifestEntry, string, error) {
	if len(entries) == 0 {
		return dockerManifestEntry{}, "", fmt.Errorf("%w: %s holds no image", ErrNotFound, base)
	}
	describe := func() string {
		var s []string
		for i, e := range entries {
			s = append(s, fmt.Sprintf("@%d %s", i, strings.Join(e.RepoTags, " ")))
		}
		return strings.Join(s, "; ")
	}
	switch {
	case sel == "":
		if len(entries) > 1 {
			return dockerManifestEntry{}, "", fmt.Errorf("%w: %s holds %d images, choose one with :REF or :@N (%s)", ErrInvalidReference, base, len(entries), describe())
		}
		return entries[0], base, nil
	case strings.HasPrefix(sel, "@"):
		n, err := strconv.Atoi(sel[1:])
		if err != nil || n < 0 {
			return dockerManifestEntry{}, "", fmt.Errorf("%w: %s:%s: want @N, an image index from 0", ErrInvalidReference, base, sel)
		}
		if n >= len(entries) {
			return dockerManifestEntry{}, "", fmt.Errorf("%w: %s holds %d images, no %s", ErrNotFound, base, len(entries), sel)
		}
		return entries[n], base + ":" + sel, nil
	}
	want, err := name.ParseReference(sel)
	if err != nil {
		return dockerManifestEntry{}, "", fmt.Errorf("%w: %s:%s: %w", ErrInvalidReference, base, sel, err)
	}
	for _, e := range entries {
		for _, t := range e.RepoTags {
			if have, err := name.ParseReference(t); err == nil && have.Name() == want.Name() {
				return e, base + ":" + sel, nil
			}
		}
	}
	return dockerManifestEntry{}, "", fmt.Errorf("%w: %s has no image %s (%s)", ErrNotFound, base, sel, describe())
}
