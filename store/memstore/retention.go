package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/lapps/lapps/store"
)

// TouchManifest implements store.Retention.
func (s *Store) TouchManifest(ctx context.Context, digest string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	m, ok := s.manifests[digest]
	if !ok {
		return fmt.Errorf("touch manifest %s: %w", digest, store.ErrNotFound)
	}
	if at = micro(at); at.After(m.seen) {
		m.seen = at
	}
	return nil
}

// PruneScans implements store.Retention.
func (s *Store) PruneScans(ctx context.Context, keep, limit int) (int, error) {
	if keep < 1 || limit <= 0 {
		return 0, fmt.Errorf("prune scans: keep %d, limit %d: both must be positive", keep, limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, image := range sortedKeys(s.scans) {
		list := s.scans[image]
		drop := min(max(0, len(list)-keep), limit-n)
		if drop == 0 {
			continue
		}
		s.scans[image] = slices.Clone(list[drop:])
		n += drop
	}
	return n, nil
}

// PruneManifests implements store.Retention: a manifest goes when
// PutManifest stored it, TouchManifest last touched it and its newest scan
// was made before before.
func (s *Store) PruneManifests(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune manifests: limit %d", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	scanned := map[string]bool{} // manifests with a scan at or after before
	for _, list := range s.scans {
		for _, sc := range list {
			if !sc.s.ScannedAt.Before(before) {
				scanned[sc.s.ManifestDigest] = true
			}
		}
	}
	var old []string
	for d, m := range s.manifests {
		if m.stored.Before(before) && m.seen.Before(before) && !scanned[d] {
			old = append(old, d)
		}
	}
	slices.SortFunc(old, func(a, b string) int {
		return cmp.Or(s.manifests[a].seen.Compare(s.manifests[b].seen), cmp.Compare(a, b))
	})
	old = old[:min(limit, len(old))]
	gone := map[string]bool{}
	for _, d := range old {
		gone[d] = true
		delete(s.manifests, d)
	}
	for image, list := range s.scans {
		list = slices.DeleteFunc(list, func(sc *scan) bool { return gone[sc.s.ManifestDigest] })
		if len(list) == 0 {
			delete(s.scans, image)
		} else {
			s.scans[image] = list
		}
	}
	return len(old), nil
}

// PruneLayers implements store.Retention.
func (s *Store) PruneLayers(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune layers: limit %d", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	listed := map[string]bool{}
	for _, m := range s.manifests {
		for _, l := range m.layers {
			listed[l] = true
		}
	}
	var old []string
	for d, l := range s.layers {
		if l.stored.Before(before) && !listed[d] {
			old = append(old, d)
		}
	}
	slices.SortFunc(old, func(a, b string) int {
		return cmp.Or(s.layers[a].stored.Compare(s.layers[b].stored), cmp.Compare(a, b))
	})
	old = old[:min(limit, len(old))]
	gone := map[string]bool{}
	for _, d := range old {
		gone[d] = true
		delete(s.layers, d)
	}
	for blob, diffID := range s.blobs {
		if gone[diffID] {
			delete(s.blobs, blob)
		}
	}
	return len(old), nil
}

// PruneJobs is store.Jobs.PruneJobs for a store without a job queue:
// there is never a finished job to delete. It checks its limit as the
// engines do.
func (s *Store) PruneJobs(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune jobs: limit %d", limit)
	}
	return 0, nil
}
