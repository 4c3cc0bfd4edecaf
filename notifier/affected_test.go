package notifier_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/matcher"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/postgres"
	"github.com/lapps/lapps/store/sqlite"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

// TestAffectedIsFullRematch checks Affected against its definition on
// both engines: over manifests generated from the real indexes of two
// Debian test images (Debian 11 variants as BenchmarkAffected makes
// them, some with a package twice, from two layers, which the shortcut
// of matching each package once must not miscount; the bookworm indexes
// as they are), and four versions of the real DSA list (olderDSAs
// advisories missing, fewDSAs missing, the whole list, olderDSAs missing
// again: advisories added in bulk, a few added, many withdrawn), the
// changes of each update operation are exactly the findings a full
// re-match of every manifest (matcher.Match over the store) gains and
// loses across it; and they equal, images included, what Affected finds
// without the package rows (every candidate's whole index decoded and
// matched).
func TestAffectedIsFullRematch(t *testing.T) {
	ctx := context.Background()
	scratch, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "scratch.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer scratch.Close()
	bases := realIndexes(t, scratch, "debian/oci:debian-bookworm-min", "debian-bullseye/oci:debian-bullseye-min")
	var manifests []*model.ImageIndex
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range 40 {
		idx := generate(bases[rng.IntN(len(bases))], i, rng)
		if i%5 == 0 {
			// A package twice, from another layer: the same identity
			// in a finding.
			for _, p := range slices.Clone(idx.Packages) {
				if p.Name == "libc6" || p.Name == "openssl" || p.Name == "libssl1.1" {
					p.Layer = "sha256:" + strings.Repeat("d", 64)
					idx.Packages = append(idx.Packages, p)
				}
			}
		}
		manifests = append(manifests, idx)
	}
	manifests = append(manifests, bases...)

	full, err := os.ReadFile(testenv.VulnData(t, "debian-security-tracker", "data", "DSA", "list"))
	if err != nil {
		t.Fatal(err)
	}
	versions := []string{dropNewest(t, string(full), olderDSAs), dropNewest(t, string(full), fewDSAs), string(full), dropNewest(t, string(full), olderDSAs)}

	engines := map[string]func(t *testing.T) store.Store{
		"sqlite": func(t *testing.T) store.Store {
			st, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "lapps.db"))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
		"postgres": func(t *testing.T) store.Store {
			st, err := postgres.Open(ctx, testenv.PostgresDSN(t))
			if err != nil {
				t.Fatal(err)
			}
			return st
		},
	}
	for _, name := range []string{"sqlite", "postgres"} {
		t.Run(name, func(t *testing.T) {
			st := engines[name](t)
			defer st.Close()
			for i, idx := range manifests {
				if err := st.PutManifest(ctx, idx); err != nil {
					t.Fatal(err)
				}
				for j := range 1 + i%3 { // 1 to 3 images a manifest, some none
					if i%7 == 6 {
						break
					}
					if _, err := st.CreateScan(ctx, &store.Scan{Image: fmt.Sprintf("registry.example/app%d-%d:1", i, j),
						ManifestDigest: idx.ManifestDigest, Packages: len(idx.Packages)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			feed := filepath.Join(t.TempDir(), "DSA")
			if err := os.MkdirAll(feed, 0o755); err != nil {
				t.Fatal(err)
			}
			var prev map[string]bool
			var prevOp int64
			total := map[string]int{}
			for v, data := range versions {
				if err := os.WriteFile(filepath.Join(feed, "list"), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
				run, err := updater.Run(ctx, st, updater.Source{Name: "debian-dsa", Type: "debian-dsa", Path: feed})
				if err != nil || run.Operation == 0 {
					t.Fatalf("ingest: %+v, %v", run, err)
				}
				now := rematch(t, st, manifests)
				if v > 0 {
					got, err := notifier.Affected(ctx, st, prevOp, run.Operation)
					if err != nil {
						t.Fatal(err)
					}
					gotKeys := map[string]bool{}
					for _, c := range got {
						gotKeys[c.ManifestDigest+" "+c.Action+" "+key(&c.Finding)] = true
						total[c.Action]++
					}
					want := map[string]bool{}
					for k := range now {
						if !prev[k] {
							want[k[:strings.IndexByte(k, ' ')]+" "+notifier.ActionAdded+k[strings.IndexByte(k, ' '):]] = true
						}
					}
					for k := range prev {
						if !now[k] {
							want[k[:strings.IndexByte(k, ' ')]+" "+notifier.ActionRemoved+k[strings.IndexByte(k, ' '):]] = true
						}
					}
					for k := range want {
						if !gotKeys[k] {
							t.Errorf("operation %d: Affected misses %s", run.Operation, k)
						}
					}
					for k := range gotKeys {
						if !want[k] {
							t.Errorf("operation %d: Affected has %s, which a full re-match does not", run.Operation, k)
						}
					}
					old, err := notifier.Affected(ctx, rowless{st}, prevOp, run.Operation)
					if err != nil {
						t.Fatal(err)
					}
					if len(got) != len(old) {
						t.Errorf("operation %d: Affected found %d changes, without package rows %d", run.Operation, len(got), len(old))
					}
					for i := range min(len(got), len(old)) {
						if !reflect.DeepEqual(got[i], old[i]) {
							t.Errorf("operation %d: change %d: Affected found\n%+v\nwithout package rows\n%+v", run.Operation, i, got[i], old[i])
							break
						}
					}
					t.Logf("operation %d: %d changes, %d (manifest, action, finding)", run.Operation, len(got), len(want))
				}
				prev, prevOp = now, run.Operation
			}
			if total[notifier.ActionAdded] == 0 || total[notifier.ActionRemoved] == 0 {
				t.Errorf("changes: %v; want some added and some removed", total)
			}
		})
	}
}

// key is a finding's identity in a change: id, kind, package, installed
// version, package database.
func key(f *vuln.Finding) string {
	return strings.Join([]string{f.ID, f.PackageKind, f.Package, f.InstalledVersion, f.DBPath}, "|")
}

// rematch matches every manifest in full and returns its findings as
// "digest key" strings.
func rematch(t *testing.T, st store.Store, manifests []*model.ImageIndex) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, m := range manifests {
		idx, err := st.Manifest(context.Background(), m.ManifestDigest)
		if err != nil {
			t.Fatal(err)
		}
		fs, _, err := matcher.Match(context.Background(), st, idx)
		if err != nil {
			t.Fatal(err)
		}
		for i := range fs {
			out[m.ManifestDigest+" "+key(&fs[i])] = true
		}
	}
	return out
}
