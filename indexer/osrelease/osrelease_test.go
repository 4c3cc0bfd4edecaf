package osrelease_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/osrelease"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/vuln"
)

// rootfsLayer opens a shipped root file system tarball as a layer stream.
func rootfsLayer(tb testing.TB, name string) io.Reader {
	tb.Helper()
	file := filepath.Join(testenv.Shared(tb), "testimages", "rootfs", name)
	if _, err := os.Stat(file); err != nil {
		testenv.Missing(tb, "%v", err)
	}
	if strings.HasSuffix(name, ".xz") {
		testenv.Tool(tb, "xz")
		out, err := exec.Command("xz", "-dc", file).Output()
		if err != nil {
			tb.Fatalf("xz -dc %s: %v", file, err)
		}
		return bytes.NewReader(out)
	}
	f, err := os.Open(file)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	return zr
}

// debianBaseLayer opens the base layer of the Debian bookworm test image.
func debianBaseLayer(tb testing.TB) io.Reader {
	tb.Helper()
	dir := filepath.Join(testenv.Images(tb), "debian", "oci")
	var index struct {
		Manifests []struct {
			Digest      string            `json:"digest"`
			Annotations map[string]string `json:"annotations"`
		} `json:"manifests"`
	}
	var manifest struct {
		Layers []struct {
			Digest string `json:"digest"`
		} `json:"layers"`
	}
	blob := func(d string) string { return filepath.Join(dir, "blobs", strings.Replace(d, ":", "/", 1)) }
	readJSON(tb, filepath.Join(dir, "index.json"), &index)
	for _, m := range index.Manifests {
		if m.Annotations["org.opencontainers.image.ref.name"] == "debian-bookworm-min" {
			readJSON(tb, blob(m.Digest), &manifest)
		}
	}
	if len(manifest.Layers) == 0 {
		tb.Fatal("debian-bookworm-min not in the test images")
	}
	f, err := os.Open(blob(manifest.Layers[0].Digest))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { f.Close() })
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	return zr
}

func readJSON(tb testing.TB, p string, v any) {
	tb.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		tb.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		tb.Fatalf("%s: %v", p, err)
	}
}

// TestRealRootFileSystems indexes real root file systems with the
// indexer's walker and this cataloger alone, and merges what the release
// files give.
func TestRealRootFileSystems(t *testing.T) {
	tests := []struct {
		name      string
		layer     func(testing.TB) io.Reader
		files     []string // the release files found, sorted
		want      vuln.Distribution
		ecosystem string
	}{
		{"alpine-3.11.13", func(tb testing.TB) io.Reader { return rootfsLayer(tb, "alpine-minirootfs-3.11.13-x86_64.tar.gz") },
			[]string{"etc/alpine-release", "etc/os-release"},
			vuln.Distribution{ID: "alpine", VersionID: "3.11.13", Version: "3.11.13", Name: "Alpine Linux", PrettyName: "Alpine Linux v3.11"},
			"Alpine:v3.11"},
		{"alpine-3.13.12", func(tb testing.TB) io.Reader { return rootfsLayer(tb, "alpine-minirootfs-3.13.12-x86_64.tar.gz") },
			[]string{"etc/alpine-release", "etc/os-release"},
			vuln.Distribution{ID: "alpine", VersionID: "3.13.12", Version: "3.13.12", Name: "Alpine Linux", PrettyName: "Alpine Linux v3.13"},
			"Alpine:v3.13"},
		{"alpine-3.20.3", func(tb testing.TB) io.Reader { return rootfsLayer(tb, "alpine-minirootfs-3.20.3-x86_64.tar.gz") },
			[]string{"etc/alpine-release", "etc/os-release"},
			vuln.Distribution{ID: "alpine", VersionID: "3.20.3", Version: "3.20.3", Name: "Alpine Linux", PrettyName: "Alpine Linux v3.20"},
			"Alpine:v3.20"},
		// etc/os-release, etc/redhat-release and etc/system-release are
		// symbolic links there; their targets are read.
		{"almalinux-9.3", func(tb testing.TB) io.Reader { return rootfsLayer(tb, "almalinux-9.3-micro-aarch64.tar.xz") },
			[]string{"etc/almalinux-release", "usr/lib/os-release"},
			vuln.Distribution{ID: "almalinux", VersionID: "9.3", Version: "9.3", Name: "AlmaLinux",
				PrettyName: "AlmaLinux 9.3 (Shamrock Pampas Cat)", IDLike: "rhel centos fedora", CPE: "cpe:/o:almalinux:almalinux:9::baseos"},
			"AlmaLinux:9"},
		// Version is the point release of etc/debian_version, which moves
		// with the mirror: checked apart.
		{"debian-bookworm", debianBaseLayer,
			[]string{"etc/debian_version", "usr/lib/os-release"},
			vuln.Distribution{ID: "debian", VersionID: "12", VersionCodename: "bookworm", Name: "Debian GNU/Linux",
				PrettyName: "Debian GNU/Linux 12 (bookworm)"},
			"Debian:12"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ix := indexer.New([]indexer.Cataloger{osrelease.New()})
			li, err := ix.IndexLayer(context.Background(), "sha256:test", tt.layer(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(li.Warnings) > 0 {
				t.Errorf("warnings: %q", li.Warnings)
			}
			slices.SortFunc(li.Entries, func(a, b model.Entry) int {
				return osrelease.Precedence(a.Path) - osrelease.Precedence(b.Path)
			})
			var files []string
			var ds []*vuln.Distribution
			for _, e := range li.Entries {
				files = append(files, e.Path)
				ds = append(ds, e.Distribution)
			}
			slices.Sort(files)
			if !slices.Equal(files, tt.files) {
				t.Errorf("files %q, want %q", files, tt.files)
			}
			got := osrelease.Merge(ds...)
			if got == nil {
				t.Fatal("no distribution")
			}
			if tt.want.ID == "debian" {
				if !regexp.MustCompile(`^12\.\d+$`).MatchString(got.Version) {
					t.Errorf("Version %q, want 12.N from debian_version", got.Version)
				}
				got.Version = ""
			}
			if *got != tt.want {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
			if e := vuln.DistributionEcosystem(got); e != tt.ecosystem {
				t.Errorf("ecosystem %q, want %q", e, tt.ecosystem)
			}
		})
	}
}

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    vuln.Distribution
		wantErr bool
	}{
		{"debian", "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n",
			vuln.Distribution{ID: "debian", VersionID: "12", VersionCodename: "bookworm", PrettyName: "Debian GNU/Linux 12 (bookworm)", Name: "Debian GNU/Linux", Version: "12"}, false},
		{"debian 9: codename from VERSION", "NAME=\"Debian GNU/Linux\"\nVERSION_ID=\"9\"\nVERSION=\"9 (stretch)\"\nID=debian\n",
			vuln.Distribution{ID: "debian", VersionID: "9", VersionCodename: "stretch", Name: "Debian GNU/Linux", Version: "9"}, false},
		{"ubuntu: UBUNTU_CODENAME and the point release", "NAME=\"Ubuntu\"\nVERSION=\"20.04.6 LTS (Focal Fossa)\"\nID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"20.04\"\nUBUNTU_CODENAME=focal\n",
			vuln.Distribution{ID: "ubuntu", VersionID: "20.04", VersionCodename: "focal", Name: "Ubuntu", IDLike: "debian", Version: "20.04.6"}, false},
		{"release names are not codenames", "ID=centos\nVERSION_ID=\"7\"\nVERSION=\"7 (Core)\"\n",
			vuln.Distribution{ID: "centos", VersionID: "7", Version: "7"}, false},
		{"ID lower-cased, CPE", "ID=openSUSE-Leap\nVERSION_ID=15.5\nCPE_NAME=\"cpe:/o:opensuse:leap:15.5\"\n",
			vuln.Distribution{ID: "opensuse-leap", VersionID: "15.5", Version: "15.5", CPE: "cpe:/o:opensuse:leap:15.5"}, false},
		{"quoting and escapes",
			"NAME='It'\\''s \"quoted\"'\nPRETTY_NAME=\"a \\\"b\\\" \\$c \\\\ \\n\"\nID=un\\ quoted\nVERSION_ID=1'.'\"2\"\n",
			vuln.Distribution{ID: "un quoted", Name: `It's "quoted"`, PrettyName: `a "b" $c \ \n`, VersionID: "1.2", Version: "1.2"}, false},
		{"comments, blank lines, CRLF, spaces, junk, later assignment wins",
			"# comment\n\n  ID=first\r\nnot an assignment\n1X=bad key\nID=\"unterminated\nID=alpine\r\nVERSION_ID=3.20.3\n",
			vuln.Distribution{ID: "alpine", VersionID: "3.20.3", Version: "3.20.3"}, false},
		{"unquoted interior spaces kept", "NAME=Foo Linux\n", vuln.Distribution{Name: "Foo Linux"}, false},
		{"no ID: fields kept for Merge to complete", "NAME=\"Some Linux\"\nVERSION_ID=2\n",
			vuln.Distribution{Name: "Some Linux", VersionID: "2", Version: "2"}, false},
		{"empty", "", vuln.Distribution{}, true},
		{"comments only", "# nothing\n", vuln.Distribution{}, true},
		{"binary", "\x7fELF\x02\x01\x01\x00\x00=\x00", vuln.Distribution{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := osrelease.ParseOSRelease([]byte(tt.in))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("no error; got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got != tt.want {
				t.Errorf("got  %+v\nwant %+v", *got, tt.want)
			}
		})
	}
}

func TestVendorFiles(t *testing.T) {
	tests := []struct {
		path, in string
		want     vuln.Distribution
		wantErr  bool
	}{
		{"etc/alpine-release", "3.20.3\n", vuln.Distribution{ID: "alpine", VersionID: "3.20.3", Version: "3.20.3"}, false},
		{"etc/alpine-release", "3.21_alpha20240807\n", vuln.Distribution{ID: "alpine", VersionID: "3.21_alpha20240807", Version: "3.21_alpha20240807"}, false},
		{"etc/alpine-release", "edge\n", vuln.Distribution{}, true},
		{"etc/alpine-release", "", vuln.Distribution{}, true},
		{"etc/debian_version", "12.8\n", vuln.Distribution{ID: "debian", VersionID: "12", Version: "12.8"}, false},
		{"etc/debian_version", "9.13", vuln.Distribution{ID: "debian", VersionID: "9", Version: "9.13"}, false},
		{"etc/debian_version", "bookworm/sid\n", vuln.Distribution{ID: "debian", VersionCodename: "bookworm"}, false},
		{"etc/debian_version", "/sid\n", vuln.Distribution{}, true},
		{"etc/debian_version", "12 8\n", vuln.Distribution{}, true},
		{"etc/almalinux-release", "AlmaLinux release 9.3 (Shamrock Pampas Cat)\n",
			vuln.Distribution{ID: "almalinux", Name: "AlmaLinux", VersionID: "9.3", Version: "9.3", PrettyName: "AlmaLinux release 9.3 (Shamrock Pampas Cat)"}, false},
		{"etc/centos-release", "CentOS Linux release 7.9.2009 (Core)\n",
			vuln.Distribution{ID: "centos", Name: "CentOS Linux", VersionID: "7", Version: "7.9.2009", PrettyName: "CentOS Linux release 7.9.2009 (Core)"}, false},
		{"etc/redhat-release", "Red Hat Enterprise Linux release 9.3 (Plow)\n",
			vuln.Distribution{ID: "rhel", Name: "Red Hat Enterprise Linux", VersionID: "9.3", Version: "9.3", PrettyName: "Red Hat Enterprise Linux release 9.3 (Plow)"}, false},
		{"etc/redhat-release", "Red Hat Enterprise Linux Server release 7.9 (Maipo)\n",
			vuln.Distribution{ID: "rhel", Name: "Red Hat Enterprise Linux Server", VersionID: "7.9", Version: "7.9", PrettyName: "Red Hat Enterprise Linux Server release 7.9 (Maipo)"}, false},
		{"etc/rocky-release", "Rocky Linux release 9.3 (Blue Onyx)\n",
			vuln.Distribution{ID: "rocky", Name: "Rocky Linux", VersionID: "9.3", Version: "9.3", PrettyName: "Rocky Linux release 9.3 (Blue Onyx)"}, false},
		{"etc/fedora-release", "Fedora release 39 (Thirty Nine)\n",
			vuln.Distribution{ID: "fedora", Name: "Fedora", VersionID: "39", Version: "39", PrettyName: "Fedora release 39 (Thirty Nine)"}, false},
		{"etc/system-release", "Amazon Linux release 2023.2.20231113 (Amazon Linux)\n",
			vuln.Distribution{ID: "amzn", Name: "Amazon Linux", VersionID: "2023", Version: "2023.2.20231113", PrettyName: "Amazon Linux release 2023.2.20231113 (Amazon Linux)"}, false},
		{"etc/system-release", "Oracle Linux Server release 8.9\n",
			vuln.Distribution{ID: "ol", Name: "Oracle Linux Server", VersionID: "8.9", Version: "8.9"}, false},
		{"etc/rocky-release", "Some Rebuild release 9.1\n",
			vuln.Distribution{ID: "rocky", Name: "Some Rebuild", VersionID: "9.1", Version: "9.1"}, false},
		{"etc/system-release", "Mystery release 4 (X)\n",
			vuln.Distribution{ID: "mystery", Name: "Mystery", VersionID: "4", Version: "4", PrettyName: "Mystery release 4 (X)"}, false},
		{"etc/redhat-release", "no release word here\n", vuln.Distribution{}, true},
		{"etc/redhat-release", "Fedora release rawhide\n", vuln.Distribution{}, true},
		{"etc/lsb-release", "DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=22.04\nDISTRIB_CODENAME=jammy\nDISTRIB_DESCRIPTION=\"Ubuntu 22.04.3 LTS\"\n",
			vuln.Distribution{ID: "ubuntu", VersionID: "22.04", VersionCodename: "jammy", PrettyName: "Ubuntu 22.04.3 LTS", Version: "22.04.3"}, false},
		{"etc/lsb-release", "DISTRIB_ID=LinuxMint\nDISTRIB_RELEASE=21.2\nDISTRIB_DESCRIPTION=\"Linux Mint Victoria\"\n",
			vuln.Distribution{ID: "linuxmint", VersionID: "21.2", PrettyName: "Linux Mint Victoria"}, false},
		{"etc/lsb-release", "DISTRIB_RELEASE=1\n", vuln.Distribution{}, true},
	}
	c := osrelease.New()
	for _, tt := range tests {
		t.Run(tt.path+" "+tt.in, func(t *testing.T) {
			if !c.Wants(tt.path) {
				t.Fatalf("Wants(%s) false", tt.path)
			}
			res, err := c.Parse(context.Background(), tt.path, strings.NewReader(tt.in))
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), tt.path) {
					t.Fatalf("err %v, want one naming %s; got %+v", err, tt.path, res.Distribution)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Packages) != 0 || res.Distribution == nil {
				t.Fatalf("result %+v", res)
			}
			if *res.Distribution != tt.want {
				t.Errorf("got  %+v\nwant %+v", *res.Distribution, tt.want)
			}
		})
	}
}

func TestWants(t *testing.T) {
	c := osrelease.New()
	for p, want := range map[string]bool{
		"etc/os-release": true, "usr/lib/os-release": true, "etc/alpine-release": true,
		"etc/debian_version": true, "etc/lsb-release": true, "etc/system-release": true,
		"etc/system-release-cpe": false, "/etc/os-release": false, "etc/os-release.d/x": false,
		"usr/share/redhat-release": false, "root/etc/os-release": false,
	} {
		if got := c.Wants(p); got != want {
			t.Errorf("Wants(%q) = %v, want %v", p, got, want)
		}
	}
}

func TestTooLarge(t *testing.T) {
	big := "ID=debian\n" + strings.Repeat("# padding\n", osrelease.MaxSize/10)
	_, err := osrelease.New().Parse(context.Background(), osrelease.EtcOSRelease, strings.NewReader(big))
	if err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err %v, want a size error", err)
	}
}

func TestMerge(t *testing.T) {
	osr := &vuln.Distribution{ID: "debian", VersionID: "12", VersionCodename: "bookworm", Name: "Debian GNU/Linux", Version: "12"}
	tests := []struct {
		name string
		in   []*vuln.Distribution
		want *vuln.Distribution
	}{
		{"none", nil, nil},
		{"nils", []*vuln.Distribution{nil, nil}, nil},
		{"vendor refines Version", []*vuln.Distribution{osr, {ID: "debian", VersionID: "12", Version: "12.8"}},
			&vuln.Distribution{ID: "debian", VersionID: "12", VersionCodename: "bookworm", Name: "Debian GNU/Linux", Version: "12.8"}},
		{"input not modified", []*vuln.Distribution{osr}, osr},
		{"less precise Version does not replace", []*vuln.Distribution{
			{ID: "ubuntu", VersionID: "22.04", Version: "22.04.3"}, {ID: "ubuntu", VersionID: "22.04", Version: "22.04", VersionCodename: "jammy"}},
			&vuln.Distribution{ID: "ubuntu", VersionID: "22.04", Version: "22.04.3", VersionCodename: "jammy"}},
		{"another distribution's file ignored", []*vuln.Distribution{
			{ID: "ubuntu", VersionID: "22.04", Version: "22.04.3"}, {ID: "debian", VersionCodename: "bookworm"}},
			&vuln.Distribution{ID: "ubuntu", VersionID: "22.04", Version: "22.04.3"}},
		{"os-release without ID completed", []*vuln.Distribution{nil, {Name: "X", VersionID: "3"}, {ID: "alpine", VersionID: "3.1", Version: "3.1"}},
			&vuln.Distribution{ID: "alpine", Name: "X", VersionID: "3", Version: "3.1"}},
		{"etc wins over usr/lib", []*vuln.Distribution{{ID: "alpine", VersionID: "3.20.3", PrettyName: "new"}, {ID: "alpine", VersionID: "3.19.0", PrettyName: "old", Name: "Alpine Linux"}},
			&vuln.Distribution{ID: "alpine", VersionID: "3.20.3", PrettyName: "new", Name: "Alpine Linux"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := *osr
			got := osrelease.Merge(tt.in...)
			if *osr != before {
				t.Fatal("Merge modified its input")
			}
			if (got == nil) != (tt.want == nil) || (got != nil && *got != *tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
	if osrelease.Precedence(osrelease.EtcOSRelease) >= osrelease.Precedence(osrelease.LibOSRelease) ||
		osrelease.Precedence(osrelease.LibOSRelease) >= osrelease.Precedence("etc/debian_version") {
		t.Error("Precedence: etc/os-release > usr/lib/os-release > vendor files")
	}
}

// fuzzPaths are the wanted paths, one of each parser.
var fuzzPaths = []string{osrelease.EtcOSRelease, "etc/alpine-release", "etc/debian_version", "etc/redhat-release", "etc/centos-release", "etc/lsb-release"}

func FuzzOSRelease(f *testing.F) {
	for _, name := range []string{"alpine-minirootfs-3.20.3-x86_64.tar.gz", "almalinux-9.3-micro-aarch64.tar.xz"} {
		if _, err := os.Stat(filepath.Join(testenv.Shared(f), "testimages", "rootfs", name)); err != nil {
			continue
		}
		li, err := indexer.New([]indexer.Cataloger{collector{}}).IndexLayer(context.Background(), "seed", rootfsLayer(f, name))
		if err != nil {
			f.Fatal(err)
		}
		for _, e := range li.Entries {
			for i, p := range fuzzPaths {
				if p == e.Path || (e.Path == osrelease.LibOSRelease && i == 0) || (strings.HasSuffix(e.Path, "-release") && p == "etc/redhat-release") {
					f.Add([]byte(e.Distribution.Name), byte(i))
				}
			}
		}
	}
	f.Fuzz(func(t *testing.T, b []byte, which byte) {
		p := fuzzPaths[int(which)%len(fuzzPaths)]
		res, err := osrelease.New().Parse(context.Background(), p, bytes.NewReader(b))
		if err != nil {
			return
		}
		d := res.Distribution
		if d == nil {
			t.Fatal("no distribution and no error")
		}
		if d.ID != strings.ToLower(d.ID) {
			t.Fatalf("ID %q not lower-case", d.ID)
		}
		if m := osrelease.Merge(d, d); *m != *d {
			t.Fatalf("Merge(d, d) = %+v, want %+v", m, d)
		}
	})
}

// collector is a cataloger that returns the content of each release file
// in Distribution.Name, to seed the fuzz target with the real files.
type collector struct{}

func (collector) Name() string        { return "collector" }
func (collector) Wants(p string) bool { return osrelease.New().Wants(p) }
func (collector) Parse(_ context.Context, _ string, r io.Reader) (indexer.Result, error) {
	b, err := io.ReadAll(r)
	return indexer.Result{Distribution: &vuln.Distribution{Name: string(b)}}, err
}
