package all_test

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/lapps/lapps/checks"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/testenv"
)

// TestChecksSetuidOwnership checks the "own layers" rule of file-setuid
// on the real Debian images: the setuid and setgid files of their layers
// (read from the tar headers here) are all listed by dpkg's file lists
// (read here from var/lib/dpkg/info/*.list), so the indexer reports none
// of them; with the lists, the oracle and the indexer agree file by file.
func TestChecksSetuidOwnership(t *testing.T) {
	for _, tag := range []string{"debian-bookworm-min", "debian-bookworm-fat"} {
		t.Run(tag, func(t *testing.T) {
			ix := indexer.New(all.Catalogers())
			special := 0
			for _, blob := range testenv.LayerBlobs(t, tag) {
				// The oracle: setuid/setgid files and dpkg's lists.
				var modes []string
				tr := tar.NewReader(testenv.OpenLayer(t, blob))
				for {
					h, err := tr.Next()
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
					if h.Typeflag == tar.TypeReg && h.Mode&0o6000 != 0 {
						modes = append(modes, indexer.CleanPath(h.Name))
					}
				}
				lists := testenv.LayerFiles(t, blob, func(p string) bool {
					return strings.HasPrefix(p, "var/lib/dpkg/info/") && strings.HasSuffix(p, ".list")
				})
				listed := map[string]bool{}
				for _, b := range lists {
					for _, l := range strings.Split(string(b), "\n") {
						if l = indexer.CleanPath(l); l != "" {
							listed[l] = true
							listed[strings.TrimPrefix(l, "usr/")] = true
							listed["usr/"+l] = true
						}
					}
				}
				for _, m := range modes {
					special++
					if !listed[m] {
						t.Errorf("%s is setuid/setgid and no dpkg list names it: the check should report it", m)
					}
				}
				li, err := ix.IndexLayer(context.Background(), "sha256:test", testenv.OpenLayer(t, blob))
				if err != nil {
					t.Fatal(err)
				}
				if li.Checks == nil {
					t.Fatal("no checks")
				}
				for _, f := range li.Checks.Findings {
					if f.ID == checks.FileSetuid || f.ID == checks.FileSetgid {
						t.Errorf("%s %s: packaged, yet reported", f.ID, f.Path)
					}
				}
			}
			if special == 0 {
				t.Errorf("no setuid or setgid file in %s: the test checks nothing", tag)
			}
			t.Logf("%s: %d setuid/setgid files, all packaged", tag, special)
		})
	}
}
