package npm

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/lapps/lapps/vuln"
)

// The streaming parsers must find what the parsers they replaced
// (reference_test.go) found: these fuzz targets compare them on every
// input, and the tests below on the real lock files of testdata.

func addSeeds(f *testing.F, prefix string) {
	ms, _ := filepath.Glob(filepath.Join("testdata", prefix+"*"))
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

func samePackages(t *testing.T, what string, got, want []vuln.Package, gotErr, wantErr error) {
	t.Helper()
	if (gotErr == nil) != (wantErr == nil) {
		t.Fatalf("%s: error %v, the reference's %v", what, gotErr, wantErr)
	}
	if gotErr == nil && !slices.EqualFunc(got, want, sameIgnoringLicenses) {
		t.Fatalf("%s:\n got %v\nwant %v", what, got, want)
	}
}

func FuzzPackageJSONReference(f *testing.F) {
	for _, s := range []string{`{"name":"a","version":"1"}`, `{"name":"a","version":"1","name":5}`, `null`, `{"private":"x","name":"a","version":" 1 "}`, "\xef\xbb\xbf{}", `{"Name":"a","version":"1"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := ParsePackageJSON(bytes.NewReader(b))
		want, wantErr := refParsePackageJSON(b)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("error %v, the reference's %v", gotErr, wantErr)
		}
		if (got == nil) != (want == nil) || (got != nil && !sameIgnoringLicenses(*got, *want)) {
			t.Fatalf("got %v, want %v", got, want)
		}
	})
}

func FuzzPackageLockReference(f *testing.F) {
	addSeeds(f, "package-lock")
	for _, s := range []string{`{"lockfileVersion":1,"dependencies":{"a":{"version":"1.0.0","dependencies":{"b":{"version":"2.0.0"}}}}}`,
		`{"packages":{"node_modules/a":{"version":"1"}},"Packages":null,"dependencies":{"c":{"version":"1.0.0"}}}`,
		`{"packages":{"node_modules/a":{"version":"1","dev":"x"}}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := ParsePackageLock(context.Background(), bytes.NewReader(b))
		want, wantErr := refParsePackageLock(b)
		samePackages(t, "package-lock", got, want, gotErr, wantErr)
	})
}

func FuzzYarnLockReference(f *testing.F) {
	addSeeds(f, "yarn")
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := ParseYarnLock(context.Background(), bytes.NewReader(b))
		want, wantErr := refParseYarnLock(b)
		samePackages(t, "yarn.lock", got, want, gotErr, wantErr)
	})
}

func FuzzPnpmLockReference(f *testing.F) {
	addSeeds(f, "pnpm")
	f.Fuzz(func(t *testing.T, b []byte) {
		got, gotErr := ParsePnpmLock(context.Background(), bytes.NewReader(b))
		want, wantErr := refParsePnpmLock(b)
		samePackages(t, "pnpm-lock", got, want, gotErr, wantErr)
	})
}

// chunkedPnpm parses a pnpm lock file entry by entry, whatever its size.
func chunkedPnpm(b []byte) ([]vuln.Package, error) {
	var lock pnpmLock
	if err := lock.decodeChunks(context.Background(), bytes.NewReader(stripBOM(b))); err != nil {
		return nil, err
	}
	return lock.installed()
}

// FuzzYAMLChunks checks that reading a YAML lock file entry by entry
// finds what parsing it whole finds, whenever it succeeds: it may refuse
// layouts pnpm and Yarn never write, never read them differently.
func FuzzYAMLChunks(f *testing.F) {
	addSeeds(f, "pnpm")
	addSeeds(f, "yarn-berry")
	for _, s := range []string{"lockfileVersion: '9.0'\npackages:\n  a@1.0.0: {}\n  a@1.0.0: {}\n",
		"---\nlockfileVersion: 5.4\npackages:\n    /a/1.0.0:\n      dev: false\n  # c\n\n---\nx: [\n",
		"__metadata:\n  version: 8\n\"a@npm:1\":\n  resolution: \"a@npm:1.0.0\"\n  version: 1.0.0\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, err := chunkedPnpm(b); err == nil {
			want, wantErr := refParsePnpmLock(b)
			samePackages(t, "pnpm-lock in chunks", got, want, err, wantErr)
		}
		if got, err := parseBerryChunks(context.Background(), bytes.NewReader(stripBOM(b))); err == nil && berry(stripBOM(b)) {
			want, wantErr := refParseBerry(stripBOM(b))
			samePackages(t, "yarn.lock in chunks", got, want, err, wantErr)
		}
	})
}

func TestChunksOfRealLockFiles(t *testing.T) {
	ms, _ := filepath.Glob("testdata/*")
	n := 0
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		var got, want []vuln.Package
		switch base := filepath.Base(m); {
		case len(base) > 4 && base[:4] == "pnpm":
			got, err = chunkedPnpm(b)
			want, _ = refParsePnpmLock(b)
		case base == "yarn-berry.lock":
			got, err = parseBerryChunks(context.Background(), bytes.NewReader(b))
			want, _ = refParseBerry(b)
		default:
			continue
		}
		n++
		if err != nil || !slices.EqualFunc(got, want, sameIgnoringLicenses) || len(got) == 0 {
			t.Errorf("%s: %v\n got %v\nwant %v", m, err, got, want)
		}
	}
	if n < 4 {
		t.Errorf("only %d YAML lock files", n)
	}
}

func TestYAMLLayoutRefused(t *testing.T) {
	for _, in := range []string{
		"packages: {\n  a: 1\n}\n",
		"- a\n- b\n",
		"lockfileVersion: 9\npackages:\n    a@1.0.0: {}\n  b@1.0.0: {}\n",
		"&anchor a: 1\n",
	} {
		_, err := chunkedPnpm([]byte(in))
		if !errors.Is(err, errYAMLLayout) {
			t.Errorf("%q: error %v, want errYAMLLayout", in, err)
		}
	}
}

// sameIgnoringLicenses compares packages as the reference sees them:
// the reference reads no licenses.
func sameIgnoringLicenses(a, b vuln.Package) bool {
	a.Licenses, b.Licenses = nil, nil
	return reflect.DeepEqual(a, b)
}
