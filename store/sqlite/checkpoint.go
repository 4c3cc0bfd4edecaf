package sqlite

import (
	"context"
	"fmt"
	"time"
)

// WAL checkpoints during batched operations (updates.go). By default the
// write connection checkpoints at the commit that takes the WAL past 1,000
// pages (SQLite's wal_autocheckpoint). A batched operation commits a
// transaction every hundred milliseconds or so, each rewriting many of the
// pages of the one before (the pages of the records' indexes), and
// checkpointing every few of them copied those pages into the database
// again and again: a batched prune of 50,000 records took three times as
// long as with no checkpoint until its end. So while a batched operation
// runs, the write connection does not checkpoint; the operation
// checkpoints instead, from a read connection (a checkpoint writes only
// the database file, and PASSIVE ones wait for no lock), after every
// checkpointEvery of its transactions and at its end, which bounds the
// WAL's growth without holding the write connection.

// autoCheckpoint is the write connection's wal_autocheckpoint outside
// batched operations: SQLite's default.
const autoCheckpoint = 1000

// checkpointEvery is the number of write transactions of a batched
// operation between two of its checkpoints.
const checkpointEvery = 16

// beginBatched starts a batched operation: the write connection stops
// checkpointing while any runs. It returns the function that ends it,
// which, for the last one running, turns automatic checkpoints back on,
// and checkpoints; it runs even when ctx is done.
func (s *Store) beginBatched(ctx context.Context) (end func()) {
	s.ckptMu.Lock()
	if s.batched == 0 {
		// Best effort: were the pragma to fail, commits would go on
		// checkpointing, which is slower but as correct.
		s.w.ExecContext(ctx, `PRAGMA wal_autocheckpoint = 0`)
	}
	s.batched++
	s.ckptMu.Unlock()
	return func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		s.ckptMu.Lock()
		s.batched--
		if s.batched == 0 {
			s.w.ExecContext(ctx, fmt.Sprintf(`PRAGMA wal_autocheckpoint = %d`, autoCheckpoint))
		}
		s.ckptMu.Unlock()
		s.checkpoint(ctx)
	}
}

// checkpoint copies what it can of the WAL into the database from a read
// connection, without waiting for any lock. Its errors are not the
// caller's: a checkpoint left undone is done by the next.
func (s *Store) checkpoint(ctx context.Context) {
	var busy, log, done int
	s.r.QueryRowContext(ctx, `PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &log, &done)
}

// batcher paces the write transactions of one batched operation: it
// adapts their size to holdTarget, pauses after each to let other
// processes' writers in, and checkpoints every checkpointEvery of them.
type batcher struct {
	s    *Store
	size *batchSize
	txs  int
}

// newBatcher paces batches of at most bound rows.
func (s *Store) newBatcher(bound int) *batcher {
	return &batcher{s: s, size: newBatchSize(bound)}
}

// after is called after each write transaction, which held the write
// lock for held.
func (b *batcher) after(ctx context.Context, held time.Duration) error {
	b.size.adjust(held)
	b.txs++
	if b.txs%checkpointEvery == 0 {
		b.s.checkpoint(ctx)
	}
	return b.s.yield(ctx, held)
}
