package storetest

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// packagesNamed calls PackagesNamed and renders its result as
// "digest distribution-id package-name…" lines.
func packagesNamed(t *testing.T, s store.Store, kind string, names ...string) []string {
	t.Helper()
	pr, ok := s.(store.PackageRows)
	if !ok {
		t.Fatal("the engine does not implement store.PackageRows")
	}
	got, err := pr.PackagesNamed(context.Background(), kind, names)
	if err != nil {
		t.Fatalf("PackagesNamed(%s, %q): %v", kind, names, err)
	}
	var out []string
	for _, m := range got {
		var d *vuln.Distribution
		if err := json.Unmarshal(m.Distribution, &d); err != nil {
			t.Fatalf("distribution of %s: %v", m.Digest, err)
		}
		line := m.Digest[7:11]
		if d != nil {
			line += " " + d.ID + d.VersionID
		}
		if m.IndexerVersion != indexer.Version {
			t.Errorf("indexer version of %s = %q", m.Digest, m.IndexerVersion)
		}
		for _, raw := range m.Packages {
			var p vuln.Package
			if err := json.Unmarshal(raw, &p); err != nil {
				t.Fatalf("package of %s: %v", m.Digest, err)
			}
			line += " " + p.Name + "@" + p.Version
		}
		out = append(out, line)
	}
	return out
}

// testPackageRows: PackagesNamed finds packages by name and source name,
// in the manifest's order, with the manifest's distribution; a manifest
// indexed again replaces its rows, and its rows go when it is pruned.
func testPackageRows(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, m := range []*model.ImageIndex{bookworm(digest1, true), alpine(digest2), bookworm(digest3, false)} {
		if err := s.PutManifest(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, got, want []string) {
		t.Helper()
		if len(got) != len(want) {
			t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
			return
		}
		for i := range got {
			if got[i] != want[i] {
				t.Errorf("%s:\ngot  %q\nwant %q", what, got, want)
				return
			}
		}
	}
	check("by source name", packagesNamed(t, s, vuln.KindDeb, "curl", "glibc"), []string{
		"1111 debian12 libc6@2.36-9+deb12u1 libc-bin@2.36-9+deb12u1 curl@7.88.1-10+deb12u1 libcurl4@7.88.1-10+deb12u1",
		"3333 debian12 libc6@2.36-9+deb12u1 libc-bin@2.36-9+deb12u1",
	})
	check("by name and source name at once", packagesNamed(t, s, vuln.KindDeb, "libssl3", "openssl", "none"), []string{
		"1111 debian12 libssl3@3.0.11-1~deb12u1",
		"3333 debian12 libssl3@3.0.11-1~deb12u1",
	})
	check("another kind", packagesNamed(t, s, vuln.KindDeb, "musl"), nil)
	check("no names", packagesNamed(t, s, vuln.KindDeb), nil)
	apk := packagesNamed(t, s, vuln.KindAPK, alpine(digest2).Packages[0].Name)
	if len(apk) != 1 || apk[0][:4] != "2222" {
		t.Errorf("PackagesNamed(apk) = %q, want the alpine manifest", apk)
	}

	// Indexed again without curl.
	if err := s.PutManifest(ctx, bookworm(digest1, false)); err != nil {
		t.Fatal(err)
	}
	check("after re-indexing", packagesNamed(t, s, vuln.KindDeb, "curl"), nil)

	// Pruned: its rows go with it.
	now := time.Now().UTC().Truncate(time.Second)
	if n, err := s.PruneManifests(ctx, now.Add(time.Hour), 10); err != nil || n != 3 {
		t.Fatalf("PruneManifests = %d, %v; want 3", n, err)
	}
	check("after pruning", packagesNamed(t, s, vuln.KindDeb, "glibc", "libssl3"), nil)
}

// Upgraded12Manifest is a manifest as an engine at schema 12 stored it
// (digest, index JSON), for the engines' tests of migration 0013.
func Upgraded12Manifest(t *testing.T) (string, string) {
	b, err := json.Marshal(bookworm(digest1, true))
	if err != nil {
		t.Fatal(err)
	}
	return digest1, string(b)
}

// CheckUpgradedFrom12 checks a store migrated from schema 12 holding
// Upgraded12Manifest (and a manifest whose index does not decode, under
// digest2): PackagesNamed finds the first one's packages, their rows
// written when first asked, and passes over the second.
func CheckUpgradedFrom12(t *testing.T, s store.Store) {
	got := packagesNamed(t, s, vuln.KindDeb, "curl")
	want := "1111 debian12 curl@7.88.1-10+deb12u1 libcurl4@7.88.1-10+deb12u1"
	if len(got) != 1 || got[0] != want {
		t.Errorf("PackagesNamed after migration = %q, want [%q]", got, want)
	}
	// Asked again: the rows are there, nothing is written twice.
	if again := packagesNamed(t, s, vuln.KindDeb, "curl"); len(again) != 1 || again[0] != want {
		t.Errorf("PackagesNamed a second time = %q", again)
	}
}
