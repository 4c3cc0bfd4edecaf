package sbom

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/limits"
)

// fuzzSBOM seeds f with the fixtures whose names contain kind and checks
// that parse (without Parse's recovery, so that a panic fails) either
// refuses the input as ErrFormat or a limits error, or returns packages
// that each have a kind, a name and their purl.
func fuzzSBOM(f *testing.F, kind string) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*"+kind+"*.json"))
	if len(files) == 0 {
		f.Fatalf("no %s fixtures", kind)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := parse(data, Limits{Bytes: 1 << 20, Components: 1000})
		if err != nil {
			if !errors.Is(err, ErrFormat) && !errors.Is(err, limits.ErrExceeded) {
				t.Fatalf("error neither ErrFormat nor a limit: %v", err)
			}
			return
		}
		for _, p := range doc.Packages {
			if p.Kind == "" || p.Name == "" || !strings.HasPrefix(p.PURL, "pkg:") {
				t.Fatalf("package %+v", p)
			}
		}
	})
}

func FuzzCycloneDX(f *testing.F) { fuzzSBOM(f, "cdx") }

func FuzzSPDX(f *testing.F) { fuzzSBOM(f, "spdx") }
