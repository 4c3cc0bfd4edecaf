package rpm_test

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/rpm"
	"github.com/lapps/lapps/testenv"
)

// rpmFile is one entry of a package's file list as rpm reports it.
type rpmFile struct {
	pkg, mode, flags, lang, path string
}

// rpmFiles lists the file lists of a database with rpm itself, without
// gpg-pubkey.
func rpmFiles(t *testing.T, dir string, defines ...string) []rpmFile {
	t.Helper()
	testenv.Tool(t, "rpm")
	args := []string{"-qa", "--dbpath", dir, "--qf", `[%{=NAME}\t%{FILEMODES:perms}\t%{FILEFLAGS:fflags}\t%{FILELANGS}\t%{FILENAMES}\n]`}
	for _, d := range defines {
		args = append(args, "--define", d)
	}
	cmd := exec.Command("rpm", args...)
	cmd.Stderr = io.Discard
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("rpm %q: %v", args, err)
	}
	var files []rpmFile
	for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 5 {
			t.Fatalf("rpm: line %q", l)
		}
		files = append(files, rpmFile{f[0], f[1], f[2], f[3], f[4]})
	}
	if len(files) < 100 {
		t.Fatalf("rpm lists %d files", len(files))
	}
	return files
}

// withoutAliases drops the usr/ names ownedFiles adds after files under
// bin, sbin, lib and lib64.
func withoutAliases(files []string) []string {
	var out []string
	for j := 0; j < len(files); j++ {
		out = append(out, files[j])
		if j+1 < len(files) && files[j+1] == "usr/"+files[j] {
			j++
		}
	}
	return out
}

// TestRealFileLists compares the files of each package with rpm's own
// reading of the same databases (directories left out), and checks the
// merged-/usr names.
func TestRealFileLists(t *testing.T) {
	tests := []struct {
		name   string
		dir    func(testing.TB) string
		file   string
		dbPath string
		rpm    []string
		files  int // files (not directories) of all packages
		spot   map[string]string
	}{
		{"almalinux-9.3 sqlite", almaRPMDB, "rpmdb.sqlite", "var/lib/rpm/rpmdb.sqlite", []string{}, 2483, map[string]string{
			"usr/bin/bash":        "rpm bash",
			"lib64/libc.so.6":     "rpm glibc",
			"usr/lib64/libc.so.6": "rpm glibc",
			"etc/fstab":           "rpm setup", // a %ghost %config file
		}},
		{"centos7 bdb", func(tb testing.TB) string { return copyTo(tb, goRPMDBTestdata(tb, "centos7-plain", "Packages")) },
			"Packages", "var/lib/rpm/Packages", []string{"_db_backend bdb_ro"}, 0, map[string]string{
				"usr/bin/python2.7": "rpm python",
			}},
		{"fedora35 sqlite", func(tb testing.TB) string { return copyTo(tb, goRPMDBTestdata(tb, "fedora35", "rpmdb.sqlite")) },
			"rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite", []string{}, 0, nil},
	}
	c := rpm.New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := os.Open(filepath.Join(tt.dir(t), tt.file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			res, err := c.Parse(context.Background(), tt.dbPath, f)
			if err != nil {
				t.Fatal(err)
			}
			owner := map[string]string{}
			got := map[string][]string{}
			for key, files := range res.OwnedFiles {
				if !strings.HasPrefix(key, "rpm ") {
					t.Errorf("owner %q", key)
				}
				for _, p := range files {
					if p == "" || p != indexer.CleanPath(p) {
						t.Errorf("%s: path %q not in the indexer's form", key, p)
					}
					owner[p] = key
				}
				if fs := withoutAliases(files); len(fs) > 0 {
					got[key] = fs
				}
			}
			for _, p := range res.Packages {
				if _, ok := res.OwnedFiles["rpm "+p.Name]; !ok {
					t.Errorf("package %s without a file list", p.Name)
				}
			}
			want := map[string][]string{}
			n := 0
			for _, rf := range rpmFiles(t, filepath.Dir(f.Name()), tt.rpm...) {
				if rf.pkg == "gpg-pubkey" || strings.HasPrefix(rf.mode, "d") {
					continue
				}
				n++
				want["rpm "+rf.pkg] = append(want["rpm "+rf.pkg], strings.TrimPrefix(rf.path, "/"))
			}
			if tt.files != 0 && n != tt.files {
				t.Errorf("rpm lists %d files, want %d", n, tt.files)
			}
			if len(got) != len(want) {
				t.Errorf("%d packages with files, rpm has %d", len(got), len(want))
			}
			for key, w := range want {
				g := got[key]
				slices.Sort(g)
				slices.Sort(w)
				if !slices.Equal(g, w) {
					t.Errorf("%s: %d files, rpm lists %d", key, len(g), len(w))
				}
			}
			for p, want := range tt.spot {
				if owner[p] != want {
					t.Errorf("%s owned by %q, want %q", p, owner[p], want)
				}
			}
			t.Logf("%d packages, %d files, %d paths with the merged-/usr names", len(res.Packages), n, len(owner))
		})
	}
}

// TestAlmaRootFS checks the AlmaLinux file lists against the root file
// system the database came from: each regular file or link a package
// lists is in the tarball, under its name or under usr/ (merged /usr),
// unless rpm did not install it: %doc files and other languages (the
// micro image is installed without them) and %ghost files.
func TestAlmaRootFS(t *testing.T) {
	file := filepath.Join(testenv.Shared(t), "testimages", "rootfs", "almalinux-9.3-micro-aarch64.tar.xz")
	if _, err := os.Stat(file); err != nil {
		testenv.Missing(t, "%v", err)
	}
	testenv.Tool(t, "xz")
	out, err := exec.Command("xz", "-dc", file).Output()
	if err != nil {
		t.Fatalf("xz -dc %s: %v", file, err)
	}
	names := map[string]bool{}
	var db []byte
	tr := tar.NewReader(bytes.NewReader(out))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		name := indexer.CleanPath(hdr.Name)
		names[name] = true
		if name == "var/lib/rpm/rpmdb.sqlite" {
			if db, err = io.ReadAll(tr); err != nil {
				t.Fatal(err)
			}
		}
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "rpmdb.sqlite"), db, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := rpm.New().Parse(context.Background(), "var/lib/rpm/rpmdb.sqlite", bytes.NewReader(db))
	if err != nil {
		t.Fatal(err)
	}
	owned := map[string]bool{}
	for _, files := range res.OwnedFiles {
		for _, p := range files {
			owned[p] = true
		}
	}
	present, aliased, notInstalled := 0, 0, 0
	for _, rf := range rpmFiles(t, dir) {
		if strings.HasPrefix(rf.mode, "d") || rf.pkg == "gpg-pubkey" {
			continue
		}
		p := strings.TrimPrefix(rf.path, "/")
		if !owned[p] {
			t.Errorf("%s: %s not owned", rf.pkg, p)
		}
		switch {
		case names[p]:
			present++
		case names["usr/"+p] && owned["usr/"+p]:
			aliased++
		case strings.ContainsAny(rf.flags, "dg") || rf.lang != "":
			notInstalled++
		default:
			t.Errorf("%s: %s (flags %q) is not in the root file system", rf.pkg, p, rf.flags)
		}
	}
	t.Logf("%d files present, %d under merged /usr, %d not installed (doc, ghost, languages)", present, aliased, notInstalled)
	if aliased == 0 {
		t.Error("no file found under merged /usr")
	}
}

func BenchmarkReadFileFedora35(b *testing.B) {
	file := goRPMDBTestdata(b, "fedora35", "rpmdb.sqlite")
	dir := copyTo(b, file)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := rpm.ReadFile(context.Background(), filepath.Join(dir, "rpmdb.sqlite")); err != nil {
			b.Fatal(err)
		}
	}
}
