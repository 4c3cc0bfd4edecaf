package all_test

import (
	"context"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/indexer/license"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/testenv"
)

// indexOCI indexes and folds one image of an OCI layout of the test
// images ("debian", "rootfs").
func indexOCI(t *testing.T, layout, tag string) *model.ImageIndex {
	t.Helper()
	ctx := context.Background()
	img, err := image.Open(ctx, "oci:"+filepath.Join(testenv.Images(t), layout, "oci")+":"+tag)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	ix := indexer.New(all.Catalogers())
	var (
		infos []model.LayerInfo
		idxs  []*model.LayerIndex
	)
	for _, ly := range img.Layers() {
		rc, err := ly.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		li, err := ix.IndexLayer(ctx, ly.Digest(), rc)
		rc.Close()
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, model.LayerInfo{Digest: ly.Digest(), DiffID: ly.DiffID(), MediaType: ly.MediaType(), Size: ly.Size()})
		idxs = append(idxs, li)
	}
	out, err := indexer.Fold(img.ManifestDigest(), infos, idxs)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestLicensesRealImages indexes the test images and checks the
// licenses the catalogers find: how many packages of each kind have
// licenses (logged, and at least the share given), that every license
// is either a valid SPDX expression or stated as the metadata has it
// (logged with counts), and a few packages whose metadata the test
// names.
func TestLicensesRealImages(t *testing.T) {
	type known struct{ kind, name, want string }
	for _, tc := range []struct {
		layout, tag string
		// minShare is the least share, in percent, of the packages of a
		// kind that carry licenses.
		minShare map[string]int
		known    []known
	}{
		{"debian", "debian-bookworm-fat", map[string]int{"deb": 90, "npm": 80, "pypi": 80},
			[]known{
				// glibc's copyright file is free text, not DEP-5: no
				// license, not a guess.
				{"deb", "libc6", ""},
				{"deb", "bash", "GPL-3.0-or-later"},
				{"deb", "libgnutls30", ""},
				{"deb", "zlib1g", "Zlib"},
			}},
		// The rest of the Debian packages have free-text copyright files
		// (glibc, gcc, python3.11, krb5, gnutls, ncurses) or a doc
		// directory that is a link to another package's (libstdc++6).
		{"debian", "debian-bookworm-mid", map[string]int{"deb": 75, "pypi": 100, "npm": 90}, []known{{"deb", "libc6", ""}, {"deb", "libssl3", "Apache-2.0"}}},
		{"rootfs", "alpine-3.20.3", map[string]int{"apk": 100}, []known{{"apk", "musl", "MIT"}, {"apk", "busybox", "GPL-2.0-only"}}},
		{"rootfs", "almalinux-9.3", map[string]int{"rpm": 100}, []known{{"rpm", "bash", "GPL-3.0-or-later"}, {"rpm", "coreutils-single", "GPL-3.0-or-later"}, {"rpm", "pcre2", "BSD"}}},
		{"rootfs", "alpine-3.11.13", map[string]int{"apk": 100}, []known{{"apk", "musl", "MIT"}, {"apk", "libssl1.1", "OpenSSL"}}},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			img := indexOCI(t, tc.layout, tc.tag)
			total, with := map[string]int{}, map[string]int{}
			stated := map[string]int{}
			spdx, asStated := map[string]int{}, map[string]int{}
			pkgs := append(slices.Clone(img.Packages), img.OSOwned...)
			for _, p := range pkgs {
				total[p.Kind]++
				if len(p.Licenses) > 0 {
					with[p.Kind]++
				}
				for _, l := range p.Licenses {
					if _, ok := license.Expression(l); !ok {
						stated[l]++
						asStated[p.Kind]++
					} else {
						spdx[p.Kind]++
					}
				}
			}
			kinds := make([]string, 0, len(total))
			for k := range total {
				kinds = append(kinds, k)
			}
			sort.Strings(kinds)
			for _, k := range kinds {
				t.Logf("%s: %d of %d packages with licenses; %d licenses SPDX, %d as stated", k, with[k], total[k], spdx[k], asStated[k])
			}
			for k, share := range tc.minShare {
				if total[k] == 0 || with[k]*100 < share*total[k] {
					t.Errorf("%s: %d of %d packages with licenses, want at least %d%%", k, with[k], total[k], share)
				}
			}
			var notSPDX []string
			for l, n := range stated {
				notSPDX = append(notSPDX, l+" ×"+itoa(n))
			}
			sort.Strings(notSPDX)
			t.Logf("licenses kept as stated (not SPDX): %s", strings.Join(notSPDX, ", "))
			for _, k := range tc.known {
				found := false
				for _, p := range pkgs {
					if p.Kind == k.kind && p.Name == k.name {
						found = true
						if (k.want == "" && len(p.Licenses) > 0) || (k.want != "" && !slices.Contains(p.Licenses, k.want)) {
							t.Errorf("%s %s: licenses %q, want %q among them", k.kind, k.name, p.Licenses, k.want)
						}
					}
				}
				if !found {
					t.Errorf("%s %s: not found", k.kind, k.name)
				}
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}
