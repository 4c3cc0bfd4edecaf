package service

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
)

func TestImportName(t *testing.T) {
	for _, tc := range []struct{ typ, path, want string }{
		{"osv", "/data/osv/AlmaLinux-all.zip", "import-osv-almalinux-all"},
		{"osv", "/data/osv/Go/", "import-osv-go"},
		{"alpine-secdb", "/mirror/alpine-secdb/v3.11", "import-alpine-secdb-v3.11"},
		{"osv", "/data/My Feeds (copy)!", "import-osv-my-feeds-copy"},
		{"osv", "/data/..zip", "import-osv-data"},
		{"osv", "/data/" + strings.Repeat("x", 100), "import-osv-" + strings.Repeat("x", 64)},
		{"osv", "/data/ÄÖ", "import-osv-data"},
		{"osv", "/", "import-osv-data"},
	} {
		if got := ImportName(tc.typ, tc.path); got != tc.want {
			t.Errorf("ImportName(%q, %q) = %q; want %q", tc.typ, tc.path, got, tc.want)
		}
	}
}

// TestImportNaming: imports of different paths become different sources
// and keep each other's data; one under a name that holds another path's
// data is refused and changes nothing; with replace it replaces and says
// what it replaced; the same path again is an update, never refused.
func TestImportNaming(t *testing.T) {
	v310, v311 := testenv.VulnData(t, "alpine-secdb", "v3.10"), testenv.VulnData(t, "alpine-secdb", "v3.11")
	ctx := context.Background()
	st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	l := NewLocal(st, indexer.New(all.Catalogers()), WithSources(nil))
	t.Cleanup(func() { l.Close() })

	a, err := l.ImportVulnDB(ctx, "alpine-secdb", v310, "", false)
	if err != nil || a.Source != "import-alpine-secdb-v3.10" || a.Records == 0 || a.Replaced != nil {
		t.Fatalf("first import = %+v, %v", a, err)
	}
	b, err := l.ImportVulnDB(ctx, "alpine-secdb", v311, "", false)
	if err != nil || b.Source != "import-alpine-secdb-v3.11" || b.Records == 0 || b.Replaced != nil {
		t.Fatalf("second import = %+v, %v", b, err)
	}
	records := func() map[string]int {
		st, err := l.VulnDBStatus(ctx)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, s := range st {
			out[s.Source] = s.Records
		}
		return out
	}
	if got := records(); got[a.Source] != a.Records || got[b.Source] != b.Records {
		t.Fatalf("after two imports: %v; want both kept (%d, %d)", got, a.Records, b.Records)
	}

	// Another path under a taken name: refused, nothing changes.
	_, err = l.ImportVulnDB(ctx, "alpine-secdb", v311, a.Source, false)
	if !errors.Is(err, ErrBadRequest) || !strings.Contains(err.Error(), "--replace") || !strings.Contains(err.Error(), v310) {
		t.Fatalf("import over another path's data: %v; want a bad request naming --replace and %s", err, v310)
	}
	// Another type under the same name and path: refused too.
	if _, err = l.ImportVulnDB(ctx, "osv", v310, a.Source, false); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("import of another type under the name: %v; want a bad request", err)
	}
	if got := records(); got[a.Source] != a.Records {
		t.Fatalf("a refused import changed the data: %v", got)
	}

	// The same path again: an update of that import, unchanged.
	again, err := l.ImportVulnDB(ctx, "alpine-secdb", v310, "", false)
	if err != nil || again.Changed || again.Replaced != nil || again.Records != a.Records {
		t.Fatalf("same path again = %+v, %v; want unchanged", again, err)
	}
	// The same path with changed content: an update, said so.
	dir := t.TempDir()
	copyFile(t, filepath.Join(v310, "main.yaml"), filepath.Join(dir, "main.yaml"))
	c1, err := l.ImportVulnDB(ctx, "alpine-secdb", dir, "mirror", false)
	if err != nil || c1.Replaced != nil {
		t.Fatalf("import of the copy = %+v, %v", c1, err)
	}
	copyFile(t, filepath.Join(v310, "community.yaml"), filepath.Join(dir, "community.yaml"))
	c2, err := l.ImportVulnDB(ctx, "alpine-secdb", dir, "mirror", false)
	if err != nil || !c2.Changed || c2.Replaced == nil || !c2.Replaced.SameImport || c2.Replaced.Records != c1.Records || c2.Records <= c1.Records {
		t.Fatalf("re-import of the grown copy = %+v (replaced %+v), %v; want an update from %d records", c2, c2.Replaced, err, c1.Records)
	}

	// With replace: replaced, and said what.
	r, err := l.ImportVulnDB(ctx, "alpine-secdb", v311, a.Source, true)
	if err != nil || r.Replaced == nil || r.Replaced.SameImport || r.Replaced.Origin != v310 || r.Replaced.Records != a.Records || r.Records != b.Records {
		t.Fatalf("import with replace = %+v (replaced %+v), %v", r, r.Replaced, err)
	}
	st2, err := l.VulnDBStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st2 {
		if s.Source == a.Source && (s.Origin != v311 || s.Type != "alpine-secdb") {
			t.Errorf("status after replace: %+v; want origin %s", s, v311)
		}
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzImportName: whatever the path (an API caller's origin), the name
// is import-TYPE- and at most 64 characters of a-z, 0-9, '.', '_' and
// '-', neither starting nor ending with '-' or '.'.
func FuzzImportName(f *testing.F) {
	for _, p := range []string{"/data/AlmaLinux-all.zip", "", "/", "..", "a/b/../c", "\x00\xff", "ÄÖ.zip", strings.Repeat("-", 100)} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		name := ImportName("osv", path)
		base, ok := strings.CutPrefix(name, "import-osv-")
		if !ok || base == "" || len(base) > 64 || strings.Trim(base, "-.") != base {
			t.Fatalf("ImportName(%q) = %q", path, name)
		}
		for _, c := range base {
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
				t.Fatalf("ImportName(%q) = %q: character %q", path, name, c)
			}
		}
	})
}
