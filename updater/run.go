package updater

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/lapps/lapps/store"
)

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
	// Err is the run's error, nil on success.
	Err error
}

// Run runs one source: fetch (conditionally, with the validators of the
// previous successful run), parse with the parser of the source's type,
// and store the records as a new update operation in one transaction,
// unless the feed is unchanged (a 304, or the fingerprint of the source's
// current update operation). Every run is recorded with RecordRun, with
// its error when it fails; a failed run leaves the previous data as it
// was. Old update operations are pruned beyond WithKeep.
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
		res.Err = err
		return res
	}
	started := time.Now().UTC()
	sr := &store.SourceRun{Source: src.Name, StartedAt: started}
	res.Run = sr

	var latest *store.UpdateOperation
	err := func() error {
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
		recs, err := parser.Parse(ctx, feed.FS)
		if err != nil {
			return fmt.Errorf("parse %s: %w", src.Name, err)
		}
		for i := range recs {
			recs[i].Source = src.Name
		}
		recs = Dedupe(recs)
		op, err := st.PutUpdate(ctx, src.Name, feed.Fingerprint, recs)
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
		sr.Err = err.Error()
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
		"records", res.Records, "changed", res.Changed, "operation", sr.Operation, "err", err)
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
