package service

import (
	"archive/zip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/all"
	"github.com/lapps/lapps/vuln"
)

// almaOracle is what ../shared/checks/oracle_rpm.py (RPM's own
// comparison) prints for the AlmaLinux 9.3 root file system against the
// AlmaLinux 9 advisories; osv-scanner agrees (shared/checks/README.md).
var almaOracle = []string{
	"ALSA-2024:3339 glibc", "ALSA-2024:3339 glibc-common", "ALSA-2024:3339 glibc-minimal-langpack",
	"ALSA-2025:1346 libgcc",
	"ALSA-2025:4244 glibc", "ALSA-2025:4244 glibc-common", "ALSA-2025:4244 glibc-minimal-langpack",
	"ALSA-2025:8655 glibc", "ALSA-2025:8655 glibc-common", "ALSA-2025:8655 glibc-minimal-langpack",
	"ALSA-2025:9877 glibc", "ALSA-2025:9877 glibc-common", "ALSA-2025:9877 glibc-minimal-langpack",
	"ALSA-2026:12441 libcap", "ALSA-2026:19346 libcap",
	"ALSA-2026:20597 glibc", "ALSA-2026:20597 glibc-common", "ALSA-2026:20597 glibc-minimal-langpack",
	"ALSA-2026:2786 glibc", "ALSA-2026:2786 glibc-common", "ALSA-2026:2786 glibc-minimal-langpack",
	"ALSA-2026:28911 coreutils-single",
	"ALSA-2026:33226 glibc", "ALSA-2026:33226 glibc-common", "ALSA-2026:33226 glibc-minimal-langpack",
	"ALSA-2026:42736 libacl",
	"ALSA-2026:42952 glibc", "ALSA-2026:42952 glibc-common", "ALSA-2026:42952 glibc-minimal-langpack",
}

// feedServer serves the shared vulnerability data over HTTP on loopback,
// so that the updaters' real fetch path runs, and counts requests.
type feedServer struct {
	*httptest.Server
	requests  atomic.Int64
	notModify atomic.Int64
	// override, when set, replaces the content of one path.
	override atomic.Pointer[[2]string]
}

func newFeedServer(t *testing.T, root string) *feedServer {
	fs := &feedServer{}
	files := http.FileServer(http.Dir(root))
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fs.requests.Add(1)
		if o := fs.override.Load(); o != nil && o[0] == r.URL.Path {
			io.WriteString(w, o[1])
			return
		}
		rec := &statusRecorder{ResponseWriter: w}
		files.ServeHTTP(rec, r)
		if rec.status == http.StatusNotModified {
			fs.notModify.Add(1)
		}
	}))
	t.Cleanup(fs.Close)
	return fs
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// zipDir writes the files of dir (not recursive) into a zip, as OSV's
// ecosystem exports are.
func zipDir(t *testing.T, dir, out string) {
	t.Helper()
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(f)
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		w, _ := zw.Create(e.Name())
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// TestVulnerabilityDataEndToEnd ingests real advisories over HTTP and
// checks the findings of real images against independent answers.
func TestVulnerabilityDataEndToEnd(t *testing.T) {
	data := testenv.VulnData(t)
	images := testenv.Images(t)
	root := t.TempDir()
	// The served tree: the DSA/DLA lists and Alpine secdb as upstream lays
	// them out, and the AlmaLinux 9 advisories as an OSV all.zip.
	for _, p := range []string{"debian/DSA/list", "debian/DLA/list", "alpine/v3.11/main.yaml", "alpine/v3.11/community.yaml"} {
		src := filepath.Join(data, "debian-security-tracker", "data", strings.TrimPrefix(p, "debian/"))
		if strings.HasPrefix(p, "alpine/") {
			src = filepath.Join(data, "alpine-secdb", strings.TrimPrefix(p, "alpine/"))
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755)
		os.WriteFile(filepath.Join(root, p), b, 0o644)
	}
	os.MkdirAll(filepath.Join(root, "AlmaLinux"), 0o755)
	zipDir(t, filepath.Join(data, "almalinux-osv-database", "advisories", "almalinux9"), filepath.Join(root, "AlmaLinux", "all.zip"))
	srv := newFeedServer(t, root)

	l, _ := newTestLocal(t)
	l.sources = []updater.Source{
		{Name: "debian-dsa", Type: "debian-dsa", URLs: []string{srv.URL + "/debian/DSA/list", srv.URL + "/debian/DLA/list"}},
		{Name: "alpine-secdb", Type: "alpine-secdb", URLs: []string{srv.URL + "/alpine/v3.11/main.yaml", srv.URL + "/alpine/v3.11/community.yaml"}},
		{Name: "osv-almalinux", Type: "osv", URLs: []string{srv.URL + "/AlmaLinux/all.zip"}},
	}
	ctx := context.Background()
	res, err := l.UpdateVulnDB(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Error != "" || !r.Changed || r.Records == 0 {
			t.Fatalf("first update of %s: %+v", r.Source, r)
		}
	}

	// An unchanged feed creates no new data: the second run asks
	// conditionally and gets 304s.
	res, err = l.UpdateVulnDB(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Error != "" || r.Changed {
			t.Errorf("second update of %s: %+v", r.Source, r)
		}
	}
	if srv.notModify.Load() != 5 {
		t.Errorf("%d conditional requests answered 304, want 5", srv.notModify.Load())
	}

	// AlmaLinux 9.3 against the AlmaLinux 9 data: every (advisory,
	// package) pair of the oracle, and nothing else.
	alma, err := l.ScanImage(ctx, ScanRequest{Image: "oci:" + filepath.Join(images, "rootfs", "oci") + ":almalinux-9.3", Platform: "linux/arm64"})
	if err != nil {
		t.Fatal(err)
	}
	covered := map[string]bool{}
	for _, f := range alma.Vulnerabilities {
		ids := append([]string{f.ID}, f.Aliases...)
		hit := false
		for _, id := range ids {
			if slices.Contains(almaOracle, id+" "+f.Package) {
				covered[id+" "+f.Package] = true
				hit = true
			}
		}
		if !hit {
			t.Errorf("finding not in the oracle: %s %v %s", f.ID, f.Aliases, f.Package)
		}
		if f.Status != vuln.StatusFixed || f.FixedVersion == "" || f.Severity < vuln.SeverityMedium {
			t.Errorf("finding %s %s: status %s fixed %q severity %s", f.ID, f.Package, f.Status, f.FixedVersion, f.Severity)
		}
	}
	for _, want := range almaOracle {
		if !covered[want] {
			t.Errorf("oracle finding missing: %s", want)
		}
	}
	// Checked by hand against ALSA-2024:3339 (glibc, Important): fixed in
	// 2.34-100.el9_4.2; the image has 2.34-83.el9_3.7.
	i := slices.IndexFunc(alma.Vulnerabilities, func(f vuln.Finding) bool {
		return f.Package == "glibc" && (f.ID == "ALSA-2024:3339" || slices.Contains(f.Aliases, "ALSA-2024:3339"))
	})
	if i < 0 {
		t.Fatal("ALSA-2024:3339 on glibc not found")
	}
	if f := alma.Vulnerabilities[i]; f.InstalledVersion != "2.34-83.el9_3.7" || f.FixedVersion != "2.34-100.el9_4.2" || f.Severity != vuln.SeverityHigh {
		t.Errorf("ALSA-2024:3339: %+v", f)
	}

	// Alpine 3.11.13 against the v3.11 secdb: every fix predates the image.
	alpine, err := l.ScanImage(ctx, ScanRequest{Image: "oci:" + filepath.Join(images, "rootfs", "oci") + ":alpine-3.11.13"})
	if err != nil {
		t.Fatal(err)
	}
	if len(alpine.Vulnerabilities) != 0 {
		t.Errorf("alpine 3.11.13: %d findings, want none: %+v", len(alpine.Vulnerabilities), alpine.Vulnerabilities[0])
	}

	// Debian bullseye: the image is the last point release, newer than
	// every fix in the DSA list (which ends in April 2023): no finding.
	bullRef := "oci:" + filepath.Join(images, "debian-bullseye", "oci") + ":debian-bullseye-min"
	bull, err := l.ScanImage(ctx, ScanRequest{Image: bullRef})
	if err != nil {
		t.Fatal(err)
	}
	if len(bull.Vulnerabilities) != 0 {
		t.Errorf("bullseye: %d findings, want none: %+v", len(bull.Vulnerabilities), bull.Vulnerabilities[0])
	}
	// The same index with gzip and liblzma as they were before DSA-5122-1
	// and DSA-5123-1 (both CVE-2022-1271; checked by hand in the list:
	// bullseye gzip fixed in 1.10-4+deb11u1, xz-utils in 5.2.5-2.1~deb11u1):
	// the live report, matched without reading the image, finds them.
	idx, err := l.st.Manifest(ctx, bull.ManifestDigest)
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range idx.Packages {
		switch p.Name {
		case "gzip":
			idx.Packages[i].Version, idx.Packages[i].SourceVersion = "1.10-4", "1.10-4"
		case "liblzma5":
			idx.Packages[i].Version, idx.Packages[i].SourceVersion = "5.2.5-2", "5.2.5-2"
		}
	}
	if err := l.st.PutManifest(ctx, idx); err != nil {
		t.Fatal(err)
	}
	live, err := l.Report(ctx, bullRef, 0)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	// Each advisory is its own finding, listing the CVE it fixes (issue 13).
	for _, f := range live.Vulnerabilities {
		if slices.Contains(f.CVEs, "CVE-2022-1271") {
			got[f.Package] = f.FixedVersion
			if f.ID != map[string]string{"gzip": "DSA-5122-1", "liblzma5": "DSA-5123-1"}[f.Package] {
				t.Errorf("%s: id %s", f.Package, f.ID)
			}
		}
	}
	if got["gzip"] != "1.10-4+deb11u1" || got["liblzma5"] != "5.2.5-2.1~deb11u1" || len(live.Vulnerabilities) != 2 {
		t.Errorf("live report of the downgraded index: %v (%d findings)", got, len(live.Vulnerabilities))
	}
	// The recorded scan keeps what was found at scan time.
	if rec, err := l.Report(ctx, bullRef, 1); err != nil || len(rec.Vulnerabilities) != 0 {
		t.Errorf("recorded scan changed: %v, %v", err, rec)
	}

	// A corrupt feed fails, is reported by status, and leaves the data as
	// it was.
	srv.override.Store(&[2]string{"/alpine/v3.11/main.yaml", "packages: [ {pkg: {name: x, secfixes: "})
	res, err = l.UpdateVulnDB(ctx, []string{"alpine-secdb"})
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Error == "" || res[0].Changed {
		t.Errorf("corrupt feed: %+v", res[0])
	}
	st, err := l.VulnDBStatus(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Source == "alpine-secdb" && (s.LastError == "" || s.Records == 0) {
			t.Errorf("status after a corrupt feed: %+v", s)
		}
	}
	if _, err := l.UpdateVulnDB(ctx, []string{"nope"}); err == nil {
		t.Error("unknown source accepted")
	}
}
