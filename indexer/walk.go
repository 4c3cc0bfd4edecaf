package indexer

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// DefaultMaxFileSize is the largest file handed to a cataloger. A package
// database larger than this is reported as a warning, not read.
const DefaultMaxFileSize = 512 << 20

// Indexer indexes layers with a fixed set of catalogers.
type Indexer struct {
	catalogers  []Cataloger
	maxFileSize int64
}

// Option configures an Indexer.
type Option func(*Indexer)

// WithMaxFileSize sets the largest file handed to a cataloger.
func WithMaxFileSize(n int64) Option { return func(ix *Indexer) { ix.maxFileSize = n } }

// New returns an Indexer using the given catalogers.
func New(catalogers []Cataloger, opts ...Option) *Indexer {
	ix := &Indexer{catalogers: catalogers, maxFileSize: DefaultMaxFileSize}
	for _, o := range opts {
		o(ix)
	}
	return ix
}

// Whiteout markers of the OCI image layer specification.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// CleanPath turns a tar entry name into the form catalogers see: slash
// separated, without a leading "/" or "./", without "." or ".." elements.
// It returns "" for the root and for names that escape it.
func CleanPath(name string) string {
	p := path.Clean("/" + name)
	if p == "/" {
		return ""
	}
	return p[1:]
}

// IndexLayer reads the uncompressed tar stream of one layer in a single
// pass and returns its index. Files a cataloger wants are read into memory
// (up to the maximum file size) and handed to every cataloger that wants
// them; all other content is skipped as it streams by. The stream is read
// to its end so that the transport can verify the layer's digest. A file
// that does not parse becomes a warning; a stream that is not a valid tar
// archive, or that fails to read, is an error.
func (ix *Indexer) IndexLayer(ctx context.Context, digest string, r io.Reader) (*LayerIndex, error) {
	idx := &LayerIndex{Digest: digest, IndexerVersion: Version}
	tr := tar.NewReader(r)
	var wanting []Cataloger
	owned := map[string]string{}         // file → "KIND NAME" of its OS package
	ownerCatalogers := map[string]bool{} // catalogers that reported ownership
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read layer %s: %w", digest, err)
		}
		name := CleanPath(hdr.Name)
		if name == "" {
			continue
		}
		dir, base := path.Split(name)
		dir = strings.TrimSuffix(dir, "/")
		if base == whiteoutOpaque {
			idx.Opaque = append(idx.Opaque, dir)
			continue
		}
		if strings.HasPrefix(base, whiteoutPrefix) {
			idx.Whiteouts = append(idx.Whiteouts, path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix)))
			continue
		}
		if hdr.Typeflag != tar.TypeReg && hdr.Typeflag != tar.TypeRegA { //nolint:staticcheck // old archives use TypeRegA
			continue
		}
		wanting = wanting[:0]
		for _, c := range ix.catalogers {
			var want bool
			if fw, ok := c.(FileWanter); ok {
				want = fw.WantsFile(name, hdr.FileInfo().Mode(), hdr.Size)
			} else {
				want = c.Wants(name)
			}
			if want {
				wanting = append(wanting, c)
			}
		}
		if len(wanting) == 0 {
			continue
		}
		if hdr.Size > ix.maxFileSize {
			idx.Warnings = append(idx.Warnings, fmt.Sprintf("%s: %d bytes, larger than the %d byte limit; not read", name, hdr.Size, ix.maxFileSize))
			continue
		}
		data := make([]byte, hdr.Size)
		if _, err := io.ReadFull(tr, data); err != nil {
			return nil, fmt.Errorf("read layer %s: %s: %w", digest, name, err)
		}
		for _, c := range wanting {
			res, err := c.Parse(ctx, name, bytes.NewReader(data))
			if err != nil {
				if ctx.Err() != nil {
					return nil, ctx.Err()
				}
				idx.Warnings = append(idx.Warnings, fmt.Sprintf("%s: %s: %v", name, c.Name(), err))
				continue
			}
			for owner, files := range res.OwnedFiles {
				ownerCatalogers[c.Name()] = true
				for _, f := range files {
					if f = CleanPath(f); f != "" {
						owned[f] = owner
					}
				}
			}
			if len(res.Packages) == 0 && res.Distribution == nil {
				if len(res.OwnedFiles) > 0 {
					continue
				}
				if _, content := c.(FileWanter); !content {
					// Still recorded: an empty database replaces an earlier one.
					idx.Entries = append(idx.Entries, Entry{Path: name, Cataloger: c.Name()})
				}
				continue
			}
			for i := range res.Packages {
				if res.Packages[i].DBPath == "" {
					res.Packages[i].DBPath = name
				}
			}
			idx.Entries = append(idx.Entries, Entry{Path: name, Cataloger: c.Name(), Packages: res.Packages, Distribution: res.Distribution})
		}
	}
	for i, e := range idx.Entries {
		if !ownerCatalogers[e.Cataloger] {
			idx.Entries[i].OwnedBy = owned[e.Path]
		}
	}
	// Drain what follows the end-of-archive marker so that the transport
	// sees the whole blob and verifies its digest.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("read layer %s: %w", digest, err)
	}
	return idx, nil
}
