package image

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/lapps/lapps/testenv"
)

// imagesDir is testenv.Images.
func imagesDir(tb testing.TB) string {
	tb.Helper()
	return testenv.Images(tb)
}

// readLayer streams a layer to EOF, checking it is a tar archive, and
// returns the sha256 of the stream, the names of its entries and the first
// error met.
func readLayer(ctx context.Context, l Layer) (sum string, names []string, err error) {
	rc, err := l.Open(ctx)
	if err != nil {
		return "", nil, err
	}
	defer rc.Close()
	h := sha256.New()
	tr := tar.NewReader(io.TeeReader(rc, h))
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return "", names, fmt.Errorf("tar: %w", err)
		}
		names = append(names, hdr.Name)
	}
	// The rest (end-of-archive padding) completes the verification.
	if _, err := io.Copy(h, rc); err != nil {
		return "", names, err
	}
	return fmt.Sprintf("sha256:%x", h.Sum(nil)), names, nil
}

// run runs a command, failing the test with its output.
func run(tb testing.TB, name string, args ...string) {
	tb.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		tb.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}

// copyTree copies a directory (small layouts only).
func copyTree(tb testing.TB, src, dst string) {
	tb.Helper()
	err := filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if fi.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
	if err != nil {
		tb.Fatal(err)
	}
}

func mustErrorIs(tb testing.TB, err, target error) {
	tb.Helper()
	if !errors.Is(err, target) {
		tb.Fatalf("error %v: want errors.Is %v", err, target)
	}
}
