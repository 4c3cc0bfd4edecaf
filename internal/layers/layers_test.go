package layers

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/lapps/lapps/testenv"
)

const module = "github.com/lapps/lapps/"

// lower are the packages (with all below them) that must never import
// any of upper: the model and the engines under the daemon.
var lower = []string{
	"vuln/...", "model", "store/...", "matcher/...", "indexer/...", "checks/...",
	"report", "policy", "image/...", "limits", "redact",
}

// upper are the packages that serve, drive or schedule lapps.
var upper = []string{
	"server", "service", "cli", "client", "web", "apps", "admission",
	"notifier", "scheduler", "updater", "cmd",
}

// TestLayers lists, with go list, every package a lower package depends
// on (transitively, tests excluded) and fails on any upper one.
func TestLayers(t *testing.T) {
	goBin := testenv.Tool(t, "go")
	for _, pkg := range lower {
		cmd := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", "../../"+pkg)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(dep, module)
			if !ok {
				continue
			}
			for _, u := range upper {
				if rel == u || strings.HasPrefix(rel, u+"/") {
					t.Errorf("%s depends on %s: the model, stores, matcher, indexer, checks and report never import the packages that serve or drive them", pkg, rel)
				}
			}
		}
	}
}

// TestUpperMatchesForbidden checks the test can fail: server does depend
// on service, so the same listing finds it.
func TestUpperMatchesForbidden(t *testing.T) {
	goBin := testenv.Tool(t, "go")
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", "../../server").Output()
	if err != nil {
		t.Fatalf("go list -deps server: %v", err)
	}
	if !strings.Contains(string(out), module+"service\n") {
		t.Fatalf("go list -deps server does not list service:\n%s", out)
	}
}

// indexReaders read image and layer indexes (the model package) but
// have no use for the walker and the catalogers that make them.
var indexReaders = []string{"model", "store", "store/sqlite", "store/postgres", "matcher", "report"}

// TestIndexReadersSkipIndexer keeps the index model apart from the
// indexer: the packages that store, match or report an index do not link
// the indexer, its catalogers or their parsers.
func TestIndexReadersSkipIndexer(t *testing.T) {
	goBin := testenv.Tool(t, "go")
	for _, pkg := range indexReaders {
		out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", "../../"+pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			if rel, ok := strings.CutPrefix(dep, module); ok && (rel == "indexer" || strings.HasPrefix(rel, "indexer/")) {
				t.Errorf("%s depends on %s: it reads indexes through the model package and needs no indexer", pkg, rel)
			}
		}
	}
}
