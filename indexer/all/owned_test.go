package all_test

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// layerFacts is what the test reads of one layer by itself, beside the
// indexer: the regular files it writes, and which Debian package each
// file of its info/*.list files belongs to.
type layerFacts struct {
	files map[string]bool
	owner map[string]string // path as the layer's tar stream holds it → package
}

// indexTee indexes a layer and, from the same stream, reads its facts.
func indexTee(ctx context.Context, t *testing.T, ix *indexer.Indexer, ly image.Layer) (*model.LayerIndex, layerFacts) {
	t.Helper()
	rc, err := ly.Open(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	pr, pw := io.Pipe()
	type result struct {
		li  *model.LayerIndex
		err error
	}
	done := make(chan result, 1)
	go func() {
		li, err := ix.IndexLayer(ctx, ly.Digest(), pr)
		pr.CloseWithError(err)
		done <- result{li, err}
	}()
	facts := layerFacts{files: map[string]bool{}, owner: map[string]string{}}
	tr := tar.NewReader(io.TeeReader(rc, pw))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := indexer.CleanPath(hdr.Name)
		if hdr.Typeflag != tar.TypeReg {
			continue
		}
		facts.files[name] = true
		dir, base := path.Split(name)
		pkg, ok := strings.CutSuffix(base, ".list")
		if dir != "var/lib/dpkg/info/" || !ok {
			continue
		}
		pkg, _, _ = strings.Cut(pkg, ":")
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if p := strings.TrimPrefix(l, "/"); p != "" && p != "." {
				facts.owner[p] = pkg
				// Merged /usr: /bin/x is held as usr/bin/x.
				for _, d := range []string{"bin/", "sbin/", "lib/", "lib64/"} {
					if strings.HasPrefix(p, d) {
						facts.owner["usr/"+p] = pkg
					}
				}
			}
		}
	}
	// Whatever follows the end of the archive, for the indexer.
	if _, err := io.Copy(pw, rc); err != nil {
		t.Fatal(err)
	}
	pw.Close()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	return r.li, facts
}

// indexImage indexes a tagged image of the Debian test images with every
// cataloger, as the service does, and returns its folded index with the
// facts of each layer.
func indexImage(t *testing.T, tag string) (*model.ImageIndex, []layerFacts) {
	t.Helper()
	ctx := context.Background()
	layout := filepath.Join(testenv.Images(t), "debian", "oci")
	img, err := image.Open(ctx, "oci:"+layout+":"+tag)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	ix := indexer.New(all.Catalogers())
	var (
		infos []model.LayerInfo
		idxs  []*model.LayerIndex
		facts []layerFacts
	)
	for _, ly := range img.Layers() {
		li, f := indexTee(ctx, t, ix, ly)
		infos = append(infos, model.LayerInfo{Digest: ly.Digest(), DiffID: ly.DiffID(), MediaType: ly.MediaType(), Size: ly.Size()})
		idxs = append(idxs, li)
		facts = append(facts, f)
		for _, e := range li.Entries {
			if strings.HasPrefix(e.Path, "var/lib/dpkg/info/") {
				t.Errorf("%s: an entry for a file list", e.Path)
			}
		}
	}
	out, err := indexer.Fold(img.ManifestDigest(), infos, idxs)
	if err != nil {
		t.Fatal(err)
	}
	return out, facts
}

// expectedOwner is the Debian package that wrote the file a language
// package was read from: the file list of the last layer that wrote the
// file names it. DBPath of a nested archive is "outer.jar!inner.jar".
func expectedOwner(p vuln.Package, facts []layerFacts) string {
	file, _, _ := strings.Cut(p.DBPath, "!")
	for i := len(facts) - 1; i >= 0; i-- {
		if facts[i].files[file] {
			if o := facts[i].owner[file]; o != "" {
				return "deb " + o
			}
			return ""
		}
	}
	return ""
}

func describe(p vuln.Package) string {
	s := fmt.Sprintf("%s %s %s (%s)", p.Kind, p.Name, p.Version, p.DBPath)
	if p.OwnedBy != "" {
		s += " owned by " + p.OwnedBy
	}
	return s
}

// languageManifest reports whether a file is one the language catalogers
// read packages from, by its path alone (Go binaries cannot be told by
// name).
func languageManifest(p string) bool {
	dir, base := path.Split(strings.TrimSuffix(p, "/"))
	parent := path.Base(dir)
	switch {
	case strings.HasSuffix(base, ".jar"), strings.HasSuffix(base, ".war"), strings.HasSuffix(base, ".ear"):
		return true
	case base == "METADATA" && strings.HasSuffix(parent, ".dist-info"),
		base == "PKG-INFO" && strings.HasSuffix(parent, ".egg-info"),
		strings.HasSuffix(base, ".egg-info"):
		return strings.Contains(p, "-packages/")
	case base == "package.json":
		if m, _ := path.Match("usr/share/nodejs/*/package.json", p); m && !strings.HasPrefix(path.Base(path.Dir(p)), "@") {
			return true // Debian's modules
		}
		if m, _ := path.Match("usr/share/nodejs/@*/*/package.json", p); m {
			return true
		}
		return path.Base(path.Dir(path.Dir(p))) == "node_modules" || path.Base(path.Dir(path.Dir(path.Dir(p)))) == "node_modules"
	case lockFile(p):
		return true
	case strings.HasSuffix(base, ".gemspec"):
		return parent == "specifications" || (parent == "default" && path.Base(path.Dir(path.Dir(p))) == "specifications")
	}
	return false
}

// lockFile reports whether a file is a lock file: one a Debian package
// installed describes no installed application and gives no package.
func lockFile(p string) bool {
	switch path.Base(p) {
	case "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "Gemfile.lock", "composer.lock", "Cargo.lock":
		return true
	}
	return false
}

// owned is a language package the test expects among OSOwned.
type owned struct {
	kind, name, dbPathPrefix, ownedBy string
}

// TestOwnedByDebianPackages indexes the mid and fat Debian images with
// every cataloger and checks that the language packages found in files a
// Debian package installed are reported once, in OSOwned with that
// package, and the others, all of them under /app, in Packages. The
// expectation comes from the test's own reading of each layer's
// var/lib/dpkg/info/*.list files and of which layer last wrote each file.
func TestOwnedByDebianPackages(t *testing.T) {
	tests := []struct {
		tag  string
		want []owned // spot checks
	}{
		{"debian-bookworm-mid", []owned{
			{vuln.KindPyPI, "requests", "usr/lib/python3/dist-packages/requests-", "deb python3-requests"},
			{vuln.KindPyPI, "urllib3", "usr/lib/python3/dist-packages/urllib3-", "deb python3-urllib3"},
			{vuln.KindPyPI, "pyyaml", "usr/lib/python3/dist-packages/PyYAML-", "deb python3-yaml"},
			{vuln.KindGo, "stdlib", "usr/bin/fzf", "deb fzf"},
			{vuln.KindMaven, "com.fasterxml.jackson.core:jackson-databind", "usr/share/java/jackson-databind", "deb libjackson2-databind-java"},
			{vuln.KindMaven, "com.fasterxml.jackson.core:jackson-core", "usr/share/java/jackson-core", "deb libjackson2-core-java"},
		}},
		{"debian-bookworm-fat", []owned{
			{vuln.KindPyPI, "requests", "usr/lib/python3/dist-packages/requests-", "deb python3-requests"},
			{vuln.KindGo, "stdlib", "usr/bin/fzf", "deb fzf"},
			{vuln.KindMaven, "org.apache.logging.log4j:log4j-core", "usr/share/java/log4j-core", "deb liblog4j2-java"},
			{vuln.KindMaven, "org.apache.logging.log4j:log4j-api", "usr/share/java/log4j-api", "deb liblog4j2-java"},
			{vuln.KindGem, "rack", "usr/share/rubygems-integration/all/specifications/rack-", "deb ruby-rack"},
			{vuln.KindNPM, "js-levenshtein", "usr/share/nodejs/@babel/preset-env/node_modules/js-levenshtein/package.json", "deb node-babel7"},
			// Debian's modules in /usr/share/nodejs, without node_modules.
			{vuln.KindNPM, "acorn", "usr/share/nodejs/acorn/package.json", "deb node-acorn"},
			{vuln.KindNPM, "@babel/core", "usr/share/nodejs/@babel/core/package.json", "deb node-babel7"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			img, facts := indexImage(t, tt.tag)
			for _, w := range img.Warnings {
				if strings.Contains(w, "var/lib/dpkg/info/") {
					t.Errorf("warning %s", w)
				}
			}
			// The Debian packages themselves are all there, once.
			var debs []string
			for _, p := range img.Packages {
				if p.Kind == vuln.KindDeb {
					debs = append(debs, p.Name+" "+p.Version)
				}
			}
			list := testenv.Lines(t, filepath.Join(testenv.Images(t), "debian", tt.tag+".packages"))
			slices.Sort(debs)
			slices.Sort(list)
			if !slices.Equal(debs, list) {
				t.Errorf("%d Debian packages, %s.packages lists %d", len(debs), tt.tag, len(list))
			}

			// Each language package is where the file lists say.
			inOwned, inApp := 0, 0
			kinds := map[string]int{}
			for _, p := range img.Packages {
				switch {
				case p.Kind == vuln.KindDeb:
					continue
				case p.OwnedBy != "":
					t.Errorf("in Packages with OwnedBy: %s", describe(p))
				case expectedOwner(p, facts) != "":
					t.Errorf("in Packages, but %s installed it: %s", expectedOwner(p, facts), describe(p))
				case !strings.HasPrefix(p.DBPath, "app/"):
					t.Errorf("in Packages, outside /app and not from a Debian package: %s", describe(p))
				}
				inApp++
				kinds[p.Kind]++
			}
			entries := map[string]bool{}
			for _, p := range img.OSOwned {
				if p.Kind == vuln.KindDeb || p.Kind == vuln.KindAPK || p.Kind == vuln.KindRPM {
					t.Errorf("an OS package in OSOwned: %s", describe(p))
				}
				if want := expectedOwner(p, facts); p.OwnedBy != want || want == "" {
					t.Errorf("in OSOwned: %s; the file lists say %q", describe(p), want)
				}
				if strings.HasPrefix(p.DBPath, "app/") {
					t.Errorf("in OSOwned from /app: %s", describe(p))
				}
				if lockFile(p.DBPath) {
					t.Errorf("in OSOwned from a lock file a Debian package installed: %s", describe(p))
				}
				file, _, _ := strings.Cut(p.DBPath, "!")
				entries[file] = true
				inOwned++
			}
			// /app: the Go binary, the virtual environment, the npm
			// application and the Java archives.
			for _, k := range []string{vuln.KindGo, vuln.KindPyPI, vuln.KindNPM, vuln.KindMaven} {
				if kinds[k] == 0 {
					t.Errorf("no %s package under /app", k)
				}
			}
			for _, w := range []string{"app/bin/vulnapp", "app/venv/lib/python3.11/site-packages/pip-", "app/venv/lib/python3.11/site-packages/setuptools-", "app/java/jackson-databind-2.14.0.jar"} {
				if !slices.ContainsFunc(img.Packages, func(p vuln.Package) bool { return strings.HasPrefix(p.DBPath, w) }) {
					t.Errorf("no package from %s in Packages", w)
				}
			}

			// Each file of a language manifest's kind that a Debian
			// package installed, in the final file system, gave packages
			// (a lock file may list only development dependencies).
			final := map[string]string{}
			for _, f := range facts {
				for file := range f.files {
					final[file] = f.owner[file]
				}
			}
			manifests, silent := 0, 0
			for file, o := range final {
				if o == "" || !languageManifest(file) {
					continue
				}
				manifests++
				if !entries[file] {
					silent++
					if !lockFile(file) {
						t.Errorf("no package from %s, installed by deb %s", file, o)
					}
				}
			}
			t.Logf("%d language packages in files Debian packages installed (%d such manifests, %d without packages), %d under /app: %v",
				inOwned, manifests, silent, inApp, kinds)

			for _, w := range tt.want {
				if !slices.ContainsFunc(img.OSOwned, func(p vuln.Package) bool {
					return p.Kind == w.kind && p.Name == w.name && strings.HasPrefix(p.DBPath, w.dbPathPrefix) && p.OwnedBy == w.ownedBy
				}) {
					t.Errorf("OSOwned lacks %s %s from %s… owned by %s", w.kind, w.name, w.dbPathPrefix, w.ownedBy)
				}
				if slices.ContainsFunc(img.Packages, func(p vuln.Package) bool {
					return p.Kind == w.kind && p.Name == w.name && strings.HasPrefix(p.DBPath, w.dbPathPrefix)
				}) {
					t.Errorf("%s %s from %s… reported twice, also in Packages", w.kind, w.name, w.dbPathPrefix)
				}
			}
		})
	}
}
