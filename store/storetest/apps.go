package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/lapps/lapps/store"
)

// testApps checks apps: creation, uniqueness, listing, images, removal.
func testApps(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.CreateApp(ctx, "", nil); err == nil {
		t.Error("CreateApp with no name: no error")
	}
	shop, err := s.CreateApp(ctx, "shop", []string{"docker.io/library/nginx:1.25", "docker.io/library/redis:7"})
	if err != nil {
		t.Fatalf("CreateApp: %v", err)
	}
	if shop.CreatedAt.IsZero() {
		t.Error("CreateApp: zero CreatedAt")
	}
	if _, err := s.CreateApp(ctx, "shop", nil); !errors.Is(err, store.ErrExists) {
		t.Errorf("CreateApp twice: %v, want ErrExists", err)
	}
	if _, err := s.CreateApp(ctx, "api", nil); err != nil {
		t.Fatalf("CreateApp api: %v", err)
	}
	got, err := s.GetApp(ctx, "shop")
	if err != nil {
		t.Fatalf("GetApp: %v", err)
	}
	if !got.CreatedAt.Equal(shop.CreatedAt) || !slices.Equal(got.Images, shop.Images) {
		t.Errorf("GetApp = %+v, want %+v", got, shop)
	}
	if _, err := s.GetApp(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetApp unknown: %v, want ErrNotFound", err)
	}
	if err := s.SetAppImages(ctx, "api", []string{"ghcr.io/x/api:2"}); err != nil {
		t.Fatalf("SetAppImages: %v", err)
	}
	if err := s.SetAppImages(ctx, "nope", nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("SetAppImages unknown: %v, want ErrNotFound", err)
	}
	apps, err := s.ListApps(ctx)
	if err != nil {
		t.Fatalf("ListApps: %v", err)
	}
	var names []string
	for _, a := range apps {
		names = append(names, fmt.Sprintf("%s %v", a.Name, a.Images))
	}
	if want := []string{"api [ghcr.io/x/api:2]", "shop [docker.io/library/nginx:1.25 docker.io/library/redis:7]"}; !slices.Equal(names, want) {
		t.Errorf("ListApps = %q, want %q", names, want)
	}

	// Removal takes the app's deployments and scans with it; a new app of
	// the same name starts afresh.
	if _, err := s.RecordDeployment(ctx, &store.Deployment{App: "shop", Env: "prod", Verdict: store.VerdictPass, Accepted: true}); err != nil {
		t.Fatalf("RecordDeployment: %v", err)
	}
	if _, err := s.CreateAppScan(ctx, &store.AppScan{App: "shop", Verdict: store.VerdictPass}); err != nil {
		t.Fatalf("CreateAppScan: %v", err)
	}
	if err := s.RemoveApp(ctx, "shop"); err != nil {
		t.Fatalf("RemoveApp: %v", err)
	}
	if err := s.RemoveApp(ctx, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RemoveApp twice: %v, want ErrNotFound", err)
	}
	if _, err := s.CreateApp(ctx, "shop", nil); err != nil {
		t.Fatalf("CreateApp after removal: %v", err)
	}
	if ds, err := s.Deployments(ctx, "shop"); err != nil || len(ds) != 0 {
		t.Errorf("Deployments after removal = %v, %v; want none", ds, err)
	}
	if idx, err := s.CreateAppScan(ctx, &store.AppScan{App: "shop", Verdict: store.VerdictPass}); err != nil || idx != 1 {
		t.Errorf("CreateAppScan after removal = %d, %v; want 1", idx, err)
	}
}

// testDeployments checks the history of deployment attempts and the
// current deployment of each environment.
func testDeployments(t *testing.T, s store.Store) {
	ctx := context.Background()
	if _, err := s.CreateApp(ctx, "shop", nil); err != nil {
		t.Fatal(err)
	}
	bad := []*store.Deployment{
		nil,
		{App: "shop", Verdict: store.VerdictPass},
		{App: "shop", Env: "prod", Verdict: "maybe"},
	}
	for _, d := range bad {
		if _, err := s.RecordDeployment(ctx, d); err == nil {
			t.Errorf("RecordDeployment(%+v): no error", d)
		}
	}
	if _, err := s.RecordDeployment(ctx, &store.Deployment{App: "nope", Env: "prod", Verdict: store.VerdictPass}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordDeployment of unknown app: %v, want ErrNotFound", err)
	}
	steps := []store.Deployment{
		{App: "shop", Env: "prod", At: date(2025, 1, 1), Images: []string{"a:1", "b:1"}, Verdict: store.VerdictPass, Accepted: true},
		{App: "shop", Env: "staging", At: date(2025, 1, 2), Images: []string{"a:2"}, Verdict: store.VerdictWarn, Accepted: true, Reasons: []string{"CVE-1 in a (medium)"}},
		{App: "shop", Env: "prod", At: date(2025, 1, 3), Images: []string{"a:2", "b:1"}, Verdict: store.VerdictFail, Accepted: false, Reasons: []string{"CVE-2 in a (high)", "CVE-3 in b (critical)"}},
	}
	if _, err := s.CreateApp(ctx, "api", nil); err != nil {
		t.Fatal(err)
	}
	for i := range steps {
		id, err := s.RecordDeployment(ctx, &steps[i])
		if err != nil {
			t.Fatalf("RecordDeployment %d: %v", i, err)
		}
		// Numbers are per app: another app's deployments in between do
		// not count.
		if id != int64(i+1) {
			t.Errorf("RecordDeployment %d of shop: number %d, want %d", i, id, i+1)
		}
		steps[i].ID = id
		other, err := s.RecordDeployment(ctx, &store.Deployment{App: "api", Env: "prod", Verdict: store.VerdictPass, Accepted: true})
		if err != nil || other != int64(i+1) {
			t.Errorf("RecordDeployment %d of api: number %d, %v; want %d", i, other, err, i+1)
		}
	}
	got, err := s.Deployments(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "Deployments", got, steps)
	cur, err := s.CurrentDeployments(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	// The refused deployment to prod leaves prod as it was.
	sameJSON(t, "CurrentDeployments", cur, []store.Deployment{steps[0], steps[1]})
	if ds, err := s.Deployments(ctx, "other"); err != nil || ds != nil {
		t.Errorf("Deployments of unknown app = %v, %v; want none", ds, err)
	}
}

// testAppScans checks the per-app numbering of app scans, concurrent
// creation included.
func testAppScans(t *testing.T, s store.Store) {
	ctx := context.Background()
	for _, app := range []string{"shop", "api"} {
		if _, err := s.CreateApp(ctx, app, nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.CreateAppScan(ctx, &store.AppScan{App: "nope", Verdict: store.VerdictPass}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("CreateAppScan of unknown app: %v, want ErrNotFound", err)
	}
	if _, err := s.CreateAppScan(ctx, &store.AppScan{App: "shop", Verdict: ""}); err == nil {
		t.Error("CreateAppScan with no verdict: no error")
	}
	first := store.AppScan{App: "shop", ScannedAt: date(2025, 2, 1), Verdict: store.VerdictFail,
		Images:  []store.AppScanImage{{Image: "a:1", Index: 3}, {Image: "b:1", Index: 1}},
		Summary: []byte(`{"counts":{"high":2}}`)}
	if idx, err := s.CreateAppScan(ctx, &first); err != nil || idx != 1 {
		t.Fatalf("CreateAppScan = %d, %v; want 1", idx, err)
	}
	first.Index = 1
	if idx, err := s.CreateAppScan(ctx, &store.AppScan{App: "api", Verdict: store.VerdictPass}); err != nil || idx != 1 {
		t.Errorf("CreateAppScan of another app = %d, %v; want 1", idx, err)
	}
	const n = 8
	var wg sync.WaitGroup
	idxs := make([]int, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			idxs[i], errs[i] = s.CreateAppScan(ctx, &store.AppScan{App: "shop", Verdict: store.VerdictPass})
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent CreateAppScan: %v", err)
	}
	slices.Sort(idxs)
	for i, idx := range idxs {
		if idx != i+2 {
			t.Fatalf("concurrent CreateAppScan indexes %v, want 2…%d", idxs, n+1)
		}
	}
	got, err := s.GetAppScan(ctx, "shop", 1)
	if err != nil {
		t.Fatal(err)
	}
	sameJSON(t, "GetAppScan 1", got, &first)
	latest, err := s.GetAppScan(ctx, "shop", 0)
	if err != nil || latest.Index != n+1 {
		t.Errorf("GetAppScan latest = %+v, %v; want index %d", latest, err, n+1)
	}
	if _, err := s.GetAppScan(ctx, "shop", n+2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAppScan beyond: %v, want ErrNotFound", err)
	}
	if _, err := s.GetAppScan(ctx, "nope", 0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetAppScan of unknown app: %v, want ErrNotFound", err)
	}
	if _, err := s.GetAppScan(ctx, "shop", -1); err == nil {
		t.Error("GetAppScan -1: no error")
	}
	list, err := s.ListAppScans(ctx, "shop")
	if err != nil || len(list) != n+1 {
		t.Fatalf("ListAppScans = %d scans, %v; want %d", len(list), err, n+1)
	}
	sameJSON(t, "ListAppScans[0]", list[0], first)
}

// Upgraded11Deployments are the deployments a database at schema 11
// holds before migration 0012, in the order of their global ids (1, 2, …).
var Upgraded11Deployments = []string{"shop", "api", "shop", "shop", "api"}

// CheckUpgradedFrom11 checks a store migrated from schema 11 holding
// Upgraded11Deployments (apps shop and api created): each app's
// deployments are numbered 1, 2, 3 … in their old order, and the next
// deployment of each takes the next number of its app.
func CheckUpgradedFrom11(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	want := map[string]int64{}
	for _, app := range Upgraded11Deployments {
		want[app]++
	}
	for app, n := range want {
		ds, err := s.Deployments(ctx, app)
		if err != nil {
			t.Fatal(err)
		}
		if int64(len(ds)) != n {
			t.Fatalf("%s after migration: %d deployments, want %d", app, len(ds), n)
		}
		for i, d := range ds {
			if d.ID != int64(i+1) || d.App != app {
				t.Errorf("%s after migration: deployment %d is #%d of %s", app, i, d.ID, d.App)
			}
		}
		next, err := s.RecordDeployment(ctx, &store.Deployment{App: app, Env: "prod", Verdict: store.VerdictPass, Accepted: true})
		if err != nil || next != n+1 {
			t.Errorf("%s: next deployment #%d, %v; want #%d", app, next, err, n+1)
		}
	}
}
