package service

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

// Local is the in-process Service, on a store of its own.
type Local struct {
	st       store.Store
	ix       *indexer.Indexer
	sources  []updater.Source
	log      *slog.Logger
	now      func() time.Time
	parallel int
	// creds are registry credentials for the work the service does on its
	// own (scrub, scan on push).
	creds map[string]image.Credential
	// open opens images; tests replace it to count layer reads.
	open func(ctx context.Context, ref string, opts ...image.Option) (image.Image, error)
	// imageOpts are given to every open after the request's own
	// (WithImageOptions): a server's trust boundaries.
	imageOpts []image.Option
	// insecure are the registries read over plain HTTP or unverified TLS
	// whoever asks (WithInsecureRegistries).
	insecure []string
}

// Option configures a Local service.
type Option func(*Local)

// WithSources sets the configured vulnerability sources.
func WithSources(s []updater.Source) Option { return func(l *Local) { l.sources = s } }

// WithCredentials sets the registry credentials used for work the service
// starts itself (scrub, scans on push).
func WithCredentials(c map[string]image.Credential) Option { return func(l *Local) { l.creds = c } }

// WithImageOptions adds opts to every image the service opens (scans,
// scrub), after the options of the request, so that a request cannot
// override them: a server passes its trust boundaries here
// (image.WithLocalRoots, image.WithRegistryAllow).
func WithImageOptions(opts ...image.Option) Option {
	return func(l *Local) { l.imageOpts = append(l.imageOpts, opts...) }
}

// WithInsecureRegistries names registries (host or host:port, as in the
// configuration's registries section; "docker.io" is Docker Hub) that
// every scan and scrub reads with image.WithInsecure, whatever the
// request says: a server decides insecure per registry from its
// configuration, never from its callers.
func WithInsecureRegistries(hosts []string) Option {
	return func(l *Local) { l.insecure = append([]string(nil), hosts...) }
}

// insecureFor reports whether ref names a registry of WithInsecureRegistries.
func (l *Local) insecureFor(ref string) bool {
	if len(l.insecure) == 0 || !isRegistryRef(ref) {
		return false
	}
	r, err := name.ParseReference(strings.TrimPrefix(ref, "docker://"))
	if err != nil {
		return false
	}
	host := r.Context().RegistryStr()
	for _, h := range l.insecure {
		if strings.EqualFold(h, host) || (host == name.DefaultRegistry && (h == "docker.io" || h == "registry-1.docker.io")) {
			return true
		}
	}
	return false
}

// WithLogger sets the logger.
func WithLogger(log *slog.Logger) Option { return func(l *Local) { l.log = log } }

// WithParallelism sets how many layers are indexed at once (default: the
// number of CPUs).
func WithParallelism(n int) Option { return func(l *Local) { l.parallel = max(1, n) } }

// NewLocal returns the in-process service on st, indexing with ix. It
// takes ownership of st: Close closes it.
func NewLocal(st store.Store, ix *indexer.Indexer, opts ...Option) *Local {
	l := &Local{
		st: st, ix: ix, log: slog.Default(), now: time.Now,
		parallel: runtime.GOMAXPROCS(0), open: image.Open,
		sources: updater.DefaultSources(),
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Close closes the store.
func (l *Local) Close() error { return l.st.Close() }

// Store returns the store the service works on, which a server on it
// shares (its scan job queue, say).
func (l *Local) Store() store.Store { return l.st }

// ScanImage indexes the layers of the image not indexed yet by this
// indexer version, folds the layer indexes, matches the result against the
// current data and records the scan. Nothing is recorded when any step
// fails.
func (l *Local) ScanImage(ctx context.Context, req ScanRequest) (*report.Report, error) {
	progress := req.Progress
	if progress == nil {
		progress = func(Progress) {}
	}
	progress(Progress{Stage: StageResolve})
	opts := []image.Option{image.WithPlatform(req.Platform), image.WithInsecure(req.Insecure || l.insecureFor(req.Image))}
	creds := req.Credentials
	if len(creds) == 0 {
		creds = l.creds
	}
	if len(creds) > 0 {
		opts = append(opts, image.WithCredentials(creds))
	}
	layerPos := map[string]int{}
	var nLayers int
	opts = append(opts, image.WithProgress(func(digest string, read, total int64) {
		progress(Progress{Stage: StageLayer, Layer: digest, Index: layerPos[digest], Layers: nLayers, Read: read, Total: total})
	}))
	opts = append(opts, l.imageOpts...)
	name, err := image.NormalizeName(req.Image)
	if err != nil {
		return nil, err
	}
	img, err := l.open(ctx, req.Image, opts...)
	if err != nil {
		return nil, err
	}
	defer img.Close()
	layers := img.Layers()
	nLayers = len(layers)
	for i, ly := range layers {
		layerPos[ly.Digest()] = i
	}
	idx, err := l.indexImage(ctx, img, progress)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	progress(Progress{Stage: StageMatch, Layers: nLayers})
	now := l.now().UTC()
	r, err := l.build(ctx, name, idx, now)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if _, err := l.record(ctx, name, req.Key, idx.ManifestDigest, len(idx.Packages), r, now); err != nil {
		return nil, fmt.Errorf("%s: record scan: %w", name, err)
	}
	return r, nil
}

// record stores r as the next numbered scan of name and sets its
// ScanIndex.
func (l *Local) record(ctx context.Context, name, key, manifest string, packages int, r *report.Report, now time.Time) (int, error) {
	r.ScannedAt = now
	r.Live = false
	body, err := json.Marshal(r)
	if err != nil {
		return 0, err
	}
	n, err := l.st.CreateScan(ctx, &store.Scan{
		Image: name, ScannedAt: now, ManifestDigest: manifest,
		Packages: packages, Counts: r.Counts(), Report: body, Key: key,
	})
	if err != nil {
		return 0, err
	}
	r.ScanIndex = n
	return n, nil
}

// layerKey is the key a layer's index is stored under: its DiffID (the
// digest of its content, whatever the compression), else its digest.
func layerKey(ly image.Layer) string {
	if d := ly.DiffID(); d != "" {
		return d
	}
	return ly.Digest()
}

// indexImage returns the folded index of img, reading only the layers
// that have no index of the current indexer version.
func (l *Local) indexImage(ctx context.Context, img image.Image, progress func(Progress)) (*indexer.ImageIndex, error) {
	layers := img.Layers()
	infos := make([]indexer.LayerInfo, len(layers))
	idxs := make([]*indexer.LayerIndex, len(layers))
	var todo []int
	for i, ly := range layers {
		infos[i] = indexer.LayerInfo{Digest: ly.Digest(), DiffID: ly.DiffID(), MediaType: ly.MediaType(), Size: ly.Size()}
		li, err := l.st.Layer(ctx, layerKey(ly))
		switch {
		case err == nil && li.IndexerVersion == indexer.Version:
			idxs[i] = li
			progress(Progress{Stage: StageCached, Layer: ly.Digest(), Index: i, Layers: len(layers)})
		case err == nil || errors.Is(err, store.ErrNotFound):
			todo = append(todo, i)
		default:
			return nil, fmt.Errorf("read layer index: %w", err)
		}
	}
	if len(todo) > 0 {
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			firstErr error
			sem      = make(chan struct{}, l.parallel)
		)
		for _, i := range todo {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				li, err := l.indexLayer(ctx, layers[i])
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					return
				}
				idxs[i] = li
				progress(Progress{Stage: StageDone, Layer: layers[i].Digest(), Index: i, Layers: len(layers)})
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
	}
	idx, err := indexer.Fold(img.ManifestDigest(), infos, idxs)
	if err != nil {
		return nil, err
	}
	if err := l.st.PutManifest(ctx, idx); err != nil {
		return nil, fmt.Errorf("store index: %w", err)
	}
	return idx, nil
}

// indexLayer reads and indexes one layer and stores its index.
func (l *Local) indexLayer(ctx context.Context, ly image.Layer) (*indexer.LayerIndex, error) {
	start := time.Now()
	rc, err := ly.Open(ctx)
	if err != nil {
		return nil, corrupt(ctx, fmt.Errorf("layer %s: %w", ly.Digest(), err))
	}
	defer rc.Close()
	li, err := l.ix.IndexLayer(ctx, layerKey(ly), rc)
	if err != nil {
		return nil, corrupt(ctx, err)
	}
	if err := l.st.PutLayer(ctx, li); err != nil {
		return nil, fmt.Errorf("layer %s: store index: %w", ly.Digest(), err)
	}
	l.log.Debug("indexed layer", "layer", ly.Digest(), "entries", len(li.Entries), "duration", time.Since(start))
	return li, nil
}

// corrupt marks a failure to read a layer as a corrupt image, unless the
// work was cancelled.
func corrupt(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, image.ErrCorrupt) {
		return err
	}
	return fmt.Errorf("%w: %w", image.ErrCorrupt, err)
}

// build matches idx against the current data and assembles a report.
func (l *Local) build(ctx context.Context, name string, idx *indexer.ImageIndex, now time.Time) (*report.Report, error) {
	findings, warnings, err := l.match(ctx, idx)
	if err != nil {
		return nil, err
	}
	sources, err := l.dataSources(ctx)
	if err != nil {
		return nil, err
	}
	r := &report.Report{
		Image:           name,
		ManifestDigest:  idx.ManifestDigest,
		GeneratedAt:     now,
		Live:            true,
		IndexerVersion:  idx.IndexerVersion,
		Distribution:    idx.Distribution,
		Layers:          idx.Layers,
		Packages:        idx.Packages,
		OSOwnedPackages: idx.OSOwned,
		Vulnerabilities: findings,
		DataSources:     sources,
		Warnings:        append(append([]string(nil), idx.Warnings...), warnings...),
	}
	if r.Packages == nil {
		r.Packages = []vuln.Package{}
	}
	if r.Vulnerabilities == nil {
		r.Vulnerabilities = []vuln.Finding{}
	}
	r.Summarize()
	return r, nil
}

func (l *Local) dataSources(ctx context.Context) ([]report.DataSource, error) {
	st, err := l.st.SourceStatuses(ctx)
	if err != nil {
		return nil, fmt.Errorf("vulnerability data status: %w", err)
	}
	out := []report.DataSource{}
	for _, s := range st {
		if s.Latest != nil {
			out = append(out, report.DataSource{Name: s.Source, Operation: s.Latest.ID, UpdatedAt: s.Latest.CreatedAt})
		}
	}
	return out, nil
}

// ListScans lists the scans of an image.
func (l *Local) ListScans(ctx context.Context, ref string) ([]ScanSummary, error) {
	name, err := image.NormalizeName(ref)
	if err != nil {
		return nil, err
	}
	scans, err := l.st.ListScans(ctx, name)
	if err != nil {
		return nil, err
	}
	if len(scans) == 0 {
		return nil, fmt.Errorf("no scans of %s: %w", name, ErrNotFound)
	}
	out := make([]ScanSummary, len(scans))
	for i, s := range scans {
		counts := map[string]int{}
		for sev := vuln.SeverityUnknown; sev <= vuln.SeverityCritical; sev++ {
			counts[sev.String()] = s.Counts[sev]
		}
		out[i] = ScanSummary{Image: s.Image, Index: s.Index, ScannedAt: s.ScannedAt, ManifestDigest: s.ManifestDigest, Packages: s.Packages, Vulnerabilities: counts}
	}
	return out, nil
}

// Report returns a scan as recorded (index > 0) or the latest scan matched
// against the current data (index 0).
func (l *Local) Report(ctx context.Context, ref string, index int) (*report.Report, error) {
	name, err := image.NormalizeName(ref)
	if err != nil {
		return nil, err
	}
	var scan *store.Scan
	if index == 0 {
		// The live report needs the latest scan's manifest, not its stored
		// report: list the scans (without reports) rather than read it.
		var scans []store.Scan
		if scans, err = l.st.ListScans(ctx, name); err == nil {
			if len(scans) == 0 {
				err = store.ErrNotFound
			} else {
				scan = &scans[len(scans)-1]
			}
		}
	} else {
		scan, err = l.st.GetScan(ctx, name, index)
	}
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			if index > 0 {
				return nil, fmt.Errorf("%s has no scan #%d: %w", name, index, ErrNotFound)
			}
			return nil, fmt.Errorf("no scans of %s (run `lapps image security scan %s`): %w", name, ref, ErrNotFound)
		}
		return nil, err
	}
	if index > 0 {
		var r report.Report
		if err := json.Unmarshal(scan.Report, &r); err != nil {
			return nil, fmt.Errorf("%s scan #%d: stored report: %w", name, index, err)
		}
		r.ScanIndex = scan.Index
		return &r, nil
	}
	idx, err := l.st.Manifest(ctx, scan.ManifestDigest)
	if err != nil {
		return nil, fmt.Errorf("%s: index of %s: %w", name, scan.ManifestDigest, err)
	}
	r, err := l.build(ctx, name, idx, l.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	r.ScanIndex = scan.Index
	r.ScannedAt = scan.ScannedAt
	return r, nil
}

// ManifestReport matches a stored manifest index against the current data.
// The report names the manifest after the images whose latest scan it is.
func (l *Local) ManifestReport(ctx context.Context, digest string) (*report.Report, error) {
	idx, err := l.st.Manifest(ctx, digest)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, fmt.Errorf("manifest %s has not been indexed: %w", digest, ErrNotFound)
		}
		return nil, err
	}
	images, err := l.st.ImagesOfManifest(ctx, digest)
	if err != nil {
		return nil, err
	}
	name := digest
	if len(images) > 0 {
		name = images[0]
	}
	r, err := l.build(ctx, name, idx, l.now().UTC())
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", digest, err)
	}
	return r, nil
}
