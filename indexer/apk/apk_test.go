package apk_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/apk"
	"github.com/lapps/lapps/indexer/internal/hostile"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// realVersions are the Alpine minirootfs tarballs shipped in
// ../shared/testimages/rootfs.
var realVersions = []string{"3.11.13", "3.13.12", "3.20.3"}

// installedDB reads lib/apk/db/installed from the minirootfs tarball of an
// Alpine version.
func installedDB(tb testing.TB, version string) []byte {
	tb.Helper()
	db, _ := readRootFS(tb, version)
	return db
}

// readRootFS reads the minirootfs tarball of an Alpine version: its
// lib/apk/db/installed, and the tar type of each entry by clean path.
func readRootFS(tb testing.TB, version string) ([]byte, map[string]byte) {
	tb.Helper()
	file := filepath.Join(testenv.Shared(tb), "testimages", "rootfs", "alpine-minirootfs-"+version+"-x86_64.tar.gz")
	f, err := os.Open(file)
	if err != nil {
		testenv.Missing(tb, "%v", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	var db []byte
	types := map[string]byte{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		name := indexer.CleanPath(hdr.Name)
		types[name] = hdr.Typeflag
		if name == apk.InstalledPath {
			if db, err = io.ReadAll(tr); err != nil {
				tb.Fatal(err)
			}
		}
	}
	if db == nil {
		tb.Fatalf("%s: no lib/apk/db/installed", file)
	}
	return db, types
}

// TestRealFileLists checks the files the real databases say their
// packages installed against the root file systems they came from: every
// owned file is there and is not a directory, and the regular files no package owns are the ones the image build
// writes (release files, apk's configuration and database). The busybox
// applets are symbolic links made by a trigger, not owned.
func TestRealFileLists(t *testing.T) {
	spot := map[string]string{
		"lib/ld-musl-x86_64.so.1": "apk musl",
		"bin/busybox":             "apk busybox",
		"sbin/apk":                "apk apk-tools",
	}
	for _, v := range realVersions {
		t.Run(v, func(t *testing.T) {
			db, types := readRootFS(t, v)
			res, err := apk.New().Parse(context.Background(), apk.InstalledPath, bytes.NewReader(db))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.OwnedFiles) != len(res.Packages) {
				t.Errorf("%d file lists for %d packages", len(res.OwnedFiles), len(res.Packages))
			}
			owner := map[string]string{}
			for key, files := range res.OwnedFiles {
				for _, f := range files {
					typ, ok := types[f]
					if !ok || typ == tar.TypeDir {
						t.Errorf("%s owns %s: not a file of the root file system (type %q)", key, f, typ)
					}
					owner[f] = key
				}
			}
			var unowned []string
			for name, typ := range types {
				if typ == tar.TypeReg && owner[name] == "" {
					unowned = append(unowned, name)
					if !strings.HasPrefix(name, "lib/apk/db/") && !strings.HasPrefix(name, "etc/") {
						t.Errorf("%s: a regular file no package owns", name)
					}
				}
			}
			slices.Sort(unowned)
			t.Logf("%d files owned, %d regular files not owned: %q", len(owner), len(unowned), unowned)
			for f, want := range spot {
				if owner[f] != want {
					t.Errorf("%s owned by %q, want %q", f, owner[f], want)
				}
			}
		})
	}
}

func TestRealDatabases(t *testing.T) {
	tests := []struct {
		version string
		count   int
		want    []vuln.Package // spot checks, without DBPath; licenses as the L: lines state them
	}{
		{"3.11.13", 14, []vuln.Package{
			{Name: "musl", Version: "1.1.24-r3", Arch: "x86_64", SourceName: "musl", SourceVersion: "1.1.24-r3", Licenses: []string{"MIT"}},
			{Name: "libssl1.1", Version: "1.1.1l-r0", Arch: "x86_64", SourceName: "openssl", SourceVersion: "1.1.1l-r0", Licenses: []string{"OpenSSL"}},
			{Name: "libc-utils", Version: "0.7.2-r0", Arch: "x86_64", SourceName: "libc-dev", SourceVersion: "0.7.2-r0", Licenses: []string{"BSD"}},
		}},
		{"3.13.12", 14, nil},
		{"3.20.3", 14, []vuln.Package{
			{Name: "musl", Version: "1.2.5-r0", Arch: "x86_64", SourceName: "musl", SourceVersion: "1.2.5-r0", Licenses: []string{"MIT"}},
			{Name: "libcrypto3", Version: "3.3.2-r0", Arch: "x86_64", SourceName: "openssl", SourceVersion: "3.3.2-r0", Licenses: []string{"Apache-2.0"}},
			{Name: "scanelf", Version: "1.3.7-r2", Arch: "x86_64", SourceName: "pax-utils", SourceVersion: "1.3.7-r2", Licenses: []string{"GPL-2.0-only"}},
		}},
	}
	c := apk.New()
	if !c.Wants(apk.InstalledPath) || c.Wants("lib/apk/db/triggers") || c.Wants("/lib/apk/db/installed") {
		t.Fatal("Wants: wrong paths")
	}
	for _, tt := range tests {
		t.Run(tt.version, func(t *testing.T) {
			res, err := c.Parse(context.Background(), apk.InstalledPath, bytes.NewReader(installedDB(t, tt.version)))
			if err != nil {
				t.Fatal(err)
			}
			if res.Distribution != nil {
				t.Errorf("distribution %+v from a package database", res.Distribution)
			}
			if len(res.Packages) != tt.count {
				t.Errorf("%d packages, want %d", len(res.Packages), tt.count)
			}
			byName := map[string]vuln.Package{}
			for _, p := range res.Packages {
				if p.Kind != vuln.KindAPK || p.DBPath != apk.InstalledPath || p.PURL != "" || p.Layer != "" {
					t.Errorf("%s: kind %q, db path %q, purl %q, layer %q", p.Name, p.Kind, p.DBPath, p.PURL, p.Layer)
				}
				if p.Arch != "x86_64" || p.SourceName == "" || p.SourceVersion != p.Version {
					t.Errorf("%+v: arch or source missing", p)
				}
				byName[p.Name] = p
			}
			for _, w := range tt.want {
				w.Kind, w.DBPath = vuln.KindAPK, apk.InstalledPath
				if got := byName[w.Name]; !reflect.DeepEqual(got, w) {
					t.Errorf("got %+v\nwant %+v", got, w)
				}
			}
			// The package list .ci/testimages.sh wrote for the image made
			// from the same tarball.
			t.Run("packages-list", func(t *testing.T) {
				want := testenv.Lines(t, filepath.Join(testenv.Images(t), "rootfs", "alpine-"+tt.version+".packages"))
				var got []string
				for _, p := range res.Packages {
					got = append(got, p.Name+" "+p.Version)
				}
				slices.Sort(got)
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Errorf("packages differ from the list:\ngot  %q\nwant %q", got, want)
				}
			})
		})
	}
}

func TestParseInstalled(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // "name version arch source"
		wantErr string
		files   map[string][]string // nil: not checked
	}{
		{"empty", "", nil, "", nil},
		{"blank lines only", "\n\n\r\n", nil, "", map[string][]string{}},
		{"two packages",
			"C:Q1x=\nP:musl\nV:1.2.5-r0\nA:x86_64\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1y=\no:musl\n\nP:libssl3\nV:3.3.2-r0\nA:x86_64\no:openssl\n\n",
			[]string{"musl 1.2.5-r0 x86_64 musl", "libssl3 3.3.2-r0 x86_64 openssl"}, "",
			map[string][]string{"apk musl": {"lib/ld-musl-x86_64.so.1"}, "apk libssl3": nil}},
		{"files: several directories, R before F, empty R, cleaned paths, skipped paragraph",
			"P:a\nV:1\nR:top\nF:usr/bin\nR:x\nR:y\nR:\nF:etc/../../etc/\nR:conf\nF:empty\n\nP:noversion\nF:bin\nR:z\n\nP:b\nV:2\nF:bin\nR:b\n",
			[]string{"a 1  a", "b 2  b"}, "",
			map[string][]string{"apk a": {"top", "usr/bin/x", "usr/bin/y", "etc/conf"}, "apk b": {"bin/b"}}},
		{"files: F carries over only within a paragraph", "P:a\nV:1\nF:usr/lib\n\nP:b\nV:1\nR:c\n",
			[]string{"a 1  a", "b 1  b"}, "",
			map[string][]string{"apk a": nil, "apk b": {"c"}}},
		{"no origin: the package is its own source", "P:foo\nV:1-r0\n", []string{"foo 1-r0  foo"}, "", nil},
		{"CRLF and no final newline", "P:foo\r\nV:1-r0\r\nA:aarch64\r\nF:bin\r\nR:sh", []string{"foo 1-r0 aarch64 foo"}, "",
			map[string][]string{"apk foo": {"bin/sh"}}},
		{"paragraph without version skipped", "P:foo\n\nP:bar\nV:2-r1\n", []string{"bar 2-r1  bar"}, "", nil},
		{"several blank lines", "P:a\nV:1\n\n\n\nP:b\nV:2\n", []string{"a 1  a", "b 2  b"}, "", nil},
		{"empty value", "P:\nV:1\n", nil, "", map[string][]string{}},
		{"not X:value", "P:foo\nversion 1\n", nil, "line 2", nil},
		{"long key", "Pkg:foo\n", nil, "not a \"X:value\" line", nil},
		{"binary", "\x7fELF\x02\x01\x01\x00", nil, "line 1", nil},
		{"line too long", "P:" + strings.Repeat("x", 2<<20) + "\n", nil, "longer than", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkgs, files, err := apk.ParseInstalled(context.Background(), strings.NewReader(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, p := range pkgs {
				got = append(got, p.Name+" "+p.Version+" "+p.Arch+" "+p.SourceName)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
			if tt.files != nil && !maps.EqualFunc(files, tt.files, slices.Equal) {
				t.Errorf("files %q, want %q", files, tt.files)
			}
		})
	}
}

func TestParseErrorNamesPath(t *testing.T) {
	_, err := apk.New().Parse(context.Background(), apk.InstalledPath, strings.NewReader("garbage\n"))
	if err == nil || !strings.Contains(err.Error(), apk.InstalledPath) {
		t.Fatalf("err %v, want one naming the path", err)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := strings.Repeat("P:a\nV:1\n\n", 10000)
	if _, _, err := apk.ParseInstalled(ctx, strings.NewReader(in)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func FuzzApkInstalled(f *testing.F) {
	for _, v := range realVersions {
		file := filepath.Join(testenv.Shared(f), "testimages", "rootfs", "alpine-minirootfs-"+v+"-x86_64.tar.gz")
		if _, err := os.Stat(file); err == nil {
			f.Add(installedDB(f, v))
		}
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, files, err := apk.ParseInstalled(context.Background(), bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.Kind != vuln.KindAPK || p.SourceName == "" || p.SourceVersion != p.Version {
				t.Fatalf("bad package %+v", p)
			}
			if _, ok := files["apk "+p.Name]; !ok {
				t.Fatalf("package %s without a file list", p.Name)
			}
		}
		if len(files) > len(pkgs) {
			t.Fatalf("%d file lists for %d packages", len(files), len(pkgs))
		}
		for k, fs := range files {
			for _, f := range fs {
				if f == "" || f != indexer.CleanPath(f) {
					t.Fatalf("%s: path %q not in the indexer's form", k, f)
				}
			}
		}
		again, files2, err := apk.ParseInstalled(context.Background(), bytes.NewReader(b))
		if err != nil || !reflect.DeepEqual(pkgs, again) || !maps.EqualFunc(files, files2, slices.Equal) {
			t.Fatalf("not deterministic: %v", err)
		}
	})
}

// TestBudget runs the cataloger through the walker on generated
// databases that cross the layer's budget: many packages, many files, long
// file names made of a long directory and short names.
func TestBudget(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{apk.New()}, indexer.WithLimits(indexer.Limits{Packages: 1000, Entries: 5000}))
	dir := strings.Repeat("d", 4000)
	for _, tc := range []struct {
		name string
		db   hostile.File
		key  string
	}{
		{"packages", hostile.Records(apk.InstalledPath, "", 1_000_000, func(i int) string { return fmt.Sprintf("P:p%07d\nV:1.0-r0\n\n", i) }, ""), "limits.packages"},
		{"files", hostile.Records(apk.InstalledPath, "P:a\nV:1\nF:usr\n", 1_000_000, func(i int) string { return fmt.Sprintf("R:f%07d\n", i) }, ""), "limits.layer_entries"},
		{"long paths", hostile.Records(apk.InstalledPath, "P:a\nV:1\nF:"+dir+"\n", 1_000_000, func(i int) string { return fmt.Sprintf("R:%07d\n", i) }, ""), "limits.layer_entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(tc.db))
			var le *limits.Error
			if !errors.As(err, &le) || le.Key != tc.key {
				t.Fatalf("error %v, want a limit of %s", err, tc.key)
			}
		})
	}
}
