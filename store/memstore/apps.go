package memstore

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/lapps/lapps/store"
)

// apps is what memstore keeps of store.Apps and store.AppVerdicts.
type apps struct {
	apps     map[string]*store.App
	deploys  map[string][]store.Deployment // by app, in the order recorded
	scans    map[string][]store.AppScan    // by app, by index
	verdicts map[[2]string]string          // (app, env) → verdict
}

func newApps() apps {
	return apps{apps: map[string]*store.App{}, deploys: map[string][]store.Deployment{},
		scans: map[string][]store.AppScan{}, verdicts: map[[2]string]string{}}
}

// list is a copy of l, nil when empty: what the engines' lists decode to.
func list[T any](l []T) []T {
	if len(l) == 0 {
		return nil
	}
	return slices.Clone(l)
}

func copyApp(a *store.App) store.App {
	c := *a
	c.Images = list(a.Images)
	return c
}

func copyDeployment(d store.Deployment) store.Deployment {
	d.Images, d.Reasons = list(d.Images), list(d.Reasons)
	return d
}

func copyAppScan(sc store.AppScan) store.AppScan {
	sc.Images, sc.Summary = list(sc.Images), list(sc.Summary)
	return sc
}

// CreateApp implements store.Apps.
func (s *Store) CreateApp(ctx context.Context, name string, images []string) (*store.App, error) {
	if _, err := store.EncodeApp(name, images, nil); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps.apps[name]; ok {
		return nil, fmt.Errorf("create app %s: %w", name, store.ErrExists)
	}
	a := store.NewApp(name, slices.Clone(images), s.at())
	s.apps.apps[name] = a
	c := copyApp(a)
	return &c, nil
}

// GetApp implements store.Apps.
func (s *Store) GetApp(ctx context.Context, name string) (*store.App, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps.apps[name]
	if !ok {
		return nil, fmt.Errorf("app %s: %w", name, store.ErrNotFound)
	}
	c := copyApp(a)
	return &c, nil
}

// ListApps implements store.Apps.
func (s *Store) ListApps(ctx context.Context) ([]store.App, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.App
	for _, n := range sortedKeys(s.apps.apps) {
		out = append(out, copyApp(s.apps.apps[n]))
	}
	return out, nil
}

// SetAppImages implements store.Apps.
func (s *Store) SetAppImages(ctx context.Context, name string, images []string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	a, ok := s.apps.apps[name]
	if !ok {
		return fmt.Errorf("set images of app %s: %w", name, store.ErrNotFound)
	}
	a.Images = list(images)
	return nil
}

// RemoveApp implements store.Apps: the app goes with its deployments,
// app scans and verdicts.
func (s *Store) RemoveApp(ctx context.Context, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps.apps[name]; !ok {
		return fmt.Errorf("remove app %s: %w", name, store.ErrNotFound)
	}
	delete(s.apps.apps, name)
	delete(s.apps.deploys, name)
	delete(s.apps.scans, name)
	for k := range s.apps.verdicts {
		if k[0] == name {
			delete(s.apps.verdicts, k)
		}
	}
	return nil
}

// RecordDeployment implements store.Apps.
func (s *Store) RecordDeployment(ctx context.Context, d *store.Deployment) (int64, error) {
	// The engines' checks and errors, and their bound on the lists.
	cols, err := store.EncodeDeployment(d, nil, s.at())
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps.apps[d.App]; !ok {
		return 0, fmt.Errorf("record deployment of %s: %w", d.App, store.ErrNotFound)
	}
	c := copyDeployment(*d)
	c.At = micro(cols.At)
	ds := s.apps.deploys[d.App]
	c.ID = 1
	if len(ds) > 0 {
		c.ID = ds[len(ds)-1].ID + 1
	}
	s.apps.deploys[d.App] = append(ds, c)
	return c.ID, nil
}

// Deployments implements store.Apps.
func (s *Store) Deployments(ctx context.Context, app string) ([]store.Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Deployment
	for _, d := range s.apps.deploys[app] {
		out = append(out, copyDeployment(d))
	}
	return out, nil
}

// CurrentDeployments implements store.Apps.
func (s *Store) CurrentDeployments(ctx context.Context, app string) ([]store.Deployment, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	latest := map[string]store.Deployment{}
	for _, d := range s.apps.deploys[app] { // in the order recorded
		if d.Accepted {
			latest[d.Env] = d
		}
	}
	var out []store.Deployment
	for _, env := range sortedKeys(latest) {
		out = append(out, copyDeployment(latest[env]))
	}
	return out, nil
}

// CreateAppScan implements store.Apps.
func (s *Store) CreateAppScan(ctx context.Context, sc *store.AppScan) (int, error) {
	cols, err := store.EncodeAppScan(sc, nil, s.at())
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.apps.apps[sc.App]; !ok {
		return 0, fmt.Errorf("create app scan of %s: %w", sc.App, store.ErrNotFound)
	}
	c := copyAppScan(*sc)
	c.ScannedAt = micro(cols.At)
	scans := s.apps.scans[sc.App]
	c.Index = 1
	if len(scans) > 0 {
		c.Index = scans[len(scans)-1].Index + 1
	}
	s.apps.scans[sc.App] = append(scans, c)
	return c.Index, nil
}

// ListAppScans implements store.Apps.
func (s *Store) ListAppScans(ctx context.Context, app string) ([]store.AppScan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.AppScan
	for _, sc := range s.apps.scans[app] {
		out = append(out, copyAppScan(sc))
	}
	return out, nil
}

// GetAppScan implements store.Apps.
func (s *Store) GetAppScan(ctx context.Context, app string, index int) (*store.AppScan, error) {
	if index < 0 {
		return nil, fmt.Errorf("scan %d of app %s: negative scan index", index, app)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	scans := s.apps.scans[app]
	for i := len(scans) - 1; i >= 0; i-- {
		if index == 0 || scans[i].Index == index {
			c := copyAppScan(scans[i])
			return &c, nil
		}
	}
	return nil, fmt.Errorf("scan %d of app %s: %w", index, app, store.ErrNotFound)
}

// SetAppVerdict implements store.AppVerdicts.
func (s *Store) SetAppVerdict(ctx context.Context, app, env, verdict string, at time.Time) (string, error) {
	if app == "" || env == "" || !store.ValidVerdict(verdict) {
		return "", fmt.Errorf("set app verdict %q/%q: want an app, an environment and pass, warn or fail, not %q", app, env, verdict)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k := [2]string{app, env}
	prev := s.apps.verdicts[k]
	s.apps.verdicts[k] = verdict
	return prev, nil
}
