package python_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/python"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// metadataFile matches, independently of the cataloger, the metadata
// files of installed distributions, capturing the directory's name and
// version parts ("charset_normalizer-3.0.1.dist-info").
var metadataFile = regexp.MustCompile(`(?:^|/)(?:site|dist)-packages/(?:.*/)?([^/-]+)-([^/-]+)(?:-py[0-9.]+)?\.(?:dist-info/METADATA|egg-info/PKG-INFO|egg-info)$`)

// expected walks a layer and returns, for each metadata file, the package
// its directory name promises: PEP 503 name (by regexp) and version.
func expected(t *testing.T, blobPath string) map[string]string {
	t.Helper()
	tr := tar.NewReader(testenv.OpenLayer(t, blobPath))
	sep := regexp.MustCompile(`[-_.]+`)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := indexer.CleanPath(h.Name)
		if h.Typeflag != tar.TypeReg {
			continue
		}
		if m := metadataFile.FindStringSubmatch(name); m != nil {
			out[name] = strings.ToLower(sep.ReplaceAllString(m[1], "-")) + "@" + m[2]
		}
	}
	return out
}

// TestImage compares the cataloger, run by the real layer walk, with the
// metadata files counted in every layer of the mid image (Debian's
// python3-* packages, the /app virtual environment), and checks concrete
// packages.
func TestImage(t *testing.T) {
	want := map[string]string{}
	got := map[string]string{}
	ix := indexer.New([]indexer.Cataloger{python.New()})
	for _, b := range testenv.LayerBlobs(t, "debian-bookworm-mid") {
		for k, v := range expected(t, b) {
			want[k] = v
		}
		li, err := ix.IndexLayer(context.Background(), "test", testenv.OpenLayer(t, b))
		if err != nil {
			t.Fatal(err)
		}
		if len(li.Warnings) != 0 {
			t.Errorf("warnings: %q", li.Warnings)
		}
		for _, e := range li.Entries {
			if len(e.Packages) != 1 {
				t.Errorf("%s: %d packages", e.Path, len(e.Packages))
				continue
			}
			p := e.Packages[0]
			if p.Kind != vuln.KindPyPI || p.DBPath != e.Path {
				t.Errorf("%s: %+v", e.Path, p)
			}
			got[e.Path] = p.Name + "@" + p.Version
		}
	}
	if len(want) < 10 {
		t.Fatalf("only %d metadata files in the image: %v", len(want), want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: not a metadata file", k)
		}
	}
	for path, pkg := range map[string]string{
		"usr/lib/python3/dist-packages/requests-2.28.1.egg-info/PKG-INFO":            "requests@2.28.1",
		"usr/lib/python3/dist-packages/urllib3-1.26.12.egg-info/PKG-INFO":            "urllib3@1.26.12",
		"usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA":                "pyyaml@6.0",
		"usr/lib/python3/dist-packages/charset_normalizer-3.0.1.dist-info/METADATA":  "charset-normalizer@3.0.1",
		"app/venv/lib/python3.11/site-packages/pip-23.0.1.dist-info/METADATA":        "pip@23.0.1",
		"app/venv/lib/python3.11/site-packages/setuptools-66.1.1.dist-info/METADATA": "setuptools@66.1.1",
	} {
		if got[path] != pkg {
			t.Errorf("%s: got %q, want %q", path, got[path], pkg)
		}
	}
	t.Logf("%d metadata files", len(got))
}

func TestWants(t *testing.T) {
	tests := []struct {
		path string
		want bool
	}{
		{"usr/lib/python3/dist-packages/requests-2.28.1.egg-info/PKG-INFO", true},
		{"usr/lib/python3/dist-packages/PyYAML-6.0.dist-info/METADATA", true},
		{"usr/lib/python3/dist-packages/python_apt-2.6.0.egg-info", true},
		{"usr/local/lib/python3.11/site-packages/foo-1.0-py3.11.egg/EGG-INFO/PKG-INFO", true},
		{"app/venv/lib/python3.11/site-packages/pip-23.0.1.dist-info/METADATA", true},
		{"site-packages/x-1.dist-info/METADATA", true},
		{"app/venv/lib/python3.11/site-packages/pip-23.0.1.dist-info/RECORD", false},
		{"app/venv/lib/python3.11/site-packages/pip/_vendor/vendor.txt", false},
		{"usr/lib/python3.11/pip-23.0.1.dist-info/METADATA", false},
		{"src/project/foo.egg-info/PKG-INFO", false},
		{"usr/lib/python3/dist-packages/.egg-info", false},
		{"usr/lib/python3/dist-packages/METADATA", false},
		{"usr/lib/python3/dist-packages/x/EGG-INFO/PKG-INFO", false},
	}
	for _, tc := range tests {
		if got := python.New().Wants(tc.path); got != tc.want {
			t.Errorf("Wants(%q) = %v", tc.path, got)
		}
	}
}

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name, in, wantName, wantVersion, wantErr string
	}{
		{"pkg-info", "Metadata-Version: 1.1\nName: requests\nVersion: 2.28.1\nSummary: x\n\nName: body\n", "requests", "2.28.1", ""},
		{"crlf and case", "metadata-version: 2.1\r\nname:  PyYAML \r\nversion:6.0\r\n", "PyYAML", "6.0", ""},
		{"continuations and junk", "\xef\xbb\xbfMetadata-Version: 1.0\nDescription: a\n        |b\nnot a header\nName: six\nVersion: 1.16.0\n", "six", "1.16.0", ""},
		{"headers end at blank line", "Name: a\n\nVersion: 1\n", "", "", "no Version header"},
		{"no name", "Version: 1\n", "", "", "no Name header"},
		{"empty", "", "", "", "no Name and Version headers"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, v, err := python.ParseMetadata(strings.NewReader(tc.in))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || n != tc.wantName || v != tc.wantVersion {
				t.Errorf("got %q %q %v", n, v, err)
			}
		})
	}
}

func TestNormalizeName(t *testing.T) {
	for in, want := range map[string]string{
		"PyYAML":             "pyyaml",
		"charset_normalizer": "charset-normalizer",
		"zope.interface":     "zope-interface",
		"Foo__Bar-.-baz":     "foo-bar-baz",
		"_private_":          "-private-",
		"":                   "",
	} {
		if got := python.NormalizeName(in); got != want {
			t.Errorf("NormalizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzPythonMetadata checks that no input panics the parser and that what
// it returns is usable: non-empty, normalised, without line breaks.
func FuzzPythonMetadata(f *testing.F) {
	f.Add([]byte("Metadata-Version: 2.1\nName: requests\nVersion: 2.28.1\n"))
	if os.Getenv("LAPPS_TEST_IMAGES") != "" {
		for _, b := range testenv.LayerBlobs(f, "debian-bookworm-mid")[1:] {
			tr := tar.NewReader(testenv.OpenLayer(f, b))
			for {
				h, err := tr.Next()
				if err != nil {
					break
				}
				if python.New().Wants(indexer.CleanPath(h.Name)) {
					data, _ := io.ReadAll(io.LimitReader(tr, 8<<10))
					f.Add(data)
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := python.New().Parse(context.Background(), "site-packages/x.dist-info/METADATA", strings.NewReader(string(b)))
		if err != nil {
			return
		}
		p := res.Packages[0]
		if p.Name == "" || p.Version == "" || strings.Contains(p.Name+p.Version, "\n") || python.NormalizeName(p.Name) != p.Name {
			t.Errorf("package %+v", p)
		}
	})
}
