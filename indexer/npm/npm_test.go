package npm_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/hostile"
	"github.com/lapps/lapps/indexer/npm"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

func ids(ps []vuln.Package) []string {
	var out []string
	for _, p := range ps {
		if p.Kind != vuln.KindNPM {
			out = append(out, "wrong kind "+p.Kind)
		}
		out = append(out, p.Name+"@"+p.Version)
	}
	slices.Sort(out)
	return out
}

// TestImage runs the cataloger through the real layer walk over the mid
// image's /app layer (an `npm install` of express, lodash, axios,
// jsonwebtoken and minimist) and compares it with the package.json files
// counted there independently; the lock file beside node_modules must
// list the same packages, and be superseded by them.
func TestImage(t *testing.T) {
	blobPath := testenv.LayerBlobs(t, "debian-bookworm-mid")[2]
	// The truth: every package.json under node_modules naming a package
	// and a version, read with plain encoding/json.
	want := map[string]string{}
	files := testenv.LayerFiles(t, blobPath, func(p string) bool {
		return strings.HasSuffix(p, "/package.json") && strings.Contains(p, "/node_modules/")
	})
	for p, b := range files {
		var pj struct{ Name, Version string }
		if err := json.Unmarshal(b, &pj); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if pj.Name != "" && pj.Version != "" {
			want[p] = pj.Name + "@" + pj.Version
		}
	}
	if len(want) < 60 {
		t.Fatalf("only %d packages under node_modules", len(want))
	}

	li, err := indexer.New([]indexer.Cataloger{npm.New()}).IndexLayer(context.Background(), "test", testenv.OpenLayer(t, blobPath))
	if err != nil {
		t.Fatal(err)
	}
	if len(li.Warnings) != 0 {
		t.Errorf("warnings: %q", li.Warnings)
	}
	got := map[string]string{}
	var lock []string
	app := false
	for _, e := range li.Entries {
		for _, p := range e.Packages {
			if p.DBPath != e.Path || p.PURL != "" || p.Layer != "" {
				t.Errorf("%s: %+v", e.Path, p)
			}
		}
		switch {
		case e.Path == "app/node/package-lock.json":
			lock = ids(e.Packages)
		case e.Path == "app/node/package.json":
			// The project itself: private, so listed as the application
			// and never matched.
			if len(e.Packages) != 1 || e.Packages[0].Name != "testimage-node-app" || e.Packages[0].Version != "1.0.0" || e.Packages[0].Application != vuln.ApplicationUnpublished {
				t.Errorf("%s: %+v, want the unpublished application testimage-node-app@1.0.0", e.Path, e.Packages)
			}
			app = true
		case len(e.Packages) == 1:
			got[e.Path] = ids(e.Packages)[0]
		default:
			t.Errorf("%s: %d packages", e.Path, len(e.Packages))
		}
	}
	for p, w := range want {
		if got[p] != w {
			t.Errorf("%s: got %q, want %q", p, got[p], w)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: reported, but not a package", p)
		}
	}
	var installed []string
	for _, v := range want {
		installed = append(installed, v)
	}
	slices.Sort(installed)
	installed = slices.Compact(installed)
	if !slices.Equal(lock, installed) {
		t.Errorf("package-lock.json:\n got %q\nwant %q (node_modules)", lock, installed)
	}
	for _, p := range []string{"lodash@4.17.20", "minimist@1.2.5", "axios@0.21.1", "express@4.17.1", "jsonwebtoken@8.5.1"} {
		if !slices.Contains(installed, p) || !slices.Contains(lock, p) {
			t.Errorf("%s not found", p)
		}
	}
	if !app {
		t.Error("no entry for the application's package.json")
	}
	if !npm.LockSuperseded("app/node/package-lock.json", "app/node/node_modules/lodash/package.json") {
		t.Error("the lock file is not superseded by its node_modules")
	}
	t.Logf("%d package.json files under node_modules, %d packages in the lock file", len(got), len(lock))
}

// production is what the project in testdata installs without its
// development dependency (lodash), per `npm ls --omit=dev --all`.
var production = []string{
	"@sindresorhus/is@4.0.0",
	"buffer-equal-constant-time@1.0.1",
	"ecdsa-sig-formatter@1.0.11",
	"jsonwebtoken@8.5.1",
	"jwa@1.4.2",
	"jws@3.2.3",
	"lodash.includes@4.3.0",
	"lodash.isboolean@3.0.3",
	"lodash.isinteger@4.0.4",
	"lodash.isnumber@3.0.3",
	"lodash.isplainobject@4.0.6",
	"lodash.isstring@4.0.1",
	"lodash.once@4.1.1",
	"minimist@1.2.5",
	"ms@2.1.3",
	"safe-buffer@5.2.1",
	"semver@5.7.3",
}

// TestLockFiles parses the lock files of every format, written by the
// real tools for one project (testdata/README.md), through the cataloger.
func TestLockFiles(t *testing.T) {
	withDev := slices.Sorted(slices.Values(append(slices.Clone(production), "lodash@4.17.20")))
	tests := []struct {
		file, as string
		want     []string
	}{
		{"package-lock-v1.json", "package-lock.json", production},
		{"package-lock-v2.json", "package-lock.json", production},
		{"package-lock-v3.json", "npm-shrinkwrap.json", production},
		{"yarn-v1.lock", "yarn.lock", withDev},
		{"yarn-berry.lock", "yarn.lock", withDev},
		{"pnpm-v5.yaml", "pnpm-lock.yaml", production},
		{"pnpm-v6.yaml", "pnpm-lock.yaml", production},
		{"pnpm-v9.yaml", "pnpm-lock.yaml", production},
	}
	c := npm.New()
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			p := "srv/app/" + tc.as
			if !c.Wants(p) {
				t.Fatalf("Wants(%q) = false", p)
			}
			f, err := os.Open(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := c.Parse(context.Background(), p, f)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(res.Packages); !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

// TestLockFileForms covers what the generated lock files do not: aliases,
// nested v1 dependencies, links and workspaces, non-registry sources.
func TestLockFileForms(t *testing.T) {
	tests := []struct {
		name string
		fn   func([]byte) ([]vuln.Package, error)
		in   string
		want []string
	}{
		{"package-lock v1 nested and alias", lockFn(npm.ParsePackageLock), `{"lockfileVersion":1,"dependencies":{
			"a":{"version":"1.0.0","dependencies":{"b":{"version":"2.0.0"}}},
			"c":{"version":"npm:@scope/real@3.0.0"},
			"d":{"version":"github:user/d#abcdef"},
			"e":{"version":"file:../e"},
			"f":{"version":"1.0.0","dev":true,"dependencies":{"g":{"version":"1.0.0"}}}}}`,
			[]string{"@scope/real@3.0.0", "a@1.0.0", "b@2.0.0"}},
		{"package-lock v3 workspaces, links, aliases", lockFn(npm.ParsePackageLock), `{"lockfileVersion":3,"packages":{
			"":{"name":"root","version":"1.0.0"},
			"packages/ws":{"name":"ws-pkg","version":"0.1.0"},
			"node_modules/ws-pkg":{"resolved":"packages/ws","link":true},
			"node_modules/alias":{"name":"real","version":"1.2.3"},
			"node_modules/@s/x/node_modules/y":{"version":"2.0.0"},
			"node_modules/opt":{"version":"1.0.0","devOptional":true}}}`,
			[]string{"opt@1.0.0", "real@1.2.3", "y@2.0.0"}},
		{"yarn v1 alias and local", lockFn(npm.ParseYarnLock), "# yarn lockfile v1\n\n" +
			"\"alias@npm:real@^1.0.0\":\n  version \"1.0.1\"\n\n" +
			"local@file:../local:\n  version \"0.0.1\"\n\n" +
			"\"@s/p@^2\", \"@s/p@^2.1\":\n  version \"2.1.0\"\n  dependencies:\n    version \"9.9.9\"\n",
			[]string{"@s/p@2.1.0", "real@1.0.1"}},
		{"yarn berry protocols", lockFn(npm.ParseYarnLock), "__metadata:\n  version: 8\n\n" +
			"\"app@workspace:.\":\n  version: 0.0.0-use.local\n  resolution: \"app@workspace:.\"\n\n" +
			"\"resolve@patch:resolve@npm%3A^1.22.1#~builtin<compat/resolve>\":\n  version: 1.22.1\n  resolution: \"resolve@patch:resolve@npm%3A1.22.1#~builtin<compat/resolve>::version=1.22.1&hash=07638b\"\n\n" +
			"\"resolve@npm:^1.22.1\":\n  version: 1.22.1\n  resolution: \"resolve@npm:1.22.1\"\n\n" +
			"\"@s/q@npm:1.0.0\":\n  version: 1.0.0\n  resolution: \"@s/q@npm:1.0.0::__archiveUrl=https%3A%2F%2Fexample%2Fq.tgz\"\n",
			[]string{"@s/q@1.0.0", "resolve@1.22.1"}},
		{"pnpm v5 peers and tarballs", lockFn(npm.ParsePnpmLock), "lockfileVersion: 5.4\npackages:\n" +
			"  /ts-node/10.9.1_typescript@4.9.4:\n    dev: false\n" +
			"  /@babel/core/7.0.0:\n    dev: true\n" +
			"  registry.example/x/-/x-1.0.0.tgz:\n    name: x\n    version: 1.0.0\n    dev: false\n" +
			"importers:\n  .:\n    dependencies:\n      ts-node: 10.9.1_typescript@4.9.4\n",
			[]string{"ts-node@10.9.1", "x@1.0.0"}},
		{"pnpm v9 reachability", lockFn(npm.ParsePnpmLock), "lockfileVersion: '9.0'\n" +
			"importers:\n  .:\n    dependencies:\n      a:\n        specifier: ^1\n        version: 1.0.0(p@2.0.0)\n      ws:\n        specifier: workspace:*\n        version: link:packages/ws\n" +
			"    devDependencies:\n      d:\n        specifier: ^1\n        version: 1.0.0\n" +
			"packages:\n  a@1.0.0:\n    resolution: {integrity: x}\n  b@1.0.0:\n    resolution: {integrity: x}\n  d@1.0.0:\n    resolution: {integrity: x}\n  p@2.0.0:\n    resolution: {integrity: x}\n  real@3.0.0:\n    resolution: {integrity: x}\n" +
			"snapshots:\n  a@1.0.0(p@2.0.0):\n    dependencies:\n      b: 1.0.0\n      alias: real@3.0.0\n  b@1.0.0: {}\n  d@1.0.0: {}\n  p@2.0.0: {}\n  real@3.0.0: {}\n",
			[]string{"a@1.0.0", "b@1.0.0", "real@3.0.0"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ps, err := tc.fn([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(ps); !slices.Equal(got, tc.want) {
				t.Errorf("got  %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestLockFileErrors(t *testing.T) {
	tests := []struct {
		name string
		fn   func([]byte) ([]vuln.Package, error)
		in   string
	}{
		{"package-lock not JSON", lockFn(npm.ParsePackageLock), "{"},
		{"package-lock not a lock", lockFn(npm.ParsePackageLock), `{"name":"x"}`},
		{"yarn v1 garbage", lockFn(npm.ParseYarnLock), "no colon here\n"},
		{"yarn berry bad YAML", lockFn(npm.ParseYarnLock), "__metadata:\n  version: [\n"},
		{"pnpm no version", lockFn(npm.ParsePnpmLock), "packages: {}\n"},
		{"pnpm bad version", lockFn(npm.ParsePnpmLock), "lockfileVersion: 'x'\n"},
		{"pnpm not YAML", lockFn(npm.ParsePnpmLock), "lockfileVersion: 5.4\npackages: [\n"},
	}
	for _, tc := range tests {
		if _, err := tc.fn([]byte(tc.in)); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestParsePackageJSON(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            bool
	}{
		{"plain", `{"name":"lodash","version":"4.17.20"}`, "lodash@4.17.20", false},
		{"scoped with BOM", "\xef\xbb\xbf{\"name\":\"@babel/core\",\"version\":\"7.0.0\"}", "@babel/core@7.0.0", false},
		{"private", `{"name":"app","version":"1.0.0","private":true}`, "", false},
		{"private as string is not private", `{"name":"a","version":"1.0.0","private":"true"}`, "a@1.0.0", false},
		{"no version", `{"name":"a"}`, "", false},
		{"version not a string", `{"name":"a","version":{"x":1}}`, "", false},
		{"not an object", `[1]`, "", true},
		{"not JSON", `{`, "", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := npm.ParsePackageJSON(strings.NewReader(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			got := ""
			if p != nil {
				got = p.Name + "@" + p.Version
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWants(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"app/node/node_modules/lodash/package.json", true},
		{"node_modules/lodash/package.json", true},
		{"app/node_modules/@babel/core/package.json", true},
		{"app/node_modules/a/node_modules/b/package.json", true},
		{"app/node_modules/.pnpm/a@1.0.0/node_modules/a/package.json", true},
		// A project's own root package.json: the application.
		{"app/node/package.json", true},
		{"usr/src/app/package.json", true},
		{"package.json", true},
		{"home/node/app/package.json", true},
		{"usr/lib/ruby/gems/3.1.0/gems/typeprof-0.21.2/vscode/package.json", false},
		{"usr/share/doc/node-readdirp/package.json", false},
		{"var/lib/x/package.json", false},
		// Debian's modules, without node_modules.
		{"usr/share/nodejs/acorn/package.json", true},
		{"usr/share/nodejs/@babel/core/package.json", true},
		{"usr/lib/nodejs/foo/package.json", true},
		{"usr/lib/x86_64-linux-gnu/nodejs/bar/package.json", true},
		{"usr/lib/x86_64-linux-gnu/nodejs/@s/bar/package.json", true},
		{"usr/share/nodejs/@babel/core/lib/package.json", false},
		{"usr/share/nodejs/acorn/dist/package.json", false},
		{"usr/share/nodejs/package.json", false},
		{"usr/share/nodejs/@babel/package.json", false},
		{"usr/share/nodejs/.hidden/package.json", false},
		{"usr/share/nodejs/@babel/preset-env/node_modules/js-levenshtein/package.json", true},
		{"usr/lib/x86_64-linux-gnu/other/bar/package.json", false},
		{"app/node_modules/lodash/lib/package.json", false},
		{"app/node_modules/@babel/package.json", false},
		{"app/node_modules/.bin/package.json", false},
		{"app/node_modules/package.json", false},
		{"app/node/node_modules/.package-lock.json", false},
		{"app/node/package-lock.json", true},
		{"package-lock.json", true},
		{"app/npm-shrinkwrap.json", true},
		{"app/yarn.lock", true},
		{"app/pnpm-lock.yaml", true},
		{"app/node_modules/x/yarn.lock", false},
		{"app/node_modules/x/package-lock.json", false},
		{"app/node/package.json.bak", false},
	}
	for _, tc := range tests {
		if got := npm.New().Wants(tc.path); got != tc.want {
			t.Errorf("Wants(%q) = %v", tc.path, got)
		}
	}
}

func TestLockSuperseded(t *testing.T) {
	tests := []struct {
		lock, other string
		want        bool
	}{
		{"app/package-lock.json", "app/node_modules/a/package.json", true},
		{"app/yarn.lock", "app/node_modules/@s/a/package.json", true},
		{"package-lock.json", "node_modules/a/package.json", true},
		{"app/pnpm-lock.yaml", "app/node_modules/.pnpm/a@1/node_modules/a/package.json", true},
		{"app/package-lock.json", "app/sub/node_modules/a/package.json", false},
		{"app/package-lock.json", "other/node_modules/a/package.json", false},
		{"app/package-lock.json", "app/yarn.lock", false},
		{"app/node_modules/a/package.json", "app/node_modules/a/node_modules/b/package.json", false},
	}
	for _, tc := range tests {
		if got := npm.LockSuperseded(tc.lock, tc.other); got != tc.want {
			t.Errorf("LockSuperseded(%q, %q) = %v", tc.lock, tc.other, got)
		}
	}
}

// lockFn adapts a lock file parser to the tests' byte slices.
func lockFn(parse func(context.Context, io.Reader) ([]vuln.Package, error)) func([]byte) ([]vuln.Package, error) {
	return func(b []byte) ([]vuln.Package, error) { return parse(context.Background(), bytes.NewReader(b)) }
}

// seeds returns the testdata files whose names start with prefix.
func seeds(f *testing.F, prefix string) {
	ms, _ := filepath.Glob(filepath.Join("testdata", prefix+"*"))
	if len(ms) == 0 {
		f.Fatalf("no testdata/%s*", prefix)
	}
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// checkPackages is what every fuzz target asserts of a successful parse.
func checkPackages(t *testing.T, ps []vuln.Package) {
	for _, p := range ps {
		if p.Name == "" || p.Version == "" || p.Kind != vuln.KindNPM {
			t.Errorf("package %+v", p)
		}
	}
}

func FuzzPackageJSON(f *testing.F) {
	f.Add([]byte(`{"name":"@babel/core","version":"7.0.0","private":false}`))
	if os.Getenv("LAPPS_TEST_IMAGES") != "" {
		n := 0
		for _, b := range testenv.LayerFiles(f, testenv.LayerBlobs(f, "debian-bookworm-mid")[2], npm.New().Wants) {
			if n++; n <= 20 {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := npm.ParsePackageJSON(bytes.NewReader(b))
		if err == nil && p != nil {
			checkPackages(t, []vuln.Package{*p})
		}
	})
}

func FuzzPackageLock(f *testing.F) {
	seeds(f, "package-lock")
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := npm.ParsePackageLock(context.Background(), bytes.NewReader(b))
		if err == nil {
			checkPackages(t, ps)
		}
	})
}

func FuzzYarnLock(f *testing.F) {
	seeds(f, "yarn")
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := npm.ParseYarnLock(context.Background(), bytes.NewReader(b))
		if err == nil {
			checkPackages(t, ps)
		}
	})
}

func FuzzPnpmLock(f *testing.F) {
	seeds(f, "pnpm")
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := npm.ParsePnpmLock(context.Background(), bytes.NewReader(b))
		if err == nil {
			checkPackages(t, ps)
		}
	})
}

// TestHostile runs the cataloger through the walker on generated files
// that cross the layer's budget or the bounds of the formats, each
// refused as it is read, and on large lock files within them.
func TestHostile(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{npm.New()}, indexer.WithLimits(indexer.Limits{Packages: 1000}))
	entries := func(name, head string, n int, rec func(int) string, tail string) io.Reader {
		return hostile.Files(hostile.Records(name, head, n, rec, tail))
	}
	for _, tc := range []struct {
		name  string
		layer io.Reader
		warn  string // "" for a limit of limits.packages, "-" for no warning and package a
	}{
		{"package-lock of tiny entries", entries("app/package-lock.json", `{"lockfileVersion":3,"packages":{`, 800_000,
			func(i int) string { return fmt.Sprintf(`"node_modules/a%07d":{"version":"1.0.0"},`, i) }, `"":{}}}`), ""},
		{"package-lock v1, nested", entries("app/package-lock.json", `{"lockfileVersion":1,"dependencies":{"a":{"version":"1.0.0","dependencies":{`, 800_000,
			func(i int) string { return fmt.Sprintf(`"b%07d":{"version":"1.0.0"},`, i) }, `"c":{}}}}}`), ""},
		{"yarn v1", entries("app/yarn.lock", "# yarn lockfile v1\n\n", 800_000,
			func(i int) string { return fmt.Sprintf("a%07d@^1:\n  version \"1.0.0\"\n\n", i) }, ""), ""},
		{"yarn berry", entries("app/yarn.lock", "__metadata:\n  version: 8\n\n", 800_000,
			func(i int) string {
				return fmt.Sprintf("\"a%07d@npm:^1\":\n  version: 1.0.0\n  resolution: \"a%07d@npm:1.0.0\"\n\n", i, i)
			}, ""), ""},
		{"pnpm", entries("app/pnpm-lock.yaml", "lockfileVersion: '6.0'\npackages:\n", 800_000,
			func(i int) string { return fmt.Sprintf("  /a%07d@1.0.0:\n    dev: false\n", i) }, ""), ""},
		{"package.json with a long version", hostile.Files(hostile.Repeat("app/node_modules/a/package.json", 3<<20, `{"name":"a","version":"`, "1", `"}`)), "longer than"},
		{"package.json with a long readme (skipped, never held)", hostile.Files(hostile.Repeat("app/node_modules/a/package.json", 3<<20, `{"name":"a","version":"1","readme":"`, "x", `"}`)), "-"},
		{"pnpm with a dense flow sequence", hostile.Files(hostile.Repeat("app/pnpm-lock.yaml", 3<<20, "lockfileVersion: '6.0'\nx: [", "a,", "a]\n")), "longer than"},
		{"yarn berry marker after 256 KiB", entries("app/yarn.lock", "", 20_000,
			func(i int) string { return fmt.Sprintf("# comment %07d\n", i) }, "__metadata:\n  version: 8\n"), "Yarn 2+"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			li, err := ix.IndexLayer(context.Background(), "sha256:l", tc.layer)
			if tc.warn == "" {
				var le *limits.Error
				if !errors.As(err, &le) || le.Key != "limits.packages" {
					t.Fatalf("error %v, want a limit of limits.packages", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.warn == "-" {
				if len(li.Warnings) != 0 || len(li.Entries) != 1 || len(li.Entries[0].Packages) != 1 || li.Entries[0].Packages[0].Name != "a" {
					t.Errorf("warnings %q, entries %+v; want package a and no warning", li.Warnings, li.Entries)
				}
				return
			}
			if len(li.Warnings) != 1 || !strings.Contains(li.Warnings[0], tc.warn) {
				t.Errorf("warnings %q, want one with %q", li.Warnings, tc.warn)
			}
		})
	}
}

// TestLargeLockFiles parses lock files larger than a YAML document is
// parsed whole, entry by entry, through the cataloger.
func TestLargeLockFiles(t *testing.T) {
	const n = 5000
	var pnpm, berry strings.Builder
	pnpm.WriteString("lockfileVersion: '6.0'\n\nsettings:\n  autoInstallPeers: true\n\npackages:\n\n")
	berry.WriteString("# This file is generated by running \"yarn install\" inside your project.\n\n__metadata:\n  version: 8\n  cacheKey: 10c0\n\n")
	var want []string
	for i := 0; i < n; i++ {
		fmt.Fprintf(&pnpm, "  /@s/p%d@1.0.%d(peer@2.0.0):\n    resolution: {integrity: sha512-abc}\n    engines: {node: '>=6'}\n    dev: %v\n\n", i, i, i%2 == 1)
		fmt.Fprintf(&berry, "\"@s/p%d@npm:^1.0.0\":\n  version: 1.0.%d\n  resolution: \"@s/p%d@npm:1.0.%d\"\n  dependencies:\n    x: \"npm:^1\"\n  checksum: 10c0/abc\n  languageName: node\n  linkType: hard\n\n", i, i, i, i)
		want = append(want, fmt.Sprintf("@s/p%d@1.0.%d", i, i))
	}
	slices.Sort(want)
	var prod []string
	for i := 0; i < n; i += 2 {
		prod = append(prod, fmt.Sprintf("@s/p%d@1.0.%d", i, i))
	}
	slices.Sort(prod)
	c := npm.New()
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"app/pnpm-lock.yaml", pnpm.String(), prod},
		{"app/yarn.lock", berry.String(), want},
	} {
		if len(tc.body) < 512<<10 {
			t.Fatalf("%s: %d bytes: not large", tc.name, len(tc.body))
		}
		res, err := c.Parse(context.Background(), tc.name, strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(res.Packages); !slices.Equal(got, tc.want) {
			t.Errorf("%s: %d packages, want %d", tc.name, len(got), len(tc.want))
		}
	}
}

// TestApplication checks that a project's own package.json is listed as
// the application, published only when it has a version and is not
// private, and that Debian's modules are read as installed packages.
func TestApplication(t *testing.T) {
	tests := []struct {
		path, json string
		want       []vuln.Package
	}{
		{"app/node/package.json", `{"name":"testimage-node-app","version":"1.0.0","private":true,"dependencies":{"lodash":"4.17.20"}}`,
			[]vuln.Package{{Name: "testimage-node-app", Version: "1.0.0", Kind: vuln.KindNPM, Application: vuln.ApplicationUnpublished}}},
		{"usr/src/app/package.json", `{"name":"express","version":"4.17.1"}`,
			[]vuln.Package{{Name: "express", Version: "4.17.1", Kind: vuln.KindNPM, Application: vuln.ApplicationPublished}}},
		{"srv/package.json", `{"name":"site"}`,
			[]vuln.Package{{Name: "site", Kind: vuln.KindNPM, Application: vuln.ApplicationUnpublished}}},
		{"srv/package.json", `{"name":"site","version":"","private":false}`,
			[]vuln.Package{{Name: "site", Kind: vuln.KindNPM, Application: vuln.ApplicationUnpublished}}},
		{"srv/package.json", `{"version":"1.0.0"}`, nil},
		{"srv/package.json", `{"name":7,"version":"1.0.0"}`, nil},
		{"usr/share/nodejs/acorn/package.json", `{"name":"acorn","version":"8.8.1"}`,
			[]vuln.Package{{Name: "acorn", Version: "8.8.1", Kind: vuln.KindNPM}}},
		// Debian ships some modules with their repository's private package.json.
		{"usr/share/nodejs/lodash/package.json", `{"name":"lodash","version":"4.17.21","private":true}`,
			[]vuln.Package{{Name: "lodash", Version: "4.17.21", Kind: vuln.KindNPM}}},
		{"usr/share/nodejs/@babel/core/package.json", `{"name":"@babel/core"}`, nil},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			if !npm.New().Wants(tc.path) {
				t.Fatalf("not wanted")
			}
			res, err := npm.New().Parse(context.Background(), tc.path, strings.NewReader(tc.json))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(res.Packages, tc.want) {
				t.Errorf("got %+v, want %+v", res.Packages, tc.want)
			}
		})
	}
	if _, err := npm.New().Parse(context.Background(), "app/package.json", strings.NewReader(`{"name":`)); err == nil {
		t.Error("malformed application package.json: no error")
	}
}
