package csaf

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"path"

	"github.com/klauspost/compress/zstd"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/updater"
)

// maxZstdWindow bounds the window a zstd frame may ask the decoder to
// allocate: zstd --long=27 (128 MiB) is the largest in common use.
const maxZstdWindow = 128 << 20

// readTarZst streams a zstd-compressed tar archive: see readTar.
func readTarZst(ctx context.Context, r io.Reader, name string, lim updater.Limits, c *collector) (int, error) {
	// The decompressed bytes are bounded by readTar (Limits.FeedBytes); the
	// decoder's memory by the window.
	zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
	if err != nil {
		return 0, fmt.Errorf("%s: zstd: %w", name, err)
	}
	defer zr.Close()
	return readTar(ctx, zr, name, lim, c)
}

// readTar streams a tar archive, reading every regular entry named *.json
// as a document (within Limits.DocumentBytes), the decompressed archive
// within Limits.FeedBytes and at most Limits.Files entries. Nothing is
// written to disk.
func readTar(ctx context.Context, r io.Reader, name string, lim updater.Limits, c *collector) (int, error) {
	r = limits.Reader(r, lim.FeedBytes, limits.New("decompressed archive "+name+" of the feed", lim.FeedBytes, "bytes", updater.KeyMaxFeedBytes))
	tr := tar.NewReader(r)
	docs, entries := 0, 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return docs, fmt.Errorf("%s: tar: %w", name, err)
		}
		if entries++; entries > lim.Files {
			return docs, limits.New("entries of archive "+name+" of the feed", int64(lim.Files), "entries", updater.KeyMaxFiles)
		}
		if err := ctx.Err(); err != nil {
			return docs, err
		}
		if h.Typeflag != tar.TypeReg || kindOf(h.Name) != "json" {
			continue
		}
		entry := path.Join(name, h.Name)
		ok, err := decodeIfObject(tr, entry, lim, c)
		if err != nil {
			return docs, err
		}
		if ok {
			docs++
		}
	}
}

// decodeIfObject decodes a JSON file that holds an object; other JSON
// (an array, a scalar) is not a CSAF document and is passed over.
func decodeIfObject(r io.Reader, name string, lim updater.Limits, c *collector) (bool, error) {
	br := bufio.NewReader(r)
	for {
		b, err := br.Peek(1)
		if err != nil {
			return false, nil
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			br.Discard(1)
			continue
		case '{':
			return true, decode(br, name, lim, c)
		}
		return false, nil
	}
}
