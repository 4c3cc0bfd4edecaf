package rpm_test

import (
	"archive/tar"
	"bytes"
	"context"
	"database/sql"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/internal/hostile"
	"github.com/lapps/lapps/indexer/rpm"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// almaRPMDB extracts var/lib/rpm/rpmdb.sqlite of the shipped AlmaLinux
// 9.3 micro root file system into a new directory and returns the
// directory.
func almaRPMDB(tb testing.TB) string {
	tb.Helper()
	file := filepath.Join(testenv.Shared(tb), "testimages", "rootfs", "almalinux-9.3-micro-aarch64.tar.xz")
	if _, err := os.Stat(file); err != nil {
		testenv.Missing(tb, "%v", err)
	}
	testenv.Tool(tb, "xz")
	out, err := exec.Command("xz", "-dc", file).Output()
	if err != nil {
		tb.Fatalf("xz -dc %s: %v", file, err)
	}
	dir := tb.TempDir()
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			tb.Fatalf("%s: no var/lib/rpm/rpmdb.sqlite", file)
		}
		if err != nil {
			tb.Fatal(err)
		}
		if strings.TrimPrefix(hdr.Name, "./") == "var/lib/rpm/rpmdb.sqlite" {
			b, err := io.ReadAll(tr)
			if err != nil {
				tb.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "rpmdb.sqlite"), b, 0o644); err != nil {
				tb.Fatal(err)
			}
			return dir
		}
	}
}

// goRPMDBTestdata returns a database of go-rpmdb's own test data (real
// databases from CentOS, UBI and SUSE images) in the module cache.
func goRPMDBTestdata(tb testing.TB, elem ...string) string {
	tb.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/knqyf263/go-rpmdb").Output()
	if err != nil {
		testenv.Missing(tb, "go list go-rpmdb: %v", err)
	}
	p := filepath.Join(append([]string{strings.TrimSpace(string(out)), "pkg", "testdata"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		testenv.Missing(tb, "go-rpmdb test data: %v", err)
	}
	return p
}

// copyTo copies a file into a new directory, writable, and returns the
// directory: rpm wants to lock its database.
func copyTo(tb testing.TB, file string) string {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	if err := os.WriteFile(filepath.Join(dir, filepath.Base(file)), b, 0o644); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// rpmQuery lists a database with rpm itself, without gpg-pubkey, as
// "name [epoch:]version-release arch sourcerpm" lines.
func rpmQuery(t *testing.T, dir string, defines ...string) []string {
	t.Helper()
	testenv.Tool(t, "rpm")
	args := []string{"-qa", "--dbpath", dir, "--qf", `%{NAME} %{EPOCHNUM} %{VERSION} %{RELEASE} %{ARCH} %{SOURCERPM}\n`}
	for _, d := range defines {
		args = append(args, "--define", d)
	}
	cmd := exec.Command("rpm", args...)
	cmd.Stderr = io.Discard // bdb_ro warns about the missing index files
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rpm %q: %v", args, err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		if len(f) != 6 {
			t.Fatalf("rpm: line %q", l)
		}
		if f[0] == "gpg-pubkey" {
			continue
		}
		v := f[2] + "-" + f[3]
		if f[1] != "0" {
			v = f[1] + ":" + v
		}
		lines = append(lines, strings.Join([]string{f[0], v, f[4], f[5]}, " "))
	}
	slices.Sort(lines)
	return lines
}

// format renders a package as rpmQuery does, rebuilding the source RPM's
// file name from SourceName and SourceVersion.
func format(p vuln.Package) string {
	sv := p.SourceVersion
	if _, v, ok := strings.Cut(sv, ":"); ok {
		sv = v
	}
	return fmt.Sprintf("%s %s %s %s-%s.src.rpm", p.Name, p.Version, p.Arch, p.SourceName, sv)
}

func parseFile(t *testing.T, c rpm.Cataloger, file, dbPath string) []vuln.Package {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if !c.Wants(dbPath) {
		t.Fatalf("Wants(%s) false", dbPath)
	}
	res, err := c.Parse(context.Background(), dbPath, f)
	if err != nil {
		t.Fatal(err)
	}
	if res.Distribution != nil {
		t.Errorf("distribution from a package database")
	}
	for _, p := range res.Packages {
		if p.Kind != vuln.KindRPM || p.DBPath != dbPath || p.PURL != "" || p.Layer != "" {
			t.Errorf("%s: kind %q, db path %q, purl %q, layer %q", p.Name, p.Kind, p.DBPath, p.PURL, p.Layer)
		}
		if p.Name == "gpg-pubkey" {
			t.Errorf("gpg-pubkey listed")
		}
	}
	return res.Packages
}

// TestRealDatabases reads real databases of the three formats and
// compares them with rpm's own reading where this rpm can read the
// format (SQLite; BerkeleyDB through its read-only backend; this rpm
// has no NDB backend).
func TestRealDatabases(t *testing.T) {
	tests := []struct {
		name   string
		dir    func(testing.TB) string // holding the database
		file   string
		dbPath string
		count  int
		rpm    []string // rpm --define arguments; nil: rpm cannot read it
		want   []string // spot checks, format()
	}{
		{"almalinux-9.3 sqlite", almaRPMDB, "rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite", 22, []string{}, // 23 with gpg-pubkey
			[]string{"glibc 2.34-83.el9_3.7 aarch64 glibc-2.34-83.el9_3.7.src.rpm",
				"almalinux-gpg-keys 9.3-1.el9 aarch64 almalinux-release-9.3-1.el9.src.rpm"}},
		{"centos7 bdb", func(tb testing.TB) string { return copyTo(tb, goRPMDBTestdata(tb, "centos7-plain", "Packages")) },
			"Packages", "var/lib/rpm/Packages", 144, []string{"_db_backend bdb_ro"}, nil},
		{"centos5 bdb (unsorted hash pages)", func(tb testing.TB) string { return copyTo(tb, goRPMDBTestdata(tb, "centos5-plain", "Packages")) },
			"Packages", "var/lib/rpm/Packages", 0, []string{"_db_backend bdb_ro"}, nil},
		{"ubi8 s390x bdb (big-endian)", func(tb testing.TB) string { return copyTo(tb, goRPMDBTestdata(tb, "ubi8-s390x", "Packages")) },
			"Packages", "var/lib/rpm/Packages", 0, []string{"_db_backend bdb_ro"}, nil},
		{"centos8 bdb with epochs and modules", func(tb testing.TB) string {
			return copyTo(tb, goRPMDBTestdata(tb, "centos8-modularitylabel", "Packages"))
		}, "Packages", "var/lib/rpm/Packages", 0, []string{"_db_backend bdb_ro"}, nil},
		{"sle15 ndb", func(tb testing.TB) string { return goRPMDBTestdata(tb, "sle15-bci") },
			"Packages.db", "usr/lib/sysimage/rpm/Packages.db", 35, nil,
			[]string{"glibc 2.31-9.3.2 x86_64 glibc-2.31-9.3.2.src.rpm",
				"libgcc_s1 11.2.1+git610-1.3.9 x86_64 gcc11-11.2.1+git610-1.3.9.src.rpm",
				"libreadline7 7.0-19.6.1 x86_64 bash-4.4-19.6.1.src.rpm"}},
		{"fedora35 sqlite", func(tb testing.TB) string { return copyTo(tb, goRPMDBTestdata(tb, "fedora35", "rpmdb.sqlite")) },
			"rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite", 0, []string{}, nil},
	}
	c := rpm.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := tt.dir(t)
			pkgs := parseFile(t, c, filepath.Join(dir, tt.file), tt.dbPath)
			if tt.count != 0 && len(pkgs) != tt.count {
				t.Errorf("%d packages, want %d", len(pkgs), tt.count)
			}
			var got []string
			epochs := 0
			for _, p := range pkgs {
				got = append(got, format(p))
				if strings.Contains(p.Version, ":") {
					epochs++
					if e, _, _ := strings.Cut(p.Version, ":"); !strings.HasPrefix(p.SourceVersion, e+":") {
						t.Errorf("%s %s: source version %s without the epoch", p.Name, p.Version, p.SourceVersion)
					}
				}
			}
			slices.Sort(got)
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("missing %q", w)
				}
			}
			if strings.Contains(tt.name, "epochs") && epochs == 0 {
				t.Error("no package with an epoch")
			}
			if tt.rpm == nil {
				return
			}
			want := rpmQuery(t, dir, tt.rpm...)
			if len(want) == 0 {
				t.Fatal("rpm lists nothing")
			}
			if !slices.Equal(got, want) {
				for _, g := range got {
					if !slices.Contains(want, g) {
						t.Errorf("got %q, not from rpm", g)
					}
				}
				for _, w := range want {
					if !slices.Contains(got, w) {
						t.Errorf("rpm has %q", w)
					}
				}
			}
		})
	}
}

func TestWants(t *testing.T) {
	c := rpm.New()
	for p, want := range map[string]bool{
		"var/lib/rpm/Packages":                  true,
		"var/lib/rpm/Packages.db":               true,
		"var/lib/rpm/rpmdb.sqlite":              true,
		"usr/lib/sysimage/rpm/Packages":         true,
		"usr/lib/sysimage/rpm/Packages.db":      true,
		"usr/lib/sysimage/rpm/rpmdb.sqlite":     true,
		"var/lib/rpm/rpmdb.sqlite-wal":          false,
		"var/lib/rpm/Name":                      false,
		"var/lib/rpm/sub/Packages":              false,
		"usr/var/lib/rpm/Packages":              false,
		"/var/lib/rpm/Packages":                 false,
		"usr/lib/sysimage/rpm/Packages.db.lock": false,
	} {
		if got := c.Wants(p); got != want {
			t.Errorf("Wants(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestParseSourceRPM(t *testing.T) {
	tests := []struct {
		in, name, version string
		ok                bool
	}{
		{"glibc-2.34-83.el9.src.rpm", "glibc", "2.34-83.el9", true},
		{"gcc11-11.2.1+git610-1.3.9.src.rpm", "gcc11", "11.2.1+git610-1.3.9", true},
		{"python3-pip-21.2.3-7.el9.src.rpm", "python3-pip", "21.2.3-7.el9", true},
		{"foo-1-2.nosrc.rpm", "foo", "1-2", true},
		{"(none)", "", "", false},
		{"", "", "", false},
		{"glibc-2.34.src.rpm", "", "", false},
		{"-1-2.src.rpm", "", "", false},
		{"a--2.src.rpm", "", "", false},
		{"a-1-.src.rpm", "", "", false},
		{"glibc-2.34-83.el9.rpm", "", "", false},
	}
	for _, tt := range tests {
		name, version, ok := rpm.ParseSourceRPM(tt.in)
		if name != tt.name || version != tt.version || ok != tt.ok {
			t.Errorf("ParseSourceRPM(%q) = %q, %q, %v; want %q, %q, %v", tt.in, name, version, ok, tt.name, tt.version, tt.ok)
		}
	}
}

// damaged returns a copy of a real database with a change applied.
func damaged(tb testing.TB, file string, change func([]byte) []byte) []byte {
	tb.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	return change(bytes.Clone(b))
}

// TestDamagedDatabases feeds damaged databases of each format: each must
// give an error, not a panic, a hang or a huge allocation.
func TestDamagedDatabases(t *testing.T) {
	bdbFile := goRPMDBTestdata(t, "centos7-plain", "Packages")
	ndbFile := goRPMDBTestdata(t, "sle15-bci", "Packages.db")
	sqliteFile := filepath.Join(almaRPMDB(t), "rpmdb.sqlite")
	le := binary.LittleEndian
	// hashPage finds the first BerkeleyDB hash page with entries.
	hashPage := func(b []byte) int {
		size := int(le.Uint32(b[20:]))
		for off := size; off+size <= len(b); off += size {
			if (b[off+25] == 13 || b[off+25] == 2) && le.Uint16(b[off+20:]) > 0 {
				return off
			}
		}
		t.Fatal("no hash page")
		return 0
	}
	// firstOverflow finds the overflow page the first HOFFPAGE entry of
	// the first hash page points to.
	firstOverflow := func(b []byte) (hash, entry, page int) {
		hash = hashPage(b)
		size := int(le.Uint32(b[20:]))
		n := int(le.Uint16(b[hash+20:]))
		for i := 1; i < n; i += 2 {
			e := int(le.Uint16(b[hash+26+2*i:]))
			if b[hash+e] == 3 {
				return hash, e, int(le.Uint32(b[hash+e+4:])) * size
			}
		}
		t.Fatal("no overflow entry")
		return
	}
	sqliteWith := func(stmts ...string) func([]byte) []byte {
		return func([]byte) []byte {
			file := filepath.Join(t.TempDir(), "rpmdb.sqlite")
			db, err := sql.Open("sqlite", file)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for _, s := range stmts {
				if _, err := db.Exec(s); err != nil {
					t.Fatalf("%s: %v", s, err)
				}
			}
			db.Close()
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	tests := []struct {
		name   string
		file   string
		change func([]byte) []byte
	}{
		{"empty", bdbFile, func([]byte) []byte { return nil }},
		{"text", bdbFile, func([]byte) []byte { return []byte("this is not a database, just text that is long enough to look\n") }},
		{"bdb truncated", bdbFile, func(b []byte) []byte { return b[:len(b)/2+123] }},
		{"bdb header only", bdbFile, func(b []byte) []byte { return b[:512] }},
		{"bdb bad page size", bdbFile, func(b []byte) []byte { le.PutUint32(b[20:], 1000); return b }},
		{"bdb entries beyond the page", bdbFile, func(b []byte) []byte {
			le.PutUint16(b[hashPage(b)+20:], 0xfffe)
			return b
		}},
		{"bdb odd entries", bdbFile, func(b []byte) []byte { le.PutUint16(b[hashPage(b)+20:], 3); return b }},
		{"bdb entry offset beyond the page", bdbFile, func(b []byte) []byte {
			h := hashPage(b)
			le.PutUint16(b[h+26+2:], 0xfff0)
			return b
		}},
		{"bdb overflow chain cycle", bdbFile, func(b []byte) []byte {
			_, _, p := firstOverflow(b)
			le.PutUint32(b[p+16:], uint32(p/int(le.Uint32(b[20:])))) // next = itself
			return b
		}},
		{"bdb overflow chain through a non-overflow page", bdbFile, func(b []byte) []byte {
			_, _, p := firstOverflow(b)
			b[p+25] = 13
			return b
		}},
		{"bdb overflow page beyond the file", bdbFile, func(b []byte) []byte {
			h, e, _ := firstOverflow(b)
			le.PutUint32(b[h+e+4:], 0x7fffffff)
			return b
		}},
		{"bdb bad free area offset", bdbFile, func(b []byte) []byte {
			_, _, p := firstOverflow(b)
			size := int(le.Uint32(b[20:]))
			for le.Uint32(b[p+16:]) != 0 { // to the last page of the chain
				p = int(le.Uint32(b[p+16:])) * size
			}
			le.PutUint16(b[p+22:], 0xfff0)
			return b
		}},
		{"bdb damaged header blob", bdbFile, func(b []byte) []byte {
			_, _, p := firstOverflow(b)
			le.PutUint32(b[p+26:], 0xffffffff) // il
			return b
		}},
		{"ndb truncated", ndbFile, func(b []byte) []byte { return b[:len(b)/3] }},
		{"ndb too many slot pages", ndbFile, func(b []byte) []byte { le.PutUint32(b[12:], 5000); return b }},
		{"ndb bad slot magic", ndbFile, func(b []byte) []byte { copy(b[32+16*3:], "XXXX"); return b }},
		{"ndb blob header beyond the file", ndbFile, func(b []byte) []byte { le.PutUint32(b[32+8:], 0x7fffffff); return b }},
		{"ndb bad blob magic", ndbFile, func(b []byte) []byte {
			off := int(le.Uint32(b[32+8:])) * 16
			copy(b[off:], "XXXX")
			return b
		}},
		{"ndb blob of another package", ndbFile, func(b []byte) []byte {
			off := int(le.Uint32(b[32+8:])) * 16
			le.PutUint32(b[off+4:], 9999)
			return b
		}},
		{"ndb huge blob", ndbFile, func(b []byte) []byte {
			off := int(le.Uint32(b[32+8:])) * 16
			le.PutUint32(b[off+12:], 0xfffffff0)
			return b
		}},
		{"ndb damaged header blob", ndbFile, func(b []byte) []byte {
			off := int(le.Uint32(b[32+8:])) * 16
			le.PutUint32(b[off+16:], 0xffffffff)
			return b
		}},
		{"ndb header string array of four billion strings", ndbFile, func(b []byte) []byte {
			off := int(le.Uint32(b[32+8:]))*16 + 16 // the first blob
			be := binary.BigEndian
			il := int(be.Uint32(b[off:]))
			for i := 0; i < il; i++ {
				e := off + 8 + 16*i
				if be.Uint32(b[e+4:]) == 6 { // a string
					be.PutUint32(b[e+4:], 8)
					be.PutUint32(b[e+12:], 0xffffffff)
					return b
				}
			}
			t.Fatal("no string entry")
			return nil
		}},
		{"sqlite truncated", sqliteFile, func(b []byte) []byte { return b[:len(b)/2] }},
		{"sqlite zeroed pages", sqliteFile, func(b []byte) []byte { clear(b[4096 : len(b)/2]); return b }},
		{"sqlite without Packages", sqliteFile, sqliteWith("CREATE TABLE Other (x)")},
		{"sqlite NULL blob", sqliteFile, sqliteWith("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)", "INSERT INTO Packages VALUES (1, NULL)")},
		{"sqlite garbage blob", sqliteFile, sqliteWith("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)", "INSERT INTO Packages VALUES (1, x'0000000100000010deadbeef')")},
	}
	c := rpm.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := damaged(t, tt.file, tt.change)
			res, err := c.Parse(context.Background(), "var/lib/rpm/"+filepath.Base(tt.file), bytes.NewReader(b))
			if err == nil {
				t.Fatalf("no error; %d packages", len(res.Packages))
			}
			if !strings.Contains(err.Error(), "var/lib/rpm/") {
				t.Errorf("error %q does not name the path", err)
			}
			t.Log(err)
		})
	}
}

func TestTooLarge(t *testing.T) {
	file := goRPMDBTestdata(t, "libuuid", "Packages")
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	_, err = rpm.NewWithMaxSize(int64(len(b)-1)).Parse(context.Background(), "var/lib/rpm/Packages", bytes.NewReader(b))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err %v, want a size error", err)
	}
	res, err := rpm.NewWithMaxSize(int64(len(b))).Parse(context.Background(), "var/lib/rpm/Packages", bytes.NewReader(b))
	if err != nil || len(res.Packages) == 0 {
		t.Fatalf("at the limit: %v, %d packages", err, len(res.Packages))
	}
}

func FuzzRPMDatabase(f *testing.F) {
	for _, elem := range [][]string{{"libuuid", "Packages"}, {"sle15-bci", "Packages.db"}} {
		if b, err := os.ReadFile(goRPMDBTestdata(f, elem...)); err == nil {
			if len(b) > 128<<10 {
				b = b[:128<<10] // the fuzzer works on the start of the file
			}
			f.Add(b)
		}
	}
	c := rpm.New()
	f.Fuzz(func(t *testing.T, b []byte) {
		res, err := c.Parse(context.Background(), "var/lib/rpm/Packages", bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range res.Packages {
			if p.Name == "" || p.Version == "" || p.Kind != vuln.KindRPM {
				t.Fatalf("bad package %+v", p)
			}
		}
	})
}

// TestBudget reads, through the walker, a database of more packages than
// the layer's budget allows, and a database whose Packages is a view of
// an endless recursive query.
func TestBudget(t *testing.T) {
	file := filepath.Join(almaRPMDB(t), "rpmdb.sqlite")
	db, err := sql.Open("sqlite", file)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		if _, err := db.Exec("INSERT INTO Packages (blob) SELECT blob FROM Packages WHERE hnum <= 30"); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ix := indexer.New([]indexer.Cataloger{rpm.New()}, indexer.WithLimits(indexer.Limits{Packages: 50}))
	_, err = ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(hostile.Bytes("var/lib/rpm/rpmdb.sqlite", b)))
	var le *limits.Error
	if !errors.As(err, &le) || le.Key != "limits.packages" {
		t.Fatalf("error %v, want a limit of limits.packages", err)
	}

	view := filepath.Join(t.TempDir(), "rpmdb.sqlite")
	db, err = sql.Open("sqlite", view)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE VIEW Packages AS WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM n) SELECT i AS hnum, zeroblob(100) AS blob FROM n"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := rpm.ReadFile(context.Background(), view); err == nil || !strings.Contains(err.Error(), "no Packages table") {
		t.Errorf("a view: %v", err)
	}
}
