package updater

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"sort"
	"sync"
	"time"

	"github.com/lapps/lapps/redact"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// ErrPanic is matched (errors.Is) by the error of a run whose parser (or
// any other step) panicked: the panic is recovered, the run recorded as
// failed with the source's earlier data left as it was, and the stack
// logged at debug level.
var ErrPanic = errors.New("panic")

// Result is the outcome of one source's run in RunAll.
type Result struct {
	// Source is the source's name.
	Source string
	// Run is what was recorded of the run; nil only when the run could
	// not start (an invalid source).
	Run *store.SourceRun
	// Records is the number of records the source now has: those of the
	// new update operation, or of the current one when the feed was
	// unchanged.
	Records int
	// Changed is true when the run created an update operation.
	Changed bool
	// Skipped is the number of malformed entries the parser skipped
	// (ranges with an empty or unparsable version, records left without
	// any valid range; see Skip); SkippedBy counts them by reason.
	Skipped   int
	SkippedBy map[string]int
	// Err is the run's error, nil on success. URLs in it are redacted.
	Err error
}

// Run runs one source: fetch (conditionally, with the validators of the
// previous successful run), parse with the parser of the source's type,
// and store the records as a new update operation in one transaction,
// unless the feed is unchanged (a 304, or the fingerprint of the source's
// current update operation). Every run is recorded with RecordRun, with
// its error when it fails; a failed run leaves the previous data as it
// was. Old update operations are pruned beyond WithKeep. A panic of the
// parser is recovered into an error matching ErrPanic; a bound of the
// feed crossed is a *limits.Error. Errors, the recorded run's Err and the
// logs carry URLs with their credentials redacted.
func Run(ctx context.Context, st store.Vulnerabilities, src Source, opts ...Option) (*store.SourceRun, error) {
	r := run(ctx, st, src, newOptions(opts))
	return r.Run, r.Err
}

// Import loads local data in a source type's own format (a file, a
// directory or a zip archive) as the source name (default
// "import-<type>"), through the same path as Run.
func Import(ctx context.Context, st store.Vulnerabilities, typ, path, name string, opts ...Option) (*store.SourceRun, error) {
	if name == "" {
		name = "import-" + typ
	}
	return Run(ctx, st, Source{Name: name, Type: typ, Path: path}, opts...)
}

// RunAll runs sources concurrently (WithConcurrency at once) and returns
// one result per source, in the order given. A failing source does not
// stop the others. RunAll runs every source it is given, enabled or not:
// choosing which to run is the caller's.
func RunAll(ctx context.Context, st store.Vulnerabilities, sources []Source, opts ...Option) []Result {
	o := newOptions(opts)
	results := make([]Result, len(sources))
	sem := make(chan struct{}, o.concurrency)
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				results[i] = Result{Source: src.Name, Err: fmt.Errorf("source %s: %w", src.Name, ctx.Err())}
				return
			}
			defer func() { <-sem }()
			defer func() {
				// run recovers its own steps; this keeps the process alive
				// whatever else panics.
				if v := recover(); v != nil {
					o.logger.Debug("source run panicked", "source", src.Name, "panic", redact.Text(fmt.Sprint(v)), "stack", string(debug.Stack()))
					results[i] = Result{Source: src.Name, Err: redact.Error(fmt.Errorf("source %s: %w: %v", src.Name, ErrPanic, v))}
				}
			}()
			results[i] = run(ctx, st, src, o)
		}()
	}
	wg.Wait()
	return results
}

// run is Run returning the whole result.
func run(ctx context.Context, st store.Vulnerabilities, src Source, o *options) (res Result) {
	res.Source = src.Name
	log := o.logger.With("source", src.Name, "type", src.Type)
	if err := src.Validate(); err != nil {
		res.Err = redact.Error(err)
		return res
	}
	started := time.Now().UTC()
	sr := &store.SourceRun{Source: src.Name, StartedAt: started}
	res.Run = sr

	var latest *store.UpdateOperation
	skips := &Skips{}
	err := func() (err error) {
		defer func() {
			if v := recover(); v != nil {
				log.Debug("source run panicked", "panic", redact.Text(fmt.Sprint(v)), "stack", string(debug.Stack()))
				err = fmt.Errorf("%s: %w: %v", src.Name, ErrPanic, v)
			}
		}()
		parser, err := Lookup(src.Type)
		if err != nil {
			return err
		}
		prev, l, err := previous(ctx, st, src.Name)
		if err != nil {
			return err
		}
		latest = l
		feed, err := Fetch(ctx, src, prev, withOptions(o))
		if err != nil {
			return err
		}
		defer func() {
			if err := feed.Close(); err != nil {
				log.Warn("removing the feed's temporary files", "err", err)
			}
		}()
		sr.Validators = feed.Validators
		if feed.Unchanged {
			log.Debug("feed not modified (HTTP 304)")
			return nil
		}
		if !o.force && latest != nil && latest.Fingerprint == feed.Fingerprint {
			log.Debug("feed content unchanged", "fingerprint", feed.Fingerprint)
			return nil
		}
		// With a store that takes a stream, the records go through a
		// file (spill) rather than memory: parsed, merged by key, then
		// stored a batch at a time.
		streamer, streaming := st.(store.UpdateStreamer)
		var (
			recs  []vuln.Record
			sp    *spill
			order []int32
		)
		if streaming {
			if sp, err = newSpill(o.tempDir, src.Name, LimitsOf(feed.FS)); err != nil {
				return fmt.Errorf("parse %s: %w", src.Name, err)
			}
			defer func() {
				if err := sp.Close(); err != nil {
					log.Warn("removing the records' temporary file", "err", err)
				}
			}()
			if err := parseTo(WithSkips(ctx, skips), parser, feed.FS, sp); err != nil {
				return fmt.Errorf("parse %s: %w", src.Name, err)
			}
			if order, err = sp.finish(mergeOf(parser)); err != nil {
				return fmt.Errorf("parse %s: %w", src.Name, err)
			}
		} else if recs, err = parser.Parse(WithSkips(ctx, skips), feed.FS); err != nil {
			return fmt.Errorf("parse %s: %w", src.Name, err)
		}
		res.Skipped, res.SkippedBy = skips.Total(), skips.Counts()
		if res.Skipped > 0 {
			reasons := make([]string, 0, len(res.SkippedBy))
			for r := range res.SkippedBy {
				reasons = append(reasons, r)
			}
			sort.Strings(reasons)
			attrs := make([]any, 0, len(reasons))
			for _, r := range reasons {
				attrs = append(attrs, slog.Int(r, res.SkippedBy[r]))
			}
			log.Warn("malformed entries of the feed skipped", "count", res.Skipped, slog.Group("reasons", attrs...))
		}
		if store.OriginFrom(ctx) == (store.Origin{}) {
			// A configured source records where its data came from, as
			// an import does, so that status and reports name its type
			// even after it leaves the configuration.
			origin := src.Path
			if origin == "" && len(src.URLs) > 0 {
				origin = redact.URL(src.URLs[0])
			}
			ctx = store.WithOrigin(ctx, store.Origin{Type: src.Type, Path: origin})
		}
		var op *store.UpdateOperation
		if streaming {
			op, err = streamer.PutUpdateStream(ctx, src.Name, feed.Fingerprint, sp.stream(ctx, order))
		} else {
			for i := range recs {
				recs[i].Source = src.Name
			}
			op, err = st.PutUpdate(ctx, src.Name, feed.Fingerprint, Dedupe(recs))
		}
		if err != nil {
			return fmt.Errorf("store %s: %w", src.Name, err)
		}
		sr.Operation = op.ID
		res.Records = op.Records
		res.Changed = true
		return nil
	}()
	if err == nil && !res.Changed && latest != nil {
		res.Records = latest.Records
	}
	sr.Duration = time.Since(started)
	if err != nil {
		err = redact.Error(err)
		sr.Err = err.Error()
		res.Skipped, res.SkippedBy = 0, nil
		sr.Validators = nil // the next run fetches in full
		sr.Operation = 0
		res.Changed = false
	}
	// Record the run even when ctx was cancelled: status must show it.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
	defer cancel()
	if rerr := st.RecordRun(rctx, sr); rerr != nil {
		err = errors.Join(err, fmt.Errorf("record run of %s: %w", src.Name, rerr))
	}
	if err == nil && res.Changed {
		if n, perr := st.PruneUpdates(ctx, src.Name, o.keep); perr != nil {
			log.Warn("pruning old update operations", "err", perr)
		} else if n > 0 {
			log.Debug("pruned old update operations", "removed", n)
		}
	}
	res.Err = err
	level := slog.LevelInfo
	if err != nil {
		level = slog.LevelError
	}
	log.Log(ctx, level, "source run", "duration", sr.Duration.Round(time.Millisecond),
		"records", res.Records, "changed", res.Changed, "operation", sr.Operation, "skipped", res.Skipped, "err", err)
	return res
}

// previous returns the validators of the source's last successful run and
// its current update operation.
func previous(ctx context.Context, st store.Vulnerabilities, name string) (map[string]string, *store.UpdateOperation, error) {
	statuses, err := st.SourceStatuses(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("status of %s: %w", name, err)
	}
	for _, s := range statuses {
		if s.Source != name {
			continue
		}
		var prev map[string]string
		if s.LastRun != nil && s.LastRun.Err == "" {
			prev = s.LastRun.Validators
		}
		return prev, s.Latest, nil
	}
	return nil, nil, nil
}

// withOptions passes resolved options on.
func withOptions(src *options) Option { return func(o *options) { *o = *src } }
