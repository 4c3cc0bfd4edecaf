package image

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// openedImage implements Image for every transport.
type openedImage struct {
	name           string
	manifestDigest string
	layers         []Layer
	closed         *atomic.Bool
	closer         io.Closer
	closeOnce      sync.Once
	closeErr       error
}

func (i *openedImage) Name() string           { return i.name }
func (i *openedImage) ManifestDigest() string { return i.manifestDigest }
func (i *openedImage) Layers() []Layer        { return i.layers }

// Close releases the image's files; layers opened afterwards fail, layer
// streams already open may fail.
func (i *openedImage) Close() error {
	i.closeOnce.Do(func() {
		i.closed.Store(true)
		if i.closer != nil {
			i.closeErr = i.closer.Close()
		}
	})
	return i.closeErr
}

// maxMetadata bounds what is read of manifests, indexes and configurations.
const maxMetadata = 16 << 20

// readVerified reads a small blob whole and checks it against its digest.
func readVerified(r io.Reader, digest v1.Hash) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, maxMetadata+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxMetadata {
		return nil, fmt.Errorf("blob %s is larger than %d bytes", digest, maxMetadata)
	}
	got, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if got != digest {
		return nil, fmt.Errorf("blob %s does not match its digest (got %s)", digest, got)
	}
	return b, nil
}

// imageLayers builds the layers of a manifest, with diffIDs from the
// configuration.
func imageLayers(name string, m *v1.Manifest, cfg *v1.ConfigFile, o *options, closed *atomic.Bool, open func(v1.Descriptor) blobOpener) ([]Layer, error) {
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("%s: the image configuration lists %d diff_ids for %d layers", name, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	layers := make([]Layer, 0, len(m.Layers))
	for i, d := range m.Layers {
		if d.Digest.Algorithm != "sha256" || cfg.RootFS.DiffIDs[i].Algorithm != "sha256" {
			return nil, fmt.Errorf("%s: layer %s: only sha256 digests are supported", name, d.Digest)
		}
		layers = append(layers, &layer{
			digest:           d.Digest.String(),
			diffID:           cfg.RootFS.DiffIDs[i].String(),
			mediaType:        string(d.MediaType),
			size:             d.Size,
			open:             open(d),
			digestVerifiable: true,
			diffIDVerifiable: true,
			progress:         o.progress,
			closed:           closed,
		})
	}
	return layers, nil
}
