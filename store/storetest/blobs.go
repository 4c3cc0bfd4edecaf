package storetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/lapps/lapps/store"
)

// The cases of store.Blobs.

// blobDigest is a digest of 64 hex digits made of c.
func blobDigest(c string) string { return "sha256:" + strings.Repeat(c, 64) }

// checkBlob checks BlobDiffID(blob): want, or ErrNotFound when want is "".
func checkBlob(t *testing.T, s store.Store, blob, want string) {
	t.Helper()
	got, err := s.BlobDiffID(context.Background(), blob)
	switch {
	case want == "" && !errors.Is(err, store.ErrNotFound):
		t.Errorf("BlobDiffID(%s) = %q, %v; want ErrNotFound", blob[:12], got, err)
	case want != "" && (err != nil || got != want):
		t.Errorf("BlobDiffID(%s) = %q, %v; want %s", blob[:12], got, err, want[:12])
	}
}

func testBlobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	gz, zst, diff, other := blobDigest("1"), blobDigest("2"), blobDigest("d"), blobDigest("e")
	checkBlob(t, s, gz, "")

	// Two blobs (gzip and zstd, say) of one content; an uncompressed
	// layer's blob is its diff ID.
	for _, b := range []string{gz, zst, diff} {
		if err := s.PutBlobDiffID(ctx, b, diff); err != nil {
			t.Fatalf("PutBlobDiffID(%s): %v", b[:12], err)
		}
	}
	checkBlob(t, s, gz, diff)
	checkBlob(t, s, zst, diff)
	checkBlob(t, s, diff, diff)
	checkBlob(t, s, other, "")

	// The same pair again refreshes it.
	if err := s.PutBlobDiffID(ctx, gz, diff); err != nil {
		t.Errorf("PutBlobDiffID of a recorded pair: %v", err)
	}
	checkBlob(t, s, gz, diff)

	// Another diff ID for a recorded blob is an error, and changes nothing.
	if err := s.PutBlobDiffID(ctx, gz, other); !errors.Is(err, store.ErrExists) {
		t.Errorf("PutBlobDiffID with another diff ID: err = %v, want ErrExists", err)
	}
	checkBlob(t, s, gz, diff)

	// Anything but "sha256:" and 64 lower-case hex digits is refused,
	// and not stored.
	good := blobDigest("3")
	for _, bad := range []string{
		"",
		"sha256:",
		"sha256:" + strings.Repeat("A", 64),
		"SHA256:" + strings.Repeat("a", 64),
		"sha512:" + strings.Repeat("a", 128),
		"sha256:" + strings.Repeat("a", 63),
		"sha256:" + strings.Repeat("a", 65),
		"sha256:" + strings.Repeat("g", 64),
		"sha256:" + strings.Repeat("a", 63) + "\x00",
		"sha256:" + strings.Repeat("a", 62) + "é",
		" sha256:" + strings.Repeat("a", 64),
		strings.Repeat("a", 64),
	} {
		if err := s.PutBlobDiffID(ctx, bad, diff); err == nil {
			t.Errorf("PutBlobDiffID(blob %q): no error", bad)
		}
		if err := s.PutBlobDiffID(ctx, good, bad); err == nil {
			t.Errorf("PutBlobDiffID(diff ID %q): no error", bad)
		}
		if bad != "" {
			checkBlob(t, s, bad, "")
		}
	}
	checkBlob(t, s, good, "")
}

// testPruneLayerBlobs: PruneLayers deletes the blob records of the
// layer indexes it deletes, and those only.
func testPruneLayerBlobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	used := bookworm(digest1, false).Layers[0].Digest
	unused, unused2 := blobDigest("a"), blobDigest("b")
	for _, d := range []string{used, unused, unused2} {
		if err := s.PutLayer(ctx, layerIndex(d, "1")); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.PutManifest(ctx, bookworm(digest1, false)); err != nil {
		t.Fatal(err)
	}
	blobs := map[string]string{ // blob → diff ID
		blobDigest("1"): used, blobDigest("2"): unused, blobDigest("3"): unused,
		blobDigest("4"): unused2, blobDigest("5"): blobDigest("f"), // no layer index
	}
	for b, d := range blobs {
		if err := s.PutBlobDiffID(ctx, b, d); err != nil {
			t.Fatal(err)
		}
	}
	// Layers just stored are protected by the cut-off; so are their blobs.
	if n, err := s.PruneLayers(ctx, time.Now().Add(-time.Hour), 10); err != nil || n != 0 {
		t.Errorf("PruneLayers(an hour ago) = %d, %v; want 0", n, err)
	}
	for b, d := range blobs {
		checkBlob(t, s, b, d)
	}
	n, err := s.PruneLayers(ctx, time.Now().Add(time.Hour), 10)
	if err != nil || n != 2 {
		t.Fatalf("PruneLayers = %d, %v; want 2 (the unused layers)", n, err)
	}
	checkBlob(t, s, blobDigest("1"), used)
	checkBlob(t, s, blobDigest("2"), "")
	checkBlob(t, s, blobDigest("3"), "")
	checkBlob(t, s, blobDigest("4"), "")
	checkBlob(t, s, blobDigest("5"), blobDigest("f"))
	if _, err := s.Layer(ctx, used); err != nil {
		t.Errorf("the layer a manifest uses was pruned: %v", err)
	}
	// A pruned blob can be recorded again, with another diff ID too.
	if err := s.PutBlobDiffID(ctx, blobDigest("2"), blobDigest("c")); err != nil {
		t.Errorf("PutBlobDiffID after its layer was pruned: %v", err)
	}
	checkBlob(t, s, blobDigest("2"), blobDigest("c"))
}
