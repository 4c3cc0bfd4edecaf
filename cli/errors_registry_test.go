package cli

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/testenv"
)

// TestRegistryNotFoundInWords: a tag or repository a real registry does
// not have is one line in words (exit 3): the tag named, the registry's
// error code as words, no Go value (the code's detail map[Tag:…]).
func TestRegistryNotFoundInWords(t *testing.T) {
	reg := testenv.StartRegistry(t)
	images := testenv.Images(t)
	reg.Push(t, "oci:"+filepath.Join(images, "rootfs", "oci")+":alpine-3.20.3", "library/alpine:3.20", "")
	db := filepath.Join(t.TempDir(), "lapps.db")
	for _, tc := range []struct {
		ref  string
		want []string
	}{
		{reg.Addr + "/library/alpine:nosuchtag", []string{"image not found", "the repository has no tag nosuchtag", "404 Not Found (manifest unknown)"}},
		{reg.Addr + "/nosuchrepo/x:1", []string{"image not found", reg.Addr + "/nosuchrepo/x:1", "404 Not Found"}},
	} {
		code, stdout, stderr := run(t, db, "image", "security", "scan", tc.ref)
		if code != ExitImageNotFound || stdout != "" {
			t.Errorf("%s: exit %d, want %d", tc.ref, code, ExitImageNotFound)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 {
			t.Errorf("%s: not one line:\n%s", tc.ref, stderr)
		}
		for _, bad := range []string{"map[", "{", "MANIFEST_UNKNOWN", "NAME_UNKNOWN"} {
			if strings.Contains(stderr, bad) {
				t.Errorf("%s: error shows %q: %s", tc.ref, bad, stderr)
			}
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: error lacks %q: %s", tc.ref, w, stderr)
			}
		}
	}
}
