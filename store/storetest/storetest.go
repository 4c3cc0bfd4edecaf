// Package storetest is the conformance suite of store.Store: every engine
// (store/sqlite, PostgreSQL) runs it from its own tests and must pass it.
//
// Times given to the store are whole seconds in UTC, and compared with
// time.Time.Equal, so an engine may keep any precision down to the second.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// Run runs the conformance suite. open returns a new, empty store for
// each subtest; Run closes it when the subtest ends. hooks reach what the
// interface does not (see Hooks).
func Run(t *testing.T, open func(t *testing.T) store.Store, hooks Hooks) {
	run(t, open, hooks, nil)
}

// RunOnly runs the named tests of the conformance suite (the names of
// Run's subtests: "Layers", "DiffUpdates", …), and the streamed versions
// of those that have one: for a store that implements only some roles of
// store.Store, such as the in-memory fake of store/memstore. A name the
// suite does not have fails the test.
func RunOnly(t *testing.T, open func(t *testing.T) store.Store, hooks Hooks, names ...string) {
	only := map[string]bool{}
	for _, n := range names {
		only[n] = true
	}
	run(t, open, hooks, only)
}

// run runs the suite, only the tests named in only when it is not nil.
func run(t *testing.T, open func(t *testing.T) store.Store, hooks Hooks, only map[string]bool) {
	withHooks := func(fn func(*testing.T, store.Store, Hooks)) func(*testing.T, store.Store) {
		return func(t *testing.T, s store.Store) {
			if hooks.Midway == nil || hooks.Abandon == nil || hooks.Leftovers == nil {
				t.Fatal("the engine does not give every storetest.Hooks")
			}
			fn(t, s, hooks)
		}
	}
	tests := []struct {
		name string
		fn   func(*testing.T, store.Store)
	}{
		{"Layers", testLayers},
		{"Manifests", testManifests},
		{"ManifestsWithPackages", testManifestsWithPackages},
		{"PackageRows", testPackageRows},
		{"ScanNumbering", testScanNumbering},
		{"ConcurrentCreateScan", testConcurrentCreateScan},
		{"GetScan", testGetScan},
		{"BadInput", testBadInput},
		{"Records", testRecords},
		{"RecordsByID", testRecordsByID},
		{"DiffUpdates", testDiffUpdates},
		{"DuplicateKeys", testDuplicateKeys},
		{"SourceStatuses", testSourceStatuses},
		{"SourceData", testSourceData},
		{"PruneUpdates", testPruneUpdates},
		{"HiddenOperation", withHooks(testHiddenOperation)},
		{"FailedUpdate", withHooks(testFailedUpdate)},
		{"AbandonedUpdate", withHooks(testAbandonedUpdate)},
		{"Tokens", testTokens},
		{"OutboxEnqueue", testOutboxEnqueue},
		{"OutboxClaim", testOutboxClaim},
		{"OutboxConcurrentClaim", testOutboxConcurrentClaim},
		{"PruneDelivered", testPruneDelivered},
		{"OperationRecords", testOperationRecords},
		{"LatestScans", testLatestScans},
		{"PruneScans", testPruneScans},
		{"PruneManifests", testPruneManifests},
		{"PruneLayers", testPruneLayers},
		{"Blobs", testBlobs},
		{"PruneLayerBlobs", testPruneLayerBlobs},
		{"Leases", testLeases},
		{"LeasesConcurrent", testLeasesConcurrent},
		{"Jobs", testJobs},
		{"JobsConcurrent", testJobsConcurrent},
		{"ScanKey", testScanKey},
		{"Apps", testApps},
		{"Deployments", testDeployments},
		{"AppScans", testAppScans},
		{"AppVerdicts", testAppVerdicts},
	}
	known := map[string]bool{"StreamError": true}
	for _, tc := range tests {
		known[tc.name] = true
	}
	for n := range only {
		if !known[n] {
			t.Errorf("storetest: no test %q", n)
		}
	}
	for _, tc := range tests {
		if only != nil && !only[tc.name] {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
	// The tests of updates again, PutUpdate going through PutUpdateStream.
	sh := streamedHooks(hooks)
	withStreamedHooks := func(fn func(*testing.T, store.Store, Hooks)) func(*testing.T, store.Store) {
		return func(t *testing.T, s store.Store) {
			if hooks.Midway == nil || hooks.Abandon == nil || hooks.Leftovers == nil {
				t.Fatal("the engine does not give every storetest.Hooks")
			}
			fn(t, s, sh)
		}
	}
	tests = append(tests, struct {
		name string
		fn   func(*testing.T, store.Store)
	}{"StreamError", withHooks(testStreamError)})
	for _, tc := range tests {
		if !streamedTests[tc.name] || only != nil && !only[tc.name] {
			continue
		}
		fn := tc.fn
		switch tc.name {
		case "HiddenOperation":
			fn = withStreamedHooks(testHiddenOperation)
		case "FailedUpdate":
			fn = withStreamedHooks(testFailedUpdate)
		case "AbandonedUpdate":
			fn = withStreamedHooks(testAbandonedUpdate)
		case "StreamError":
			fn = withStreamedHooks(testStreamError)
		}
		t.Run("Streamed/"+tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			fn(t, streamed{s})
		})
	}
}

// sameJSON fails the test unless got and want encode to the same JSON.
func sameJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.MarshalIndent(got, "", "  ")
	if err != nil {
		t.Fatalf("%s: encode: %v", what, err)
	}
	w, err := json.MarshalIndent(want, "", "  ")
	if err != nil {
		t.Fatalf("%s: encode: %v", what, err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\ngot  %s\nwant %s", what, g, w)
	}
}

// keys returns "source id ecosystem package" of each record, sorted.
func keys(rs []vuln.Record) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = fmt.Sprintf("%s %s %s %s", r.Source, r.ID, r.Ecosystem, r.Package)
	}
	slices.Sort(out)
	return out
}

// sorted returns records sorted as keys sorts them.
func sorted(rs []vuln.Record) []vuln.Record {
	rs = slices.Clone(rs)
	slices.SortFunc(rs, func(a, b vuln.Record) int {
		return strings.Compare(keys([]vuln.Record{a})[0], keys([]vuln.Record{b})[0])
	})
	return rs
}

// pick returns the records of rs for which keep is true.
func pick(rs []vuln.Record, keep func(vuln.Record) bool) []vuln.Record {
	var out []vuln.Record
	for _, r := range rs {
		if keep(r) {
			out = append(out, r)
		}
	}
	return out
}

func isPackage(eco string, names ...string) func(vuln.Record) bool {
	return func(r vuln.Record) bool { return r.Ecosystem == eco && slices.Contains(names, r.Package) }
}

func testLayers(t *testing.T, s store.Store) {
	ctx := context.Background()
	const digest = "sha256:8a1e25ce7c4f75e372e9884f8f7b1bedcfe4a7a7d452eb4b0a1c7477c9a90345"
	if _, err := s.Layer(ctx, digest); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Layer of an empty store: err = %v, want ErrNotFound", err)
	}
	old := layerIndex(digest, "0")
	if err := s.PutLayer(ctx, old); err != nil {
		t.Fatal(err)
	}
	got, err := s.Layer(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Layer", got, old)

	// A re-index by a newer indexer replaces the stored index.
	newer := layerIndex(digest, "1")
	newer.Entries = newer.Entries[:1]
	if err := s.PutLayer(ctx, newer); err != nil {
		t.Fatal(err)
	}
	got, err = s.Layer(ctx, digest)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Layer after replace", got, newer)

	if _, err := s.Layer(ctx, "sha256:0000000000000000000000000000000000000000000000000000000000000000"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Layer of a missing digest: err = %v, want ErrNotFound", err)
	}
}

const (
	digest1 = "sha256:1111111111111111111111111111111111111111111111111111111111111111"
	digest2 = "sha256:2222222222222222222222222222222222222222222222222222222222222222"
	digest3 = "sha256:3333333333333333333333333333333333333333333333333333333333333333"
)

func testManifests(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.Manifest(ctx, digest1); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Manifest of an empty store: err = %v, want ErrNotFound", err)
	}
	want := []*model.ImageIndex{bookworm(digest1, true), alpine(digest2)}
	for _, m := range want {
		if err := s.PutManifest(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range want {
		got, err := s.Manifest(ctx, m.ManifestDigest)
		if err != nil {
			t.Fatal(err)
		}
		sameJSON(t, "Manifest "+m.ManifestDigest, got, m)
	}

	// Re-indexing replaces the stored index.
	m1b := bookworm(digest1, false)
	m1b.Warnings = []string{"usr/lib/x: dpkg: truncated"}
	if err := s.PutManifest(ctx, m1b); err != nil {
		t.Fatal(err)
	}
	got, err := s.Manifest(ctx, digest1)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Manifest after replace", got, m1b)

	if _, err := s.Manifest(ctx, digest3); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Manifest of a missing digest: err = %v, want ErrNotFound", err)
	}
}

func testManifestsWithPackages(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, m := range []*model.ImageIndex{bookworm(digest1, true), bookworm(digest2, false), alpine(digest3)} {
		if err := s.PutManifest(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	check := func(kind string, names []string, want ...string) {
		t.Helper()
		got, err := s.ManifestsWithPackages(ctx, kind, names)
		if err != nil {
			t.Fatalf("ManifestsWithPackages(%s, %q): %v", kind, names, err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Errorf("ManifestsWithPackages(%s, %q) = %q, want %q", kind, names, got, want)
		}
	}
	check(vuln.KindDeb, []string{"glibc"}, digest1, digest2) // source name
	check(vuln.KindDeb, []string{"libc6"}, digest1, digest2) // binary name
	check(vuln.KindDeb, []string{"curl"}, digest1)           // both
	check(vuln.KindDeb, []string{"libcurl4", "libssl3"}, digest1, digest2)
	check(vuln.KindDeb, []string{"base-files"}, digest1, digest2) // no source name
	check(vuln.KindAPK, []string{"openssl"}, digest3)             // apk origin
	check(vuln.KindGo, []string{"golang.org/x/net"}, digest3)     // language package
	check(vuln.KindAPK, []string{"glibc", "libc6"})               // other kind
	check(vuln.KindDeb, []string{"musl", "golang.org/x/net"})     // other kinds' names
	check(vuln.KindDeb, []string{"glibc", "glibc", "libc6"}, digest1, digest2)
	check(vuln.KindDeb, nil)
	check(vuln.KindDeb, []string{""})

	// A re-indexed manifest's packages replace the old ones.
	if err := s.PutManifest(ctx, bookworm(digest1, false)); err != nil {
		t.Fatal(err)
	}
	check(vuln.KindDeb, []string{"curl"})
	check(vuln.KindDeb, []string{"glibc"}, digest1, digest2)
}

func testScanNumbering(t *testing.T, s store.Store) {
	ctx := context.Background()
	const deb, alp = "docker.io/library/debian:12", "docker.io/library/alpine:3.20"
	if got, err := s.ListScans(ctx, deb); err != nil || len(got) != 0 {
		t.Fatalf("ListScans of an unscanned image = %v, %v; want none", got, err)
	}
	base := time.Date(2024, time.May, 1, 12, 0, 0, 0, time.UTC)
	var want []store.Scan
	for i, image := range []string{deb, deb, alp, deb, alp} {
		sc := store.Scan{
			Image:          image,
			ScannedAt:      base.Add(time.Duration(i) * time.Hour),
			ManifestDigest: digest1,
			Packages:       100 + i,
			Counts:         store.SeverityCounts{vuln.SeverityCritical: i, vuln.SeverityHigh: 3, vuln.SeverityUnknown: 1},
			Report:         []byte(fmt.Sprintf(`{"image":%q,"n":%d}`, image, i)),
		}
		idx, err := s.CreateScan(ctx, &sc)
		if err != nil {
			t.Fatal(err)
		}
		wantIdx := map[int]int{0: 1, 1: 2, 2: 1, 3: 3, 4: 2}[i]
		if idx != wantIdx {
			t.Errorf("scan %d of %s: index %d, want %d", i, image, idx, wantIdx)
		}
		sc.Index = wantIdx
		if image == deb {
			want = append(want, sc)
		}
	}
	got, err := s.ListScans(ctx, deb)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("ListScans(%s): %d scans, want %d", deb, len(got), len(want))
	}
	for i := range got {
		w := want[i]
		w.Report = nil
		checkScan(t, fmt.Sprintf("ListScans[%d]", i), &got[i], &w)
	}
	for _, w := range want {
		g, err := s.GetScan(ctx, deb, w.Index)
		if err != nil {
			t.Fatal(err)
		}
		checkScan(t, fmt.Sprintf("GetScan(%d)", w.Index), g, &w)
	}
}

// checkScan compares two scans, times with Equal.
func checkScan(t *testing.T, what string, got, want *store.Scan) {
	t.Helper()
	if !got.ScannedAt.Equal(want.ScannedAt) {
		t.Errorf("%s: ScannedAt %v, want %v", what, got.ScannedAt, want.ScannedAt)
	}
	g, w := *got, *want
	g.ScannedAt, w.ScannedAt = time.Time{}, time.Time{}
	if string(g.Report) != string(w.Report) {
		t.Errorf("%s: Report %q, want %q", what, g.Report, w.Report)
	}
	g.Report, w.Report = nil, nil
	sameJSON(t, what, g, w)
}

func testConcurrentCreateScan(t *testing.T, s store.Store) {
	ctx := context.Background()
	const n = 40
	images := []string{"registry.example:5000/app@" + digest1, "oci:/tmp/layout:v1"}
	var (
		wg  sync.WaitGroup
		mu  sync.Mutex
		got = map[string][]int{}
	)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			image := images[i%len(images)]
			idx, err := s.CreateScan(ctx, &store.Scan{Image: image, ScannedAt: time.Date(2024, 1, 1, 0, 0, i, 0, time.UTC),
				ManifestDigest: digest1, Counts: store.SeverityCounts{}, Report: []byte("{}")})
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			got[image] = append(got[image], idx)
			mu.Unlock()
		}()
	}
	wg.Wait()
	for _, image := range images {
		idx := got[image]
		slices.Sort(idx)
		for i, v := range idx {
			if v != i+1 {
				t.Fatalf("%s: indexes %v, want 1…%d", image, idx, n/len(images))
			}
		}
		if len(idx) != n/len(images) {
			t.Errorf("%s: %d indexes, want %d", image, len(idx), n/len(images))
		}
		list, err := s.ListScans(ctx, image)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != n/len(images) {
			t.Errorf("ListScans(%s): %d scans, want %d", image, len(list), n/len(images))
		}
	}
}

func testGetScan(t *testing.T, s store.Store) {
	ctx := context.Background()
	const image = "docker.io/library/debian:12"
	if _, err := s.GetScan(ctx, image, 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("latest scan of an unscanned image: err = %v, want ErrNotFound", err)
	}
	for i := range 3 {
		if _, err := s.CreateScan(ctx, &store.Scan{Image: image, ScannedAt: time.Date(2024, 1, 1+i, 0, 0, 0, 0, time.UTC),
			ManifestDigest: digest1, Packages: i, Report: []byte(fmt.Sprintf(`{"scan":%d}`, i+1))}); err != nil {
			t.Fatal(err)
		}
	}
	latest, err := s.GetScan(ctx, image, 0)
	if err != nil {
		t.Fatal(err)
	}
	if latest.Index != 3 || latest.Image != image || string(latest.Report) != `{"scan":3}` || latest.Packages != 2 {
		t.Errorf("latest scan = %d %s %q %d, want 3 %s {\"scan\":3} 2", latest.Index, latest.Image, latest.Report, latest.Packages, image)
	}
	if sc, err := s.GetScan(ctx, image, 2); err != nil || sc.Index != 2 || string(sc.Report) != `{"scan":2}` {
		t.Errorf("GetScan(2) = %+v, %v", sc, err)
	}
	if _, err := s.GetScan(ctx, image, 4); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetScan(4) of 3 scans: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetScan(ctx, "docker.io/library/debian:11", 1); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetScan of another image: err = %v, want ErrNotFound", err)
	}
	if _, err := s.GetScan(ctx, image, -1); err == nil || errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetScan(-1): err = %v, want an error other than ErrNotFound", err)
	}
}

// testBadInput checks that malformed requests are errors, never panics
// or silent no-ops.
func testBadInput(t *testing.T, s store.Store) {
	ctx := context.Background()
	for name, fn := range map[string]func() error{
		"PutLayer(nil)":           func() error { return s.PutLayer(ctx, nil) },
		"PutLayer(no digest)":     func() error { return s.PutLayer(ctx, layerIndex("", "1")) },
		"PutManifest(nil)":        func() error { return s.PutManifest(ctx, nil) },
		"PutManifest(no digest)":  func() error { return s.PutManifest(ctx, bookworm("", true)) },
		"CreateScan(nil)":         func() error { _, err := s.CreateScan(ctx, nil); return err },
		"CreateScan(no image)":    func() error { _, err := s.CreateScan(ctx, &store.Scan{ManifestDigest: digest1}); return err },
		"PutUpdate(no source)":    func() error { _, err := s.PutUpdate(ctx, "", "fp", debian1()); return err },
		"PutUpdate(other source)": func() error { _, err := s.PutUpdate(ctx, srcGo, "fp", debian1()); return err },
		"PutUpdate(no package)": func() error {
			rs := goRecords()
			rs[1].Package = ""
			_, err := s.PutUpdate(ctx, srcGo, "fp", rs)
			return err
		},
		"RecordRun(nil)":       func() error { return s.RecordRun(ctx, nil) },
		"RecordRun(no source)": func() error { return s.RecordRun(ctx, &store.SourceRun{StartedAt: time.Now()}) },
		"PruneUpdates(-1)":     func() error { _, err := s.PruneUpdates(ctx, srcDebian, -1); return err },
	} {
		if err := fn(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// None of them stored anything.
	if ops, err := s.UpdateOperations(ctx, srcGo); err != nil || len(ops) != 0 {
		t.Errorf("UpdateOperations after bad updates = %v, %v; want none", ops, err)
	}
	if list, err := s.ListScans(ctx, ""); err != nil || len(list) != 0 {
		t.Errorf("ListScans(\"\") = %v, %v; want none", list, err)
	}
}

// putUpdate stores an update and checks the operation it returns.
func putUpdate(t *testing.T, s store.Store, source, fingerprint string, rs []vuln.Record) *store.UpdateOperation {
	t.Helper()
	op, err := s.PutUpdate(context.Background(), source, fingerprint, rs)
	if err != nil {
		t.Fatalf("PutUpdate(%s): %v", source, err)
	}
	if op.ID <= 0 || op.Source != source || op.Fingerprint != fingerprint || op.Records != len(rs) || op.CreatedAt.IsZero() {
		t.Fatalf("PutUpdate(%s) = %+v", source, op)
	}
	return op
}

// checkRecords compares Records(ecosystem, names) with want, in any order.
func checkRecords(t *testing.T, s store.Store, ecosystem string, names []string, want []vuln.Record) {
	t.Helper()
	got, err := s.Records(context.Background(), ecosystem, names)
	if err != nil {
		t.Fatalf("Records(%s, %q): %v", ecosystem, names, err)
	}
	if !slices.Equal(keys(got), keys(want)) {
		t.Errorf("Records(%s, %q):\ngot  %q\nwant %q", ecosystem, names, keys(got), keys(want))
		return
	}
	sameJSON(t, fmt.Sprintf("Records(%s, %q)", ecosystem, names), sorted(got), sorted(want))
}

func testRecords(t *testing.T, s store.Store) {
	deb12 := []string{"glibc", "curl", "openssl", "zlib"}
	checkRecords(t, s, "Debian:12", deb12, nil) // empty store

	putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())
	// Records without a Source are the update's source's.
	noSource := goRecords()
	for i := range noSource {
		noSource[i].Source = ""
	}
	putUpdate(t, s, srcGo, "sha256:go01", noSource)
	checkRecords(t, s, "Debian:12", deb12, pick(debian1(), isPackage("Debian:12", deb12...)))
	checkRecords(t, s, "Debian:12", []string{"glibc"}, pick(debian1(), isPackage("Debian:12", "glibc")))
	checkRecords(t, s, "Debian:11", []string{"glibc"}, pick(debian1(), isPackage("Debian:11", "glibc")))
	checkRecords(t, s, "Go", []string{"stdlib", "golang.org/x/net", "golang.org/x/text"}, goRecords())

	// A second source for the same ecosystem: both sources' records.
	putUpdate(t, s, srcOSVDebian, "sha256:osv1", osvDebian())
	want := append(pick(debian1(), isPackage("Debian:12", "glibc")), osvDebian()...)
	checkRecords(t, s, "Debian:12", []string{"glibc"}, want)

	// A new operation of a source replaces its records, not the other
	// source's.
	putUpdate(t, s, srcDebian, "sha256:bbbb", debian2())
	want = append(pick(debian2(), isPackage("Debian:12", deb12...)), osvDebian()...)
	checkRecords(t, s, "Debian:12", deb12, want)
	checkRecords(t, s, "Debian:12", []string{"curl"}, nil) // withdrawn

	// An update identical to an earlier one.
	putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())
	checkRecords(t, s, "Debian:12", []string{"curl"}, pick(debian1(), isPackage("Debian:12", "curl")))

	// No match.
	checkRecords(t, s, "Debian:12", []string{"libc6", "musl"}, nil)
	checkRecords(t, s, "Debian:13", []string{"glibc"}, nil)
	checkRecords(t, s, "Alpine:v3.20", []string{"glibc"}, nil)
	checkRecords(t, s, "Debian:12", nil, nil)
	checkRecords(t, s, "", []string{"glibc"}, nil)

	// Many names at once, as a report asks.
	names := []string{"glibc"}
	for i := range 300 {
		names = append(names, fmt.Sprintf("lib%03d", i))
	}
	checkRecords(t, s, "Debian:12", names, append(pick(debian1(), isPackage("Debian:12", "glibc")), osvDebian()...))

	// An empty update empties the source.
	putUpdate(t, s, srcGo, "sha256:go02", nil)
	checkRecords(t, s, "Go", []string{"stdlib", "golang.org/x/net"}, nil)
}

// checkRecordsByID checks RecordsByID(ids) against want.
func checkRecordsByID(t *testing.T, s store.Store, ids []string, want []vuln.Record) {
	t.Helper()
	got, err := s.RecordsByID(context.Background(), ids)
	if err != nil {
		t.Fatalf("RecordsByID(%q): %v", ids, err)
	}
	if !slices.Equal(keys(got), keys(want)) {
		t.Errorf("RecordsByID(%q):\ngot  %q\nwant %q", ids, keys(got), keys(want))
		return
	}
	sameJSON(t, fmt.Sprintf("RecordsByID(%q)", ids), sorted(got), sorted(want))
}

func hasID(ids ...string) func(vuln.Record) bool {
	return func(r vuln.Record) bool { return slices.Contains(ids, r.ID) }
}

// testRecordsByID: the current records of any ecosystem and source by id,
// never by alias, and never those of an older operation.
func testRecordsByID(t *testing.T, s store.Store) {
	checkRecordsByID(t, s, []string{"CVE-2023-4911"}, nil) // empty store
	putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())
	putUpdate(t, s, srcGo, "sha256:go01", goRecords())
	putUpdate(t, s, srcOSVDebian, "sha256:osv1", osvDebian())

	checkRecordsByID(t, s, []string{"CVE-2023-4911"}, pick(debian1(), hasID("CVE-2023-4911")))
	// Both sources, every ecosystem and package of an id.
	checkRecordsByID(t, s, []string{"DSA-5514-1"}, append(pick(debian1(), hasID("DSA-5514-1")), osvDebian()...))
	checkRecordsByID(t, s, []string{"GO-2024-2687", "GO-2024-2687", ""}, goRecords())
	// Ids only, never aliases: CVE-2023-45288 is an alias of GO-2024-2687.
	checkRecordsByID(t, s, []string{"CVE-2023-45288", "GHSA-4v7x-pqxf-cx7m", "CVE-2099-0001"}, nil)
	checkRecordsByID(t, s, nil, nil)
	checkRecordsByID(t, s, []string{""}, nil)

	// A new operation replaces the source's records: the withdrawn ones
	// are gone, the kept ones found once.
	putUpdate(t, s, srcDebian, "sha256:bbbb", debian2())
	var all []string
	for _, r := range append(debian1(), debian2()...) {
		all = append(all, r.ID)
	}
	checkRecordsByID(t, s, all, append(debian2(), osvDebian()...))

	// Many ids at once, up to the bound.
	many := []string{"GO-2024-2687"}
	for i := range store.MaxRecordIDs - 1 {
		many = append(many, fmt.Sprintf("CVE-2099-%05d", i))
	}
	checkRecordsByID(t, s, many, goRecords())
	// Beyond it: an error, however the ids repeat below it.
	many = append(many, "CVE-2100-00001", "CVE-2100-00001")
	if _, err := s.RecordsByID(context.Background(), many); !errors.Is(err, store.ErrTooManyIDs) {
		t.Errorf("RecordsByID(%d ids): err = %v, want ErrTooManyIDs", len(many), err)
	}

	// An empty update empties the source.
	putUpdate(t, s, srcGo, "sha256:go02", nil)
	checkRecordsByID(t, s, []string{"GO-2024-2687"}, nil)
}

func testDiffUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	op1 := putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())
	goOp := putUpdate(t, s, srcGo, "sha256:go01", goRecords())
	op2 := putUpdate(t, s, srcDebian, "sha256:bbbb", debian2())

	diff := func(from, to int64) *store.Diff {
		t.Helper()
		d, err := s.DiffUpdates(ctx, from, to)
		if err != nil {
			t.Fatalf("DiffUpdates(%d, %d): %v", from, to, err)
		}
		return d
	}
	check := func(what string, got, want []vuln.Record) {
		t.Helper()
		if !slices.Equal(keys(got), keys(want)) {
			t.Errorf("%s:\ngot  %q\nwant %q", what, keys(got), keys(want))
			return
		}
		sameJSON(t, what, sorted(got), sorted(want))
	}

	d := diff(op1.ID, op2.ID)
	check("added", d.Added, debian2()[len(debian2())-1:])                        // CVE-2023-6246
	check("removed", d.Removed, pick(debian1(), isPackage("Debian:12", "curl"))) // CVE-2023-38545
	check("changed", d.Changed, debian2()[:1])                                   // CVE-2023-4911, as in op2

	d = diff(op2.ID, op1.ID) // backwards
	check("backwards added", d.Added, pick(debian1(), isPackage("Debian:12", "curl")))
	check("backwards removed", d.Removed, debian2()[len(debian2())-1:])
	check("backwards changed", d.Changed, debian1()[:1])

	d = diff(0, op1.ID)
	check("from 0 added", d.Added, debian1())
	check("from 0 removed", d.Removed, nil)
	check("from 0 changed", d.Changed, nil)

	d = diff(op2.ID, op2.ID)
	check("same added", d.Added, nil)
	check("same removed", d.Removed, nil)
	check("same changed", d.Changed, nil)

	if _, err := s.DiffUpdates(ctx, op1.ID, goOp.ID); err == nil {
		t.Error("DiffUpdates across sources: no error")
	}
	if _, err := s.DiffUpdates(ctx, op2.ID, op2.ID+1000); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DiffUpdates to a missing operation: err = %v, want ErrNotFound", err)
	}
	if _, err := s.DiffUpdates(ctx, op2.ID+1000, op2.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DiffUpdates from a missing operation: err = %v, want ErrNotFound", err)
	}
}

func testDuplicateKeys(t *testing.T, s store.Store) {
	ctx := context.Background()
	op1 := putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())

	bad := debian2()
	dup := bad[0]
	dup.Description = "the same advisory for the same package, stated again differently"
	bad = append(bad, dup)
	if _, err := s.PutUpdate(ctx, srcDebian, "sha256:bad", bad); err == nil {
		t.Fatal("PutUpdate with two records of one key: no error")
	}
	exact := append(debian2(), debian2()[2])
	if _, err := s.PutUpdate(ctx, srcDebian, "sha256:bad2", exact); err == nil {
		t.Fatal("PutUpdate with a record twice: no error")
	}

	ops, err := s.UpdateOperations(ctx, srcDebian)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != 1 || ops[0].ID != op1.ID {
		t.Errorf("UpdateOperations after failed updates = %+v, want only %d", ops, op1.ID)
	}
	checkRecords(t, s, "Debian:12", []string{"glibc", "curl", "openssl", "zlib"}, pick(debian1(), isPackage("Debian:12", "glibc", "curl", "openssl", "zlib")))
	d, err := s.DiffUpdates(ctx, 0, op1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Added) != len(debian1()) {
		t.Errorf("operation %d has %d records after failed updates, want %d", op1.ID, len(d.Added), len(debian1()))
	}
}

func testSourceStatuses(t *testing.T, s store.Store) {
	ctx := context.Background()
	st, err := s.SourceStatuses(ctx)
	if err != nil || len(st) != 0 {
		t.Fatalf("SourceStatuses of an empty store = %v, %v; want none", st, err)
	}
	t1 := time.Date(2024, time.May, 1, 6, 0, 0, 0, time.UTC)
	t2 := t1.Add(6 * time.Hour)
	op := putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())
	ok := &store.SourceRun{Source: srcDebian, StartedAt: t1, Duration: 2500 * time.Millisecond, Operation: op.ID,
		Validators: map[string]string{"ETag": `"5f3a-61d1c0b2"`, "Last-Modified": "Wed, 01 May 2024 05:58:12 GMT"}}
	failed := &store.SourceRun{Source: srcDebian, StartedAt: t2, Duration: 30 * time.Second,
		Err: "fetch https://security-tracker.debian.org/tracker/data/json: 503 Service Unavailable"}
	goFailed := &store.SourceRun{Source: srcGo, StartedAt: t1, Duration: time.Second, Err: "parse GO-2024-2687.json: unexpected EOF"}
	for _, r := range []*store.SourceRun{ok, failed, goFailed} {
		if err := s.RecordRun(ctx, r); err != nil {
			t.Fatal(err)
		}
	}
	st, err = s.SourceStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]store.SourceStatus{}
	for _, x := range st {
		byName[x.Source] = x
	}
	deb, ok1 := byName[srcDebian]
	gst, ok2 := byName[srcGo]
	if !ok1 || !ok2 {
		t.Fatalf("SourceStatuses = %+v, want %s and %s", st, srcDebian, srcGo)
	}
	checkRun(t, srcDebian, deb.LastRun, failed)
	if !deb.LastSuccess.Equal(t1) {
		t.Errorf("%s: LastSuccess %v, want %v", srcDebian, deb.LastSuccess, t1)
	}
	if deb.Latest == nil || deb.Latest.ID != op.ID || deb.Latest.Fingerprint != op.Fingerprint || deb.Latest.Records != op.Records ||
		deb.Latest.Source != srcDebian || !deb.Latest.CreatedAt.Equal(op.CreatedAt) {
		t.Errorf("%s: Latest %+v, want %+v", srcDebian, deb.Latest, op)
	}
	checkRun(t, srcGo, gst.LastRun, goFailed)
	if !gst.LastSuccess.IsZero() || gst.Latest != nil {
		t.Errorf("%s: LastSuccess %v, Latest %+v; want neither", srcGo, gst.LastSuccess, gst.Latest)
	}

	// A later success moves LastSuccess and keeps the validators.
	t3 := t2.Add(6 * time.Hour)
	unchanged := &store.SourceRun{Source: srcDebian, StartedAt: t3, Duration: 300 * time.Millisecond, Validators: ok.Validators}
	if err := s.RecordRun(ctx, unchanged); err != nil {
		t.Fatal(err)
	}
	st, err = s.SourceStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range st {
		if x.Source == srcDebian {
			checkRun(t, srcDebian, x.LastRun, unchanged)
			if !x.LastSuccess.Equal(t3) {
				t.Errorf("%s: LastSuccess %v, want %v", srcDebian, x.LastSuccess, t3)
			}
		}
	}
}

func checkRun(t *testing.T, what string, got, want *store.SourceRun) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: no last run", what)
		return
	}
	if !got.StartedAt.Equal(want.StartedAt) {
		t.Errorf("%s: StartedAt %v, want %v", what, got.StartedAt, want.StartedAt)
	}
	g, w := *got, *want
	g.StartedAt, w.StartedAt = time.Time{}, time.Time{}
	sameJSON(t, what+" last run", g, w)
}

func testPruneUpdates(t *testing.T, s store.Store) {
	ctx := context.Background()
	op1 := putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())
	osv := putUpdate(t, s, srcOSVDebian, "sha256:osv1", osvDebian())
	op2 := putUpdate(t, s, srcDebian, "sha256:bbbb", debian2())
	op3 := putUpdate(t, s, srcDebian, "sha256:cccc", debian3())

	n, err := s.PruneUpdates(ctx, srcDebian, 2)
	if err != nil {
		t.Fatal(err)
	}
	if n != 1 {
		t.Errorf("PruneUpdates(keep 2 of 3) removed %d, want 1", n)
	}
	ops, err := s.UpdateOperations(ctx, srcDebian)
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, op := range ops {
		ids = append(ids, op.ID)
	}
	if !slices.Equal(ids, []int64{op3.ID, op2.ID}) {
		t.Errorf("UpdateOperations after prune = %v, want [%d %d]", ids, op3.ID, op2.ID)
	}
	deb12 := []string{"glibc", "curl", "openssl", "zlib"}
	checkRecords(t, s, "Debian:12", deb12, append(pick(debian3(), isPackage("Debian:12", deb12...)), osvDebian()...))
	if _, err := s.DiffUpdates(ctx, op1.ID, op3.ID); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DiffUpdates from a pruned operation: err = %v, want ErrNotFound", err)
	}
	d, err := s.DiffUpdates(ctx, op2.ID, op3.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Added) != 0 || len(d.Removed) != 0 || len(d.Changed) != 1 || d.Changed[0].Package != "zlib" || d.Changed[0].Status != vuln.StatusFixed {
		t.Errorf("DiffUpdates(%d, %d) after prune = %+v, want zlib changed", op2.ID, op3.ID, d)
	}
	d, err = s.DiffUpdates(ctx, 0, op2.ID) // op2 kept all its records
	if err != nil {
		t.Fatal(err)
	}
	check := func(got []vuln.Record, want []vuln.Record) {
		t.Helper()
		if !slices.Equal(keys(got), keys(want)) {
			t.Errorf("records of operation %d after prune:\ngot  %q\nwant %q", op2.ID, keys(got), keys(want))
		}
		sameJSON(t, "records after prune", sorted(got), sorted(want))
	}
	check(d.Added, debian2())

	if n, err := s.PruneUpdates(ctx, srcDebian, 2); err != nil || n != 0 {
		t.Errorf("PruneUpdates again = %d, %v; want 0", n, err)
	}
	if n, err := s.PruneUpdates(ctx, "no-such-source", 1); err != nil || n != 0 {
		t.Errorf("PruneUpdates of an unknown source = %d, %v; want 0", n, err)
	}

	// The other source is untouched; keep 0 removes a source's data.
	if ops, err := s.UpdateOperations(ctx, srcOSVDebian); err != nil || len(ops) != 1 || ops[0].ID != osv.ID {
		t.Errorf("UpdateOperations(%s) = %+v, %v; want only %d", srcOSVDebian, ops, err, osv.ID)
	}
	if n, err := s.PruneUpdates(ctx, srcOSVDebian, 0); err != nil || n != 1 {
		t.Errorf("PruneUpdates(keep 0) = %d, %v; want 1", n, err)
	}
	checkRecords(t, s, "Debian:12", []string{"glibc"}, pick(debian3(), isPackage("Debian:12", "glibc")))

	// What is left still works as a base for new operations.
	op4 := putUpdate(t, s, srcDebian, "sha256:dddd", debian1())
	d, err = s.DiffUpdates(ctx, op3.ID, op4.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Added) != 1 || len(d.Removed) != 1 || len(d.Changed) != 2 {
		t.Errorf("DiffUpdates(%d, %d) = %d added, %d removed, %d changed; want 1, 1, 2", op3.ID, op4.ID, len(d.Added), len(d.Removed), len(d.Changed))
	}
	checkRecords(t, s, "Debian:12", deb12, pick(debian1(), isPackage("Debian:12", deb12...)))
}
