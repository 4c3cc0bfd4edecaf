// Package memstore is an in-memory store for tests: the store roles that
// the notifier (notifier.NotifyStore, DeliveryStore), the service
// (service.Store) and the apps (apps.Store) declare, with the engines' semantics, so that their
// tests run in milliseconds without a database or test images.
//
// It implements store.Layers, store.Blobs, store.Manifests,
// store.PackageRows, store.Scans, store.Vulnerabilities,
// store.UpdateStreamer, store.UpdateRecords, store.RecordLookup,
// store.Coverage, store.Retention, store.Outbox, store.Apps and
// store.AppVerdicts. It does not implement store.Store: tokens, leases
// and the job queue (but for PruneJobs, which never finds a job) are not
// here. Its parity
// test runs the engines' conformance suite (store/storetest) on it for
// every role it implements, so that it cannot drift from them; only the
// suite's tests of half-written updates, which look into an engine's
// tables through storetest.Hooks, are not run.
//
// Records, indexes and reports are kept as the JSON the engines store and
// decoded on every read, so that a caller gets what an engine would give
// (a copy it may change, times in UTC). One mutex serialises everything:
// it is written for correctness, not speed or size.
package memstore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
)

// Store is the in-memory store. The zero value is not usable: call New.
type Store struct {
	mu sync.Mutex
	// now is the clock (time.Now); SetClock replaces it.
	now func() time.Time

	layers    map[string]*layer
	blobs     map[string]string // blob → diff ID
	manifests map[string]*manifest
	scans     map[string][]*scan // image → scans, by index

	nextOp  int64
	ops     map[int64]*operation // published operations
	records map[string]storedRecord
	runs    map[string]runState

	notifications map[string]*store.Notification
	cursors       map[string]int64

	apps apps
}

type layer struct {
	data   string // the index's JSON
	stored time.Time
}

type manifest struct {
	// stored is when PutManifest last stored it, seen its last-seen time
	// without its scans (store.Retention.PruneManifests).
	stored, seen time.Time
	layers       []string // the digests of its layers
	version      string
	data         []byte // the index's JSON
	rows         []store.PackageRow
	dist         []byte // the distribution's JSON
}

type scan struct {
	s   store.Scan // Report and Key included
	key string
}

// storedRecord is a record as the engines store it: its JSON under its
// content hash, with the columns they query.
type storedRecord struct {
	source, id, ecosystem, pkg, key string
	data                            []byte
}

type operation struct {
	op     store.UpdateOperation
	hashes map[string]bool // the content hashes of its records
	data   store.SourceData
}

type runState struct {
	last        []byte // EncodeRun's JSON
	lastSuccess time.Time
}

// New returns an empty store.
func New() *Store {
	return &Store{
		now:           time.Now,
		layers:        map[string]*layer{},
		blobs:         map[string]string{},
		manifests:     map[string]*manifest{},
		scans:         map[string][]*scan{},
		ops:           map[int64]*operation{},
		records:       map[string]storedRecord{},
		runs:          map[string]runState{},
		notifications: map[string]*store.Notification{},
		cursors:       map[string]int64{},
		apps:          newApps(),
	}
}

// SetClock sets the clock that dates what the store dates itself (update
// operations, scans and notifications given no time); nil restores
// time.Now.
func (s *Store) SetClock(now func() time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if now == nil {
		now = time.Now
	}
	s.now = now
}

// Close does nothing; the store stays usable.
func (s *Store) Close() error { return nil }

// at returns the store's time, in UTC at microsecond precision (what both
// engines keep).
func (s *Store) at() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func utc(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}

// uniqueNonEmpty returns names without empty and duplicate names, sorted.
func uniqueNonEmpty(names []string) map[string]bool {
	out := make(map[string]bool, len(names))
	for _, n := range names {
		if n != "" {
			out[n] = true
		}
	}
	return out
}

// Layer implements store.Layers.
func (s *Store) Layer(ctx context.Context, digest string) (*model.LayerIndex, error) {
	s.mu.Lock()
	l, ok := s.layers[digest]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("layer %s: %w", digest, store.ErrNotFound)
	}
	var idx model.LayerIndex
	if err := json.Unmarshal([]byte(l.data), &idx); err != nil {
		return nil, fmt.Errorf("layer %s: decode stored index: %w", digest, err)
	}
	return &idx, nil
}

// PutLayer implements store.Layers.
func (s *Store) PutLayer(ctx context.Context, idx *model.LayerIndex) error {
	if idx == nil || idx.Digest == "" {
		return errors.New("put layer: no digest")
	}
	data, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("put layer %s: %w", idx.Digest, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.layers[idx.Digest] = &layer{data: string(data), stored: s.at()}
	return nil
}

// BlobDiffID implements store.Blobs.
func (s *Store) BlobDiffID(ctx context.Context, blob string) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.blobs[blob]
	if !ok {
		return "", fmt.Errorf("blob %s: %w", blob, store.ErrNotFound)
	}
	return d, nil
}

// PutBlobDiffID implements store.Blobs.
func (s *Store) PutBlobDiffID(ctx context.Context, blob, diffID string) error {
	if err := store.CheckBlobDiffID(blob, diffID); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if d, ok := s.blobs[blob]; ok && d != diffID {
		return fmt.Errorf("put blob %s: %w with diff ID %s, not %s", blob, store.ErrExists, d, diffID)
	}
	s.blobs[blob] = diffID
	return nil
}

// Manifest implements store.Manifests.
func (s *Store) Manifest(ctx context.Context, digest string) (*model.ImageIndex, error) {
	s.mu.Lock()
	m, ok := s.manifests[digest]
	s.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("manifest %s: %w", digest, store.ErrNotFound)
	}
	var idx model.ImageIndex
	if err := json.Unmarshal(m.data, &idx); err != nil {
		return nil, fmt.Errorf("manifest %s: decode stored index: %w", digest, err)
	}
	return &idx, nil
}

// PutManifest implements store.Manifests.
func (s *Store) PutManifest(ctx context.Context, idx *model.ImageIndex) error {
	if idx == nil || idx.ManifestDigest == "" {
		return errors.New("put manifest: no digest")
	}
	data, err := json.Marshal(idx)
	if err != nil {
		return fmt.Errorf("put manifest %s: %w", idx.ManifestDigest, err)
	}
	rows, dist, err := store.PackageRowsOf(idx)
	if err != nil {
		return fmt.Errorf("put manifest %s: %w", idx.ManifestDigest, err)
	}
	layers := make([]string, len(idx.Layers))
	for i, l := range idx.Layers {
		layers[i] = l.Digest
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	m := &manifest{version: idx.IndexerVersion, data: data, rows: rows, dist: dist, layers: layers, stored: s.at()}
	m.seen = m.stored
	if old := s.manifests[idx.ManifestDigest]; old != nil && old.seen.After(m.seen) {
		m.seen = old.seen
	}
	s.manifests[idx.ManifestDigest] = m
	return nil
}

// named reports whether a package row of kind is named, by name or source
// name, in names.
func named(r *store.PackageRow, kind string, names map[string]bool) bool {
	return r.Kind == kind && (names[r.Name] || r.SourceName != "" && names[r.SourceName])
}

// ManifestsWithPackages implements store.Manifests.
func (s *Store) ManifestsWithPackages(ctx context.Context, kind string, names []string) ([]string, error) {
	set := uniqueNonEmpty(names)
	if len(set) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for d, m := range s.manifests {
		for i := range m.rows {
			if named(&m.rows[i], kind, set) {
				out = append(out, d)
				break
			}
		}
	}
	slices.Sort(out)
	return out, nil
}

// PackagesNamed implements store.PackageRows.
func (s *Store) PackagesNamed(ctx context.Context, kind string, names []string) ([]store.ManifestPackages, error) {
	set := uniqueNonEmpty(names)
	if len(set) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []store.ManifestPackages{}
	for d, m := range s.manifests {
		var pkgs [][]byte
		for i := range m.rows {
			if named(&m.rows[i], kind, set) {
				pkgs = append(pkgs, slices.Clone(m.rows[i].Data))
			}
		}
		if len(pkgs) > 0 {
			out = append(out, store.ManifestPackages{Digest: d, IndexerVersion: m.version, Distribution: slices.Clone(m.dist), Packages: pkgs})
		}
	}
	slices.SortFunc(out, func(a, b store.ManifestPackages) int { return cmp.Compare(a.Digest, b.Digest) })
	return out, nil
}

// CreateScan implements store.Scans.
func (s *Store) CreateScan(ctx context.Context, sc *store.Scan) (int, error) {
	if sc == nil || sc.Image == "" {
		return 0, errors.New("create scan: no image")
	}
	if err := store.CheckScanKey(sc.Key); err != nil {
		return 0, fmt.Errorf("create scan of %s: %w", sc.Image, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.scans[sc.Image]
	if sc.Key != "" {
		for _, x := range list {
			if x.key == sc.Key {
				return x.s.Index, nil
			}
		}
	}
	c := *sc
	c.Key = ""
	c.Index = len(list) + 1
	if len(list) > 0 {
		c.Index = list[len(list)-1].s.Index + 1
	}
	c.ScannedAt = utc(c.ScannedAt).Truncate(time.Microsecond)
	if c.ScannedAt.IsZero() {
		c.ScannedAt = s.at()
	}
	c.Counts = cloneCounts(sc.Counts)
	c.Report = slices.Clone(sc.Report)
	s.scans[sc.Image] = append(list, &scan{s: c, key: sc.Key})
	return c.Index, nil
}

func cloneCounts(c store.SeverityCounts) store.SeverityCounts {
	if c == nil {
		return nil
	}
	out := make(store.SeverityCounts, len(c))
	for k, v := range c {
		out[k] = v
	}
	return out
}

// copyScan returns a copy of sc, with its report when withReport.
func copyScan(sc *scan, withReport bool) store.Scan {
	c := sc.s
	c.Counts = cloneCounts(c.Counts)
	c.Report = nil
	if withReport {
		c.Report = slices.Clone(sc.s.Report)
	}
	return c
}

// ListScans implements store.Scans.
func (s *Store) ListScans(ctx context.Context, image string) ([]store.Scan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Scan
	for _, sc := range s.scans[image] {
		out = append(out, copyScan(sc, false))
	}
	return out, nil
}

// GetScan implements store.Scans.
func (s *Store) GetScan(ctx context.Context, image string, index int) (*store.Scan, error) {
	if index < 0 {
		return nil, fmt.Errorf("scan %d of %s: negative scan index", index, image)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.scans[image]
	if index == 0 {
		if len(list) == 0 {
			return nil, fmt.Errorf("latest scan of %s: %w", image, store.ErrNotFound)
		}
		c := copyScan(list[len(list)-1], true)
		return &c, nil
	}
	for _, sc := range list {
		if sc.s.Index == index {
			c := copyScan(sc, true)
			return &c, nil
		}
	}
	return nil, fmt.Errorf("scan %d of %s: %w", index, image, store.ErrNotFound)
}

// LatestScans implements store.Retention.
func (s *Store) LatestScans(ctx context.Context) ([]store.Scan, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.Scan
	for _, list := range s.scans {
		if len(list) > 0 {
			out = append(out, copyScan(list[len(list)-1], false))
		}
	}
	slices.SortFunc(out, func(a, b store.Scan) int { return cmp.Compare(a.Image, b.Image) })
	return out, nil
}

// ImagesOfManifest implements store.Retention.
func (s *Store) ImagesOfManifest(ctx context.Context, digest string) ([]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for image, list := range s.scans {
		if len(list) > 0 && list[len(list)-1].s.ManifestDigest == digest {
			out = append(out, image)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ImagesOfManifests implements store.PackageRows: ImagesOfManifest for
// many manifests, a manifest without images absent.
func (s *Store) ImagesOfManifests(ctx context.Context, digests []string) (map[string][]string, error) {
	want := make(map[string]bool, len(digests))
	for _, d := range digests {
		want[d] = true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]string{}
	for image, list := range s.scans {
		if len(list) == 0 {
			continue
		}
		if d := list[len(list)-1].s.ManifestDigest; want[d] {
			out[d] = append(out[d], image)
		}
	}
	for _, images := range out {
		slices.Sort(images)
	}
	return out, nil
}

// Interfaces this store implements.
var (
	_ store.Layers          = (*Store)(nil)
	_ store.Blobs           = (*Store)(nil)
	_ store.Manifests       = (*Store)(nil)
	_ store.PackageRows     = (*Store)(nil)
	_ store.Scans           = (*Store)(nil)
	_ store.Vulnerabilities = (*Store)(nil)
	_ store.UpdateStreamer  = (*Store)(nil)
	_ store.UpdateRecords   = (*Store)(nil)
	_ store.RecordLookup    = (*Store)(nil)
	_ store.Coverage        = (*Store)(nil)
	_ store.Retention       = (*Store)(nil)
	_ store.Outbox          = (*Store)(nil)
	_ store.Apps            = (*Store)(nil)
	_ store.AppVerdicts     = (*Store)(nil)
)
