// Package testenv finds what lapps' tests need outside the repository: the
// shared vulnerability data and test-image scripts in ../shared, and the
// images .ci/testimages.sh builds. When something is missing a test skips
// with a message saying what to do; under CI (CI=true) it fails instead, so
// that a CI run never passes by skipping.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// CI reports whether the tests run under CI: CI set to any true value
// (true, 1, yes, on, in any case), as CI services set it.
func CI() bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv("CI"))) {
	case "true", "1", "yes", "on", "y", "t":
		return true
	}
	return false
}

// Missing skips the test, or fails it under CI, explaining what is missing.
func Missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if CI() {
		tb.Fatalf("missing under CI: "+format, args...)
	}
	tb.Skipf("skipped: "+format, args...)
}

// repoRoot is the directory holding go.mod.
func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Dir(filepath.Dir(file))
}

// Shared returns the shared directory (LAPPS_SHARED, or ../shared beside
// the checkout), or skips.
func Shared(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("LAPPS_SHARED")
	if dir == "" {
		dir = filepath.Join(filepath.Dir(repoRoot()), "shared")
	}
	if _, err := os.Stat(filepath.Join(dir, "vulndata")); err != nil {
		Missing(tb, "shared data not found at %s (set LAPPS_SHARED)", dir)
	}
	return dir
}

// VulnData returns the path of a directory or file under shared/vulndata.
func VulnData(tb testing.TB, elem ...string) string {
	tb.Helper()
	p := filepath.Join(append([]string{Shared(tb), "vulndata"}, elem...)...)
	if _, err := os.Stat(p); err != nil {
		Missing(tb, "vulnerability data %s not found", p)
	}
	return p
}

// Images returns the directory .ci/testimages.sh built the test images in
// (LAPPS_TEST_IMAGES), or skips. The layout:
//
//	debian/oci                  tags debian-bookworm-{min,mid,fat}
//	debian/debian-bookworm-*.docker.tar, *.packages
//	debian-bullseye/oci         tag debian-bullseye-min
//	rootfs/oci                  tags alpine-3.11.13, alpine-3.13.12, alpine-3.20.3, almalinux-9.3
//	rootfs/*.docker.tar, *.packages
func Images(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("LAPPS_TEST_IMAGES")
	if dir == "" {
		Missing(tb, "LAPPS_TEST_IMAGES is not set; build the images with `.ci/testimages.sh` and set it to the directory it prints")
	}
	if _, err := os.Stat(filepath.Join(dir, "debian", "oci", "index.json")); err != nil {
		Missing(tb, "test images not found under %s; run .ci/testimages.sh", dir)
	}
	return dir
}

// toolPackages are the apt packages .ci/run installs for the tools tests
// look up (TestToolPackagesInstalled keeps them true to .ci/run). Tools
// not listed come with the system or the Go toolchain.
var toolPackages = map[string]string{
	"docker-registry": "docker-registry", "skopeo": "skopeo", "umoci": "umoci", "debootstrap": "debootstrap",
	"rpm": "rpm", "rpmbuild": "rpm", "python3": "python3", "jq": "jq", "bc": "bc", "curl": "curl",
	"xz": "xz-utils", "zstd": "zstd", "git": "git", "gzip": "gzip", "objcopy": "binutils",
	"openssl": "openssl", "rustc": "rustc", "chromium": "chromium",
}

// toolMissing says what to do about a tool that is not installed, and
// whether .ci/run installs it, truthfully.
func toolMissing(name string) string {
	if pkg, ok := toolPackages[name]; ok {
		return fmt.Sprintf("%s is not installed (.ci/run installs it: apt-get install %s)", name, pkg)
	}
	return fmt.Sprintf("%s is not on PATH (.ci/run does not install it: it comes with the system or the Go toolchain)", name)
}

// Tool returns the path of a command, or skips when it is not installed.
func Tool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(tb, "%s", toolMissing(name))
	}
	return p
}

// Lines reads a file of lines, dropping empty ones.
func Lines(tb testing.TB, path string) []string {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}
