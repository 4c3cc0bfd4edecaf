package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/lapps/lapps/service"
	"github.com/lapps/lapps/testenv"
)

// run runs lapps with args on the database db and returns the exit code
// and outputs.
func run(t *testing.T, db string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := Main(context.Background(), append([]string{"--db", db}, args...), &out, &errb)
	return code, out.String(), errb.String()
}

// TestHelpHasExamples: every command's help carries examples.
func TestHelpHasExamples(t *testing.T) {
	a := &app{}
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && c.Name() != "completion" && c.Example == "" {
			t.Errorf("%q has no examples", c.CommandPath())
		}
		for _, s := range c.Commands() {
			walk(s)
		}
	}
	walk(a.rootCommand())
}

func TestImageCommands(t *testing.T) {
	dir := testenv.Images(t)
	db := filepath.Join(t.TempDir(), "lapps.db")
	ref := "oci:" + filepath.Join(dir, "rootfs", "oci") + ":alpine-3.20.3"

	code, out, stderr := run(t, db, "image", "security", "scan", ref)
	if code != 0 {
		t.Fatalf("scan: exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, "Alpine Linux v3.20") || !strings.Contains(out, "musl") || stderr != "" {
		t.Errorf("scan output:\n%s\nstderr: %s", out, stderr)
	}
	if code, _, stderr := run(t, db, "image", "security", "scan", ref); code != 0 {
		t.Fatalf("second scan: exit %d: %s", code, stderr)
	}
	code, out, _ = run(t, db, "image", "security", "list", ref)
	if code != 0 || strings.Count(out, "\n") != 3 || !strings.Contains(out, "SCAN") {
		t.Errorf("list: exit %d:\n%s", code, out)
	}
	code, out, _ = run(t, db, "image", "security", "report", ref, "-i", "1", "-o", "json")
	if code != 0 {
		t.Fatalf("report: exit %d", code)
	}
	var doc struct {
		Image     string `json:"image"`
		ScanIndex int    `json:"scan_index"`
		Packages  []any  `json:"packages"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("report JSON: %v\n%s", err, out)
	}
	if doc.ScanIndex != 1 || len(doc.Packages) != 14 || !strings.HasPrefix(doc.Image, "oci:/") {
		t.Errorf("report: %+v", doc)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
	}{
		{"report of an unknown scan index", []string{"image", "security", "report", ref, "-i", "7"}, ExitNoScan},
		{"list of an image never scanned", []string{"image", "security", "list", "oci:/nowhere:x"}, ExitNoScan},
		{"missing layout", []string{"image", "security", "scan", "oci:/nowhere/at/all:x"}, ExitImageNotFound},
		{"bad output format", []string{"image", "security", "scan", ref, "-o", "xml"}, ExitUsage},
		{"bad fail-on", []string{"image", "security", "scan", ref, "--fail-on", "urgent"}, ExitUsage},
		{"no image", []string{"image", "security", "scan"}, ExitUsage},
		{"unknown flag", []string{"image", "security", "scan", ref, "--nope"}, ExitUsage},
		{"fail-on above every finding passes", []string{"image", "security", "scan", ref, "--fail-on", "critical"}, ExitOK},
		// No vulnerability data here, but Alpine 3.20 is past its end of
		// life (high) and the image runs as root (low): --fail-on counts
		// configuration findings and secrets as the policy's fail_on does.
		{"fail-on counts configuration findings", []string{"image", "security", "scan", ref, "--fail-on", "high"}, ExitFindings},
		{"bad config", []string{"-c", "/nonexistent.yaml", "image", "security", "list", ref}, ExitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, stderr := run(t, db, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if code != 0 && (strings.Count(strings.TrimSpace(stderr), "\n") != 0 || !strings.HasPrefix(stderr, "lapps: ")) {
				t.Errorf("error is not one line: %q", stderr)
			}
		})
	}
}

// TestDatabaseFromConfig: without --db and LAPPS_DB, the configuration
// file's database section names the database; --db overrides it.
func TestDatabaseFromConfig(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("LAPPS_DB", "")
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "xdg"))
	cfg := filepath.Join(dir, "lapps.yaml")
	if err := os.WriteFile(cfg, []byte("database:\n  url: data/lapps.db\nvulndb:\n  sources: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	lapps := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := Main(context.Background(), args, &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := lapps("-c", cfg, "token", "create", "from-config"); code != 0 {
		t.Fatalf("token create: exit %d: %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "lapps.db")); err != nil {
		t.Errorf("the configured database was not used: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "xdg", "lapps", "lapps.db")); err == nil {
		t.Error("the default database was created although the configuration names another")
	}
	if code, out := lapps("-c", cfg, "token", "list"); code != 0 || !strings.Contains(out, "from-config") {
		t.Errorf("token list on the configured database: exit %d: %s", code, out)
	}
	other := filepath.Join(dir, "other.db")
	if code, out := lapps("-c", cfg, "--db", other, "token", "list"); code != 0 || strings.Contains(out, "from-config") {
		t.Errorf("token list with --db: exit %d: %s", code, out)
	}
	if _, err := os.Stat(other); err != nil {
		t.Errorf("--db did not override the configuration: %v", err)
	}
}

// TestLimitsFromConfig: the limits section bounds what a scan reads, both
// the image (metadata_bytes) and the indexer (packages), and a scan that
// crosses one exits 5 naming the key, with nothing stored.
func TestLimitsFromConfig(t *testing.T) {
	dir := testenv.Images(t)
	ref := "oci:" + filepath.Join(dir, "rootfs", "oci") + ":alpine-3.20.3"
	for _, tc := range []struct {
		limits, key string
	}{
		{"packages: 5", "limits.packages"},
		{"metadata_bytes: 64", "limits.metadata_bytes"},
	} {
		t.Run(tc.key, func(t *testing.T) {
			tmp := t.TempDir()
			db := filepath.Join(tmp, "lapps.db")
			cfg := filepath.Join(tmp, "lapps.yaml")
			if err := os.WriteFile(cfg, []byte("vulndb:\n  sources: []\nlimits:\n  "+tc.limits+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			code, _, stderr := run(t, db, "-c", cfg, "image", "security", "scan", ref)
			if code != ExitBadImage || !strings.Contains(stderr, tc.key) {
				t.Fatalf("exit %d, want %d naming %s: %s", code, ExitBadImage, tc.key, stderr)
			}
			if code, out, _ := run(t, db, "-c", cfg, "image", "security", "list", ref); code != ExitNoScan {
				t.Errorf("list after the refused scan: exit %d, want %d:\n%s", code, ExitNoScan, out)
			}
		})
	}
	// Without the limits, the same image scans.
	if code, _, stderr := run(t, filepath.Join(t.TempDir(), "lapps.db"), "image", "security", "scan", ref); code != 0 {
		t.Fatalf("scan without limits: exit %d: %s", code, stderr)
	}
}

// TestVersionOneString: `lapps version` and `lapps --version` print the
// same line.
func TestVersionOneString(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lapps.db")
	c1, o1, _ := run(t, db, "version")
	c2, o2, _ := run(t, db, "--version")
	if c1 != 0 || c2 != 0 || o1 != o2 || !strings.HasPrefix(o1, "lapps ") {
		t.Errorf("version %d %q, --version %d %q", c1, o1, c2, o2)
	}
}

// TestErrorText: an error is one line, each clause once, without the
// sentinels that only choose the exit code.
func TestErrorText(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("open database x.db: %w", fmt.Errorf("open database x.db: %w", errors.New("file is not a database"))), "open database x.db: file is not a database"},
		{fmt.Errorf("revoke token 99: %w", fmt.Errorf("revoke token 99: %w", service.ErrNotFound)), "revoke token 99"},
		{fmt.Errorf("import x: source is configured: %w", service.ErrBadRequest), "import x: source is configured"},
		{fmt.Errorf("scan img: %w", context.Canceled), "scan img: interrupted"},
		{service.ErrNotFound, service.ErrNotFound.Error()},
		{errors.New("GET https://a.example/x: 500"), "GET https://a.example/x: 500"},
	} {
		if got := errorText(tc.err); got != tc.want {
			t.Errorf("errorText(%q) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
