package image

import (
	"bytes"
	"fmt"
	"io"
	"sync"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/lapps/lapps/limits"
)

// newOpenedImage returns an image whose layers share one budget.
func newOpenedImage(name string, o *options) *openedImage {
	return &openedImage{name: name, closed: new(atomic.Bool), budget: newBudget(name, o.limits)}
}

// setName names the image, and its budget's errors.
func (i *openedImage) setName(name string) {
	i.name = name
	i.budget.image = name
}

// openedImage implements Image for every transport.
type openedImage struct {
	name           string
	manifestDigest string
	layers         []Layer
	closed         *atomic.Bool
	budget         *budget
	closer         io.Closer
	closeOnce      sync.Once
	closeErr       error
	// config is the image configuration, where the transport has one.
	config *v1.ConfigFile
}

// ConfigFile returns the image configuration the image was opened with
// (nil for a dir: tree), which the configuration checks read.
func (i *openedImage) ConfigFile() *v1.ConfigFile { return i.config }

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

// readVerified reads a small blob whole, at most MetadataBytes, and
// checks it against its digest: a mismatch is ErrCorrupt.
func readVerified(r io.Reader, digest v1.Hash, what string, l Limits) ([]byte, error) {
	b, err := limits.ReadAll(r, l.MetadataBytes, l.metadataError(what+" "+digest.String()))
	if err != nil {
		return nil, err
	}
	got, _, err := v1.SHA256(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	if got != digest {
		return nil, fmt.Errorf("%w: %s %s does not match its digest (got %s)", ErrCorrupt, what, digest, got)
	}
	return b, nil
}

// imageLayers builds the layers of a manifest, with diffIDs from the
// configuration.
func imageLayers(name string, m *v1.Manifest, cfg *v1.ConfigFile, o *options, img *openedImage, open func(v1.Descriptor) blobOpener) ([]Layer, error) {
	if err := o.limits.checkLayers(name, len(m.Layers)); err != nil {
		return nil, err
	}
	img.config = cfg
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, fmt.Errorf("%w: %s: the image configuration lists %d diff_ids for %d layers", ErrCorrupt, name, len(cfg.RootFS.DiffIDs), len(m.Layers))
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
			contentAddressed: true,
			progress:         o.progress,
			closed:           img.closed,
			budget:           img.budget,
		})
	}
	return layers, nil
}
