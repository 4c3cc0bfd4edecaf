package indexer_test

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// listCataloger reads "name version" lines from files named pkgs.txt, and
// a distribution id from files named release: a minimal cataloger that
// lets these tests exercise the walk and the fold alone.
type listCataloger struct{}

func (listCataloger) Name() string { return "list" }
func (listCataloger) Wants(p string) bool {
	return strings.HasSuffix(p, "pkgs.txt") || strings.HasSuffix(p, "release")
}
func (listCataloger) Parse(_ context.Context, p string, r io.Reader) (indexer.Result, error) {
	b, _ := io.ReadAll(r)
	if strings.HasSuffix(p, "release") {
		return indexer.Result{Distribution: &vuln.Distribution{ID: strings.TrimSpace(string(b)), VersionID: "1"}}, nil
	}
	var res indexer.Result
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 2 {
			return indexer.Result{}, fmt.Errorf("bad line %q", sc.Text())
		}
		res.Packages = append(res.Packages, vuln.Package{Name: f[0], Version: f[1], Kind: vuln.KindDeb})
	}
	return res, nil
}

type file struct {
	name, body string
	typ        byte
}

func layerTar(t testing.TB, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		typ := f.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: typ}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(f.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func index(t *testing.T, layers ...[]byte) *model.ImageIndex {
	t.Helper()
	ix := indexer.New([]indexer.Cataloger{listCataloger{}})
	var infos []model.LayerInfo
	var idxs []*model.LayerIndex
	for i, l := range layers {
		d := fmt.Sprintf("sha256:layer%d", i)
		li, err := ix.IndexLayer(context.Background(), d, bytes.NewReader(l))
		if err != nil {
			t.Fatal(err)
		}
		infos = append(infos, model.LayerInfo{Digest: d})
		idxs = append(idxs, li)
	}
	img, err := indexer.Fold("sha256:m", infos, idxs)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

func pkgs(img *model.ImageIndex) string {
	var s []string
	for _, p := range img.Packages {
		s = append(s, p.DBPath+":"+p.Name+"@"+p.Version+"<"+p.Layer)
	}
	return strings.Join(s, " ")
}

func TestFold(t *testing.T) {
	tests := []struct {
		name   string
		layers [][]byte
		want   string
		distro string
	}{
		{
			name:   "single layer, ./ prefixes",
			layers: [][]byte{layerTar(t, file{name: "./var/lib/pkgs.txt", body: "a 1\nb 2\n"}, file{name: "./etc/release", body: "debian"})},
			want:   "var/lib/pkgs.txt:a@1<sha256:layer0 var/lib/pkgs.txt:b@2<sha256:layer0",
			distro: "debian",
		},
		{
			name: "later database replaces earlier; unchanged packages keep their layer",
			layers: [][]byte{
				layerTar(t, file{name: "var/lib/pkgs.txt", body: "a 1\nb 2\n"}),
				layerTar(t, file{name: "var/lib/pkgs.txt", body: "a 1\nb 3\nc 1\n"}),
			},
			want: "var/lib/pkgs.txt:a@1<sha256:layer0 var/lib/pkgs.txt:b@3<sha256:layer1 var/lib/pkgs.txt:c@1<sha256:layer1",
		},
		{
			name: "whiteout deletes a database",
			layers: [][]byte{
				layerTar(t, file{name: "opt/x/pkgs.txt", body: "a 1\n"}, file{name: "var/pkgs.txt", body: "v 1\n"}),
				layerTar(t, file{name: "opt/x/.wh.pkgs.txt"}),
			},
			want: "var/pkgs.txt:v@1<sha256:layer0",
		},
		{
			name: "whiteout of a directory deletes what is under it",
			layers: [][]byte{
				layerTar(t, file{name: "opt/x/pkgs.txt", body: "a 1\n"}, file{name: "opt/xy/pkgs.txt", body: "b 1\n"}),
				layerTar(t, file{name: "opt/.wh.x"}),
			},
			want: "opt/xy/pkgs.txt:b@1<sha256:layer0",
		},
		{
			name: "opaque directory hides earlier content but not its own layer's",
			layers: [][]byte{
				layerTar(t, file{name: "opt/x/pkgs.txt", body: "a 1\n"}, file{name: "opt/x/sub/pkgs.txt", body: "b 1\n"}),
				layerTar(t, file{name: "opt/x/.wh..wh..opq"}, file{name: "opt/x/new/pkgs.txt", body: "c 1\n"}),
			},
			want: "opt/x/new/pkgs.txt:c@1<sha256:layer1",
		},
		{
			name: "re-added after deletion gets the new layer",
			layers: [][]byte{
				layerTar(t, file{name: "p/pkgs.txt", body: "a 1\n"}),
				layerTar(t, file{name: "p/.wh.pkgs.txt"}),
				layerTar(t, file{name: "p/pkgs.txt", body: "a 1\n"}),
			},
			want: "p/pkgs.txt:a@1<sha256:layer2",
		},
		{
			name:   "symlinks and directories are not read",
			layers: [][]byte{layerTar(t, file{name: "etc/", typ: tar.TypeDir}, file{name: "etc/release", typ: tar.TypeSymlink})},
			want:   "",
		},
		{
			name: "empty layers and no distribution",
			layers: [][]byte{
				layerTar(t),
				layerTar(t, file{name: "bin/sh", body: "ELF"}),
			},
			want: "",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			img := index(t, tt.layers...)
			if got := pkgs(img); got != tt.want {
				t.Errorf("packages:\n got %s\nwant %s", got, tt.want)
			}
			var d string
			if img.Distribution != nil {
				d = img.Distribution.ID
			}
			if d != tt.distro {
				t.Errorf("distribution %q, want %q", d, tt.distro)
			}
		})
	}
}

func TestIndexLayerWarnsAndGoesOn(t *testing.T) {
	img := index(t,
		layerTar(t, file{name: "a/pkgs.txt", body: "a 1\n"}),
		layerTar(t, file{name: "a/pkgs.txt", body: "broken\n"}, file{name: "b/pkgs.txt", body: "b 1\n"}),
	)
	if got, want := pkgs(img), "a/pkgs.txt:a@1<sha256:layer0 b/pkgs.txt:b@1<sha256:layer1"; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if len(img.Warnings) != 1 || !strings.Contains(img.Warnings[0], "a/pkgs.txt") || !strings.Contains(img.Warnings[0], "sha256:layer1") {
		t.Errorf("warnings = %q", img.Warnings)
	}
}

func TestIndexLayerErrors(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{listCataloger{}})
	good := layerTar(t, file{name: "a/pkgs.txt", body: strings.Repeat("a 1\n", 1000)}, file{name: "z", body: strings.Repeat("x", 10000)})
	for _, tc := range []struct {
		name string
		data []byte
	}{
		{"truncated", good[:len(good)/2]},
		{"garbage", []byte(strings.Repeat("not a tar archive ", 100))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ix.IndexLayer(context.Background(), "sha256:x", bytes.NewReader(tc.data))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), "sha256:x") {
				t.Errorf("error %q does not name the layer", err)
			}
		})
	}
	t.Run("too large", func(t *testing.T) {
		ix := indexer.New([]indexer.Cataloger{listCataloger{}}, indexer.WithLimits(indexer.Limits{FileBytes: 10}))
		li, err := ix.IndexLayer(context.Background(), "sha256:x", bytes.NewReader(good))
		if err != nil {
			t.Fatal(err)
		}
		if len(li.Entries) != 0 || len(li.Warnings) != 1 {
			t.Errorf("entries %v warnings %v", li.Entries, li.Warnings)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := ix.IndexLayer(ctx, "sha256:x", bytes.NewReader(good)); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		"./etc/os-release": "etc/os-release", "/etc/x": "etc/x", "etc//x/": "etc/x",
		"../../etc/passwd": "etc/passwd", ".": "", "./": "", "a/../b": "b",
	} {
		if got := indexer.CleanPath(in); got != want {
			t.Errorf("CleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzIndexLayer feeds arbitrary bytes to the tar walk: it must return an
// index or an error, never panic.
func FuzzIndexLayer(f *testing.F) {
	f.Add(layerTar(f, file{name: "./var/lib/pkgs.txt", body: "a 1\n"}, file{name: "x/.wh..wh..opq"}, file{name: "x/.wh.y"}))
	f.Add(layerTar(f))
	f.Add([]byte("garbage"))
	ix := indexer.New([]indexer.Cataloger{listCataloger{}})
	f.Fuzz(func(t *testing.T, data []byte) {
		li, err := ix.IndexLayer(context.Background(), "sha256:f", bytes.NewReader(data))
		if err == nil {
			if _, err := indexer.Fold("m", []model.LayerInfo{{Digest: "sha256:f"}}, []*model.LayerIndex{li}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// ownerCataloger reads "file" lines from files named owner.list, as a
// package manager's file list owned by the package "deb owner".
type ownerCataloger struct{}

func (ownerCataloger) Name() string        { return "owner" }
func (ownerCataloger) Wants(p string) bool { return strings.HasSuffix(p, "owner.list") }
func (ownerCataloger) Parse(_ context.Context, _ string, r io.Reader) (indexer.Result, error) {
	b, _ := io.ReadAll(r)
	return indexer.Result{OwnedFiles: map[string][]string{"deb owner": strings.Fields(string(b))}}, nil
}

// npmLike stands in for the npm cataloger: lock files and package.json
// files each give one package named after their directory.
type npmLike struct{}

func (npmLike) Name() string { return "npm" }
func (npmLike) Wants(p string) bool {
	return strings.HasSuffix(p, "package.json") || strings.HasSuffix(p, "package-lock.json")
}
func (npmLike) Parse(_ context.Context, p string, _ io.Reader) (indexer.Result, error) {
	return indexer.Result{Packages: []vuln.Package{{Name: p, Version: "1", Kind: vuln.KindNPM}}}, nil
}

func TestOwnershipAndLockFiles(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{listCataloger{}, ownerCataloger{}, npmLike{}})
	layers := [][]byte{
		layerTar(t,
			file{name: "usr/lib/py/pkgs.txt", body: "requests 2\n"},
			file{name: "var/lib/dpkg/info/owner.list", body: "/usr/lib/py/pkgs.txt\n/usr/bin/x\n"},
			file{name: "opt/pkgs.txt", body: "mine 1\n"},
			file{name: "app/package-lock.json", body: "{}"},
			file{name: "app/node_modules/a/package.json", body: "{}"},
			file{name: "other/package-lock.json", body: "{}"},
		),
	}
	li, err := ix.IndexLayer(context.Background(), "sha256:l", bytes.NewReader(layers[0]))
	if err != nil {
		t.Fatal(err)
	}
	img, err := indexer.Fold("m", []model.LayerInfo{{Digest: "sha256:l"}}, []*model.LayerIndex{li})
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range img.Packages {
		names = append(names, p.Name)
	}
	if got, want := strings.Join(names, " "), "mine app/node_modules/a/package.json other/package-lock.json"; got != want {
		t.Errorf("packages %q, want %q", got, want)
	}
	if len(img.OSOwned) != 1 || img.OSOwned[0].Name != "requests" || img.OSOwned[0].OwnedBy != "deb owner" {
		t.Errorf("OS-owned packages: %+v", img.OSOwned)
	}
	for _, e := range li.Entries {
		if e.Cataloger == "owner" {
			t.Errorf("a pure file list left an entry: %+v", e)
		}
	}
}

func TestReleaseVersionPrecision(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{releaseFiles{}})
	for _, tc := range []struct{ osVersion, vendor, want string }{
		{"12", "12.8", "12.8"},
		{"22.04.3", "22.04", "22.04.3"},
		{"3.20.3", "3.20.3", "3.20.3"},
		{"", "11.11", "11.11"},
	} {
		li, err := ix.IndexLayer(context.Background(), "sha256:r", bytes.NewReader(layerTar(t,
			file{name: "etc/os-release", body: "debian " + tc.osVersion},
			file{name: "etc/debian_version", body: "debian " + tc.vendor},
		)))
		if err != nil {
			t.Fatal(err)
		}
		img, _ := indexer.Fold("m", []model.LayerInfo{{Digest: "sha256:r"}}, []*model.LayerIndex{li})
		if img.Distribution.Version != tc.want {
			t.Errorf("os-release %q, vendor %q: version %q, want %q", tc.osVersion, tc.vendor, img.Distribution.Version, tc.want)
		}
	}
}

// releaseFiles reads "ID VERSION" from os-release and vendor files.
type releaseFiles struct{}

func (releaseFiles) Name() string        { return "os-release" }
func (releaseFiles) Wants(p string) bool { return strings.HasPrefix(p, "etc/") }
func (releaseFiles) Parse(_ context.Context, p string, r io.Reader) (indexer.Result, error) {
	b, _ := io.ReadAll(r)
	id, ver, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	d := &vuln.Distribution{ID: id, Version: ver}
	if p == "etc/os-release" {
		d = &vuln.Distribution{ID: id, VersionID: ver}
	}
	return indexer.Result{Distribution: d}, nil
}

// lockLike gives one package for every lock file of any ecosystem.
type lockLike struct{}

func (lockLike) Name() string        { return "locks" }
func (lockLike) Wants(p string) bool { return indexer.IsLockFile(p) }
func (lockLike) Parse(_ context.Context, p string, _ io.Reader) (indexer.Result, error) {
	return indexer.Result{Packages: []vuln.Package{{Name: p, Version: "1", Kind: vuln.KindCargo}}}, nil
}

// TestOwnedLockFiles checks that a lock file named by an OS package's
// file list gives no package, whether the list is in the same layer, an
// earlier one or a later one, while lock files nobody owns, and owned
// files that are not lock files, still do.
func TestOwnedLockFiles(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{listCataloger{}, ownerCataloger{}, npmLike{}, lockLike{}})
	tests := []struct {
		name   string
		layers [][]file
		want   string // packages, OS-owned with a "*"
	}{
		{"same layer", [][]file{{
			{name: "var/lib/dpkg/info/owner.list", body: "/usr/share/nodejs/a/package-lock.json /usr/share/doc/x/Cargo.lock /usr/lib/py/pkgs.txt"},
			{name: "usr/share/nodejs/a/package-lock.json", body: "{}"},
			{name: "usr/share/doc/x/Cargo.lock", body: ""},
			{name: "usr/lib/py/pkgs.txt", body: "requests 2\n"},
			{name: "app/Cargo.lock", body: ""},
		}}, "app/Cargo.lock *requests"},
		{"list in an earlier layer, lock rewritten later", [][]file{
			{{name: "var/lib/dpkg/info/owner.list", body: "/usr/share/x/Gemfile.lock"}, {name: "usr/share/x/Gemfile.lock"}},
			{{name: "usr/share/x/Gemfile.lock", body: "touched"}, {name: "srv/composer.lock"}},
		}, "srv/composer.lock"},
		{"list in a later layer", [][]file{
			{{name: "usr/share/y/yarn.lock"}},
			{{name: "var/lib/dpkg/info/owner.list", body: "/usr/share/y/yarn.lock"}},
		}, ""},
		{"not owned", [][]file{
			{{name: "var/lib/dpkg/info/owner.list", body: "/usr/share/y/other"}, {name: "usr/share/y/yarn.lock"}},
		}, "usr/share/y/yarn.lock"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var infos []model.LayerInfo
			var idxs []*model.LayerIndex
			for i, fs := range tc.layers {
				d := fmt.Sprintf("sha256:l%d", i)
				li, err := ix.IndexLayer(context.Background(), d, bytes.NewReader(layerTar(t, fs...)))
				if err != nil {
					t.Fatal(err)
				}
				infos, idxs = append(infos, model.LayerInfo{Digest: d}), append(idxs, li)
			}
			img, err := indexer.Fold("m", infos, idxs)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range img.Packages {
				got = append(got, p.Name)
			}
			for _, p := range img.OSOwned {
				got = append(got, "*"+p.Name)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("got %q, want %q", g, tc.want)
			}
		})
	}
}

func TestIsLockFile(t *testing.T) {
	for p, want := range map[string]bool{
		"app/package-lock.json": true, "yarn.lock": true, "x/pnpm-lock.yaml": true, "x/npm-shrinkwrap.json": true,
		"x/composer.lock": true, "x/Cargo.lock": true, "x/Gemfile.lock": true, "x/Pipfile.lock": true,
		"x/poetry.lock": true, "x/packages.lock.json": true,
		"x/package.json": false, "x/cargo.lock": false, "x/app.deps.json": false, "x/pkgjs-lock.json": false,
	} {
		if indexer.IsLockFile(p) != want {
			t.Errorf("IsLockFile(%q) = %v", p, !want)
		}
	}
}

// warner lists one package per file and says what it could not decide.
type warner struct{}

func (warner) Name() string        { return "warner" }
func (warner) Wants(p string) bool { return strings.HasSuffix(p, ".w") }
func (warner) Parse(_ context.Context, p string, r io.Reader) (indexer.Result, error) {
	b, _ := io.ReadAll(r)
	return indexer.Result{Packages: []vuln.Package{{Name: p, Kind: vuln.KindMaven}}, Warnings: strings.Split(string(b), "\n")}, nil
}

// TestCatalogerWarnings checks that a cataloger's warnings are recorded
// with the file and the cataloger, each cut to a bounded length, the
// packages kept.
func TestCatalogerWarnings(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{warner{}})
	long := strings.Repeat("x", 1<<20)
	li, err := ix.IndexLayer(context.Background(), "sha256:w", bytes.NewReader(layerTar(t, file{name: "a.w", body: "no group\nno version\n" + long})))
	if err != nil {
		t.Fatal(err)
	}
	if len(li.Entries) != 1 || len(li.Entries[0].Packages) != 1 {
		t.Fatalf("entries %+v", li.Entries)
	}
	if len(li.Warnings) != 3 || li.Warnings[0] != "a.w: warner: no group" || li.Warnings[1] != "a.w: warner: no version" || len(li.Warnings[2]) != len("a.w: warner: ")+512 {
		t.Errorf("warnings %q", li.Warnings[:2])
	}
}

// TestCatalogerWarningsOwned checks that a cataloger's warnings about a
// file an OS package installed are dropped, the others kept.
func TestCatalogerWarningsOwned(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{warner{}, ownerCataloger{}})
	li, err := ix.IndexLayer(context.Background(), "sha256:w", bytes.NewReader(layerTar(t,
		file{name: "usr/share/java/a.w", body: "no group"},
		file{name: "app/b.w", body: "no version"},
		file{name: "var/lib/dpkg/info/owner.list", body: "/usr/share/java/a.w"},
	)))
	if err != nil {
		t.Fatal(err)
	}
	if len(li.Warnings) != 1 || li.Warnings[0] != "app/b.w: warner: no version" {
		t.Errorf("warnings %q", li.Warnings)
	}
}
