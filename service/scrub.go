package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// ScrubResult counts what a scrub did.
type ScrubResult struct {
	// Images is the number of images re-evaluated.
	Images int `json:"images"`
	// Rescanned counts images whose tag moved to a new manifest, indexed
	// again; Changed counts images whose findings changed against the
	// current data, given a new scan; Failed counts images that could not
	// be re-evaluated (their errors are logged).
	Rescanned int `json:"rescanned"`
	Changed   int `json:"changed"`
	Failed    int `json:"failed"`
}

// isRegistryRef reports whether an image name is a registry reference
// (and not one of the local transports).
func isRegistryRef(name string) bool {
	for _, t := range []string{"oci:", "oci-archive:", "docker-archive:", "dir:", "sbom:"} {
		if strings.HasPrefix(name, t) {
			return false
		}
	}
	return true
}

// Scrub re-evaluates every image's latest scan: a registry tag that moved
// to a new manifest is scanned again (reading only its new layers); any
// other image is matched again against the current data from its stored
// index, without reading a layer, and gets a new numbered scan only when
// its findings changed.
func (l *Local) Scrub(ctx context.Context) (*ScrubResult, error) {
	scans, err := l.st.LatestScans(ctx)
	if err != nil {
		return nil, fmt.Errorf("scrub: %w", err)
	}
	res := &ScrubResult{}
	for _, s := range scans {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		res.Images++
		moved, changed, err := l.scrubOne(ctx, s)
		switch {
		case err != nil:
			res.Failed++
			l.log.Warn("scrub: image not re-evaluated", "image", s.Image, "err", err)
		case moved:
			res.Rescanned++
		case changed:
			res.Changed++
		}
	}
	l.log.Info("scrub done", "images", res.Images, "rescanned", res.Rescanned, "changed", res.Changed, "failed", res.Failed)
	return res, nil
}

func (l *Local) scrubOne(ctx context.Context, s store.Scan) (moved, changed bool, err error) {
	if isRegistryRef(s.Image) && !strings.Contains(s.Image, "@") {
		img, err := l.open(ctx, s.Image, l.imageOptions(s.Image)...)
		if err != nil {
			return false, false, err
		}
		digest := img.ManifestDigest()
		img.Close()
		if digest != s.ManifestDigest {
			_, err := l.ScanImage(ctx, ScanRequest{Image: s.Image, Credentials: l.creds})
			return err == nil, false, err
		}
	}
	prev, err := l.st.GetScan(ctx, s.Image, s.Index)
	if err != nil {
		return false, false, err
	}
	var old report.Report
	if err := json.Unmarshal(prev.Report, &old); err != nil {
		return false, false, fmt.Errorf("stored report of scan #%d: %w", s.Index, err)
	}
	idx, err := l.st.Manifest(ctx, s.ManifestDigest)
	if err != nil {
		return false, false, err
	}
	now := l.now().UTC()
	if err := l.st.TouchManifest(ctx, s.ManifestDigest, now); err != nil && !errors.Is(err, store.ErrNotFound) {
		return false, false, err
	}
	r, err := l.build(ctx, s.Image, idx, now)
	if err != nil {
		return false, false, err
	}
	if sameFindings(old.Vulnerabilities, r.Vulnerabilities) {
		return false, false, nil
	}
	if _, err := l.record(ctx, s.Image, "", idx.ManifestDigest, len(idx.Packages), r, now); err != nil {
		return false, false, err
	}
	return false, true, nil
}

// findingKey is what makes two findings the same for scrub.
func findingKey(f vuln.Finding) string {
	return strings.Join([]string{f.ID, f.Package, f.InstalledVersion, f.DBPath, f.FixedVersion, string(f.Status), f.Severity.String()}, "\x00")
}

func sameFindings(a, b []vuln.Finding) bool {
	if len(a) != len(b) {
		return false
	}
	ka := make([]string, len(a))
	kb := make([]string, len(b))
	for i := range a {
		ka[i], kb[i] = findingKey(a[i]), findingKey(b[i])
	}
	slices.Sort(ka)
	slices.Sort(kb)
	return slices.Equal(ka, kb)
}

// Retention says what garbage collection keeps.
type Retention struct {
	// KeepScans is how many scans of each image are kept (at least 1).
	KeepScans int
	// ManifestTTL removes manifests (with their scans) neither scanned nor
	// referenced for this long; 0 keeps them forever.
	ManifestTTL time.Duration
	// DeliveredTTL removes delivered notifications older than this; 0
	// keeps them.
	DeliveredTTL time.Duration
	// JobTTL removes finished scan jobs older than this (their scans stay,
	// under KeepScans); 0 keeps them.
	JobTTL time.Duration
	// Batch is how many rows one statement deletes, so that collection
	// never holds the database for long.
	Batch int
}

// GCResult counts what garbage collection removed.
type GCResult struct {
	Scans         int `json:"scans"`
	Manifests     int `json:"manifests"`
	Layers        int `json:"layers"`
	Notifications int `json:"notifications"`
	Jobs          int `json:"jobs"`
}

// GC removes what retention no longer keeps, in small batches: scans
// beyond the newest KeepScans of each image, manifests not scanned or
// referenced within ManifestTTL, layer indexes no manifest uses, and
// delivered notifications past DeliveredTTL. Update operations beyond
// each source's retention are pruned by every ingest.
func (l *Local) GC(ctx context.Context, ret Retention) (*GCResult, error) {
	if ret.Batch <= 0 {
		ret.Batch = 500
	}
	if ret.KeepScans < 1 {
		ret.KeepScans = 1
	}
	now := l.now().UTC()
	res := &GCResult{}
	loop := func(what string, n *int, f func() (int, error)) error {
		for {
			if err := ctx.Err(); err != nil {
				return err
			}
			k, err := f()
			if err != nil {
				return fmt.Errorf("gc %s: %w", what, err)
			}
			*n += k
			if k < ret.Batch {
				return nil
			}
		}
	}
	if err := loop("scans", &res.Scans, func() (int, error) { return l.st.PruneScans(ctx, ret.KeepScans, ret.Batch) }); err != nil {
		return res, err
	}
	if ret.ManifestTTL > 0 {
		if err := loop("manifests", &res.Manifests, func() (int, error) { return l.st.PruneManifests(ctx, now.Add(-ret.ManifestTTL), ret.Batch) }); err != nil {
			return res, err
		}
	}
	// Layers stored in the last hour may belong to an image being indexed.
	if err := loop("layers", &res.Layers, func() (int, error) { return l.st.PruneLayers(ctx, now.Add(-time.Hour), ret.Batch) }); err != nil {
		return res, err
	}
	if ret.DeliveredTTL > 0 {
		if err := loop("notifications", &res.Notifications, func() (int, error) {
			return l.st.PruneDelivered(ctx, now.Add(-ret.DeliveredTTL), ret.Batch)
		}); err != nil {
			return res, err
		}
	}
	if ret.JobTTL > 0 {
		if err := loop("jobs", &res.Jobs, func() (int, error) { return l.st.PruneJobs(ctx, now.Add(-ret.JobTTL), ret.Batch) }); err != nil {
			return res, err
		}
	}
	l.log.Info("gc done", "scans", res.Scans, "manifests", res.Manifests, "layers", res.Layers, "notifications", res.Notifications, "jobs", res.Jobs)
	return res, nil
}

// imageOptions are the options scrub opens ref with.
func (l *Local) imageOptions(ref string) []image.Option {
	var opts []image.Option
	if len(l.creds) > 0 {
		opts = append(opts, image.WithCredentials(l.creds))
	}
	if l.insecureFor(ref) {
		opts = append(opts, image.WithInsecure(true))
	}
	return append(opts, l.imageOpts...)
}
