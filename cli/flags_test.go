package cli

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestFlagConfusion: -i is a scan index in the report commands and an
// image in app deploy; each refuses the other's value with one line that
// says what -i takes there (exit 2), and the long names are --index and
// --image everywhere.
func TestFlagConfusion(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lapps.db")
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"image report -i IMAGE", []string{"image", "security", "report", "-i", "docker.io/x"},
			[]string{`-i/--index takes a scan number (see ` + "`lapps image security list IMAGE`" + `), not "docker.io/x"; the image is the argument`}},
		{"image report --index IMAGE", []string{"image", "security", "report", "debian:12", "--index", "debian:12"},
			[]string{"-i/--index takes a scan number", "the image is the argument"}},
		{"image report N", []string{"image", "security", "report", "3"},
			[]string{"takes IMAGE, not the number 3", "IMAGE -i 3"}},
		{"app report -i IMAGE", []string{"app", "security", "report", "-a", "shop", "-i", "nginx:1.27"},
			[]string{"-i/--index takes a scan number (see `lapps app security list -a APP`)", "the app is -a APP"}},
		{"app deploy -i N", []string{"app", "deploy", "-a", "shop", "-i", "3"},
			[]string{"-i/--image takes image references (e.g. -i docker.io/library/nginx:1.27), not the number 3"}},
		{"app deploy --image N", []string{"app", "deploy", "-a", "shop", "--image", "docker.io/library/nginx:1.27,12"},
			[]string{"-i/--image takes image references", "not the number 12"}},
		{"app create --image N", []string{"app", "create", "-a", "shop", "--image", "2"},
			[]string{"--image takes image references", "not the number 2"}},
	} {
		code, stdout, stderr := run(t, db, tc.args...)
		if code != ExitUsage || stdout != "" {
			t.Errorf("%s: exit %d, want %d; stdout %q", tc.name, code, ExitUsage, stdout)
		}
		if strings.Count(strings.TrimSpace(stderr), "\n") != 0 || strings.Contains(stderr, "invalid argument") || strings.Contains(stderr, "strconv") {
			t.Errorf("%s: want one line without pflag's wording:\n%s", tc.name, stderr)
		}
		for _, w := range tc.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("%s: stderr lacks %q:\n%s", tc.name, w, stderr)
			}
		}
	}
	// The long names.
	a := &app{}
	root := a.rootCommand()
	for _, path := range [][]string{{"image", "security", "report"}, {"app", "security", "report"}, {"app", "deploy"}} {
		c, _, err := root.Find(path)
		if err != nil {
			t.Fatal(err)
		}
		f := c.Flags().ShorthandLookup("i")
		want := "index"
		if path[1] == "deploy" {
			want = "image"
		}
		if f == nil || f.Name != want {
			t.Errorf("%s: -i is %v, want --%s", strings.Join(path, " "), f, want)
		}
	}
}

// TestAppCreateFlag: app create takes -a like every other app command;
// the positional name still works with a one-line deprecation notice.
func TestAppCreateFlag(t *testing.T) {
	db := filepath.Join(t.TempDir(), "lapps.db")
	for _, tc := range []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string // "" : stderr must be empty
	}{
		{"-a", []string{"app", "create", "-a", "shop"}, 0, "created app shop with 0 image(s)", ""},
		{"--app", []string{"app", "create", "--app", "web"}, 0, "created app web", ""},
		{"positional", []string{"app", "create", "legacy"}, 0, "created app legacy", "lapps: note: `app create APP` is deprecated; write `app create -a legacy`\n"},
		{"both, same", []string{"app", "create", "-a", "same", "same"}, 0, "created app same", "deprecated"},
		{"both, different", []string{"app", "create", "-a", "one", "two"}, ExitUsage, "", "-a one and the argument two name different apps"},
		{"none", []string{"app", "create"}, ExitUsage, "", "-a APP is required"},
		{"two args", []string{"app", "create", "x", "y"}, ExitUsage, "", "app create takes -a APP"},
	} {
		code, stdout, stderr := run(t, db, tc.args...)
		if code != tc.code || !strings.Contains(stdout, tc.stdout) {
			t.Errorf("%s: exit %d (want %d), stdout %q", tc.name, code, tc.code, stdout)
		}
		if (tc.stderr == "" && stderr != "") || !strings.Contains(stderr, tc.stderr) {
			t.Errorf("%s: stderr %q, want %q", tc.name, stderr, tc.stderr)
		}
	}
	code, stdout, _ := run(t, db, "app", "list")
	for _, n := range []string{"shop", "web", "legacy", "same"} {
		if code != 0 || !strings.Contains(stdout, n) {
			t.Errorf("app list lacks %s:\n%s", n, stdout)
		}
	}
}
