package layer

import (
	"archive/tar"
	"crypto/rand"
	"fmt"
	"strings"
	"testing"

	"github.com/lapps/lapps/checks"
)

// token returns n random letters and digits.
func token(t *testing.T, n int) string {
	const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	for i := range b {
		b[i] = alnum[int(b[i])%len(alnum)]
	}
	return string(b)
}

func hdr(name string, mode int64, size int64, typ byte) *tar.Header {
	return &tar.Header{Name: name, Mode: mode, Size: size, Typeflag: typ}
}

func TestPass(t *testing.T) {
	p, err := New(100)
	if err != nil {
		t.Fatal(err)
	}
	tok := "ghp_" + token(t, 36)
	small := "x = \"" + tok + "\"\n"
	big := strings.Repeat("#\n", 60) + small
	for _, f := range []struct {
		h       *tar.Header
		content string
		want    bool
	}{
		{hdr("usr/bin/su", 0o4755, 10, tar.TypeReg), "", true},      // owned through /bin/su
		{hdr("usr/local/bin/x", 0o4755, 10, tar.TypeReg), "", true}, // not owned
		{hdr("usr/bin/wall", 0o2755, 10, tar.TypeReg), "", true},    // owned as usr/bin/wall
		{hdr("app/small.py", 0o644, int64(len(small)), tar.TypeReg), small, true},
		{hdr("app/big.py", 0o644, int64(len(big)), tar.TypeReg), "", false}, // over maxText: not read
		{hdr("app/empty", 0o644, 0, tar.TypeReg), "", false},
		{hdr("app/link", 0o777, 0, tar.TypeSymlink), "", false},
		{hdr("app/dir", 0o777, 0, tar.TypeDir), "", false},
		{hdr("var/cache/apt/archives/a.deb", 0o644, 3<<20, tar.TypeReg), "", false},
	} {
		got := p.Entry(f.h.Name, f.h)
		if got != f.want {
			t.Errorf("%s: Entry %v, want %v", f.h.Name, got, f.want)
		}
		if got && f.content != "" {
			p.Content(f.h.Name, []byte(f.content))
		}
	}
	owned := map[string]bool{"bin/su": true, "usr/bin/wall": true}
	res := p.Finish(func(s string) bool { return owned[s] })
	var ids []string
	for _, f := range res.Findings {
		ids = append(ids, f.ID+" "+f.Path)
	}
	want := []string{checks.FileWorldWritable + " app/dir", checks.FileSetuid + " usr/local/bin/x", checks.FilePackageCache + " "}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Errorf("findings %v, want %v", ids, want)
	}
	if len(res.Secrets) != 1 || res.Secrets[0].Path != "app/small.py" || res.Secrets[0].Preview != "ghp_****" {
		t.Errorf("secrets %+v", res.Secrets)
	}
}

// TestPassBound: at most checks.MaxPerLayer findings and secrets, the
// rest counted.
func TestPassBound(t *testing.T) {
	p, err := New(0)
	if err != nil {
		t.Fatal(err)
	}
	n := checks.MaxPerLayer + 50
	for i := 0; i < n; i++ {
		name := fmt.Sprintf("app/f%d", i)
		p.Entry(name, hdr(name, 0o666, 1, tar.TypeReg))
		content := "t = ghp_" + token(t, 36) + "\n"
		p.Content(name, []byte(content))
	}
	res := p.Finish(nil)
	if len(res.Findings) != checks.MaxPerLayer || len(res.Secrets) != checks.MaxPerLayer || res.Dropped < 100 {
		t.Errorf("%d findings, %d secrets, %d dropped", len(res.Findings), len(res.Secrets), res.Dropped)
	}
}
