package service

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/testenv"
)

// ConfigFile forwards the image configuration of the counted image.
func (c countingImage) ConfigFile() *v1.ConfigFile {
	if ci, ok := c.Image.(interface{ ConfigFile() *v1.ConfigFile }); ok {
		return ci.ConfigFile()
	}
	return nil
}

// TestChecksTestImages runs every check on the test images and wants
// exactly these findings (false positives: none beyond these, each
// justified):
//
//   - config-root-user, config-no-healthcheck on every image: their
//     configurations set no USER and no HEALTHCHECK (base images; true
//     findings, low and negligible).
//   - config-eol-base on Alpine 3.20 and 3.11 (end of support 2026-04-01
//     and 2021-11-01, alpinelinux.org/releases) at the pinned date.
//
// No file finding and no secret: the 11 setuid/setgid files of the
// Debian images are dpkg's (TestChecksSetuidOwnership in indexer/all).
func TestChecksTestImages(t *testing.T) {
	dir := testenv.Images(t)
	base := []string{checks.ConfigRootUser, checks.ConfigNoHealthcheck}
	eol := append([]string{checks.ConfigEOLBase}, base...)
	for _, tc := range []struct {
		ref  string
		want []string
	}{
		{"oci:" + filepath.Join(dir, "debian", "oci") + ":debian-bookworm-min", base},
		{"oci:" + filepath.Join(dir, "debian", "oci") + ":debian-bookworm-mid", base},
		{"oci:" + filepath.Join(dir, "debian", "oci") + ":debian-bookworm-fat", base},
		{"oci:" + filepath.Join(dir, "rootfs", "oci") + ":almalinux-9.3", base},
		{"oci:" + filepath.Join(dir, "rootfs", "oci") + ":alpine-3.20.3", eol},
		{"oci:" + filepath.Join(dir, "rootfs", "oci") + ":alpine-3.11.13", eol},
	} {
		l, _ := newTestLocal(t)
		l.now = func() time.Time { return time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC) }
		r, err := l.ScanImage(context.Background(), ScanRequest{Image: tc.ref})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, f := range r.ConfigFindings {
			got = append(got, f.ID)
			t.Logf("%s: %s %s %s", tc.ref, f.ID, f.Path, f.Detail)
		}
		for _, s := range r.Secrets {
			t.Errorf("%s: secret %s in /%s:%d", tc.ref, s.Rule, s.Path, s.Line)
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: findings %v, want %v", tc.ref, got, tc.want)
		}
	}
}
