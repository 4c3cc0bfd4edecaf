// Package image opens container images from registries and from the
// transports users know from skopeo (oci:, oci-archive:, docker-archive:,
// dir:), and streams their layers.
package image

import (
	"context"
	"io"
)

// Image is an opened image: its manifest has been read, its layers have not.
type Image interface {
	// Name is the name scans of this image are numbered under: the
	// normalised reference for a registry image
	// ("index.docker.io/library/debian:12"), or the transport and absolute
	// path for the others ("oci:/abs/layout:tag").
	Name() string
	// ManifestDigest is the digest of the image manifest ("sha256:…"), for
	// the platform chosen from a multi-platform index.
	ManifestDigest() string
	// Layers are the image's layers, base first.
	Layers() []Layer
	// Close releases what Open acquired (open archive files).
	Close() error
}

// Layer is one layer of an image.
type Layer interface {
	// Digest is the layer's digest as the manifest names it; it is the key
	// a layer index is stored under.
	Digest() string
	// DiffID is the digest of the uncompressed layer, where known.
	DiffID() string
	// MediaType is the media type the manifest gives.
	MediaType() string
	// Size is the size of the blob in bytes as stored (compressed), or -1
	// when not known in advance.
	Size() int64
	// Open returns the uncompressed tar stream of the layer, whatever its
	// compression (gzip, zstd, none; detected from the content). Reading
	// it to EOF verifies the blob against its digest where the transport
	// allows; a mismatch or truncation is an error from Read.
	//
	// Reading is bounded by the Limits of Open (WithLimits): the
	// decompressed bytes of the layer, of all the image's layers together,
	// and the compression ratio. Crossing one is a *limits.Error from Read.
	Open(ctx context.Context) (io.ReadCloser, error)
	// ContentAddressed reports whether Digest is the content address of
	// the blob as the transport serves it, verified whenever the blob is
	// read (registries, oci:, oci-archive:). It is false for
	// docker-archive: layers and dir: trees, whose Digest and DiffID are
	// claims (of the archive's configuration, or of a listing of the
	// tree) until the bytes are read.
	ContentAddressed() bool
	// HashBlob reads the layer's bytes as stored, without decompressing
	// them, and returns their sha256 ("sha256:…"). For an uncompressed
	// docker-archive layer and for a dir: tree (whose generated tar stream
	// is deterministic for an unchanged tree) that is the real diffID; for
	// a compressed blob, its blob digest. The result is not checked
	// against Digest or DiffID: comparing is the caller's business. It is
	// bounded by Limits.LayerBytes (a *limits.Error beyond) and does not
	// count towards Limits.ScanBytes.
	HashBlob(ctx context.Context) (string, error)
}
