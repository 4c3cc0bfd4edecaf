package testenv

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestCI: CI set to any true value means CI (so that tests fail rather
// than skip), anything else does not.
func TestCI(t *testing.T) {
	for v, want := range map[string]bool{
		"true": true, "TRUE": true, "1": true, "yes": true, "on": true, " True ": true,
		"": false, "false": false, "0": false, "no": false, "off": false, "maybe": false,
	} {
		t.Setenv("CI", v)
		if got := CI(); got != want {
			t.Errorf("CI=%q: CI() = %v, want %v", v, got, want)
		}
	}
}

// TestToolPackagesInstalled: every apt package a skip message says
// .ci/run installs is installed by .ci/run (its pkgs list, or its rustc
// line), so that no skip message claims something false about it.
func TestToolPackagesInstalled(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot(), ".ci", "run"))
	if err != nil {
		t.Fatal(err)
	}
	run := string(b)
	m := regexp.MustCompile(`(?m)^pkgs=\(([^)]*)\)`).FindStringSubmatch(run)
	if m == nil {
		t.Fatal(".ci/run has no pkgs=(…) list")
	}
	installed := map[string]bool{}
	for _, p := range strings.Fields(m[1]) {
		installed[p] = true
	}
	if strings.Contains(run, "missing+=(rustc)") {
		installed["rustc"] = true
	}
	for tool, pkg := range toolPackages {
		if !installed[pkg] {
			t.Errorf("the skip message of %s says .ci/run installs %s; it does not", tool, pkg)
		}
	}
	if msg := toolMissing("rustc"); !strings.Contains(msg, ".ci/run installs it: apt-get install rustc") {
		t.Errorf("rustc: %s", msg)
	}
	if msg := toolMissing("go"); strings.Contains(msg, ".ci/run installs") {
		t.Errorf("go: %s", msg)
	}
}
