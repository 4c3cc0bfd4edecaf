package service

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

// walkImage calls fn for every regular file of every layer of ref.
func walkImage(t *testing.T, ref string, fn func(name string, hdr *tar.Header, r io.Reader)) {
	t.Helper()
	ctx := context.Background()
	img, err := image.Open(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	defer img.Close()
	for _, ly := range img.Layers() {
		rc, err := ly.Open(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			hdr, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if hdr.Typeflag == tar.TypeReg {
				fn(strings.TrimPrefix(path.Clean("/"+hdr.Name), "/"), hdr, tr)
			}
		}
		rc.Close()
	}
}

// TestLanguagePackagesAndFindings scans debian-bookworm-mid, whose /app
// layer holds a Go binary built with old modules and an old toolchain, an
// npm application, a Python virtual environment and Java archives, and
// checks the packages of each ecosystem against what the image holds and
// the Go findings against the independent oracle in ../shared/checks.
func TestLanguagePackagesAndFindings(t *testing.T) {
	images := testenv.Images(t)
	v := testenv.VulnData(t)
	goTool := testenv.Tool(t, "go")
	ref := "oci:" + filepath.Join(images, "debian", "oci") + ":debian-bookworm-mid"

	// What the image holds, counted here independently of the catalogers.
	var npmFiles, pyFiles, jars int
	pyMeta := regexp.MustCompile(`/(site|dist)-packages/[^/]+\.(dist-info/METADATA|egg-info/PKG-INFO|egg-info)$`)
	npmPkg := regexp.MustCompile(`(^|/)node_modules/(@[^/]+/)?[^/@.][^/]*/package\.json$`)
	bin := filepath.Join(t.TempDir(), "vulnapp")
	walkImage(t, ref, func(name string, hdr *tar.Header, r io.Reader) {
		switch {
		case npmPkg.MatchString(name):
			b, _ := io.ReadAll(r)
			if strings.Contains(string(b), `"version"`) && !strings.Contains(string(b), `"private": true`) {
				npmFiles++
			}
		case pyMeta.MatchString("/" + name):
			pyFiles++
		case strings.HasSuffix(name, ".jar"):
			jars++
		case name == "app/bin/vulnapp":
			f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(f, r)
			f.Close()
		}
	})

	l, _ := newTestLocal(t)
	l.sources = []updater.Source{
		{Name: "go-vulndb", Type: "osv", Path: filepath.Join(v, "golang-vulndb", "data", "osv")},
		{Name: "ghsa", Type: "osv", Path: filepath.Join(v, "github-advisory-database", "advisories")},
		{Name: "pypa", Type: "osv", Path: filepath.Join(v, "pypa-advisory-database", "vulns")},
	}
	ctx := context.Background()
	if res, err := l.UpdateVulnDB(ctx, nil); err != nil || res[0].Error != "" {
		t.Fatalf("update: %v %+v", err, res)
	}
	r, err := l.ScanImage(ctx, ScanRequest{Image: ref})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	var apps []string
	for _, p := range append(append([]vuln.Package(nil), r.Packages...), r.OSOwnedPackages...) {
		if p.Application != "" {
			// The project's own package.json, listed as the application.
			apps = append(apps, p.Name+"@"+p.Version+" "+p.Application)
			continue
		}
		count[p.Kind]++
	}
	if len(apps) != 1 || apps[0] != "testimage-node-app@1.0.0 "+vuln.ApplicationUnpublished {
		t.Errorf("applications %q, want the private testimage-node-app@1.0.0", apps)
	}
	if count[vuln.KindNPM] != npmFiles || npmFiles != 68 {
		t.Errorf("npm packages %d, package.json files %d (want 68)", count[vuln.KindNPM], npmFiles)
	}
	if count[vuln.KindPyPI] != pyFiles || pyFiles == 0 {
		t.Errorf("python packages %d, metadata files %d", count[vuln.KindPyPI], pyFiles)
	}
	if count[vuln.KindMaven] < jars || jars == 0 {
		t.Errorf("maven packages %d from %d jars", count[vuln.KindMaven], jars)
	}

	// The Go binary: its modules and toolchain as `go version -m` gives
	// them, and the findings the oracle computes from the Go vulnerability
	// database by semantic-version order.
	out, err := exec.Command(goTool, "version", "-m", bin).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	wantMods := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) >= 3 && f[0] == "dep" {
			wantMods[f[1]] = f[2]
		}
	}
	gotMods := map[string]string{}
	for _, p := range r.Packages {
		if p.Kind == vuln.KindGo && p.DBPath == "app/bin/vulnapp" && p.Name != "example.com/vulnapp" {
			gotMods[p.Name] = p.Version
		}
	}
	if gotMods["stdlib"] != "1.21.0" {
		t.Errorf("stdlib of vulnapp: %q, want 1.21.0 (go1.21.0)", gotMods["stdlib"])
	}
	delete(gotMods, "stdlib")
	if len(gotMods) != len(wantMods) {
		t.Errorf("modules %v, want %v", gotMods, wantMods)
	}
	for m, ver := range wantMods {
		if gotMods[m] != ver {
			t.Errorf("module %s: %q, want %q", m, gotMods[m], ver)
		}
	}
	oracle := exec.Command("python3", filepath.Join(testenv.Shared(t), "checks", "oracle_go.py"), bin, filepath.Join(v, "golang-vulndb", "data", "osv"))
	oracleOut, err := oracle.Output()
	if err != nil {
		t.Fatalf("oracle_go.py: %v", err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(oracleOut)), "\n") {
		if line != "" {
			want = append(want, line)
		}
	}
	var got []string
	for _, f := range r.Vulnerabilities {
		if f.PackageKind != vuln.KindGo || f.DBPath != "app/bin/vulnapp" {
			continue
		}
		for _, id := range append([]string{f.ID}, f.Aliases...) {
			if strings.HasPrefix(id, "GO-") {
				got = append(got, id+" "+f.Package)
			}
		}
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("Go findings of vulnapp differ from the oracle:\n got %d: %v\nwant %d: %v", len(got), got, len(want), want)
	}
	// Checked by hand: GO-2021-0113 (CVE-2021-38561), golang.org/x/text
	// before 0.3.7, out-of-bounds read in language.ParseAcceptLanguage;
	// GO-2023-2041 (CVE-2023-39318), html/template before 1.21.1.
	for _, c := range []struct{ id, pkg, fixed string }{
		{"GO-2021-0113", "golang.org/x/text", "0.3.7"},
		{"GO-2023-2041", "stdlib", "1.21.1"},
	} {
		found := false
		for _, f := range r.Vulnerabilities {
			if f.Package == c.pkg && f.DBPath == "app/bin/vulnapp" && (f.ID == c.id || contains(f.Aliases, c.id)) {
				found = true
				if f.FixedVersion != c.fixed {
					t.Errorf("%s %s: fixed %q, want %q", c.id, c.pkg, f.FixedVersion, c.fixed)
				}
			}
		}
		if !found {
			t.Errorf("%s on %s not found", c.id, c.pkg)
		}
	}
	// Severity enrichment through the store: the Go database rates
	// nothing; GO-2022-1059 (CVE-2022-32149) on golang.org/x/text takes
	// "high" from GHSA-69ch-w2m2-3vjp, whose record names the package
	// golang.org/x/text/language and so is not matched itself.
	enriched := false
	for _, f := range r.Vulnerabilities {
		if f.Package == "golang.org/x/text" && (f.ID == "CVE-2022-32149" || contains(f.Aliases, "CVE-2022-32149")) {
			enriched = true
			if f.Severity != vuln.SeverityHigh || f.SeveritySource != "ghsa" {
				t.Errorf("CVE-2022-32149 on golang.org/x/text: severity %s from %q, want high from ghsa", f.Severity, f.SeveritySource)
			}
		}
	}
	if !enriched {
		t.Error("CVE-2022-32149 on golang.org/x/text not found")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
