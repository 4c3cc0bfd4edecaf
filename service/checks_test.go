package service

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/lapps/lapps/testenv"
)

// ConfigFile forwards the image configuration of the counted image.
func (c countingImage) ConfigFile() *v1.ConfigFile {
	if ci, ok := c.Image.(interface{ ConfigFile() *v1.ConfigFile }); ok {
		return ci.ConfigFile()
	}
	return nil
}

// TestChecksTestImagesDump logs every check finding on the test images.
func TestChecksTestImagesDump(t *testing.T) {
	dir := testenv.Images(t)
	for _, ref := range []string{
		"oci:" + filepath.Join(dir, "debian", "oci") + ":debian-bookworm-min",
		"oci:" + filepath.Join(dir, "debian", "oci") + ":debian-bookworm-mid",
		"oci:" + filepath.Join(dir, "debian", "oci") + ":debian-bookworm-fat",
		"oci:" + filepath.Join(dir, "rootfs", "oci") + ":almalinux-9.3",
		"oci:" + filepath.Join(dir, "rootfs", "oci") + ":alpine-3.20.3",
		"oci:" + filepath.Join(dir, "rootfs", "oci") + ":alpine-3.11.13",
	} {
		l, _ := newTestLocal(t)
		r, err := l.ScanImage(context.Background(), ScanRequest{Image: ref})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, f := range r.ConfigFindings {
			fmt.Fprintf(&b, "  %s %s %s | %s\n", f.ID, f.Severity, f.Path, f.Detail)
		}
		for _, s := range r.Secrets {
			fmt.Fprintf(&b, "  secret %s %s:%d %s\n", s.Rule, s.Path, s.Line, s.Preview)
		}
		t.Logf("%s:\n%s", ref, b.String())
	}
}
