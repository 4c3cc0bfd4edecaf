// Package rockytest holds the end-to-end test of the csaf source on the
// Rocky Linux 9.6 Minimal package set. It is a package of its own so that
// the fuzz test of the parser is not instrumented with the whole service.
package rockytest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/csaf"
	"github.com/lapps/lapps/vuln"
)

// rocky9Parser is the csaf parser keeping the Rocky Linux:9 records, plus
// the records of a generated VEX document (extraDoc), so that the test
// database holds what the Rocky 9.6 scan can match.
type rocky9Parser struct{}

var extraDoc string // path of the generated document, set by the test

func (rocky9Parser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	recs, err := csaf.Parser{}.Parse(ctx, feed)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(extraDoc)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	more, err := csaf.ParseDocument(f)
	if err != nil {
		return nil, err
	}
	out := recs[:0]
	for _, r := range append(recs, more...) {
		if r.Ecosystem == "Rocky Linux:9" {
			out = append(out, r)
		}
	}
	return out, nil
}

func init() { updater.Register("csaf-rocky9-test", rocky9Parser{}) }

// need skips the test (fails it under CI) when a tool is missing.
func need(t *testing.T, name string, args ...string) {
	t.Helper()
	if err := exec.Command(name, args...).Run(); err != nil {
		testenv.Missing(t, "%s %v is not usable (%v): install rpm-build, rpm, python3-rpm and zstd", name, args, err)
	}
}

// TestRockyMinimalMatchesOracle builds an rpm database carrying the exact
// NEVRAs of the Rocky Linux 9.6 Minimal image (empty packages made with
// rpmbuild, recorded with rpm --justdb), scans it as dir:ROOT against the
// CSAF data (CIQ's advisories and VEX, plus a generated VEX document with
// a known_not_affected and a known_affected statement for installed
// packages), and requires the findings and the not-affected statements to
// equal those of testdata/rocky_oracle.py (python3-rpm's labelCompare over
// the same documents, no code shared).
func TestRockyMinimalMatchesOracle(t *testing.T) {
	feed := testenv.VulnData(t, "ctrliq-advisories", "ctrliq-advisories-csaf-full.tar.zst")
	list := testenv.VulnData(t, "rocky-package-lists", "rocky-9.6.20250531-minimal-x86_64.packages")
	need(t, "rpmbuild", "--version")
	need(t, "rpm", "--version")
	need(t, "zstd", "--version")
	need(t, "/usr/bin/python3", "-c", "import rpm")
	ctx := context.Background()
	dir := t.TempDir()

	pkgs := readList(t, list)
	root := buildRoot(t, dir, pkgs)
	extraDoc = filepath.Join(dir, "cve-2000-99901.json")
	writeExtra(t, extraDoc)

	// The oracle.
	out, err := exec.Command("/usr/bin/python3", "../../testdata/rocky_oracle.py", feed, list, extraDoc).Output()
	if err != nil {
		t.Fatalf("oracle: %v", err)
	}
	var wantFindings, wantNA []string
	ids := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(l)
		switch {
		case len(f) == 3 && f[0] == "FINDING":
			wantFindings = append(wantFindings, f[1]+" "+f[2])
			ids[f[1]] = true
		case len(f) >= 3 && f[0] == "NOTAFFECTED":
			wantNA = append(wantNA, strings.Join(f[1:], " "))
		default:
			t.Fatalf("oracle line %q", l)
		}
	}
	if len(wantFindings) < 50 || len(wantNA) == 0 {
		t.Fatalf("oracle: %d findings, %d not affected: too few to test anything", len(wantFindings), len(wantNA))
	}

	st, err := sqlite.Open(ctx, filepath.Join(dir, "lapps.db"))
	if err != nil {
		t.Fatal(err)
	}
	l := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources(nil))
	defer l.Close()
	ref := "dir:" + root
	before, err := l.ScanImage(ctx, service.ScanRequest{Image: ref})
	if err != nil {
		t.Fatal(err)
	}
	// Latency is that of a scan whose layer index is cached, before and
	// after the data is loaded (logged, not asserted).
	start := time.Now()
	if _, err := l.ScanImage(ctx, service.ScanRequest{Image: ref}); err != nil {
		t.Fatal(err)
	}
	without := time.Since(start)
	if got := countKind(before.Packages, vuln.KindRPM); got != len(pkgs) {
		t.Fatalf("scan found %d rpm packages, the list has %d", got, len(pkgs))
	}
	if e := vuln.DistributionEcosystem(before.Distribution); e != "Rocky Linux:9" {
		t.Fatalf("distribution ecosystem %q", e)
	}
	start = time.Now()
	if _, err := updater.Import(ctx, st, "csaf-rocky9-test", feed, "csaf-rocky"); err != nil {
		t.Fatal(err)
	}
	t.Logf("import of the Rocky Linux:9 CSAF records: %s", time.Since(start))
	start = time.Now()
	rep, err := l.ScanImage(ctx, service.ScanRequest{Image: ref})
	if err != nil {
		t.Fatal(err)
	}
	with := time.Since(start)
	t.Logf("scan latency: %s without CSAF data, %s with (ratio %.2f)", without, with, float64(with)/float64(without))

	var got []string
	for _, f := range rep.Vulnerabilities {
		n := 0
		for _, id := range append([]string{f.ID}, f.Aliases...) {
			if ids[id] {
				got = append(got, id+" "+f.Package)
				n++
			}
		}
		if n == 0 {
			t.Errorf("finding %s %s %s: no oracle id", f.ID, f.Package, f.InstalledVersion)
		}
	}
	slices.Sort(got)
	got = slices.Compact(got)
	slices.Sort(wantFindings)
	if !slices.Equal(got, wantFindings) {
		t.Errorf("findings differ from the oracle:\n only lapps: %v\n only oracle: %v", minus(got, wantFindings), minus(wantFindings, got))
	}
	var gotNA []string
	for _, n := range rep.NotAffected {
		gotNA = append(gotNA, strings.TrimSpace(n.ID+" "+n.Package+" "+n.Justification))
	}
	slices.Sort(gotNA)
	slices.Sort(wantNA)
	if !slices.Equal(gotNA, wantNA) {
		t.Errorf("not_affected = %v, oracle %v", gotNA, wantNA)
	}
	t.Logf("%d findings and %d not-affected statements equal the oracle's", len(got), len(gotNA))
}

func minus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if !slices.Contains(b, x) {
			out = append(out, x)
		}
	}
	return out
}

func countKind(ps []vuln.Package, kind string) int {
	n := 0
	for _, p := range ps {
		if p.Kind == kind {
			n++
		}
	}
	return n
}

type nevra struct{ name, epoch, version, release, arch string }

func readList(t *testing.T, path string) []nevra {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []nevra
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), "|")
		if len(p) < 5 || p[0] == "gpg-pubkey" {
			// gpg-pubkey is an imported signing key, not a package: rpm
			// --import makes it and the indexer does not list it.
			continue
		}
		if p[1] == "(none)" {
			p[1] = ""
		}
		out = append(out, nevra{p[0], p[1], p[2], p[3], p[4]})
	}
	if err := sc.Err(); err != nil || len(out) == 0 {
		t.Fatalf("%s: %d packages, %v", path, len(out), err)
	}
	return out
}

// buildRoot makes ROOT with an os-release of Rocky Linux 9.6 and an rpm
// database holding one empty package per NEVRA.
func buildRoot(t *testing.T, dir string, pkgs []nevra) string {
	root := filepath.Join(dir, "root")
	rpms := filepath.Join(dir, "rpms")
	for _, d := range []string{filepath.Join(root, "etc"), rpms} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	osRelease := `NAME="Rocky Linux"
VERSION="9.6 (Blue Onyx)"
ID="rocky"
ID_LIKE="rhel centos fedora"
VERSION_ID="9.6"
PLATFORM_ID="platform:el9"
PRETTY_NAME="Rocky Linux 9.6 (Blue Onyx)"
ANSI_COLOR="0;32"
LOGO="fedora-logo-icon"
CPE_NAME="cpe:/o:rocky:rocky:9::baseos"
HOME_URL="https://rockylinux.org/"
VENDOR_NAME="RESF"
REDHAT_SUPPORT_PRODUCT="Rocky Linux"
REDHAT_SUPPORT_PRODUCT_VERSION="9.6"
`
	if err := os.WriteFile(filepath.Join(root, "etc", "os-release"), []byte(osRelease), 0o644); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(pkgs))
	sem := make(chan struct{}, 8)
	for i, p := range pkgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = rpmbuild(filepath.Join(dir, "build", fmt.Sprint(i)), rpms, p)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	files, _ := filepath.Glob(filepath.Join(rpms, "*.rpm"))
	if len(files) != len(pkgs) {
		t.Fatalf("%d rpms built for %d packages", len(files), len(pkgs))
	}
	if out, err := exec.Command("rpm", "--root", root, "--dbpath", "/var/lib/rpm", "--initdb").CombinedOutput(); err != nil {
		t.Fatalf("rpm --initdb: %v: %s", err, out)
	}
	args := append([]string{"--root", root, "--dbpath", "/var/lib/rpm", "--justdb", "--nodeps", "--noscripts", "--nosignature", "--ignorearch", "-i"}, files...)
	if out, err := exec.Command("rpm", args...).CombinedOutput(); err != nil {
		t.Fatalf("rpm --justdb -i: %v: %s", err, out)
	}
	return root
}

// rpmbuild builds an empty package with the NEVRA of p into out.
func rpmbuild(top, out string, p nevra) error {
	if err := os.MkdirAll(top, 0o755); err != nil {
		return err
	}
	epoch := ""
	if p.epoch != "" {
		epoch = "Epoch: " + p.epoch + "\n"
	}
	spec := fmt.Sprintf("Name: %s\n%sVersion: %s\nRelease: %s\nSummary: empty\nLicense: none\nBuildArch: %s\n%%description\nempty\n%%files\n",
		p.name, epoch, p.version, p.release, p.arch)
	sp := filepath.Join(top, p.name+".spec")
	if err := os.WriteFile(sp, []byte(spec), 0o644); err != nil {
		return err
	}
	cmd := exec.Command("rpmbuild", "-bb", "--quiet", "--define", "_topdir "+top, "--define", "_build_id_links none",
		"--define", "__os_install_post %{nil}", "--define", "debug_package %{nil}",
		"--define", "_rpmdir "+out, "--define", "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm", sp)
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("rpmbuild %s: %v: %s", p.name, err, b)
	}
	return nil
}

// writeExtra writes a VEX document in the shape of CIQ's: CVE-2000-99901
// known_not_affected (vulnerable_code_not_present) for glibc and
// known_affected for libcap, on "Rocky Linux from CIQ 9.6".
func writeExtra(t *testing.T, path string) {
	prod := func(name, id string) map[string]any {
		return map[string]any{"category": "product_version", "name": name, "product": map[string]any{"name": name, "product_id": id}}
	}
	rel := func(comp string) map[string]any {
		return map[string]any{"category": "default_component_of",
			"full_product_name":            map[string]any{"name": comp + " as a component of Rocky Linux from CIQ 9.6", "product_id": "rlc-9.6:" + comp},
			"product_reference":            comp,
			"relates_to_product_reference": "rlc-9.6"}
	}
	doc := map[string]any{
		"document": map[string]any{"category": "csaf_vex", "csaf_version": "2.0", "title": "CVE-2000-99901",
			"tracking": map[string]any{"id": "CVE-2000-99901", "current_release_date": "2026-01-01T00:00:00+00:00", "initial_release_date": "2026-01-01T00:00:00+00:00"}},
		"product_tree": map[string]any{
			"branches": []any{map[string]any{"category": "vendor", "name": "CIQ", "branches": []any{
				map[string]any{"category": "product_family", "name": "Rocky Linux from CIQ", "branches": []any{
					map[string]any{"category": "product_name", "name": "Rocky Linux from CIQ 9.6", "product": map[string]any{"name": "Rocky Linux from CIQ 9.6", "product_id": "rlc-9.6"}}}},
				map[string]any{"category": "architecture", "name": "src", "branches": []any{prod("glibc", "glibc"), prod("libcap", "libcap")}},
			}}},
			"relationships": []any{rel("glibc"), rel("libcap")},
		},
		"vulnerabilities": []any{map[string]any{
			"cve":            "CVE-2000-99901",
			"product_status": map[string]any{"known_not_affected": []string{"rlc-9.6:glibc"}, "known_affected": []string{"rlc-9.6:libcap"}},
			"flags":          []any{map[string]any{"label": "vulnerable_code_not_present", "product_ids": []string{"rlc-9.6:glibc"}}},
			"threats":        []any{map[string]any{"category": "impact", "details": "Moderate", "product_ids": []string{"rlc-9.6:glibc", "rlc-9.6:libcap"}}},
		}},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
