package e2e

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/all" // the source types the README's table lists
)

// readme returns README.md of the checkout.
func readme(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// quickStart returns the command lines of the README's offline quick start:
// the sh block between <!-- quickstart --> and <!-- /quickstart -->.
func quickStart(t *testing.T, doc string) []string {
	t.Helper()
	_, rest, ok := strings.Cut(doc, "<!-- quickstart -->")
	if !ok {
		t.Fatal("README.md has no <!-- quickstart --> marker")
	}
	block, _, ok := strings.Cut(rest, "<!-- /quickstart -->")
	if !ok {
		t.Fatal("README.md has no <!-- /quickstart --> marker")
	}
	block = strings.TrimSpace(block)
	if !strings.HasPrefix(block, "```sh\n") || !strings.HasSuffix(block, "\n```") {
		t.Fatalf("the quick start is not one sh code block:\n%s", block)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSuffix(strings.TrimPrefix(block, "```sh\n"), "\n```"), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestReadmeQuickStart runs the README's offline quick start as written,
// replacing only what the README says the test replaces: ../shared by
// LAPPS_SHARED, $(.ci/testimages.sh) by LAPPS_TEST_IMAGES, ./lapps by the
// binary TestMain built with the same go build line. Each line must exit
// 0, and the AlmaLinux scan must have findings.
func TestReadmeQuickStart(t *testing.T) {
	shared := testenv.Shared(t)
	images := testenv.Images(t)
	lines := quickStart(t, readme(t))
	const build = "go build -o lapps ./cmd/lapps"
	if len(lines) < 3 || lines[0] != build {
		t.Fatalf("the quick start does not start with %q: %q", build, lines)
	}
	bash := testenv.Tool(t, "bash")
	home := t.TempDir()
	env := append(os.Environ(),
		"LAPPS_DB="+filepath.Join(home, "lapps.db"), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"),
		"LAPPS_SERVER=")
	scans, imports := 0, 0
	for _, l := range lines[1:] {
		if !strings.HasPrefix(l, "./lapps ") {
			t.Fatalf("quick start line %q: not a lapps command (the test runs only those)", l)
		}
		cmdline := strings.NewReplacer(
			"../shared", shared,
			"$(.ci/testimages.sh)", images,
		).Replace(strings.TrimPrefix(l, "./lapps "))
		c := exec.Command(bash, "-c", `exec "$LAPPS_BIN" `+cmdline)
		c.Dir = ".."
		c.Env = append(env, "LAPPS_BIN="+lappsBin)
		var stdout, stderr strings.Builder
		c.Stdout, c.Stderr = &stdout, &stderr
		if err := c.Run(); err != nil {
			t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", l, err, stdout.String(), stderr.String())
		}
		switch {
		case strings.Contains(l, "vulndb import"):
			imports++
		case strings.Contains(l, "image security scan") && strings.Contains(l, "almalinux"):
			scans++
			m := regexp.MustCompile(`(?m)^Findings: +(\d+) `).FindStringSubmatch(stdout.String())
			if m == nil || m[1] == "0" {
				t.Errorf("%s: no findings:\n%s", l, stdout.String())
			}
		case strings.Contains(l, "-o json"):
			var doc struct {
				Packages []json.RawMessage `json:"packages"`
			}
			if err := json.Unmarshal([]byte(stdout.String()), &doc); err != nil || len(doc.Packages) == 0 {
				t.Errorf("%s: not a JSON report with packages (%v):\n%s", l, err, stdout.String())
			}
		}
	}
	if imports == 0 || scans == 0 {
		t.Errorf("the quick start has %d imports and %d AlmaLinux scans; want at least one of each", imports, scans)
	}
}

// TestReadmeSourceTypes: the README's table of --type values lists every
// registered source type, and only those.
func TestReadmeSourceTypes(t *testing.T) {
	doc := readme(t)
	_, rest, ok := strings.Cut(doc, "| `--type` | feed |")
	if !ok {
		t.Fatal("README.md has no table of source types")
	}
	var listed []string
	for _, l := range strings.Split(rest, "\n")[2:] {
		if !strings.HasPrefix(l, "| `") {
			break
		}
		typ, _, _ := strings.Cut(strings.TrimPrefix(l, "| `"), "`")
		listed = append(listed, typ)
	}
	sort.Strings(listed)
	want := updater.Types()
	sort.Strings(want)
	if strings.Join(listed, ",") != strings.Join(want, ",") {
		t.Errorf("README lists source types %q; registered: %q", listed, want)
	}
}
