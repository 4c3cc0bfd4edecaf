package gotoolchain_test

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/mod/semver"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/indexer/gotoolchain"
	"github.com/lapps/lapps/matcher"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater/osv"
	"github.com/lapps/lapps/vuln"
)

func TestWants(t *testing.T) {
	for p, want := range map[string]bool{
		"usr/local/go/VERSION":       true,
		"usr/lib/go-1.19/VERSION":    true,
		"usr/lib/go/VERSION":         true,
		"opt/go/VERSION":             true,
		"usr/local/go1.22.5/VERSION": true,
		"root/sdk/go1.22.5/VERSION":  true,
		"root/go/pkg/mod/golang.org/toolchain@v0.0.1-go1.22.5.linux-amd64/VERSION": true,
		"go/pkg/mod/golang.org/toolchain@v0.0.1-go1.21.0.linux-arm64/VERSION":      true,
		"usr/local/go/VERSION.cache":               false,
		"usr/local/go/src/VERSION":                 false,
		"app/VERSION":                              false,
		"VERSION":                                  false,
		"usr/lib/python3/VERSION":                  false,
		"root/sdk/node/VERSION":                    false,
		"root/go/pkg/mod/example.com/x@v1/VERSION": false,
	} {
		if got := gotoolchain.New().Wants(p); got != want {
			t.Errorf("Wants(%q) = %v", p, got)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"go 1.21 on", "go1.22.5\ntime 2024-06-04T20:39:32Z\n", "1.22.5"},
		{"before go 1.21, no newline", "go1.20.5", "1.20.5"},
		{"first release of a minor version", "go1.21.0\ntime 2023-08-04T20:14:06Z\n", "1.21.0"},
		{"two-part version", "go1.20\n", "1.20.0"},
		{"release candidate", "go1.23rc1\ntime 2024-06-21T16:00:00Z\n", "1.23.0-rc.1"},
		{"CRLF", "go1.22.5\r\ntime x\r\n", "1.22.5"},
		{"experiment", "go1.22.1 X:boringcrypto\n", "1.22.1"},
		{"development toolchain", "devel go1.23-e8ee1dc4f9 Tue Jun 4 2024\n", ""},
		{"not a version", "hello\n", ""},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := gotoolchain.New().Parse(context.Background(), "usr/local/go/VERSION", strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range res.Packages {
				if p.Kind != vuln.KindGo {
					t.Errorf("kind %s", p.Kind)
				}
				got = append(got, p.Name+"@"+p.Version)
			}
			var want []string
			if tc.want != "" {
				want = []string{"stdlib@" + tc.want, "toolchain@" + tc.want}
			}
			if !slices.Equal(got, want) {
				t.Errorf("got %q, want %q", got, want)
			}
		})
	}
	// A first line longer than any version is refused, whatever follows.
	if _, err := gotoolchain.New().Parse(context.Background(), "usr/local/go/VERSION", strings.NewReader("go1.22.5"+strings.Repeat(" ", 1<<20))); err == nil {
		t.Error("a 1 MiB first line: no error")
	}
}

// TestRealVersionFile reads the VERSION file of the toolchain running the
// test (a real GOROOT) and compares it with runtime.Version.
func TestRealVersionFile(t *testing.T) {
	f, err := os.Open(filepath.Join(runtime.GOROOT(), "VERSION"))
	if err != nil {
		testenv.Missing(t, "no VERSION file in GOROOT %s: %v", runtime.GOROOT(), err)
	}
	defer f.Close()
	got, err := gotoolchain.ParseVersion(f)
	if err != nil {
		t.Fatal(err)
	}
	want, _, _ := strings.Cut(strings.TrimPrefix(runtime.Version(), "go"), " ")
	if strings.Count(want, ".") == 1 && !strings.ContainsAny(want, "rcbeta") {
		want += ".0"
	}
	if got != want {
		t.Errorf("VERSION of %s gives %q, runtime.Version() is %s", runtime.GOROOT(), got, runtime.Version())
	}
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"go1.22.5\ntime 2024-06-04T20:39:32Z\n", "go1.20", "go1.23rc1\n", "devel go1.23-e8ee1dc4f9\n", "\ufeffgo1.21.0", "go1.22.1 X:boringcrypto\n", ""} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile(filepath.Join(runtime.GOROOT(), "VERSION")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := gotoolchain.ParseVersion(bytes.NewReader(b))
		if err != nil {
			return
		}
		if v != "" && !semver.IsValid("v"+v) {
			t.Fatalf("%q: version %q is not semantic", b, v)
		}
	})
}

// layer returns an uncompressed layer holding the given files.
func layer(t *testing.T, files map[string][]byte) []byte {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		mode := int64(0o644)
		if strings.Contains(n, "/bin/") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: mode, Size: int64(len(files[n])), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(files[n]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// records is a matcher.RecordSource over records held in memory.
type records []vuln.Record

func (rs records) Records(_ context.Context, eco string, names []string) ([]vuln.Record, error) {
	var out []vuln.Record
	for _, r := range rs {
		if r.Ecosystem == eco && slices.Contains(names, r.Package) {
			out = append(out, r)
		}
	}
	return out, nil
}

func (rs records) RecordsByID(_ context.Context, ids []string) ([]vuln.Record, error) {
	var out []vuln.Record
	for _, r := range rs {
		if slices.Contains(ids, r.ID) {
			out = append(out, r)
		}
	}
	return out, nil
}

// goVulnDB reads the real Go vulnerability database with the OSV updater.
func goVulnDB(t *testing.T) (records, string) {
	dir := testenv.VulnData(t, "golang-vulndb", "data", "osv")
	recs, err := osv.Parser{}.Parse(context.Background(), os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	return recs, dir
}

// matchLayer indexes one layer with every cataloger, folds it and matches
// it; it returns "GO-ID package" for each Go vulnerability database id
// of the findings.
func matchLayer(t *testing.T, src records, files map[string][]byte) ([]string, *model.ImageIndex) {
	ix := indexer.New(all.Catalogers())
	li, err := ix.IndexLayer(context.Background(), "sha256:go", bytes.NewReader(layer(t, files)))
	if err != nil {
		t.Fatal(err)
	}
	img, err := indexer.Fold("sha256:m", []model.LayerInfo{{Digest: "sha256:go"}}, []*model.LayerIndex{li})
	if err != nil {
		t.Fatal(err)
	}
	findings, _, err := matcher.Match(context.Background(), src, img)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range findings {
		for _, id := range append([]string{f.ID}, f.Aliases...) {
			if strings.HasPrefix(id, "GO-") {
				out = append(out, id+" "+f.Package)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out), img
}

// expected computes, from the OSV files alone with semantic-version
// order (no lapps code), the "GO-ID package" a package at version v is
// affected by, for the given package names.
func expected(t *testing.T, dir string, names []string, v string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	have := "v" + v
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		var doc struct {
			ID        string
			Withdrawn string
			Affected  []struct {
				Package struct{ Name string }
				Ranges  []struct {
					Type   string
					Events []map[string]string
				}
			}
		}
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatal(err)
		}
		if doc.Withdrawn != "" {
			continue
		}
		for _, a := range doc.Affected {
			if !slices.Contains(names, a.Package.Name) {
				continue
			}
			hit := false
			for _, r := range a.Ranges {
				if r.Type != "SEMVER" {
					continue
				}
				lo := ""
				for _, ev := range r.Events {
					if x, ok := ev["introduced"]; ok {
						if x == "0" {
							x = "0.0.0"
						}
						lo = "v" + x
					}
					if x, ok := ev["fixed"]; ok && lo != "" {
						if semver.Compare(lo, have) <= 0 && semver.Compare(have, "v"+x) < 0 {
							hit = true
						}
						lo = ""
					}
				}
				if lo != "" && semver.Compare(lo, have) <= 0 {
					hit = true
				}
			}
			if hit {
				out = append(out, doc.ID+" "+a.Package.Name)
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestMatchGoVulnDB indexes a layer holding an official golang image's
// /usr/local/go/VERSION and matches it against the real Go vulnerability
// database: the toolchain and standard library records of go1.22.5 are
// found, as computed from the OSV files by semantic-version order.
func TestMatchGoVulnDB(t *testing.T) {
	src, dir := goVulnDB(t)
	got, img := matchLayer(t, src, map[string][]byte{
		"usr/local/go/VERSION": []byte("go1.22.5\ntime 2024-06-04T20:39:32Z\n"),
	})
	want := expected(t, dir, []string{"stdlib", "toolchain"}, "1.22.5")
	var tool int
	for _, w := range want {
		if strings.HasSuffix(w, " toolchain") {
			tool++
		}
	}
	if tool == 0 || len(want) == tool {
		t.Fatalf("the data has %d toolchain and %d stdlib records for 1.22.5: the test would prove little", tool, len(want)-tool)
	}
	if !slices.Equal(got, want) {
		t.Errorf("findings:\n got %q\nwant %q", got, want)
	}
	t.Logf("go1.22.5: %d findings (%d toolchain); packages %+v", len(got), tool, img.Packages)
}

// goroots returns the real GOROOTs on this machine: the one of the
// toolchain running the test, and the toolchains GOTOOLCHAIN fetched
// into the module cache (.ci/testimages.sh fetches go1.21.0 to build
// the test images' Go binary).
func goroots(t *testing.T) []string {
	roots := []string{runtime.GOROOT()}
	out, err := exec.Command(testenv.Tool(t, "go"), "env", "GOMODCACHE").Output()
	if err == nil {
		m, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "golang.org", "toolchain@v0.0.1-go*"))
		roots = append(roots, m...)
	}
	return roots
}

// TestMatchAsOracle puts each real GOROOT (its VERSION file and its go
// command) in a layer, matches it against the real Go vulnerability
// database, and compares the stdlib findings with
// ../shared/checks/oracle_go.py run on that go command, the toolchain
// findings with the OSV files' own order.
func TestMatchAsOracle(t *testing.T) {
	src, dir := goVulnDB(t)
	oracle := filepath.Join(testenv.Shared(t), "checks", "oracle_go.py")
	py := testenv.Tool(t, "python3")
	for _, root := range goroots(t) {
		t.Run(filepath.Base(root), func(t *testing.T) {
			goCmd := filepath.Join(root, "bin", "go")
			version, err := os.ReadFile(filepath.Join(root, "VERSION"))
			if err != nil {
				t.Skipf("no VERSION in %s: %v", root, err)
			}
			bin, err := os.ReadFile(goCmd)
			if err != nil {
				t.Skipf("no go command in %s: %v", root, err)
			}
			cmd := exec.Command(py, oracle, goCmd, dir)
			cmd.Env = append(os.Environ(), "PATH="+filepath.Join(runtime.GOROOT(), "bin")+string(os.PathListSeparator)+os.Getenv("PATH"))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("oracle_go.py: %v", err)
			}
			got, _ := matchLayer(t, src, map[string][]byte{"usr/local/go/VERSION": version, "usr/local/go/bin/go": bin})
			v, err := gotoolchain.ParseVersion(bytes.NewReader(version))
			if err != nil || v == "" {
				t.Fatalf("VERSION %q: %q, %v", version, v, err)
			}
			want := expected(t, dir, []string{"toolchain"}, v)
			for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
				if l != "" {
					want = append(want, l)
				}
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("findings\n got %q\nwant %q (oracle_go.py for stdlib)", got, want)
			}
			t.Logf("go %s: %d findings, %d from oracle_go.py", v, len(got), len(strings.Fields(string(out)))/2)
		})
	}
}
