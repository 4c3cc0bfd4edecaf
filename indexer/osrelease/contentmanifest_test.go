package osrelease_test

import (
	"archive/tar"
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/osrelease"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// ubiOSRelease is etc/os-release of registry.access.redhat.com/ubi9 9.4.
const ubiOSRelease = `NAME="Red Hat Enterprise Linux"
VERSION="9.4 (Plow)"
ID="rhel"
ID_LIKE="fedora"
VERSION_ID="9.4"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Red Hat Enterprise Linux 9.4 (Plow)"
ANSI_COLOR="0;31"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:redhat:enterprise_linux:9::baseos"
HOME_URL="https://www.redhat.com/"
REDHAT_BUGZILLA_PRODUCT="Red Hat Enterprise Linux 9"
REDHAT_BUGZILLA_PRODUCT_VERSION=9.4
REDHAT_SUPPORT_PRODUCT="Red Hat Enterprise Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.4"
`

// ubiManifest is a content manifest in the shape of those of UBI images
// (root/buildinfo/content_manifests/ubi9-minimal-container-9.4-1194.json).
const ubiManifest = `{
  "metadata": {"icm_version": 1, "icm_spec": "https://raw.githubusercontent.com/containerbuildsystem/atomic-reactor/master/atomic_reactor/schemas/content_manifest.json", "image_layer_index": 0},
  "content_sets": ["rhel-9-for-x86_64-appstream-rpms", "rhel-9-for-x86_64-baseos-rpms"],
  "image_contents": [{"purl": "pkg:rpm/redhat/bash@5.1.8-9.el9?arch=x86_64"}]
}`

func layer(t *testing.T, files map[string]string) *bytes.Buffer {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(body))
	}
	tw.Close()
	return &buf
}

// TestRedHatImages: a UBI image (os-release, redhat-release and a content
// manifest), a RHEL image without os-release, and an image with only a
// content manifest all come out as Red Hat:9; a manifest naming no RHEL
// content set gives no distribution.
func TestRedHatImages(t *testing.T) {
	for _, tc := range []struct {
		name   string
		files  map[string]string
		want   vuln.Distribution
		eco    string
		noDist bool
	}{
		{"ubi9", map[string]string{
			"etc/os-release":     ubiOSRelease,
			"etc/redhat-release": "Red Hat Enterprise Linux release 9.4 (Plow)\n",
			"root/buildinfo/content_manifests/ubi9-minimal-container-9.4-1194.json": ubiManifest,
		}, vuln.Distribution{ID: "rhel", VersionID: "9.4", Version: "9.4", Name: "Red Hat Enterprise Linux", PrettyName: "Red Hat Enterprise Linux 9.4 (Plow)",
			IDLike: "fedora", CPE: "cpe:/o:redhat:enterprise_linux:9::baseos"}, "Red Hat:9", false},
		{"redhat-release only", map[string]string{"etc/redhat-release": "Red Hat Enterprise Linux release 8.10 (Ootpa)\n"},
			vuln.Distribution{ID: "rhel", VersionID: "8.10", Version: "8.10", Name: "Red Hat Enterprise Linux", PrettyName: "Red Hat Enterprise Linux release 8.10 (Ootpa)"}, "Red Hat:8", false},
		{"content manifest only", map[string]string{"root/buildinfo/content_manifests/ubi9-container-9.4-1123.json": ubiManifest},
			vuln.Distribution{ID: "rhel", VersionID: "9", Version: "9", Name: "Red Hat Enterprise Linux", PrettyName: "Red Hat Universal Base Image 9"}, "Red Hat:9", false},
		{"manifest of another product", map[string]string{"root/buildinfo/content_manifests/x.json": `{"content_sets":["openshift-4-rpms"]}`}, vuln.Distribution{}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ix := indexer.New([]indexer.Cataloger{osrelease.New()})
			li, err := ix.IndexLayer(context.Background(), "sha256:aa", layer(t, tc.files))
			if err != nil {
				t.Fatal(err)
			}
			idx, err := ix.Fold("sha256:bb", []model.LayerInfo{{Digest: "sha256:aa"}}, []*model.LayerIndex{li})
			if err != nil {
				t.Fatal(err)
			}
			if tc.noDist {
				if idx.Distribution != nil {
					t.Fatalf("distribution %+v", idx.Distribution)
				}
				return
			}
			if idx.Distribution == nil || *idx.Distribution != tc.want {
				t.Fatalf("distribution %+v, want %+v", idx.Distribution, tc.want)
			}
			if e := vuln.DistributionEcosystem(idx.Distribution); e != tc.eco {
				t.Errorf("ecosystem %q, want %q", e, tc.eco)
			}
		})
	}
}

func TestContentManifestBounds(t *testing.T) {
	c := osrelease.New()
	for p, want := range map[string]bool{
		"root/buildinfo/content_manifests/ubi9.json":   true,
		"root/buildinfo/content_manifests/.json":       false,
		"root/buildinfo/content_manifests/a/b.json":    false,
		"root/buildinfo/content_manifests/ubi9.txt":    false,
		"x/root/buildinfo/content_manifests/ubi9.json": false,
	} {
		if got := c.Wants(p); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
	big := `{"content_sets":["rhel-9-for-x86_64-baseos-rpms"],"x":"` + strings.Repeat("a", osrelease.MaxContentManifestSize) + `"}`
	if _, err := c.Parse(context.Background(), "root/buildinfo/content_manifests/a.json", strings.NewReader(big)); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("err = %v", err)
	}
	if _, err := c.Parse(context.Background(), "root/buildinfo/content_manifests/a.json", strings.NewReader("{")); err == nil {
		t.Error("malformed manifest: no error")
	}
}
