package image

import (
	"bufio"
	"bytes"
	"compress/bzip2"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"github.com/lapps/lapps/limits"
)

// blobOpener opens a layer's blob as stored (compressed or not).
type blobOpener func(ctx context.Context) (io.ReadCloser, error)

// layer implements Layer for every transport: the transport supplies the
// raw blob, layer does the rest (digest and diffID verification, progress,
// decompression).
type layer struct {
	digest    string
	diffID    string
	mediaType string
	size      int64
	open      blobOpener
	// digestVerifiable is false where the digest is not a hash of the blob
	// (dir:, where it hashes a listing).
	digestVerifiable bool
	// diffIDVerifiable is false where the diffID is synthetic (dir:).
	diffIDVerifiable bool
	// contentAddressed is true where digest is the blob's content address
	// as the transport serves it (registries, OCI layouts).
	contentAddressed bool
	progress         ProgressFunc
	closed           *atomic.Bool
	// budget holds the bounds and the image's shared byte count; nil
	// means DefaultLimits and a count of this layer's reads only.
	budget *budget
}

func (l *layer) Digest() string         { return l.digest }
func (l *layer) ContentAddressed() bool { return l.contentAddressed }
func (l *layer) DiffID() string         { return l.diffID }
func (l *layer) MediaType() string      { return l.mediaType }
func (l *layer) Size() int64            { return l.size }

// Magic numbers of the compressions a layer may use.
var (
	magicGzip  = []byte{0x1f, 0x8b}
	magicZstd  = []byte{0x28, 0xb5, 0x2f, 0xfd}
	magicBzip2 = []byte("BZh")
	magicXz    = []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}
)

// Open implements Layer. The blob is hashed as it streams and checked
// against Digest at its end; the uncompressed stream is hashed and checked
// against DiffID (the key layer indexes are shared under, so it must not be
// taken on trust from the image configuration). An uncompressed blob whose
// digest is its diffID is hashed once.
func (l *layer) Open(ctx context.Context) (io.ReadCloser, error) {
	if l.closed != nil && l.closed.Load() {
		return nil, fmt.Errorf("layer %s: image already closed", l.digest)
	}
	raw, err := l.open(ctx)
	if err != nil {
		return nil, fmt.Errorf("layer %s: %w", l.digest, err)
	}
	b := l.budget
	if b == nil {
		b = newBudget("", DefaultLimits)
	}
	// The blob as stored is bounded too: a compressed blob larger than its
	// decompressed bound could still be read for ever (empty gzip members
	// decompress to nothing).
	vr := &blobReader{ctx: ctx, r: raw, digest: l.digest, size: l.size, progress: l.progress, limit: b.limits.LayerBytes}
	if l.digestVerifiable {
		if h, want, ok := newHash(l.digest); ok {
			vr.h, vr.want = h, want
		}
	}
	br := bufio.NewReaderSize(vr, 64<<10)
	head, _ := br.Peek(6) // a short or failing read shows up on the first Read
	lr := &layerReader{digest: l.digest, raw: raw, buf: br, blob: vr, budget: b}
	switch {
	case bytes.HasPrefix(head, magicGzip):
		zr, err := newGzipReader(br)
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("layer %s: gzip: %w", l.digest, vr.explain(err))
		}
		lr.dec, lr.closeDec = zr, zr.Close
	case bytes.HasPrefix(head, magicZstd):
		zr, err := newZstdReader(br)
		if err != nil {
			raw.Close()
			return nil, fmt.Errorf("layer %s: zstd: %w", l.digest, err)
		}
		lr.dec, lr.closeDec = zr, func() error { zr.Close(); return nil }
	case bytes.HasPrefix(head, magicBzip2):
		lr.dec = bzip2.NewReader(br)
	case bytes.HasPrefix(head, magicXz):
		raw.Close()
		return nil, fmt.Errorf("layer %s: xz-compressed layers are not supported", l.digest)
	default:
		lr.dec = br
	}
	compressed := lr.dec != io.Reader(br)
	lr.compressed = compressed
	// An uncompressed blob checked against its digest needs no second hash
	// when its digest is its diffID.
	if l.diffIDVerifiable && (compressed || vr.h == nil || l.diffID != l.digest) {
		if h, want, ok := newHash(l.diffID); ok {
			lr.h, lr.want = h, want
		}
	}
	return lr, nil
}

// newGzipReader is the gzip decompressor: klauspost/compress won
// BenchmarkGunzip (bench_test.go) on the 51 MB first layer of
// debian-bookworm-mid, best of 6 on the 2-core workplace machine: klauspost
// 494 ms (104 MB/s compressed, ~250 MB/s out), pgzip 516 ms (and 1.3-2.3 s
// when the other core is busy, as it will be with layers read in
// parallel), compress/gzip 675 ms.
func newGzipReader(r io.Reader) (*gzip.Reader, error) { return gzip.NewReader(r) }

// maxZstdWindow bounds the window a zstd frame may ask for, which the
// decoder allocates: 64 MiB (window log 26) holds every level up to 22
// without --long; the library's default, 512 MiB, would let a few bytes of
// hostile frame header claim that much memory.
const maxZstdWindow = 64 << 20

// newZstdReader is the zstd decompressor: synchronous (no decoding
// goroutines reading the blob behind the caller's back, so the blob's
// byte count and hash are the caller's), with a bounded window.
func newZstdReader(r io.Reader) (*zstd.Decoder, error) {
	return zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow), zstd.WithDecoderLowmem(true))
}

// newHash returns a hash for a "sha256:hex" digest and the expected sum.
func newHash(digest string) (hash.Hash, []byte, bool) {
	hexSum, ok := strings.CutPrefix(digest, "sha256:")
	if !ok {
		return nil, nil, false
	}
	want, err := hex.DecodeString(hexSum)
	if err != nil || len(want) != sha256.Size {
		return nil, nil, false
	}
	return sha256.New(), want, true
}

// blobReader counts and hashes the raw blob, reports progress, and turns
// its end into an error when the blob is short or does not match.
type blobReader struct {
	ctx      context.Context
	r        io.Reader
	digest   string
	size     int64
	read     int64
	limit    int64 // bytes of the blob, 0: none
	h        hash.Hash
	want     []byte
	progress ProgressFunc
	err      error
}

func (b *blobReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if err := b.ctx.Err(); err != nil {
		b.err = err
		return 0, err
	}
	n, err := b.r.Read(p)
	if n > 0 {
		b.read += int64(n)
		if b.h != nil {
			b.h.Write(p[:n])
		}
		if b.progress != nil {
			b.progress(b.digest, b.read, b.size)
		}
		if b.size >= 0 && b.read > b.size {
			err = fmt.Errorf("blob is larger than the %d bytes the manifest gives", b.size)
		}
		if b.limit > 0 && b.read > b.limit {
			err = limits.New("bytes of layer "+b.digest+" as stored", b.limit, "bytes", keyLayerBytes)
		}
	}
	if err == io.EOF {
		switch {
		case b.size >= 0 && b.read < b.size:
			err = fmt.Errorf("blob truncated: %d of %d bytes: %w", b.read, b.size, io.ErrUnexpectedEOF)
		case b.h != nil && !bytes.Equal(b.h.Sum(nil), b.want):
			err = fmt.Errorf("blob digest mismatch: got sha256:%x after %d bytes", b.h.Sum(nil), b.read)
		}
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// explain prefers the blob's own error (truncation, mismatch) to the
// decompressor's consequence of it (unexpected EOF, corrupt input).
func (b *blobReader) explain(err error) error {
	if b.err == nil || b.err == io.EOF || errors.Is(err, b.err) {
		return err
	}
	return fmt.Errorf("%w (decompressing: %v)", b.err, err)
}

// layerReader is the uncompressed stream returned by Layer.Open.
type layerReader struct {
	digest     string
	raw        io.Closer
	buf        *bufio.Reader
	blob       *blobReader
	dec        io.Reader
	closeDec   func() error
	compressed bool
	h          hash.Hash
	want       []byte
	// budget bounds out, the decompressed bytes returned so far.
	budget *budget
	out    int64
	err    error
}

func (r *layerReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	// Never return bytes beyond the layer's bound: read at most one more,
	// to tell a layer of exactly the bound from a larger one.
	if left := r.budget.limits.LayerBytes - r.out; int64(len(p)) > left+1 {
		p = p[:left+1]
	}
	n, err := r.dec.Read(p)
	if n > 0 {
		var lerr error
		if n, lerr = r.account(n); lerr != nil {
			if r.h != nil {
				r.h.Write(p[:n])
			}
			r.err = lerr
			return n, lerr
		}
	}
	if n > 0 && r.h != nil {
		r.h.Write(p[:n])
	}
	if err == io.EOF {
		// The compressed stream ended: read what follows it (padding) so
		// the blob digest covers the whole blob.
		if _, derr := io.Copy(io.Discard, r.buf); derr != nil {
			err = derr
		} else if r.h != nil && !bytes.Equal(r.h.Sum(nil), r.want) {
			err = fmt.Errorf("uncompressed content does not match the diffID: got sha256:%x", r.h.Sum(nil))
		}
	}
	if err != nil && err != io.EOF {
		if r.blob.err == nil {
			// The decompressor failed before the blob did: read the rest of
			// the blob, to tell a blob damaged in storage or transit (digest
			// mismatch) from a published layer that is itself corrupt.
			_, _ = io.Copy(io.Discard, r.buf)
		}
		err = fmt.Errorf("layer %s: %w", r.digest, r.blob.explain(err))
	}
	r.err = err
	return n, err
}

// account counts n more decompressed bytes against the layer's and the
// image's bounds and the compression ratio; it returns how many of them
// may be passed on, and the bound crossed.
func (r *layerReader) account(n int) (int, error) {
	l := r.budget.limits
	r.out += int64(n)
	if r.out > l.LayerBytes {
		return n - int(r.out-l.LayerBytes), limits.New("decompressed bytes of layer "+r.digest, l.LayerBytes, "bytes", keyLayerBytes)
	}
	if total := r.budget.scanned.Add(int64(n)); total > l.ScanBytes {
		what := "decompressed bytes of all layers"
		if r.budget.image != "" {
			what += " of " + r.budget.image
		}
		return max(0, n-int(min(total-l.ScanBytes, int64(n)))), limits.New(what, l.ScanBytes, "bytes", keyScanBytes)
	}
	if r.compressed && r.out > ratioGrace && r.out > l.CompressionRatio*max(r.blob.read, 1) {
		return n, limits.New("compression ratio of layer "+r.digest+" (decompressed to compressed bytes)", l.CompressionRatio, "to 1", keyCompressionRatio)
	}
	return n, nil
}

func (r *layerReader) Close() error {
	var err error
	if r.closeDec != nil {
		err = r.closeDec()
	}
	if cerr := r.raw.Close(); err == nil {
		err = cerr
	}
	if r.err == nil {
		r.err = errors.New("layer reader closed")
	}
	return err
}

// HashBlob implements Layer: the sha256 of the blob as stored, read to its
// end without decompressing, bounded by LayerBytes. It does not check the
// result against Digest: for the layers that are not content-addressed the
// point is to learn what the bytes are, not what they are said to be.
func (l *layer) HashBlob(ctx context.Context) (string, error) {
	if l.closed != nil && l.closed.Load() {
		return "", fmt.Errorf("layer %s: image already closed", l.digest)
	}
	raw, err := l.open(ctx)
	if err != nil {
		return "", fmt.Errorf("layer %s: %w", l.digest, err)
	}
	defer raw.Close()
	lim := DefaultLimits
	if l.budget != nil {
		lim = l.budget.limits
	}
	h := sha256.New()
	r := limits.Reader(&ctxReader{ctx: ctx, r: raw}, lim.LayerBytes,
		limits.New("bytes of layer "+l.digest, lim.LayerBytes, "bytes", keyLayerBytes))
	if _, err := io.Copy(h, r); err != nil {
		var lerr *limits.Error
		if errors.As(err, &lerr) {
			return "", err
		}
		return "", fmt.Errorf("layer %s: hash: %w", l.digest, err)
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil)), nil
}

// ctxReader stops reading once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
