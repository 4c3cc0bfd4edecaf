package image

import (
	"fmt"
	"sync/atomic"

	"github.com/lapps/lapps/limits"
)

// Limits bound what opening an image and reading its layers may consume.
// Every bound crossed is a *limits.Error (errors.Is limits.ErrExceeded)
// naming the bound and its configuration key, returned from Open or from
// the Read of a layer stream. A zero (or negative) field takes its value
// from DefaultLimits.
type Limits struct {
	// MetadataBytes bounds each manifest, index, configuration, OCI
	// layout index.json and docker-archive manifest.json, from any source
	// and however it is encoded (limits.metadata_bytes).
	MetadataBytes int64
	// Layers bounds the layers of one image (limits.layers).
	Layers int
	// LayerBytes bounds the decompressed bytes of one layer, its bytes as
	// stored (a compressed blob is never larger than its content, and
	// empty gzip members would otherwise be read for ever), and the bytes
	// HashBlob reads (limits.layer_bytes).
	LayerBytes int64
	// ScanBytes bounds the decompressed bytes of all the layers of one
	// opened image together, counted across concurrent reads of its layers
	// (limits.scan_bytes). Reading a layer twice counts it twice.
	ScanBytes int64
	// CompressionRatio bounds a layer's decompressed bytes over its
	// compressed bytes, judged once more than ratioGrace bytes have been
	// decompressed, so that small layers are never judged
	// (limits.compression_ratio).
	CompressionRatio int64
}

// DefaultLimits are the bounds used where WithLimits does not set them:
// 16 MiB of metadata, 256 layers, 8 GiB per layer and 32 GiB per image
// decompressed, and a compression ratio of 1000.
var DefaultLimits = Limits{
	MetadataBytes:    16 << 20,
	Layers:           256,
	LayerBytes:       8 << 30,
	ScanBytes:        32 << 30,
	CompressionRatio: 1000,
}

// ratioGrace is how many bytes a layer decompresses before its compression
// ratio is judged.
const ratioGrace = 64 << 20

// Configuration keys of the bounds, named in the errors.
const (
	keyMetadataBytes    = "limits.metadata_bytes"
	keyLayers           = "limits.layers"
	keyLayerBytes       = "limits.layer_bytes"
	keyScanBytes        = "limits.scan_bytes"
	keyCompressionRatio = "limits.compression_ratio"
)

// WithLimits sets the bounds of Open and of layer reads; zero fields keep
// their defaults (DefaultLimits).
func WithLimits(l Limits) Option {
	return func(o *options) { o.limits = l.withDefaults() }
}

// withDefaults fills the zero fields of l from DefaultLimits.
func (l Limits) withDefaults() Limits {
	if l.MetadataBytes <= 0 {
		l.MetadataBytes = DefaultLimits.MetadataBytes
	}
	if l.Layers <= 0 {
		l.Layers = DefaultLimits.Layers
	}
	if l.LayerBytes <= 0 {
		l.LayerBytes = DefaultLimits.LayerBytes
	}
	if l.ScanBytes <= 0 {
		l.ScanBytes = DefaultLimits.ScanBytes
	}
	if l.CompressionRatio <= 0 {
		l.CompressionRatio = DefaultLimits.CompressionRatio
	}
	return l
}

// metadataError is the error of a metadata document larger than the bound.
func (l Limits) metadataError(what string) *limits.Error {
	return limits.New(what, l.MetadataBytes, "bytes", keyMetadataBytes)
}

// checkLayers refuses an image of more layers than the bound.
func (l Limits) checkLayers(image string, n int) error {
	if n > l.Layers {
		return fmt.Errorf("%s: %w", image, limits.New(fmt.Sprintf("layers of the image (it has %d)", n), int64(l.Layers), "layers", keyLayers))
	}
	return nil
}

// budget is what the layers of one opened image share: the bounds, and
// the decompressed bytes read so far from all of them.
type budget struct {
	image   string
	limits  Limits
	scanned atomic.Int64
}

func newBudget(image string, l Limits) *budget {
	return &budget{image: image, limits: l.withDefaults()}
}
