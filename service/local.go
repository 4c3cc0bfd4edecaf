package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/lapps/lapps/checks"
	imgconfig "github.com/lapps/lapps/checks/config"
	"github.com/lapps/lapps/image"
	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/report"
	"github.com/lapps/lapps/sbom"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/vuln"
)

// Local is the in-process Service, on a store of its own.
type Local struct {
	st       Store
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
	// sbomLimits bound the SBOMs read (WithSBOMLimits).
	sbomLimits sbom.Limits
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

// NewLocal returns the in-process service on st (a store.Store, or any
// store with the roles of Store), indexing with ix. It takes ownership of
// st: Close closes it.
func NewLocal(st Store, ix *indexer.Indexer, opts ...Option) *Local {
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
// shares (its scan job queue, say); nil when the service was given a
// store that is not a whole store.Store (a test's fake).
func (l *Local) Store() store.Store {
	s, _ := l.st.(store.Store)
	return s
}

// ScanImage indexes the layers of the image not indexed yet by this
// indexer version, folds the layer indexes, matches the result against the
// current data and records the scan. Nothing is recorded when any step
// fails.
func (l *Local) ScanImage(ctx context.Context, req ScanRequest) (*report.Report, error) {
	if image.IsSBOM(req.Image) {
		return l.scanSBOM(ctx, req)
	}
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
	name, err := image.NormalizeName(req.Image, l.imageOpts...)
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

// The layer cache and what it trusts.
//
// A layer's index is stored under its diff ID (the digest of its
// uncompressed content), so that the same content from a registry, an OCI
// layout or a docker-archive is indexed once. An index is reused only for
// content lapps has verified itself, never on an image configuration's
// word (which an attacker writes):
//
//   - registries and OCI layouts (content-addressed: reading a blob checks
//     it against its digest): a blob digest maps to a diff ID only through
//     a pair recorded when lapps read that blob and checked both digests
//     (store.Blobs). A configuration claiming another diff ID for a known
//     blob is a corrupt image; an unknown blob is read.
//   - docker-archive layers: the stored bytes are hashed now (at disk
//     speed, far cheaper than indexing); an uncompressed layer must hash
//     to the diff ID its configuration claims, a compressed one is looked
//     up by its hash among the verified pairs or read.
//   - dir: trees: the generated tar stream is hashed now; its hash is the
//     key, and a read that does not reproduce it (the tree changed) fails.
//
// Reading a layer always verifies what it is stored under.

// layerGroup is one distinct layer content of an image: the positions it
// takes (a manifest may list a layer several times: it is read once).
type layerGroup struct {
	pos []int
	ly  image.Layer
	// key is the diff ID the index is stored under: verified already
	// (verified), or the configuration's claim, which only the read
	// verifies (the layer checks its claimed diff ID): then no stored
	// index is taken for it.
	key      string
	verified bool
	// blob, when set, is a content-addressed blob digest whose pair with
	// key is recorded once the read verified both.
	blob string
	// rehash, when set, is the hash a read of the stream must reproduce
	// (dir: trees, whose stream the image package cannot verify).
	rehash string
}

// compressedMediaType reports whether a layer's media type says it is
// compressed.
func compressedMediaType(mt string) bool {
	return strings.Contains(mt, "gzip") || strings.Contains(mt, "zstd") || strings.HasSuffix(mt, ".tar.gzip") ||
		mt == "application/vnd.docker.image.rootfs.diff.tar.gzip"
}

// groupLayers identifies the content of every layer of img as far as it
// can be verified before reading (hashing what is not content-addressed,
// in parallel), and groups the positions holding the same content.
func (l *Local) groupLayers(ctx context.Context, img image.Image, progress func(Progress)) ([]*layerGroup, error) {
	layers := img.Layers()
	hashes := make([]string, len(layers))
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, l.parallel)
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	hashed := map[image.Layer]bool{}
	for i, ly := range layers {
		if ly.ContentAddressed() || hashed[ly] {
			continue
		}
		hashed[ly] = true
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			progress(Progress{Stage: StageVerify, Layer: ly.Digest(), Index: i, Layers: len(layers)})
			h, err := ly.HashBlob(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = corrupt(ctx, fmt.Errorf("layer %s: %w", ly.Digest(), err))
					cancel()
				}
				return
			}
			for j, other := range layers {
				if other == ly {
					hashes[j] = h
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	dir := strings.HasPrefix(img.Name(), "dir:")
	var groups []*layerGroup
	byIdent := map[string]*layerGroup{}
	for i, ly := range layers {
		ident := "blob " + ly.Digest()
		if !ly.ContentAddressed() {
			ident = "hash " + hashes[i]
		}
		g := byIdent[ident]
		if g == nil {
			g = &layerGroup{ly: ly}
			byIdent[ident] = g
			groups = append(groups, g)
		}
		g.pos = append(g.pos, i)
	}
	for _, g := range groups {
		claims := map[string]bool{}
		for _, i := range g.pos {
			claims[layers[i].DiffID()] = true
		}
		claim := g.ly.DiffID()
		one := func() error {
			if len(claims) > 1 {
				return fmt.Errorf("%w: layer %s is given %d different diff IDs by the image configuration", image.ErrCorrupt, g.ly.Digest(), len(claims))
			}
			return nil
		}
		switch h := hashes[g.pos[0]]; {
		case dir:
			g.key, g.rehash, g.verified = h, h, true
		case g.ly.ContentAddressed() || compressedMediaType(g.ly.MediaType()):
			blob := g.ly.Digest()
			if !g.ly.ContentAddressed() {
				blob = h // the compressed bytes as hashed now
			}
			d, err := l.st.BlobDiffID(ctx, blob)
			switch {
			case err == nil:
				for c := range claims {
					if c != d {
						return nil, fmt.Errorf("%w: the image configuration gives layer %s the diff ID %s, but lapps verified that this blob holds %s", image.ErrCorrupt, blob, c, d)
					}
				}
				g.key, g.verified = d, true
			case errors.Is(err, store.ErrNotFound):
				if err := one(); err != nil {
					return nil, err
				}
				g.key = claim
				if g.ly.ContentAddressed() {
					g.blob = blob
				}
			default:
				return nil, fmt.Errorf("read verified blob: %w", err)
			}
		default: // an uncompressed layer hashed now: its hash is its diff ID
			for c := range claims {
				if c != h {
					return nil, fmt.Errorf("%w: layer %s: its content is %s, not the diff ID %s the image configuration gives", image.ErrCorrupt, g.ly.Digest(), h, c)
				}
			}
			g.key, g.verified = h, true
		}
	}
	return groups, nil
}

// indexImage returns the folded index of img, reading only the layers
// whose verified content has no index of the current indexer version, each
// distinct content once.
func (l *Local) indexImage(ctx context.Context, img image.Image, progress func(Progress)) (*model.ImageIndex, error) {
	layers := img.Layers()
	groups, err := l.groupLayers(ctx, img, progress)
	if err != nil {
		return nil, err
	}
	infos := make([]model.LayerInfo, len(layers))
	idxs := make([]*model.LayerIndex, len(layers))
	manifest := img.ManifestDigest()
	var todo []*layerGroup
	for _, g := range groups {
		for _, i := range g.pos {
			ly := layers[i]
			infos[i] = model.LayerInfo{Digest: ly.Digest(), DiffID: g.key, MediaType: ly.MediaType(), Size: ly.Size()}
			if g.rehash != "" {
				// A dir: tree: its digests are the content's hash, and so
				// is the manifest's (the image is this one layer).
				infos[i].Digest = g.key
				manifest = g.key
			}
		}
		if !g.verified {
			todo = append(todo, g)
			continue
		}
		li, err := l.st.Layer(ctx, g.key)
		switch {
		case err == nil && li.IndexerVersion == l.ix.Version():
			for _, i := range g.pos {
				idxs[i] = li
				progress(Progress{Stage: StageCached, Layer: layers[i].Digest(), Index: i, Layers: len(layers)})
			}
		case err == nil || errors.Is(err, store.ErrNotFound):
			todo = append(todo, g)
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
		for _, g := range todo {
			wg.Add(1)
			go func() {
				defer wg.Done()
				sem <- struct{}{}
				defer func() { <-sem }()
				li, err := l.indexLayer(ctx, g)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					if firstErr == nil {
						firstErr = err
						cancel()
					}
					return
				}
				for _, i := range g.pos {
					idxs[i] = li
					progress(Progress{Stage: StageDone, Layer: layers[i].Digest(), Index: i, Layers: len(layers)})
				}
			}()
		}
		wg.Wait()
		if firstErr != nil {
			return nil, firstErr
		}
	}
	idx, err := indexer.Fold(manifest, infos, idxs)
	if err != nil {
		return nil, err
	}
	// The image configuration's findings are stored with the folded
	// index, before the layers' (which they precede in reports): a report
	// never reads the image again.
	if c, ok := img.(interface{ ConfigFile() *v1.ConfigFile }); ok {
		digests := make([]string, len(infos))
		for i := range infos {
			digests[i] = infos[i].Digest
		}
		idx.ConfigFindings = append(imgconfig.Check(c.ConfigFile(), digests), idx.ConfigFindings...)
	}
	if err := l.st.PutManifest(ctx, idx); err != nil {
		return nil, fmt.Errorf("store index: %w", err)
	}
	return idx, nil
}

// indexLayer reads and indexes the content of one layer group, stores its
// index and, for a content-addressed blob, the verified pair of its
// digests.
func (l *Local) indexLayer(ctx context.Context, g *layerGroup) (*model.LayerIndex, error) {
	ly := g.ly
	start := time.Now()
	rc, err := ly.Open(ctx)
	if err != nil {
		return nil, corrupt(ctx, fmt.Errorf("layer %s: %w", ly.Digest(), err))
	}
	defer rc.Close()
	var r io.Reader = rc
	var h hash.Hash
	if g.rehash != "" {
		h = sha256.New()
		r = io.TeeReader(rc, h)
	}
	li, err := l.ix.IndexLayer(ctx, g.key, r)
	if err != nil {
		return nil, corrupt(ctx, err)
	}
	if h != nil {
		if got := "sha256:" + hex.EncodeToString(h.Sum(nil)); got != g.rehash {
			return nil, fmt.Errorf("%w: layer %s changed while it was read (%s, then %s)", image.ErrCorrupt, ly.Digest(), g.rehash, got)
		}
	}
	if err := l.st.PutLayer(ctx, li); err != nil {
		return nil, fmt.Errorf("layer %s: store index: %w", ly.Digest(), err)
	}
	if g.blob != "" {
		if err := l.st.PutBlobDiffID(ctx, g.blob, g.key); err != nil {
			return nil, fmt.Errorf("layer %s: record verified blob: %w", ly.Digest(), err)
		}
	}
	l.log.Debug("indexed layer", "layer", ly.Digest(), "entries", len(li.Entries), "duration", time.Since(start))
	return li, nil
}

// corrupt marks a failure to read a layer as a corrupt image, unless the
// work was cancelled.
func corrupt(ctx context.Context, err error) error {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, image.ErrCorrupt) || errors.Is(err, limits.ErrExceeded) {
		return err
	}
	return fmt.Errorf("%w: %w", image.ErrCorrupt, err)
}

// build matches idx against the current data and assembles a report.
func (l *Local) build(ctx context.Context, name string, idx *model.ImageIndex, now time.Time) (*report.Report, error) {
	findings, notAffected, warnings, err := l.match(ctx, idx)
	if err != nil {
		return nil, err
	}
	data, err := l.st.SourceData(ctx)
	if err != nil {
		return nil, fmt.Errorf("vulnerability data coverage: %w", err)
	}
	sources, uncovered := coverage(imageEcosystems(idx), data, len(findings), now)
	for i := range sources {
		for _, s := range l.sources {
			if sources[i].Type == "" && s.Name == sources[i].Name {
				sources[i].Type = s.Type
			}
		}
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
		NotAffected:     notAffected,
		DataSources:     sources,
		Warnings:        append(append(append([]string{}, idx.Warnings...), warnings...), uncovered...),
		ConfigFindings:  append([]checks.Finding{}, idx.ConfigFindings...),
		Secrets:         append([]checks.Secret{}, idx.Secrets...),
	}
	// End of life depends on the day: decided now, from the stored
	// distribution.
	if f := imgconfig.EOL(idx.Distribution, now); f != nil {
		r.ConfigFindings = append([]checks.Finding{*f}, r.ConfigFindings...)
	}
	sort.SliceStable(r.ConfigFindings, func(i, j int) bool { return r.ConfigFindings[i].Severity > r.ConfigFindings[j].Severity })
	if r.Packages == nil {
		r.Packages = []vuln.Package{}
	}
	if r.Vulnerabilities == nil {
		r.Vulnerabilities = []vuln.Finding{}
	}
	r.Summarize()
	return r, nil
}

// ListScans lists the scans of an image.
func (l *Local) ListScans(ctx context.Context, ref string) ([]ScanSummary, error) {
	name, err := image.NormalizeName(ref, l.imageOpts...)
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
	name, err := image.NormalizeName(ref, l.imageOpts...)
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
