package indexer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"reflect"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// licenseFiles is a cataloger of stated licenses: doc/NAME/license
// states its content as the license of "deb NAME"; db.txt lists "name
// version [license]" packages, the license their own.
type licenseFiles struct{}

func (licenseFiles) Name() string { return "lic" }
func (licenseFiles) Wants(p string) bool {
	return p == "db.txt" || (strings.HasPrefix(p, "doc/") && path.Base(p) == "license")
}
func (licenseFiles) Parse(_ context.Context, p string, r io.Reader) (indexer.Result, error) {
	b, _ := io.ReadAll(r)
	if p != "db.txt" {
		return indexer.Result{Licenses: map[string][]string{"deb " + path.Base(path.Dir(p)): {strings.TrimSpace(string(b))}}}, nil
	}
	var res indexer.Result
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		p := vuln.Package{Name: f[0], Version: f[1], Kind: vuln.KindDeb}
		if len(f) > 2 {
			p.Licenses = f[2:]
		}
		res.Packages = append(res.Packages, p)
	}
	return res, nil
}

func foldLicenses(t *testing.T, lim indexer.Limits, layers ...[]byte) (map[string][]string, error) {
	t.Helper()
	ix := indexer.New([]indexer.Cataloger{licenseFiles{}}, indexer.WithLimits(lim))
	var (
		infos []model.LayerInfo
		idxs  []*model.LayerIndex
	)
	for i, l := range layers {
		d := fmt.Sprintf("sha256:l%d", i)
		li, err := ix.IndexLayer(context.Background(), d, bytes.NewReader(l))
		if err != nil {
			return nil, err
		}
		infos = append(infos, model.LayerInfo{Digest: d})
		idxs = append(idxs, li)
	}
	img, err := ix.Fold("sha256:m", infos, idxs)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, p := range img.Packages {
		out[p.Name] = p.Licenses
	}
	return out, nil
}

// TestStatedLicenses: a file's licenses reach the package of that name
// whichever layer holds either, unless a later layer deletes the file;
// a package's own licenses win; and a layer's stated licenses count
// against its package budget.
func TestStatedLicenses(t *testing.T) {
	db := file{name: "db.txt", body: "zlib1g 1\nbash 5 GPL-3.0-or-later\nlibc6 2\n"}
	for _, tc := range []struct {
		name   string
		layers [][]byte
		want   map[string][]string
	}{
		{"same layer", [][]byte{layerTar(t, db, file{name: "doc/zlib1g/license", body: "Zlib"})},
			map[string][]string{"zlib1g": {"Zlib"}, "bash": {"GPL-3.0-or-later"}, "libc6": nil}},
		{"later layer", [][]byte{layerTar(t, db), layerTar(t, file{name: "doc/zlib1g/license", body: "Zlib"})},
			map[string][]string{"zlib1g": {"Zlib"}, "bash": {"GPL-3.0-or-later"}, "libc6": nil}},
		{"earlier layer", [][]byte{layerTar(t, file{name: "doc/libc6/license", body: "LGPL-2.1-or-later"}), layerTar(t, db)},
			map[string][]string{"zlib1g": nil, "bash": {"GPL-3.0-or-later"}, "libc6": {"LGPL-2.1-or-later"}}},
		{"own licenses win", [][]byte{layerTar(t, db, file{name: "doc/bash/license", body: "MIT"})},
			map[string][]string{"zlib1g": nil, "bash": {"GPL-3.0-or-later"}, "libc6": nil}},
		{"deleted", [][]byte{layerTar(t, db, file{name: "doc/zlib1g/license", body: "Zlib"}), layerTar(t, file{name: "doc/zlib1g/.wh.license"})},
			map[string][]string{"zlib1g": nil, "bash": {"GPL-3.0-or-later"}, "libc6": nil}},
		{"replaced", [][]byte{layerTar(t, db, file{name: "doc/zlib1g/license", body: "Zlib"}), layerTar(t, file{name: "doc/zlib1g/license", body: "MIT"})},
			map[string][]string{"zlib1g": {"MIT"}, "bash": {"GPL-3.0-or-later"}, "libc6": nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := foldLicenses(t, indexer.Limits{}, tc.layers...)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
	var many []file
	for i := 0; i < 5; i++ {
		many = append(many, file{name: fmt.Sprintf("doc/p%d/license", i), body: "MIT"})
	}
	_, err := foldLicenses(t, indexer.Limits{Packages: 4}, layerTar(t, many...))
	if !errors.Is(err, limits.ErrExceeded) {
		t.Errorf("5 license files with limits.packages 4: %v, want a limits error", err)
	}
	if _, err := foldLicenses(t, indexer.Limits{Packages: 5}, layerTar(t, many...)); err != nil {
		t.Errorf("5 license files with limits.packages 5: %v", err)
	}
}
