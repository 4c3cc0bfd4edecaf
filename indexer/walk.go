package indexer

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"runtime/debug"
	"strings"

	"github.com/lapps/lapps/checks/layer"
	"github.com/lapps/lapps/checks/secrets"
	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/model"
)

// Indexer indexes layers with a fixed set of catalogers.
type Indexer struct {
	catalogers []Cataloger
	limits     Limits
	// noChecks turns the file checks and the secret scan off
	// (WithoutChecks).
	noChecks bool
}

// WithoutChecks turns off the file checks and the secret scan of the
// layer pass (checks/layer), which are on by default: for measurements
// only. Layer indexes made so carry a version of their own
// (Version+"-nochecks"), which the service never takes for a current
// index.
func WithoutChecks() Option { return func(ix *Indexer) { ix.noChecks = true } }

// Version is the indexer version the layer indexes of ix carry.
func (ix *Indexer) Version() string {
	if ix.noChecks {
		return Version + "-nochecks"
	}
	return Version
}

// Option configures an Indexer.
type Option func(*Indexer)

// New returns an Indexer using the given catalogers, with DefaultLimits
// unless WithLimits says otherwise.
func New(catalogers []Cataloger, opts ...Option) *Indexer {
	ix := &Indexer{catalogers: catalogers, limits: DefaultLimits}
	for _, o := range opts {
		o(ix)
	}
	return ix
}

// Limits returns the limits the Indexer applies.
func (ix *Indexer) Limits() Limits { return ix.limits }

// Whiteout markers of the OCI image layer specification.
const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// CleanPath turns a tar entry name into the form catalogers see: slash
// separated, without a leading "/" or "./", without "." or ".." elements.
// It returns "" for the root and for names that escape it.
func CleanPath(name string) string {
	p := path.Clean("/" + name)
	if p == "/" {
		return ""
	}
	return p[1:]
}

// Bounds of the walk that are not configurable: they are far beyond
// anything real and only keep a hostile layer from growing the index.
const (
	// maxPath is the longest entry name read (PATH_MAX): longer names
	// are skipped, with a warning when the entry is a whiteout or a
	// wanted file.
	maxPath = 4096
	// maxWhiteoutBytes bounds the paths of the whiteouts and opaque
	// markers of one layer, which the index keeps.
	maxWhiteoutBytes = 16 << 20
	// maxWarnings is the most warnings a layer's index keeps; the rest
	// are counted in a last one.
	maxWarnings = 1000
	// maxWarningBytes is the most bytes of a cataloger's warning kept.
	maxWarningBytes = 512
)

// IndexLayer reads the uncompressed tar stream of one layer in a single
// pass and returns its index. Regular files a cataloger wants are handed
// to every cataloger that wants them, as an *io.SectionReader: held in
// memory up to MemoryThreshold bytes, spooled to a temporary file beyond
// that, up to Limits.FileBytes; all other content is skipped as it
// streams by, and so are sparse entries (GNU sparse type, PAX GNU.sparse
// records), whose holes a reader would expand. In the same pass, unless
// WithoutChecks, the file checks see every entry's header and the secret
// scan the content of regular files up to Limits.SecretFileBytes
// (checks/layer); their result is the index's Checks. The stream is read
// to its end so that the transport can verify the layer's digest.
//
// A file that does not parse, that is larger than Limits.FileBytes, that
// is sparse, or whose cataloger panics, becomes a warning. A stream that
// is not a valid tar archive, that fails to read, or that crosses
// Limits.Entries or Limits.Packages (a *limits.Error) is an error, and
// nothing of the layer is returned.
func (ix *Indexer) IndexLayer(ctx context.Context, digest string, r io.Reader) (*model.LayerIndex, error) {
	w := &walk{
		ix:  ix,
		idx: &model.LayerIndex{Digest: digest, IndexerVersion: ix.Version()},
		budget: &budget{
			maxPackages: ix.limits.Packages,
			maxOwned:    ix.limits.Entries,
			maxExpanded: expansionFactor * ix.limits.FileBytes,
			digest:      digest,
		},
		seed:            maphash.MakeSeed(),
		owned:           map[uint64]int32{},
		ownerIndex:      map[string]int32{},
		ownerCatalogers: map[string]bool{},
	}
	defer w.spool.close()
	if !ix.noChecks {
		pass, err := layer.New(ix.limits.SecretFileBytes)
		if err != nil {
			return nil, fmt.Errorf("index layer %s: %w", digest, err)
		}
		w.pass = pass
	}
	if err := w.run(ctx, tar.NewReader(r)); err != nil {
		return nil, err
	}
	// Drain what follows the end-of-archive marker so that the transport
	// sees the whole blob and verifies its digest.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, fmt.Errorf("read layer %s: %w", digest, err)
	}
	return w.idx, nil
}

// walk is the state of the indexing of one layer.
type walk struct {
	ix     *Indexer
	idx    *model.LayerIndex
	budget *budget
	spool  spool

	entries       int64
	whiteoutBytes int64
	moreWarnings  int
	wanting       []Cataloger

	// owned maps the hash of a file named by a package manager's file
	// list to the index, in owners, of the "KIND NAME" of its package.
	// Hashes, not paths, are kept: a layer's lists name hundreds of
	// thousands of files and only the few the catalogers found packages
	// in are looked up. The seed is random per walk, so no layer can
	// choose colliding paths.
	seed            maphash.Seed
	owned           map[uint64]int32
	owners          []string
	ownerIndex      map[string]int32
	ownerCatalogers map[string]bool // catalogers that reported ownership

	// pass runs the file checks and the secret scan (nil: WithoutChecks);
	// checkBuf holds a file's content for it when the spool has it on
	// disk.
	pass     *layer.Pass
	checkBuf []byte

	// pending are the catalogers' own warnings (Result.Warnings), recorded
	// at the end of the walk unless the file turns out to be OS-owned.
	pending []pendingWarning
}

// pendingWarning is a cataloger's warning about one file.
type pendingWarning struct{ path, cataloger, text string }

func (w *walk) run(ctx context.Context, tr *tar.Reader) error {
	digest := w.idx.Digest
	lim := w.ix.limits
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read layer %s: %w", digest, err)
		}
		if w.entries++; w.entries > lim.Entries {
			return limits.New(fmt.Sprintf("entries of layer %s", digest), lim.Entries, "entries", keyEntries)
		}
		if err := w.entry(ctx, tr, hdr); err != nil {
			return err
		}
	}
	for i, e := range w.idx.Entries {
		if !w.ownerCatalogers[e.Cataloger] {
			if o, ok := w.owned[maphash.String(w.seed, e.Path)]; ok {
				w.idx.Entries[i].OwnedBy = w.owners[o]
			}
		}
	}
	// A cataloger's warnings about packages in files an OS package
	// installed are dropped: those are matched as the OS package.
	for _, pw := range w.pending {
		if !w.ownerCatalogers[pw.cataloger] {
			if _, ok := w.owned[maphash.String(w.seed, pw.path)]; ok {
				continue
			}
		}
		w.warn(pw.text)
	}
	if w.pass != nil {
		w.idx.Checks = w.pass.Finish(func(p string) bool {
			_, ok := w.owned[maphash.String(w.seed, p)]
			return ok
		})
	}
	if w.moreWarnings > 0 {
		w.idx.Warnings = append(w.idx.Warnings, fmt.Sprintf("%d more warnings not kept", w.moreWarnings))
	}
	return nil
}

// entry handles one tar entry.
func (w *walk) entry(ctx context.Context, tr *tar.Reader, hdr *tar.Header) error {
	digest := w.idx.Digest
	regular := hdr.Typeflag == tar.TypeReg || hdr.Typeflag == tar.TypeRegA //nolint:staticcheck // old archives use TypeRegA
	sparse := isSparse(hdr)
	if len(hdr.Name) > maxPath {
		// Too long to be a real path; too long to keep.
		base := path.Base(hdr.Name)
		switch {
		case strings.HasPrefix(base, whiteoutPrefix):
			w.warn(fmt.Sprintf("%.200s…: whiteout of a path longer than %d bytes; ignored", hdr.Name, maxPath))
		case (regular || sparse) && w.wants(CleanPath(hdr.Name), hdr):
			w.warn(fmt.Sprintf("%.200s…: path longer than %d bytes; not read", hdr.Name, maxPath))
		}
		return nil
	}
	name := CleanPath(hdr.Name)
	if name == "" {
		return nil
	}
	dir, base := path.Split(name)
	dir = strings.TrimSuffix(dir, "/")
	if base == whiteoutOpaque {
		if err := w.chargeWhiteout(dir); err != nil {
			return err
		}
		w.idx.Opaque = append(w.idx.Opaque, dir)
		return nil
	}
	if strings.HasPrefix(base, whiteoutPrefix) {
		p := path.Join(dir, strings.TrimPrefix(base, whiteoutPrefix))
		if err := w.chargeWhiteout(p); err != nil {
			return err
		}
		w.idx.Whiteouts = append(w.idx.Whiteouts, p)
		return nil
	}
	// The checks see every entry's header (a directory's mode, a setuid
	// file), and ask for the content of small regular files.
	check := w.pass != nil && !sparse && w.pass.Entry(name, hdr)
	// Only regular files are read: never a device, a FIFO or a link.
	if !regular && !sparse {
		return nil
	}
	catalog := w.wants(name, hdr)
	if !catalog && !check {
		return nil
	}
	if sparse {
		w.warn(fmt.Sprintf("%s: sparse file (%d bytes claimed); not read", name, hdr.Size))
		return nil
	}
	if hdr.Size > w.ix.limits.FileBytes {
		if !catalog {
			return nil // only the checks wanted it: read by path and mode only
		}
		w.warn(fmt.Sprintf("%s: %d bytes, larger than the %d byte limit (limits.file_bytes); not read", name, hdr.Size, w.ix.limits.FileBytes))
		return nil
	}
	if !catalog {
		// Only the checks want it: its first bytes say whether it is
		// text, and a binary file's rest is not copied.
		if err := w.checkText(tr, name, hdr.Size); err != nil {
			return fmt.Errorf("read layer %s: %s: %w", digest, name, err)
		}
		return nil
	}
	ra, err := w.spool.load(tr, hdr.Size)
	if err != nil {
		return fmt.Errorf("read layer %s: %s: %w", digest, name, err)
	}
	if check {
		if err := w.checkContent(name, ra, hdr.Size); err != nil {
			return fmt.Errorf("read layer %s: %s: %w", digest, name, err)
		}
	}
	for _, c := range w.wanting {
		if err := w.parse(ctx, c, name, io.NewSectionReader(ra, 0, hdr.Size)); err != nil {
			return err
		}
	}
	return nil
}

// checkText reads a file only the checks want, of size bytes (at most
// Limits.SecretFileBytes, as Entry asked), into the spool's buffer: its
// first secrets.TextProbe bytes, and the rest only when those are text
// (the checks read text only). The tar reader skips what is not read.
func (w *walk) checkText(r io.Reader, name string, size int64) error {
	if int64(cap(w.spool.buf)) < size {
		w.spool.buf = make([]byte, size, max(size, min(2*int64(cap(w.spool.buf)), MemoryThreshold)))
	}
	b := w.spool.buf[:size]
	n := min(size, secrets.TextProbe)
	if _, err := io.ReadFull(r, b[:n]); err != nil {
		return err
	}
	if !secrets.IsText(b[:n]) {
		return nil
	}
	if _, err := io.ReadFull(r, b[n:]); err != nil {
		return err
	}
	return w.checkContent(name, byteReaderAt(b), size)
}

// checkContent hands a file's content to the checks: the spool's buffer
// when the file is in memory, else a copy (at most
// Limits.SecretFileBytes, as Entry asked) in checkBuf. A panic of the
// checks on a hostile file costs that file's checks, with a warning.
func (w *walk) checkContent(name string, ra io.ReaderAt, size int64) error {
	b, ok := ra.(byteReaderAt)
	if !ok {
		if int64(cap(w.checkBuf)) < size {
			w.checkBuf = make([]byte, size)
		}
		b = w.checkBuf[:size]
		if _, err := ra.ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
	}
	defer func() {
		if v := recover(); v != nil {
			slog.Error("checks panic", "path", name, "panic", v, "stack", string(debug.Stack()))
			w.warn(fmt.Sprintf("%s: checks: panic: %v", name, v))
		}
	}()
	w.pass.Content(name, b)
	return nil
}

// wants sets w.wanting to the catalogers that want the regular file
// name, and reports whether there is any.
func (w *walk) wants(name string, hdr *tar.Header) bool {
	w.wanting = w.wanting[:0]
	for _, c := range w.ix.catalogers {
		var want bool
		if fw, ok := c.(FileWanter); ok {
			want = fw.WantsFile(name, hdr.FileInfo().Mode()&^fs.ModeType, hdr.Size)
		} else {
			want = c.Wants(name)
		}
		if want {
			w.wanting = append(w.wanting, c)
		}
	}
	return len(w.wanting) > 0
}

// parse hands one file to one cataloger and records what it found. A
// file that does not parse, or whose cataloger panics, is a warning; a
// crossed bound, or a cancelled context, is an error.
func (w *walk) parse(ctx context.Context, c Cataloger, name string, r *io.SectionReader) error {
	pb := &parseBudget{layer: w.budget}
	res, err := safeParse(context.WithValue(ctx, budgetKey{}, pb), c, name, r)
	if err == nil {
		err = pb.settle(&res)
	}
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if errors.Is(err, limits.ErrExceeded) {
			return fmt.Errorf("index layer %s: %s: %w", w.idx.Digest, name, err)
		}
		w.warn(fmt.Sprintf("%s: %s: %v", name, c.Name(), err))
		return nil
	}
	for owner, files := range res.OwnedFiles {
		w.ownerCatalogers[c.Name()] = true
		o, ok := w.ownerIndex[owner]
		if !ok {
			o = int32(len(w.owners))
			w.owners = append(w.owners, owner)
			w.ownerIndex[owner] = o
		}
		for _, f := range files {
			if f = CleanPath(f); f != "" {
				w.owned[maphash.String(w.seed, f)] = o
				if IsLockFile(f) {
					w.idx.OwnedLocks = append(w.idx.OwnedLocks, f)
				}
			}
		}
	}
	for _, warning := range res.Warnings {
		// Kept until the layer's ownership is known: see run. A warning
		// can quote a hostile file (an artifact id from a manifest): each
		// is cut to maxWarningBytes, and there are at most maxWarnings.
		if len(w.pending) < maxWarnings {
			w.pending = append(w.pending, pendingWarning{path: name, cataloger: c.Name(), text: fmt.Sprintf("%s: %s: %.*s", name, c.Name(), maxWarningBytes, warning)})
		} else {
			w.moreWarnings++
		}
	}
	if len(res.Packages) == 0 && res.Distribution == nil && len(res.Licenses) > 0 {
		w.idx.Entries = append(w.idx.Entries, model.Entry{Path: name, Cataloger: c.Name(), Licenses: res.Licenses})
		return nil
	}
	if len(res.Packages) == 0 && res.Distribution == nil {
		if len(res.OwnedFiles) > 0 {
			return nil
		}
		if _, content := c.(FileWanter); !content {
			// Still recorded: an empty database replaces an earlier one.
			// An entry without packages costs a package record.
			if err := w.budget.chargePackages(1, 0); err != nil {
				return fmt.Errorf("index layer %s: %s: %w", w.idx.Digest, name, err)
			}
			w.idx.Entries = append(w.idx.Entries, model.Entry{Path: name, Cataloger: c.Name()})
		}
		return nil
	}
	for i := range res.Packages {
		if res.Packages[i].DBPath == "" {
			res.Packages[i].DBPath = name
		}
	}
	w.idx.Entries = append(w.idx.Entries, model.Entry{Path: name, Cataloger: c.Name(), Packages: res.Packages, Distribution: res.Distribution})
	return nil
}

// safeParse calls c.Parse, turning a panic into an error: a cataloger's
// bug on a hostile file costs that file, not the process.
func safeParse(ctx context.Context, c Cataloger, name string, r io.Reader) (res Result, err error) {
	defer func() {
		if v := recover(); v != nil {
			slog.Error("cataloger panic", "cataloger", c.Name(), "path", name, "panic", v, "stack", string(debug.Stack()))
			res, err = Result{}, fmt.Errorf("panic: %v", v)
		}
	}()
	return c.Parse(ctx, name, r)
}

// isSparse reports whether a tar entry is a sparse file: the old GNU
// sparse type, or PAX records of GNU's sparse formats 0.0, 0.1 and 1.0.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// chargeWhiteout counts the bytes of a whiteout's path against
// maxWhiteoutBytes.
func (w *walk) chargeWhiteout(p string) error {
	if w.whiteoutBytes += int64(len(p)) + 1; w.whiteoutBytes > maxWhiteoutBytes {
		return limits.New(fmt.Sprintf("paths of the whiteouts of layer %s", w.idx.Digest), maxWhiteoutBytes, "bytes", "")
	}
	return nil
}

// warn adds a warning to the index, up to maxWarnings.
func (w *walk) warn(s string) {
	if len(w.idx.Warnings) >= maxWarnings {
		w.moreWarnings++
		return
	}
	w.idx.Warnings = append(w.idx.Warnings, s)
}
