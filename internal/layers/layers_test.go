package layers

import (
	"os/exec"
	"slices"
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
	"notifier", "scheduler", "updater", "cmd", "api", "jobs", "daemon",
}

// rules are the dependencies the packages that serve and drive lapps
// must not have, each with why.
var rules = []struct {
	pkg    string
	never  []string
	reason string
}{
	{"client", []string{"server", "web", "daemon", "jobs", "cli"}, "the client speaks the API through its wire types (package api) and never links the server"},
	{"api", []string{"server", "service", "client", "web", "daemon", "jobs", "cli", "store"}, "the wire types depend on the model only"},
	{"jobs", []string{"server", "daemon", "cli", "client", "web"}, "the job runner is started by the daemon and used by the server, never the other way round"},
	{"server", []string{"daemon", "cli", "client"}, "the server is HTTP only: the daemon owns it, the command line starts the daemon"},
	{"daemon", []string{"cli", "client"}, "the daemon is started by the command line, never the other way round"},
}

// deps lists, with go list, the packages of the module pkg depends on
// (transitively, tests excluded), relative to the module.
func deps(t *testing.T, goBin, pkg string) []string {
	t.Helper()
	out, err := exec.Command(goBin, "list", "-deps", "-f", "{{.ImportPath}}", "../../"+pkg).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", pkg, err)
	}
	var rel []string
	for _, dep := range strings.Fields(string(out)) {
		if r, ok := strings.CutPrefix(dep, module); ok {
			rel = append(rel, r)
		}
	}
	return rel
}

// within reports whether rel is pkg or below it.
func within(rel, pkg string) bool { return rel == pkg || strings.HasPrefix(rel, pkg+"/") }

// TestLayers lists every package a lower package depends on and fails
// on any upper one.
func TestLayers(t *testing.T) {
	goBin := testenv.Tool(t, "go")
	for _, pkg := range lower {
		for _, rel := range deps(t, goBin, pkg) {
			for _, u := range upper {
				if within(rel, u) {
					t.Errorf("%s depends on %s: the model, stores, matcher, indexer, checks and report never import the packages that serve or drive them", pkg, rel)
				}
			}
		}
	}
}

// TestRules checks the rules between the packages that serve and drive
// lapps.
func TestRules(t *testing.T) {
	goBin := testenv.Tool(t, "go")
	for _, r := range rules {
		for _, rel := range deps(t, goBin, r.pkg) {
			for _, n := range r.never {
				if within(rel, n) {
					t.Errorf("%s depends on %s: %s", r.pkg, rel, r.reason)
				}
			}
		}
	}
}

// TestUpperMatchesForbidden checks the tests can fail: server does depend
// on service, and the daemon on server and jobs, so the same listing
// finds them.
func TestUpperMatchesForbidden(t *testing.T) {
	goBin := testenv.Tool(t, "go")
	for pkg, dep := range map[string]string{"server": "service", "daemon": "server", "cli": "daemon", "client": "api"} {
		if !slices.ContainsFunc(deps(t, goBin, pkg), func(rel string) bool { return within(rel, dep) }) {
			t.Errorf("go list -deps %s does not list %s", pkg, dep)
		}
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
