package notifier_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/notifier"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/memstore"
	"github.com/lapps/lapps/vuln"
)

// The unit tests of Affected and Notify on the in-memory store: made-up
// indexes and records, no image and no database, so that each case runs in
// milliseconds. TestNotifyRealAlpine is the integration test on real data.

const (
	tracker = "debian-tracker"
	// Manifests of the fixture.
	mApp  = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" // Debian 12: glibc, openssl, curl
	mBase = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb" // Debian 12: glibc, openssl
	mOld  = "sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc" // Debian 11: glibc; no scan
	mAlp  = "sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd" // Alpine: musl
)

// debianIndex is the index of a Debian image of release version with the
// given packages (name, version, source name).
func debianIndex(digest, version string, pkgs ...[3]string) *model.ImageIndex {
	idx := &model.ImageIndex{
		ManifestDigest: digest, IndexerVersion: indexer.Version,
		Distribution: &vuln.Distribution{ID: "debian", VersionID: version},
		Layers:       []model.LayerInfo{{Digest: "sha256:" + strings.Repeat("1", 64)}},
	}
	for _, p := range pkgs {
		idx.Packages = append(idx.Packages, vuln.Package{Name: p[0], Version: p[1], SourceName: p[2], Kind: vuln.KindDeb,
			Arch: "amd64", DBPath: "var/lib/dpkg/status"})
	}
	return idx
}

var (
	libc6    = [3]string{"libc6", "2.36-9+deb12u1", "glibc"}
	libcBin  = [3]string{"libc-bin", "2.36-9+deb12u1", "glibc"}
	libssl3  = [3]string{"libssl3", "3.0.11-1~deb12u1", "openssl"}
	curl     = [3]string{"curl", "7.88.1-10+deb12u1", "curl"}
	libcurl4 = [3]string{"libcurl4", "7.88.1-10+deb12u1", "curl"}
	libc6Old = [3]string{"libc6", "2.31-13+deb11u5", "glibc"}
)

// deb is a fixed Debian record of the tracker.
func deb(id, eco, pkg, fixed string, sev vuln.Severity) vuln.Record {
	return vuln.Record{ID: id, Source: tracker, Ecosystem: eco, Package: pkg, Status: vuln.StatusFixed, Severity: sev,
		Ranges: []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "0", Fixed: fixed}}}
}

// Two updates of the tracker. From the first to the second: curl's
// CVE-2023-0002 is withdrawn, glibc's CVE-2023-0001 changes severity (no
// finding changes), openssl's CVE-2023-0003 is now fixed above the
// installed version (added where libssl3 is), and CVE-2023-0004 is added
// for Debian 11's glibc only.
func update1() []vuln.Record {
	return []vuln.Record{
		deb("CVE-2023-0001", "Debian:12", "glibc", "2.36-9+deb12u3", vuln.SeverityHigh),
		deb("CVE-2023-0002", "Debian:12", "curl", "7.88.1-10+deb12u4", vuln.SeverityCritical),
		deb("CVE-2023-0003", "Debian:12", "openssl", "3.0.11-1~deb12u1", vuln.SeverityMedium),
	}
}

func update2() []vuln.Record {
	return []vuln.Record{
		deb("CVE-2023-0001", "Debian:12", "glibc", "2.36-9+deb12u3", vuln.SeverityCritical),
		deb("CVE-2023-0003", "Debian:12", "openssl", "3.0.13-1~deb12u1", vuln.SeverityMedium),
		deb("CVE-2023-0004", "Debian:11", "glibc", "2.31-13+deb11u6", vuln.SeverityHigh),
	}
}

// fixture is a memstore holding the four manifests, the scans naming
// them, and the two updates of the tracker.
func fixture(t *testing.T) (st *memstore.Store, op1, op2 int64) {
	t.Helper()
	ctx := context.Background()
	st = memstore.New()
	alpine := &model.ImageIndex{ManifestDigest: mAlp, IndexerVersion: indexer.Version,
		Distribution: &vuln.Distribution{ID: "alpine", VersionID: "3.20.3"},
		Packages:     []vuln.Package{{Name: "musl", Version: "1.2.5-r0", SourceName: "musl", Kind: vuln.KindAPK, DBPath: "lib/apk/db/installed"}}}
	for _, idx := range []*model.ImageIndex{
		debianIndex(mApp, "12", libc6, libcBin, libssl3, curl, libcurl4),
		debianIndex(mBase, "12", libc6, libcBin, libssl3),
		debianIndex(mOld, "11", libc6Old),
		alpine,
	} {
		if err := st.PutManifest(ctx, idx); err != nil {
			t.Fatal(err)
		}
	}
	for _, sc := range []struct{ image, manifest string }{
		{"reg.example/app:1", mApp},
		{"reg.example/app:latest", mBase}, // then app, below: its latest scan is of mApp
		{"reg.example/app:latest", mApp},
		{"reg.example/base:1", mBase},
		{"reg.example/was-base:1", mBase}, // then alpine: not an image of mBase any more
		{"reg.example/was-base:1", mAlp},
	} {
		if _, err := st.CreateScan(ctx, &store.Scan{Image: sc.image, ManifestDigest: sc.manifest}); err != nil {
			t.Fatal(err)
		}
	}
	return st, put(t, st, tracker, update1()), put(t, st, tracker, update2())
}

func put(t *testing.T, st *memstore.Store, source string, rs []vuln.Record) int64 {
	t.Helper()
	op, err := st.PutUpdate(context.Background(), source, fmt.Sprint(len(rs)), rs)
	if err != nil {
		t.Fatal(err)
	}
	return op.ID
}

// change is what a test expects of a notifier.Change.
type change struct {
	manifest, action, id, pkg string
	images                    string
}

func changesOf(cs []notifier.Change) []change {
	out := make([]change, len(cs))
	for i, c := range cs {
		out[i] = change{c.ManifestDigest[7:8], c.Action, c.Finding.ID, c.Finding.Package, strings.Join(c.Images, " ")}
	}
	return out
}

const (
	appImages  = "reg.example/app:1 reg.example/app:latest"
	baseImages = "reg.example/base:1"
)

// withoutRows hides memstore's PackageRows: Affected then takes its other
// path, ManifestsWithPackages and whole manifest indexes.
type withoutRows struct{ notifier.AffectedStore }

// failing fails one method of the store with errBoom.
type failing struct {
	*memstore.Store
	method string
}

var errBoom = errors.New("boom")

func (f failing) fail(m string) error {
	if f.method == m {
		return errBoom
	}
	return nil
}

func (f failing) DiffUpdates(ctx context.Context, from, to int64) (*store.Diff, error) {
	if err := f.fail("DiffUpdates"); err != nil {
		return nil, err
	}
	return f.Store.DiffUpdates(ctx, from, to)
}

func (f failing) ImagesOfManifest(ctx context.Context, digest string) ([]string, error) {
	if err := f.fail("ImagesOfManifest"); err != nil {
		return nil, err
	}
	return f.Store.ImagesOfManifest(ctx, digest)
}

func (f failing) ImagesOfManifests(ctx context.Context, digests []string) (map[string][]string, error) {
	if err := f.fail("ImagesOfManifests"); err != nil {
		return nil, err
	}
	return f.Store.ImagesOfManifests(ctx, digests)
}

func (f failing) OperationRecords(ctx context.Context, op int64, eco string, pkgs []string) ([]vuln.Record, error) {
	if err := f.fail("OperationRecords"); err != nil {
		return nil, err
	}
	return f.Store.OperationRecords(ctx, op, eco, pkgs)
}

func (f failing) PackagesNamed(ctx context.Context, kind string, names []string) ([]store.ManifestPackages, error) {
	if err := f.fail("PackagesNamed"); err != nil {
		return nil, err
	}
	return f.Store.PackagesNamed(ctx, kind, names)
}

// TestAffectedFake checks Affected's changes per manifest: added and
// removed findings, a changed record that changes no finding, a release's
// record that concerns only images of that release, the images of each
// manifest, the first operation of a source, an empty diff, and another
// source that already reports a finding. Each case runs on both of
// Affected's paths (package rows, and whole manifests).
func TestAffectedFake(t *testing.T) {
	ctx := context.Background()
	cases := []struct {
		name string
		// ops returns the operations to compare, after changing st.
		ops  func(t *testing.T, st *memstore.Store, op1, op2 int64) (int64, int64)
		want []change
	}{
		{
			name: "second update",
			ops:  func(_ *testing.T, _ *memstore.Store, op1, op2 int64) (int64, int64) { return op1, op2 },
			want: []change{
				{"a", notifier.ActionAdded, "CVE-2023-0003", "libssl3", appImages},
				{"a", notifier.ActionRemoved, "CVE-2023-0002", "curl", appImages},
				{"a", notifier.ActionRemoved, "CVE-2023-0002", "libcurl4", appImages},
				{"b", notifier.ActionAdded, "CVE-2023-0003", "libssl3", baseImages},
				{"c", notifier.ActionAdded, "CVE-2023-0004", "libc6", ""},
			},
		},
		{
			name: "first update of the source: everything it finds is added",
			ops:  func(_ *testing.T, _ *memstore.Store, op1, _ int64) (int64, int64) { return 0, op1 },
			want: []change{
				{"a", notifier.ActionAdded, "CVE-2023-0001", "libc-bin", appImages},
				{"a", notifier.ActionAdded, "CVE-2023-0001", "libc6", appImages},
				{"a", notifier.ActionAdded, "CVE-2023-0002", "curl", appImages},
				{"a", notifier.ActionAdded, "CVE-2023-0002", "libcurl4", appImages},
				{"b", notifier.ActionAdded, "CVE-2023-0001", "libc-bin", baseImages},
				{"b", notifier.ActionAdded, "CVE-2023-0001", "libc6", baseImages},
			},
		},
		{
			name: "the same data again: an empty diff",
			ops: func(t *testing.T, st *memstore.Store, _, op2 int64) (int64, int64) {
				return op2, put(t, st, tracker, update2())
			},
		},
		{
			name: "backwards: the reverse changes",
			ops:  func(_ *testing.T, _ *memstore.Store, op1, op2 int64) (int64, int64) { return op2, op1 },
			want: []change{
				{"a", notifier.ActionAdded, "CVE-2023-0002", "curl", appImages},
				{"a", notifier.ActionAdded, "CVE-2023-0002", "libcurl4", appImages},
				{"a", notifier.ActionRemoved, "CVE-2023-0003", "libssl3", appImages},
				{"b", notifier.ActionRemoved, "CVE-2023-0003", "libssl3", baseImages},
				{"c", notifier.ActionRemoved, "CVE-2023-0004", "libc6", ""},
			},
		},
		{
			name: "another source reports the added finding already: no change for it",
			ops: func(t *testing.T, st *memstore.Store, op1, op2 int64) (int64, int64) {
				other := deb("CVE-2023-0003", "Debian:12", "openssl", "3.0.13-1~deb12u1", vuln.SeverityMedium)
				other.Source = "osv-debian"
				put(t, st, "osv-debian", []vuln.Record{other})
				return op1, op2
			},
			want: []change{
				{"a", notifier.ActionRemoved, "CVE-2023-0002", "curl", appImages},
				{"a", notifier.ActionRemoved, "CVE-2023-0002", "libcurl4", appImages},
				{"c", notifier.ActionAdded, "CVE-2023-0004", "libc6", ""},
			},
		},
	}
	for _, tc := range cases {
		for _, path := range []string{"package rows", "whole manifests"} {
			t.Run(tc.name+"/"+path, func(t *testing.T) {
				st, op1, op2 := fixture(t)
				from, to := tc.ops(t, st, op1, op2)
				var as notifier.AffectedStore = st
				if path == "whole manifests" {
					as = withoutRows{st}
				}
				got, err := notifier.Affected(ctx, as, from, to)
				if err != nil {
					t.Fatal(err)
				}
				if g := changesOf(got); !slices.Equal(g, tc.want) {
					t.Errorf("Affected(%d, %d) =\n%v\nwant\n%v", from, to, g, tc.want)
				}
				for _, c := range got {
					if c.Action == notifier.ActionAdded && c.Finding.FixedVersion == "" {
						t.Errorf("%+v: an added finding without its fixed version", c)
					}
				}
			})
		}
	}
}

// TestAffectedFakeErrors checks that a store's failure comes back wrapped,
// naming the operation, and that an unknown operation is
// store.ErrNotFound.
func TestAffectedFakeErrors(t *testing.T) {
	ctx := context.Background()
	// The package-rows path asks for images in batches
	// (ImagesOfManifests); the whole-manifests path one manifest at a time.
	for _, tc := range []struct {
		method string
		rows   bool
	}{
		{"DiffUpdates", true}, {"PackagesNamed", true}, {"OperationRecords", true}, {"ImagesOfManifests", true},
		{"OperationRecords", false}, {"ImagesOfManifest", false},
	} {
		method := tc.method
		t.Run(fmt.Sprintf("%s/rows=%v", method, tc.rows), func(t *testing.T) {
			st, op1, op2 := fixture(t)
			var fs notifier.AffectedStore = failing{st, method}
			if !tc.rows {
				fs = withoutRows{fs}
			}
			got, err := notifier.Affected(ctx, fs, op1, op2)
			if !errors.Is(err, errBoom) || !strings.Contains(err.Error(), fmt.Sprintf("operation %d", op2)) {
				t.Fatalf("Affected with %s failing = %v, %v; want errBoom wrapped naming operation %d", method, got, err, op2)
			}
		})
	}
	t.Run("unknown operation", func(t *testing.T) {
		st, op1, op2 := fixture(t)
		if _, err := notifier.Affected(ctx, st, op1, op2+100); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("Affected of an unknown operation: %v, want store.ErrNotFound", err)
		}
	})
	t.Run("cancelled", func(t *testing.T) {
		st, op1, op2 := fixture(t)
		ctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := notifier.Affected(ctx, st, op1, op2); !errors.Is(err, context.Canceled) {
			t.Errorf("Affected with a cancelled context: %v, want context.Canceled", err)
		}
	})
}

// TestNotifyFake runs Notify on the fixture: the first operation is a
// baseline, the second enqueues one entry per (manifest, vulnerability,
// action) and webhook, paged, and moves the cursor; a run with nothing
// new enqueues nothing.
func TestNotifyFake(t *testing.T) {
	ctx := context.Background()
	st := memstore.New()
	op1 := put(t, st, tracker, update1())
	hooks := []notifier.Webhook{{Name: "sec", URL: "https://hooks.example/sec"}, {Name: "ops", URL: "https://hooks.example/ops"}}
	quiet := notifier.WithLogger(slog.New(slog.DiscardHandler))
	if n, err := notifier.Notify(ctx, st, tracker, hooks, quiet); err != nil || n != 0 {
		t.Fatalf("baseline: %d, %v", n, err)
	}
	if c, _ := st.NotifierCursor(ctx, tracker); c != op1 {
		t.Fatalf("cursor after the baseline = %d, want %d", c, op1)
	}
	fresh, _, _ := fixture(t) // the manifests and scans of the fixture, copied over
	for _, d := range []string{mApp, mBase, mOld, mAlp} {
		idx, err := fresh.Manifest(ctx, d)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.PutManifest(ctx, idx); err != nil {
			t.Fatal(err)
		}
	}
	for _, img := range []string{"reg.example/app:1", "reg.example/base:1"} {
		sc, _ := fresh.GetScan(ctx, img, 0)
		if _, err := st.CreateScan(ctx, sc); err != nil {
			t.Fatal(err)
		}
	}
	op2 := put(t, st, tracker, update2())
	// Entries: a +0003, a -0002 (curl and libcurl4 in one), b +0003,
	// c +0004: 4 per webhook, in pages of 3.
	n, err := notifier.Notify(ctx, st, tracker, hooks, notifier.WithPageSize(3), quiet)
	if err != nil || n != 8 {
		t.Fatalf("Notify = %d, %v; want 8", n, err)
	}
	if c, _ := st.NotifierCursor(ctx, tracker); c != op2 {
		t.Errorf("cursor = %d, want %d", c, op2)
	}
	ns, err := st.Notifications(ctx)
	if err != nil || len(ns) != 4 {
		t.Fatalf("outbox: %d deliveries, %v; want 2 pages × 2 webhooks", len(ns), err)
	}
	entries := map[string]int{}
	for _, dn := range ns {
		var p notifier.Payload
		if err := json.Unmarshal(dn.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.Operation != op2 || p.Source != tracker || p.Pages != 2 || p.Webhook != dn.Webhook || p.DeliveryID != dn.ID {
			t.Errorf("payload %+v of delivery %s", p, dn.ID)
		}
		for _, e := range p.Notifications {
			entries[fmt.Sprintf("%s %s %s %s %d", dn.Webhook, e.ManifestDigest[7:8], e.Action, e.Vulnerability.ID, len(e.Vulnerability.Packages))]++
		}
	}
	for _, w := range []string{"sec", "ops"} {
		for _, e := range []string{"a added CVE-2023-0003 1", "a removed CVE-2023-0002 2", "b added CVE-2023-0003 1", "c added CVE-2023-0004 1"} {
			if entries[w+" "+e] != 1 {
				t.Errorf("%s: entry %q %d times, want once; all: %v", w, e, entries[w+" "+e], entries)
			}
		}
	}
	if n, err := notifier.Notify(ctx, st, tracker, hooks, quiet); err != nil || n != 0 {
		t.Errorf("Notify with nothing new = %d, %v; want 0", n, err)
	}
}
