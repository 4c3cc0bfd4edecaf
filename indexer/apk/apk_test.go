package apk_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer/apk"
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
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			tb.Fatalf("%s: no lib/apk/db/installed", file)
		}
		if err != nil {
			tb.Fatal(err)
		}
		if strings.TrimPrefix(hdr.Name, "./") == apk.InstalledPath {
			b, err := io.ReadAll(tr)
			if err != nil {
				tb.Fatal(err)
			}
			return b
		}
	}
}

func TestRealDatabases(t *testing.T) {
	tests := []struct {
		version string
		count   int
		want    []vuln.Package // spot checks, without DBPath
	}{
		{"3.11.13", 14, []vuln.Package{
			{Name: "musl", Version: "1.1.24-r3", Arch: "x86_64", SourceName: "musl", SourceVersion: "1.1.24-r3"},
			{Name: "libssl1.1", Version: "1.1.1l-r0", Arch: "x86_64", SourceName: "openssl", SourceVersion: "1.1.1l-r0"},
			{Name: "libc-utils", Version: "0.7.2-r0", Arch: "x86_64", SourceName: "libc-dev", SourceVersion: "0.7.2-r0"},
		}},
		{"3.13.12", 14, nil},
		{"3.20.3", 14, []vuln.Package{
			{Name: "musl", Version: "1.2.5-r0", Arch: "x86_64", SourceName: "musl", SourceVersion: "1.2.5-r0"},
			{Name: "libcrypto3", Version: "3.3.2-r0", Arch: "x86_64", SourceName: "openssl", SourceVersion: "3.3.2-r0"},
			{Name: "scanelf", Version: "1.3.7-r2", Arch: "x86_64", SourceName: "pax-utils", SourceVersion: "1.3.7-r2"},
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
				if got := byName[w.Name]; got != w {
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
	}{
		{"empty", "", nil, ""},
		{"blank lines only", "\n\n\r\n", nil, ""},
		{"two packages",
			"C:Q1x=\nP:musl\nV:1.2.5-r0\nA:x86_64\nF:lib\nR:ld-musl-x86_64.so.1\na:0:0:755\nZ:Q1y=\no:musl\n\nP:libssl3\nV:3.3.2-r0\nA:x86_64\no:openssl\n\n",
			[]string{"musl 1.2.5-r0 x86_64 musl", "libssl3 3.3.2-r0 x86_64 openssl"}, ""},
		{"no origin: the package is its own source", "P:foo\nV:1-r0\n", []string{"foo 1-r0  foo"}, ""},
		{"CRLF and no final newline", "P:foo\r\nV:1-r0\r\nA:aarch64", []string{"foo 1-r0 aarch64 foo"}, ""},
		{"paragraph without version skipped", "P:foo\n\nP:bar\nV:2-r1\n", []string{"bar 2-r1  bar"}, ""},
		{"several blank lines", "P:a\nV:1\n\n\n\nP:b\nV:2\n", []string{"a 1  a", "b 2  b"}, ""},
		{"empty value", "P:\nV:1\n", nil, ""},
		{"not X:value", "P:foo\nversion 1\n", nil, "line 2"},
		{"long key", "Pkg:foo\n", nil, "not a \"X:value\" line"},
		{"binary", "\x7fELF\x02\x01\x01\x00", nil, "line 1"},
		{"line too long", "P:" + strings.Repeat("x", 2<<20) + "\n", nil, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkgs, err := apk.ParseInstalled(context.Background(), strings.NewReader(tt.in))
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
	if _, err := apk.ParseInstalled(ctx, strings.NewReader(in)); !errors.Is(err, context.Canceled) {
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
		pkgs, err := apk.ParseInstalled(context.Background(), bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.Kind != vuln.KindAPK || p.SourceName == "" || p.SourceVersion != p.Version {
				t.Fatalf("bad package %+v", p)
			}
		}
		again, err := apk.ParseInstalled(context.Background(), bytes.NewReader(b))
		if err != nil || !slices.Equal(pkgs, again) {
			t.Fatalf("not deterministic: %v", err)
		}
	})
}
