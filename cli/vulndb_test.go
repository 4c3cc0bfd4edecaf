package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/indexer/all"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/server"
	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
)

// TestVulnDBImportNaming: two imports of different directories keep
// both, named after their paths; an import under a name holding another
// path's data is refused with exit 2 and changes nothing; --replace
// replaces it and prints what it replaced; status shows each import's
// origin and data age.
func TestVulnDBImportNaming(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		db := filepath.Join(t.TempDir(), "lapps.db")
		testImportNaming(t, func(t *testing.T, args ...string) (int, string, string) { return run(t, db, args...) })
	})
	t.Run("server", func(t *testing.T) {
		ctx := context.Background()
		st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "server.db"))
		if err != nil {
			t.Fatal(err)
		}
		local := service.NewLocal(st, indexer.New(all.Catalogers()), service.WithSources(nil))
		runner := startJobs(t, local, st)
		srv := server.New(local, runner)
		hs := httptest.NewServer(srv.Handler())
		t.Cleanup(func() { hs.Close(); srv.Close(); runner.Close(); local.Close() })
		client := filepath.Join(t.TempDir(), "unused.db")
		testImportNaming(t, func(t *testing.T, args ...string) (int, string, string) {
			return run(t, client, append([]string{"--server", hs.URL}, args...)...)
		})
	})
}

func testImportNaming(t *testing.T, run func(t *testing.T, args ...string) (int, string, string)) {
	v310, v311 := testenv.VulnData(t, "alpine-secdb", "v3.10"), testenv.VulnData(t, "alpine-secdb", "v3.11")
	imported := regexp.MustCompile(`imported, (\d+) records as source "([^"]+)"`)
	importOK := func(args ...string) (records, source, out string) {
		t.Helper()
		code, out, stderr := run(t, append([]string{"vulndb", "import", "--type", "alpine-secdb"}, args...)...)
		if code != 0 {
			t.Fatalf("import %v: exit %d: %s", args, code, stderr)
		}
		m := imported.FindStringSubmatch(out)
		if m == nil {
			t.Fatalf("import %v: output %q", args, out)
		}
		return m[1], m[2], out
	}
	n310, s310, _ := importOK(v310)
	n311, s311, _ := importOK(v311)
	if s310 != "import-alpine-secdb-v3.10" || s311 != "import-alpine-secdb-v3.11" {
		t.Fatalf("sources %q, %q; want named after their paths", s310, s311)
	}
	status := func() map[string]service.SourceStatus {
		t.Helper()
		code, out, stderr := run(t, "vulndb", "status", "-o", "json")
		if code != 0 {
			t.Fatalf("status: exit %d: %s", code, stderr)
		}
		var st []service.SourceStatus
		if err := json.Unmarshal([]byte(out), &st); err != nil {
			t.Fatalf("status JSON: %v\n%s", err, out)
		}
		m := map[string]service.SourceStatus{}
		for _, s := range st {
			m[s.Source] = s
		}
		return m
	}
	st := status()
	if a, b := st[s310], st[s311]; a.Origin != v310 || b.Origin != v311 || a.Records == 0 || b.Records == 0 ||
		a.NewestRecord == nil && a.DataAge != report.AgeUnknown || a.DataAge == "" {
		t.Fatalf("status after two imports: %+v\n%+v", a, b)
	}

	// Another path under a taken name: refused (exit 2), nothing changed.
	code, out, stderr := run(t, "vulndb", "import", "--type", "alpine-secdb", "--name", s310, v311)
	if code != ExitUsage || !strings.Contains(stderr, "--replace") || !strings.Contains(stderr, v310) || out != "" {
		t.Fatalf("import over another path's data: exit %d, stdout %q, stderr %q; want %d naming --replace and %s", code, out, stderr, ExitUsage, v310)
	}
	if got := status()[s310]; got.Origin != v310 || got.Records != st[s310].Records {
		t.Fatalf("the refused import changed %s: %+v", s310, got)
	}

	// --replace: done, and said what it replaced.
	_, _, out = importOK("--name", s310, "--replace", v311)
	want := "replaced source " + s310 + ": " + n310 + " records from " + v310 + " → " + n311 + " records"
	if !strings.Contains(out, want) {
		t.Errorf("import --replace printed %q; want %q", out, want)
	}
	if got := status()[s310]; got.Origin != v311 {
		t.Errorf("after --replace: %+v; want origin %s", got, v311)
	}

	// The same path again: an update of the same import, not refused.
	code, out, stderr = run(t, "vulndb", "import", "--type", "alpine-secdb", v311)
	if code != 0 || !strings.Contains(out, "unchanged") {
		t.Errorf("same path again: exit %d, %q %q; want unchanged", code, out, stderr)
	}

	// The status table shows the origin and the data's age.
	code, out, _ = run(t, "vulndb", "status")
	if code != 0 || !strings.Contains(out, "NEWEST RECORD") || !strings.Contains(out, "ORIGIN") || !strings.Contains(out, v311) {
		t.Errorf("status table:\n%s", out)
	}
}

// TestCoverageGapRealData: the Alpine 3.20 test image scanned with
// alpine-secdb's v3.11 data warns that no source covers Alpine:v3.20, in
// the table and in JSON; --fail-on critical still passes (exit 0: a gap in
// coverage is a warning, as in Trivy and Grype).
func TestCoverageGapRealData(t *testing.T) {
	dir := testenv.Images(t)
	data := testenv.VulnData(t, "alpine-secdb", "v3.11")
	db := filepath.Join(t.TempDir(), "lapps.db")
	if code, _, stderr := run(t, db, "vulndb", "import", "--type", "alpine-secdb", data); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	ref := "oci:" + filepath.Join(dir, "rootfs", "oci") + ":alpine-3.20.3"
	code, out, stderr := run(t, db, "image", "security", "scan", ref, "--fail-on", "critical", "-o", "json")
	if code != 0 {
		t.Fatalf("scan --fail-on critical: exit %d: %s", code, stderr)
	}
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	warn := regexp.MustCompile(`^no vulnerability source covers Alpine:v3\.20; findings for its (\d+) packages cannot be reported$`)
	found := false
	for _, w := range r.Warnings {
		found = found || warn.MatchString(w)
	}
	if !found || len(r.Vulnerabilities) != 0 || len(r.DataSources) != 0 {
		t.Errorf("report: warnings %q, %d findings, sources %+v; want the Alpine:v3.20 warning, no findings, no source", r.Warnings, len(r.Vulnerabilities), r.DataSources)
	}
	code, out, _ = run(t, db, "image", "security", "report", ref)
	if code != 0 || !strings.Contains(out, "Warning:      no vulnerability source covers Alpine:v3.20") ||
		!strings.Contains(out, "no vulnerability data covers this image") ||
		!strings.Contains(out, "`lapps vulndb import`") {
		t.Errorf("table report: exit %d\n%s", code, out)
	}
}

// TestVulnDBUpdateOffline: with no network, `vulndb update` prints a
// narrow table, one line per failed source, a hint to `vulndb import`,
// no log lines, and exits 7; status shows a disabled source as disabled.
func TestVulnDBUpdateOffline(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lapps.yaml")
	if err := os.WriteFile(cfg, []byte(`vulndb:
  sources:
    - {name: feed-a, type: osv, urls: ["http://feeds.lapps-test.invalid/a.zip"]}
    - {name: feed-b, type: alpine-secdb, urls: ["http://feeds.lapps-test.invalid/b.json"]}
    - {name: feed-off, type: osv, urls: ["http://feeds.lapps-test.invalid/c.zip"], enabled: false}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "lapps.db")
	code, out, stderr := run(t, db, "-c", cfg, "vulndb", "update")
	if code != ExitVulnDB {
		t.Fatalf("exit %d, want %d\n%s%s", code, ExitVulnDB, out, stderr)
	}
	for _, line := range strings.Split(out, "\n") {
		if len(line) > 100 {
			t.Errorf("table line of %d columns: %q", len(line), line)
		}
	}
	if !strings.Contains(out, "feed-a") || !strings.Contains(out, "failed") {
		t.Errorf("table:\n%s", out)
	}
	if strings.Contains(stderr, "level=") {
		t.Errorf("log lines without --debug:\n%s", stderr)
	}
	for _, want := range []string{"feed-a: ", "feed-b: ", "lapps vulndb import --type TYPE PATH", "2 of 2 sources failed"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	code, out, _ = run(t, db, "-c", cfg, "vulndb", "status")
	if code != 0 {
		t.Fatalf("status exit %d", code)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "feed-off") && !strings.Contains(line, "disabled") {
			t.Errorf("disabled source shown as %q", line)
		}
	}
}

// TestVulnDBStatusImportedAndDisabled: status shows an imported source's
// type as "TYPE (imported)" in aligned columns, a disabled source as
// disabled, and its JSON carries type, configured and enabled.
func TestVulnDBStatusImportedAndDisabled(t *testing.T) {
	data := testenv.VulnData(t, "alpine-secdb")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "lapps.yaml")
	if err := os.WriteFile(cfg, []byte(`vulndb:
  sources:
    - {name: feed-on, type: osv, urls: ["http://feeds.lapps-test.invalid/a.zip"]}
    - {name: feed-off, type: osv, urls: ["http://feeds.lapps-test.invalid/c.zip"], enabled: false}
`), 0o600); err != nil {
		t.Fatal(err)
	}
	db := filepath.Join(dir, "lapps.db")
	if code, _, stderr := run(t, db, "-c", cfg, "vulndb", "import", "--type", "alpine-secdb", data); code != 0 {
		t.Fatalf("import: exit %d: %s", code, stderr)
	}
	code, out, _ := run(t, db, "-c", cfg, "vulndb", "status")
	if code != 0 {
		t.Fatalf("status: exit %d", code)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	col := strings.Index(lines[0], "TYPE")
	for _, l := range lines[1:] {
		name, _, _ := strings.Cut(l, " ")
		typ := strings.TrimSpace(l[col:])
		switch name {
		case "import-alpine-secdb-alpine-secdb":
			if !strings.HasPrefix(typ, "alpine-secdb (imported)") || strings.Contains(l, "not configured") {
				t.Errorf("imported source: %q", l)
			}
		case "feed-off":
			if !strings.Contains(l, "disabled") || strings.Contains(l, "never") {
				t.Errorf("disabled source: %q", l)
			}
		}
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("TYPE column not aligned: %q", l)
		}
	}
	code, out, _ = run(t, db, "-c", cfg, "vulndb", "status", "-o", "json")
	var st []struct {
		Source     string `json:"source"`
		Type       string `json:"type"`
		Configured bool   `json:"configured"`
		Enabled    bool   `json:"enabled"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || code != 0 {
		t.Fatalf("status -o json: exit %d, %v", code, err)
	}
	got := map[string]string{}
	for _, s := range st {
		got[s.Source] = fmt.Sprintf("%s %v %v", s.Type, s.Configured, s.Enabled)
	}
	for name, want := range map[string]string{
		"feed-on": "osv true true", "feed-off": "osv true false", "import-alpine-secdb-alpine-secdb": "alpine-secdb false true",
	} {
		if got[name] != want {
			t.Errorf("%s: %q, want %q", name, got[name], want)
		}
	}
}
