package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// TestCompressions streams the real alpine layer stored uncompressed, as
// gzip, multi-member gzip and zstd, all under a gzip media type: the
// compression is detected from the content, both digests are verified,
// and a wrong one is reported.
func TestCompressions(t *testing.T) {
	ctx := context.Background()
	img, err := Open(ctx, "oci:"+filepath.Join(imagesDir(t), "rootfs", "oci")+":alpine-3.20.3")
	must(t, err)
	defer img.Close()
	rc, err := img.Layers()[0].Open(ctx)
	must(t, err)
	plain, err := io.ReadAll(rc)
	must(t, err)
	rc.Close()
	diffID := fmt.Sprintf("sha256:%x", sha256.Sum256(plain))

	var gz, gz2, zs bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(plain)
	zw.Close()
	half := len(plain) / 2
	for _, part := range [][]byte{plain[:half], plain[half:]} {
		zw := gzip.NewWriter(&gz2)
		zw.Write(part)
		zw.Close()
	}
	enc, err := zstd.NewWriter(&zs)
	must(t, err)
	enc.Write(plain)
	enc.Close()

	for _, c := range []struct {
		name string
		blob []byte
	}{
		{"uncompressed", plain},
		{"gzip", gz.Bytes()},
		{"multi-member gzip", gz2.Bytes()},
		{"zstd", zs.Bytes()},
	} {
		t.Run(c.name, func(t *testing.T) {
			mk := func(digest, diff string) *layer {
				return &layer{
					digest: digest, diffID: diff, size: int64(len(c.blob)),
					mediaType:        "application/vnd.oci.image.layer.v1.tar+gzip",
					digestVerifiable: true, diffIDVerifiable: true,
					open: func(context.Context) (io.ReadCloser, error) {
						return io.NopCloser(bytes.NewReader(c.blob)), nil
					},
				}
			}
			digest := fmt.Sprintf("sha256:%x", sha256.Sum256(c.blob))
			sum, names, err := readLayer(ctx, mk(digest, diffID))
			if err != nil {
				t.Fatal(err)
			}
			if sum != diffID || len(names) < 50 {
				t.Errorf("sha256 %s (%d entries), want %s", sum, len(names), diffID)
			}
			wrong := "sha256:" + strings.Repeat("0", 64)
			for _, l := range []*layer{mk(wrong, diffID), mk(digest, wrong)} {
				if _, _, err := readLayer(ctx, l); err == nil || !strings.Contains(err.Error(), l.digest) {
					t.Errorf("digest %s diffID %s: error %v, want a mismatch naming the layer", l.digest, l.diffID, err)
				}
			}
		})
	}
}
