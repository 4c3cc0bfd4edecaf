package dpkg_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/dpkg"
	"github.com/lapps/lapps/indexer/internal/hostile"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// wantedFiles returns the files of a gzip layer blob that the cataloger
// wants, by their clean path, choosing them as the indexer's walker does.
func wantedFiles(tb testing.TB, blobPath string, c indexer.Cataloger) map[string][]byte {
	tb.Helper()
	f, err := os.Open(blobPath)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string][]byte{}
	tr := tar.NewReader(zr)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			tb.Fatal(err)
		}
		if name := indexer.CleanPath(hdr.Name); hdr.Typeflag == tar.TypeReg && c.Wants(name) {
			if out[name], err = io.ReadAll(tr); err != nil {
				tb.Fatal(err)
			}
		}
	}
}

// finalStatus returns var/lib/dpkg/status as the last layer of a tagged
// image that writes it leaves it.
func finalStatus(tb testing.TB, tag string) []byte {
	tb.Helper()
	var status []byte
	for _, b := range testenv.LayerBlobs(tb, tag) {
		if s, ok := wantedFiles(tb, b, dpkg.New())[dpkg.StatusPath]; ok {
			status = s
		}
	}
	if status == nil {
		tb.Fatalf("%s: no %s", tag, dpkg.StatusPath)
	}
	return status
}

// dpkgQuery lists the installed packages of a status file with dpkg
// itself: "name version arch source source-version" lines.
func dpkgQuery(t *testing.T, status []byte) []string {
	t.Helper()
	testenv.Tool(t, "dpkg-query")
	admin := t.TempDir()
	if err := os.WriteFile(filepath.Join(admin, "status"), status, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("dpkg-query", "--admindir="+admin, "-W",
		"-f=${db:Status-Status} ${Package} ${Version} ${Architecture} ${source:Package} ${source:Version}\n").Output()
	if err != nil {
		t.Fatalf("dpkg-query: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		if rest, ok := strings.CutPrefix(l, "installed "); ok {
			lines = append(lines, rest)
		}
	}
	return lines
}

func format(p vuln.Package) string {
	return fmt.Sprintf("%s %s %s %s %s", p.Name, p.Version, p.Arch, p.SourceName, p.SourceVersion)
}

func TestRealImages(t *testing.T) {
	// Spot checks that do not depend on the mirror's point release: the
	// source package of a binary, and whether the binary is a binNMU
	// ("+b1"), whose source version lacks the suffix.
	type source struct {
		name   string
		binNMU bool
	}
	tests := []struct {
		tag   string
		count int
		want  map[string]source
	}{
		{"debian-bookworm-min", 88, map[string]source{"libc6": {"glibc", false}, "bash": {"bash", true}, "libgcc-s1": {"gcc-12", false}}},
		{"debian-bookworm-mid", 142, map[string]source{"libc6": {"glibc", false}}},
		{"debian-bookworm-fat", 576, map[string]source{"fzf": {"fzf", true}, "libc6": {"glibc", false}}},
	}
	c := dpkg.New()
	for _, tt := range tests {
		t.Run(tt.tag, func(t *testing.T) {
			status := finalStatus(t, tt.tag)
			res, err := c.Parse(context.Background(), dpkg.StatusPath, bytes.NewReader(status))
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Packages) != tt.count {
				t.Errorf("%d packages, want %d", len(res.Packages), tt.count)
			}
			var got, nameVersions []string
			seen := map[string]bool{}
			for _, p := range res.Packages {
				if p.Kind != vuln.KindDeb || p.DBPath != dpkg.StatusPath || p.PURL != "" || p.Layer != "" || p.Arch == "" {
					t.Errorf("%s: kind %q, db path %q, purl %q, layer %q, arch %q", p.Name, p.Kind, p.DBPath, p.PURL, p.Layer, p.Arch)
				}
				got = append(got, format(p))
				nameVersions = append(nameVersions, p.Name+" "+p.Version)
				if w, ok := tt.want[p.Name]; ok {
					seen[p.Name] = true
					wantVersion := p.Version
					if w.binNMU {
						i := strings.LastIndex(p.Version, "+b")
						if i < 0 {
							t.Fatalf("%s %s: not a binNMU", p.Name, p.Version)
						}
						wantVersion = p.Version[:i]
					}
					if p.SourceName != w.name || p.SourceVersion != wantVersion {
						t.Errorf("%s: source %s %s, want %s %s", p.Name, p.SourceName, p.SourceVersion, w.name, wantVersion)
					}
				}
			}
			if len(seen) != len(tt.want) {
				t.Errorf("spot-checked packages missing: found %v of %v", seen, tt.want)
			}
			// The list build-debian.sh wrote from the same status file.
			list := testenv.Lines(t, filepath.Join(testenv.Images(t), "debian", tt.tag+".packages"))
			slices.Sort(list)
			slices.Sort(nameVersions)
			if !slices.Equal(nameVersions, list) {
				t.Errorf("packages differ from %s.packages", tt.tag)
			}
			// dpkg's own reading of the same file, sources included.
			want := dpkgQuery(t, status)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				for _, g := range got {
					if !slices.Contains(want, g) {
						t.Errorf("got %q, not from dpkg-query", g)
					}
				}
				for _, w := range want {
					if !slices.Contains(got, w) {
						t.Errorf("dpkg-query has %q", w)
					}
				}
			}
		})
	}
}

// TestDistrolessStatusD splits a real status file into the per-package
// files without Status lines that distroless images keep in status.d/,
// beside their .md5sums lists, and reads them back.
func TestDistrolessStatusD(t *testing.T) {
	status := finalStatus(t, "debian-bookworm-min")
	c := dpkg.New()
	whole, err := c.Parse(context.Background(), dpkg.StatusPath, bytes.NewReader(status))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, para := range strings.Split(strings.TrimSpace(string(status)), "\n\n") {
		var name string
		var lines []string
		for _, l := range strings.Split(para, "\n") {
			if !strings.HasPrefix(l, "Status:") {
				lines = append(lines, l)
			}
			if n, ok := strings.CutPrefix(l, "Package: "); ok {
				name = n
			}
		}
		p := dpkg.StatusDir + "/" + name
		if !c.Wants(p) || c.Wants(p+".md5sums") {
			t.Fatalf("Wants(%s) false, or Wants(%s.md5sums) true", p, p)
		}
		res, err := c.Parse(context.Background(), p, strings.NewReader(strings.Join(lines, "\n")+"\n"))
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Packages) != 1 || res.Packages[0].DBPath != p {
			t.Fatalf("%s: %+v", p, res.Packages)
		}
		got = append(got, format(res.Packages[0]))
	}
	var want []string
	for _, p := range whole.Packages {
		want = append(want, format(p))
	}
	if !slices.Equal(got, want) {
		t.Errorf("status.d gives\n%q\nstatus gives\n%q", got, want)
	}
}

func TestWants(t *testing.T) {
	c := dpkg.New()
	for p, want := range map[string]bool{
		"var/lib/dpkg/status":                      true,
		"var/lib/dpkg/status.d/base-files":         true,
		"var/lib/dpkg/status.d/libssl3":            true,
		"var/lib/dpkg/status.d/libssl3.md5sums":    false,
		"var/lib/dpkg/status.d/.hidden":            false,
		"var/lib/dpkg/status-old":                  false,
		"var/lib/dpkg/available":                   false,
		"var/lib/dpkg/status.d/sub/dir":            false,
		"usr/var/lib/dpkg/status":                  false,
		"var/lib/dpkg/status.d":                    false,
		"var/lib/dpkg/info/python3-requests.list":  true,
		"var/lib/dpkg/info/libc6:amd64.list":       true,
		"var/lib/dpkg/info/libstdc++6:amd64.list":  true,
		"var/lib/dpkg/info/libc6:amd64.md5sums":    false,
		"var/lib/dpkg/info/libc6:amd64.list-new":   false,
		"var/lib/dpkg/info/format":                 false,
		"var/lib/dpkg/info/.list":                  false,
		"var/lib/dpkg/info/:amd64.list":            false,
		"var/lib/dpkg/info/libc6:.list":            false,
		"var/lib/dpkg/info/sub/libc6.list":         false,
		"var/lib/dpkg/triggers/libc6.list":         false,
		"usr/var/lib/dpkg/info/libc6.list":         false,
		"var/lib/dpkg/info/libc6:amd64:i386.list":  false,
		"var/lib/dpkg/info/lib c6.list":            false,
		"var/lib/dpkg/info/libc6.list.dpkg-backup": false,
		"var/lib/dpkg/status.d/libc6.list":         true, // a status.d file of a package named "libc6.list"
	} {
		if got := c.Wants(p); got != want {
			t.Errorf("Wants(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string // format()
		wantErr string
	}{
		{"empty", "", nil, ""},
		{"installed, with continuation lines",
			"Package: libc6\nStatus: install ok installed\nArchitecture: amd64\nSource: glibc\nVersion: 2.36-9+deb12u4\nDescription: GNU C Library\n Contains the standard libraries.\n .\n Source: not-a-field\n",
			[]string{"libc6 2.36-9+deb12u4 amd64 glibc 2.36-9+deb12u4"}, ""},
		{"source with version", "Package: libgcc-s1\nVersion: 12.2.0-14\nSource: gcc-12 (12.2.0-14+b1)\n",
			[]string{"libgcc-s1 12.2.0-14  gcc-12 12.2.0-14+b1"}, ""},
		{"no source", "Package: bash\nVersion: 5.2.15-2+b2\n", []string{"bash 5.2.15-2+b2  bash 5.2.15-2+b2"}, ""},
		{"epoch as written", "Package: perl\nVersion: 1:5.36.0-7\nSource: perl (1:5.36.0-7)\n", []string{"perl 1:5.36.0-7  perl 1:5.36.0-7"}, ""},
		{"malformed source keeps its name", "Package: a\nVersion: 1\nSource: b (2\n", []string{"a 1  b 1"}, ""},
		{"states",
			"Package: a\nStatus: install ok installed\nVersion: 1\n\n" +
				"Package: b\nStatus: hold ok installed\nVersion: 1\n\n" +
				"Package: c\nStatus: deinstall ok config-files\nVersion: 1\n\n" +
				"Package: d\nStatus: purge ok not-installed\nVersion: 1\n\n" +
				"Package: e\nStatus: install ok half-installed\nVersion: 1\n\n" +
				"Package: f\nStatus: install ok unpacked\nVersion: 1\n\n" +
				"Package: g\nStatus: install ok triggers-pending\nVersion: 1\n\n" +
				"Package: h\nStatus: deinstall ok installed\nVersion: 1\n\n" +
				"Package: i\nStatus: garbage\nVersion: 1\n",
			[]string{"a 1  a 1", "b 1  b 1", "f 1  f 1", "g 1  g 1", "h 1  h 1"}, ""},
		{"field names are case-insensitive; CRLF", "package: a\r\nversion: 1\r\narchitecture: all\r\n", []string{"a 1 all a 1"}, ""},
		{"paragraphs without name or version skipped", "Version: 1\n\nPackage: b\n\nPackage: c\nVersion: 2\n", []string{"c 2  c 2"}, ""},
		{"whitespace-only line separates", "Package: a\nVersion: 1\n  \t\nPackage: b\nVersion: 2", []string{"a 1  a 1", "b 2  b 2"}, ""},
		{"comment before a paragraph", "# written by hand\nPackage: a\nVersion: 1\n", []string{"a 1  a 1"}, ""},
		{"continuation outside a paragraph", " Package: a\n", nil, "line 1: continuation"},
		{"not a field", "Package: a\nVersion 1\n", nil, "line 2: not a field"},
		{"space in field name", "Package: a\nMy Field: 1\n", nil, "not a field"},
		{"binary", "\x00\x01\x02\x03", nil, "not a field"},
		{"line too long", "Package: " + strings.Repeat("x", 2<<20) + "\n", nil, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkgs, err := dpkg.ParseStatus(context.Background(), strings.NewReader(tt.in))
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
				got = append(got, format(p))
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestParseSource(t *testing.T) {
	tests := []struct {
		in, name, version string
		ok                bool
	}{
		{"", "", "", true},
		{"glibc", "glibc", "", true},
		{"gcc-12 (12.2.0-14)", "gcc-12", "12.2.0-14", true},
		{"  perl  (1:5.36.0-7) ", "perl", "1:5.36.0-7", true},
		{"a (1", "", "", false},
		{"a ()", "", "", false},
		{"a b", "", "", false},
		{"a (1 2)", "", "", false},
	}
	for _, tt := range tests {
		name, version, err := dpkg.ParseSource(tt.in)
		if (err == nil) != tt.ok || name != tt.name || version != tt.version {
			t.Errorf("ParseSource(%q) = %q, %q, %v; want %q, %q, ok %v", tt.in, name, version, err, tt.name, tt.version, tt.ok)
		}
	}
}

func TestParseErrorNamesPath(t *testing.T) {
	_, err := dpkg.New().Parse(context.Background(), dpkg.StatusPath, strings.NewReader("garbage\n"))
	if err == nil || !strings.Contains(err.Error(), dpkg.StatusPath) {
		t.Fatalf("err %v, want one naming the path", err)
	}
}

func TestCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	in := strings.Repeat("Package: a\nVersion: 1\n\n", 10000)
	if _, err := dpkg.ParseStatus(ctx, strings.NewReader(in)); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func BenchmarkParseStatusFat(b *testing.B) {
	status := finalStatus(b, "debian-bookworm-fat")
	b.SetBytes(int64(len(status)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := dpkg.ParseStatus(context.Background(), bytes.NewReader(status)); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzDpkgStatus(f *testing.F) {
	if os.Getenv("LAPPS_TEST_IMAGES") != "" {
		f.Add(finalStatus(f, "debian-bookworm-min"))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		pkgs, err := dpkg.ParseStatus(context.Background(), bytes.NewReader(b))
		if err != nil {
			return
		}
		for _, p := range pkgs {
			if p.Name == "" || p.Version == "" || p.Kind != vuln.KindDeb || p.SourceName == "" || p.SourceVersion == "" {
				t.Fatalf("bad package %+v", p)
			}
		}
		again, err := dpkg.ParseStatus(context.Background(), bytes.NewReader(b))
		if err != nil || !reflect.DeepEqual(pkgs, again) {
			t.Fatalf("not deterministic: %v", err)
		}
	})
}

// TestBudget runs the cataloger through the walker on generated layers
// that cross the layer's budget: a status file of a million packages, a
// file list of a million files. Both are refused as they are read.
func TestBudget(t *testing.T) {
	ix := indexer.New([]indexer.Cataloger{dpkg.New()}, indexer.WithLimits(indexer.Limits{Packages: 1000, Entries: 5000}))
	list := hostile.Records("var/lib/dpkg/info/big.list", "/.\n", 1_000_000, func(i int) string { return fmt.Sprintf("/usr/share/f%07d\n", i) }, "")
	for _, tc := range []struct {
		name  string
		layer io.Reader
		key   string
	}{
		{"status", hostile.Files(hostile.DpkgStatus(1_000_000)), "limits.packages"},
		{"status.d", hostile.Many(1001, func(i int) hostile.File {
			return hostile.Bytes(fmt.Sprintf("var/lib/dpkg/status.d/p%d", i), []byte(fmt.Sprintf("Package: p%d\nVersion: 1\n", i)))
		}), "limits.packages"},
		{"file list", hostile.Files(list), "limits.layer_entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ix.IndexLayer(context.Background(), "sha256:l", tc.layer)
			var le *limits.Error
			if !errors.As(err, &le) || le.Key != tc.key {
				t.Fatalf("error %v, want a limit of %s", err, tc.key)
			}
		})
	}
	li, err := ix.IndexLayer(context.Background(), "sha256:l", hostile.Files(hostile.DpkgStatus(1000)))
	if err != nil || len(li.Entries) != 1 || len(li.Entries[0].Packages) != 1000 {
		t.Fatalf("1000 packages: %v", err)
	}
}
