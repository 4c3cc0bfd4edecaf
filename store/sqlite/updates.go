package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"iter"
	"slices"
	"time"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// Update operations are written, and deleted, in batches of short
// transactions: SQLite has one write lock per database, and an import
// that held it for the seconds a large feed takes would make every other
// process's write (a scan recorded, a job queued) wait that long, or fail
// with SQLITE_BUSY after busyTimeout. Readers are kept from half-written
// data by the state of the operation (migration 0009):
//
//   - writing: PutUpdate is storing its records. Its writer renews
//     lease_until with every batch; one whose lease has run out was
//     abandoned (its process died) and is deleted by the next PutUpdate or
//     PruneUpdates of its source. A source has at most one live writing
//     operation: a second PutUpdate of the source waits for it, so that
//     operation ids grow in the order operations are published.
//   - published: whole; the only state readers see.
//   - deleting: PruneUpdates, or the clean-up of a failed or abandoned
//     PutUpdate, is removing it.
//
// Every batch inserts records and the links of the operation to them in
// one transaction, and every deletion removes a record in the transaction
// that removes the last link to it among its source's operations, so that
// a record is never left without a link, nor deleted under one.

// Operation states.
const (
	opWriting   = "writing"
	opPublished = "published"
	opDeleting  = "deleting"
)

const (
	// writeLease is how long a writing operation stays its writer's
	// without a renewal (each batch renews it): long beside a batch, short
	// beside the time after which a crashed import's leftovers should go.
	writeLease = time.Minute
	// writerPoll is how often a PutUpdate waiting for another writer of
	// the same source looks again.
	writerPoll = 100 * time.Millisecond
	// txRecords and txBytes bound the records one transaction of
	// PutUpdate writes (whichever comes first), and txLinks the links one
	// transaction of a deletion removes. Within them, the batches adapt
	// to holdTarget.
	txRecords = 2000
	txBytes   = 2 << 20
	txLinks   = 2000
	// holdTarget is how long one write transaction of an update or a
	// deletion should hold the write lock: its batches halve after a
	// transaction that held it longer (a slow disk, a large database) and
	// double, up to their bound, after one that held it less than half.
	holdTarget = 100 * time.Millisecond
	// cleanupTimeout bounds the clean-up of a failed PutUpdate, which
	// runs even when the caller's context is done.
	cleanupTimeout = time.Minute
)

// errLeaseLost is returned when a writing operation's lease ran out and
// another writer took it for abandoned.
var errLeaseLost = errors.New("the update's lease ran out and it was taken for abandoned")

// PutUpdate stores records as the new update operation of source, in
// batches of short transactions, and publishes it in a last one: readers
// see the source's previous operation until then, and never part of this
// one. On any error nothing is published, and what was written is removed
// (by this call, or, if it cannot, by the next PutUpdate or PruneUpdates of
// the source). Records with the same Key, records without an id,
// ecosystem or package, and records of another source are errors. A record
// stored by an earlier operation with the same content is shared, not
// stored again. While another PutUpdate of source is being written, in
// this process or another, it waits for it.
func (s *Store) PutUpdate(ctx context.Context, source, fingerprint string, records []vuln.Record) (*store.UpdateOperation, error) {
	if source == "" {
		return nil, errors.New("put update: no source")
	}
	enc, err := store.EncodeRecords(source, records)
	if err != nil {
		return nil, fmt.Errorf("put update of %s: %w", source, err)
	}
	// In hash order, each batch inserts into one stretch of the records'
	// primary key and appends to the operation's links, so that a page of
	// either is written by one or two batches, not by most of them.
	slices.SortFunc(enc, func(a, b store.EncodedRecord) int { return bytes.Compare(a.Hash, b.Hash) })
	defer s.beginBatched(ctx)()
	id, err := s.beginOperationWith(ctx, source, fingerprint, len(enc), coverageOf(ctx, records))
	if err != nil {
		return nil, fmt.Errorf("put update of %s: %w", source, err)
	}
	op, err := s.writeOperation(ctx, id, enc)
	if err != nil {
		return nil, s.abandon(ctx, source, id, err)
	}
	return op, nil
}

// beginOperation removes the leftovers of source's deleted and abandoned
// operations, waits until no other writer writes source, and inserts a
// writing operation, whose id it returns.
func (s *Store) beginOperation(ctx context.Context, source, fingerprint string, n int) (int64, error) {
	return s.beginOperationWith(ctx, source, fingerprint, n, opCoverage{ecosystems: store.EncodeEcosystems(nil)})
}

// beginOperationWith is beginOperation storing cov with the operation.
func (s *Store) beginOperationWith(ctx context.Context, source, fingerprint string, n int, cov opCoverage) (int64, error) {
	for {
		if err := s.sweep(ctx, source); err != nil {
			return 0, err
		}
		var id int64
		err := s.write(ctx, func(tx *sql.Tx) error {
			at := now()
			var live int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM update_operations
				WHERE source = ? AND state = 'writing' AND lease_until >= ?`, source, formatTime(at)).Scan(&live); err != nil {
				return err
			}
			if live > 0 {
				return nil
			}
			// A writer whose lease ran out since the sweep: its leftovers
			// go with the next sweep.
			if _, err := tx.ExecContext(ctx, `UPDATE update_operations SET state = 'deleting', lease_until = NULL
				WHERE source = ? AND state = 'writing'`, source); err != nil {
				return err
			}
			return tx.QueryRowContext(ctx, `INSERT INTO update_operations (source, fingerprint, created_at, records, state, lease_until,
					ecosystems, newest_record, source_type, origin)
				VALUES (?, ?, ?, ?, 'writing', ?, ?, ?, ?, ?) RETURNING id`,
				source, fingerprint, formatTime(at), n, formatTime(at.Add(writeLease)),
				cov.ecosystems, cov.newest, cov.origin.Type, cov.origin.Path).Scan(&id)
		})
		if err != nil {
			return 0, fmt.Errorf("begin operation: %w", err)
		}
		if id != 0 {
			return id, nil
		}
		if err := pause(ctx, writerPoll); err != nil {
			return 0, fmt.Errorf("wait for another update of the source: %w", err)
		}
	}
}

// writeOperation writes the records of writing operation id in batches,
// renewing its lease with each, and publishes it.
func (s *Store) writeOperation(ctx context.Context, id int64, enc []store.EncodedRecord) (*store.UpdateOperation, error) {
	next := func(n, maxBytes int) ([]store.EncodedRecord, error) {
		end, sz := 0, 0
		for end < len(enc) && end < n && (end == 0 || sz+len(enc[end].Data) <= maxBytes) {
			sz += len(enc[end].Data)
			end++
		}
		b := enc[:end]
		enc = enc[end:]
		return b, nil
	}
	return s.writeBatches(ctx, id, next, nil)
}

// writeBatches writes the records of writing operation id, taking them
// from next (at most n records of at most maxBytes of JSON, one record
// whatever its size; none at the end) one transaction at a time,
// renewing its lease with each, and publishes it. publish, when not nil,
// runs in the publishing transaction.
func (s *Store) writeBatches(ctx context.Context, id int64, next func(n, maxBytes int) ([]store.EncodedRecord, error), publish func(tx *sql.Tx) error) (*store.UpdateOperation, error) {
	renew := func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE update_operations SET lease_until = ? WHERE id = ? AND state = 'writing'`,
			formatTime(now().Add(writeLease)), id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errors.Join(err, errLeaseLost)
		}
		return nil
	}
	txBytes := s.txBytes
	b := s.newBatcher(s.txRecords)
	for written := 0; ; {
		batch, err := next(b.size.n, txBytes)
		if err != nil {
			return nil, err
		}
		if len(batch) == 0 {
			break
		}
		var began time.Time
		err = s.write(ctx, func(tx *sql.Tx) error {
			began = time.Now()
			if err := renew(tx); err != nil {
				return err
			}
			return insertRecords(ctx, tx, id, batch)
		})
		if err != nil {
			return nil, fmt.Errorf("records %d to %d: %w", written, written+len(batch), err)
		}
		written += len(batch)
		s.midwayHook()
		if err := b.after(ctx, time.Since(began)); err != nil {
			return nil, err
		}
	}
	op := &store.UpdateOperation{ID: id}
	err := s.write(ctx, func(tx *sql.Tx) error {
		if err := renew(tx); err != nil {
			return err
		}
		if publish != nil {
			if err := publish(tx); err != nil {
				return err
			}
		}
		op.CreatedAt = now()
		if _, err := tx.ExecContext(ctx, `UPDATE update_operations SET state = 'published', lease_until = NULL, created_at = ?
			WHERE id = ?`, formatTime(op.CreatedAt), id); err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `SELECT source, fingerprint, records FROM update_operations WHERE id = ?`, id).
			Scan(&op.Source, &op.Fingerprint, &op.Records)
	})
	if err != nil {
		return nil, fmt.Errorf("publish: %w", err)
	}
	return op, nil
}

// PutUpdateStream implements store.UpdateStreamer: PutUpdate, taking
// the records from a stream a batch at a time. The operation is written
// as PutUpdate's is (batches of short transactions, published by the
// last) and its count and coverage are stored when it is published.
func (s *Store) PutUpdateStream(ctx context.Context, source, fingerprint string, records store.RecordStream) (*store.UpdateOperation, error) {
	if source == "" {
		return nil, errors.New("put update: no source")
	}
	enc := store.NewUpdateEncoder(source)
	pull, stop := iter.Pull2(records)
	defer stop()
	var carry *store.EncodedRecord // read beyond the last batch's bytes
	next := func(n, maxBytes int) ([]store.EncodedRecord, error) {
		var out []store.EncodedRecord
		sz := 0
		for len(out) < n {
			var e store.EncodedRecord
			if carry != nil {
				e, carry = *carry, nil
			} else {
				r, err, ok := pull()
				if !ok {
					break
				}
				if err != nil {
					return nil, err
				}
				if e, err = enc.Encode(r); err != nil {
					return nil, err
				}
			}
			if len(out) > 0 && sz+len(e.Data) > maxBytes {
				carry = &e
				break
			}
			sz += len(e.Data)
			out = append(out, e)
		}
		return out, nil
	}
	defer s.beginBatched(ctx)()
	id, err := s.beginOperationWith(ctx, source, fingerprint, 0, opCoverage{ecosystems: store.EncodeEcosystems(nil), origin: store.OriginFrom(ctx)})
	if err != nil {
		return nil, fmt.Errorf("put update of %s: %w", source, err)
	}
	publish := func(tx *sql.Tx) error {
		ecos, newest := enc.Summary()
		var nw any
		if !newest.IsZero() {
			nw = formatTime(newest)
		}
		_, err := tx.ExecContext(ctx, `UPDATE update_operations SET records = ?, ecosystems = ?, newest_record = ? WHERE id = ?`,
			enc.Count(), store.EncodeEcosystems(ecos), nw, id)
		return err
	}
	op, err := s.writeBatches(ctx, id, next, publish)
	if err != nil {
		return nil, s.abandon(ctx, source, id, err)
	}
	return op, nil
}

// batchSize is the number of rows of the next write transaction, adapted
// to holdTarget between a floor and a bound.
type batchSize struct{ n, floor, bound int }

// newBatchSize starts small, so that the first transaction is short
// whatever the disk, and grows from there.
func newBatchSize(bound int) *batchSize {
	floor := min(50, bound)
	return &batchSize{n: min(250, bound), floor: floor, bound: bound}
}

// adjust adapts the size to a transaction that held the lock for held.
func (b *batchSize) adjust(held time.Duration) {
	switch {
	case held > holdTarget:
		b.n = max(b.n/2, b.floor)
	case held < holdTarget/2:
		b.n = min(b.n*2, b.bound)
	}
}

// yield pauses after a write transaction that held the lock for held, for
// a third as long, so that other processes' writers, which poll for the
// lock (SQLite's busy handler, at most 100 ms apart) rather than queue for
// it, find it free a quarter of the time: the chance that one waits
// through the ten seconds of busyTimeout is below 0.75^100. (Writers of
// this process need no pause: the write pool hands its connection to the
// next of them as each transaction ends.)
func (s *Store) yield(ctx context.Context, held time.Duration) error {
	return pause(ctx, held/3)
}

// pause waits d, or until ctx is done.
func pause(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// dropOperation removes writing operation id of source, when it is still
// writing (its lease may have been taken), and its records that no other
// operation of the source links.
func (s *Store) dropOperation(ctx context.Context, source string, id int64) error {
	if err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE update_operations SET state = 'deleting', lease_until = NULL
			WHERE id = ? AND state = 'writing'`, id)
		return err
	}); err != nil {
		return err
	}
	return s.sweep(ctx, source)
}

// PruneUpdates removes the published update operations of source beyond
// the keep newest, and the records no operation of the source links any
// more, and returns the number of operations removed. The operations
// leave the readers' view in one short transaction; their rows are then
// deleted in batches, with the leftovers of the source's abandoned
// updates. When it fails half-way, the operations it removed stay out of
// view and the next PutUpdate or PruneUpdates of the source finishes the
// deletion.
func (s *Store) PruneUpdates(ctx context.Context, source string, keep int) (int, error) {
	if keep < 0 {
		return 0, fmt.Errorf("prune updates of %s: negative keep %d", source, keep)
	}
	defer s.beginBatched(ctx)()
	var removed int
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE update_operations SET state = 'deleting' WHERE id IN (
			SELECT id FROM update_operations WHERE source = ? AND state = 'published' ORDER BY id DESC LIMIT -1 OFFSET ?)`,
			source, keep)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		removed = int(n)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune updates of %s: %w", source, err)
	}
	if err := s.sweep(ctx, source); err != nil {
		return 0, fmt.Errorf("prune updates of %s: %w", source, err)
	}
	return removed, nil
}

// sweep deletes source's operations being deleted and those whose writer
// died (lease run out), with the records no other operation of the source
// links, in batches.
func (s *Store) sweep(ctx context.Context, source string) error {
	var ids []int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE update_operations SET state = 'deleting', lease_until = NULL
			WHERE source = ? AND state = 'writing' AND lease_until < ?`, source, formatTime(now())); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM update_operations WHERE source = ? AND state = 'deleting' ORDER BY id`, source)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return rows.Err()
	})
	if err != nil {
		return fmt.Errorf("find deleted operations: %w", err)
	}
	for _, id := range ids {
		if err := s.deleteOperation(ctx, source, id); err != nil {
			return fmt.Errorf("delete operation %d: %w", id, err)
		}
	}
	return nil
}

// deleteOperation deletes operation id of source, which is being deleted,
// in batches of links (at most txLinks per transaction): the records of a batch of its links that
// no other operation of the source links, then the links, and at last the
// operation. Records are never shared between sources (their JSON holds
// the source), so only the source's operations are looked at, each by one
// probe of uo_records' primary key.
func (s *Store) deleteOperation(ctx context.Context, source string, id int64) error {
	const some = `SELECT hash FROM uo_records WHERE op = ? ORDER BY hash LIMIT ?`
	b := s.newBatcher(s.txLinks)
	for {
		done := false
		var began time.Time
		err := s.write(ctx, func(tx *sql.Tx) error {
			began = time.Now()
			if _, err := tx.ExecContext(ctx, `DELETE FROM records WHERE hash IN (`+some+`)
				AND NOT EXISTS (SELECT 1 FROM uo_records AS u WHERE u.hash = records.hash
					AND u.op IN (SELECT o.id FROM update_operations AS o WHERE o.source = ? AND o.id <> ?))`,
				id, b.size.n, source, id); err != nil {
				return fmt.Errorf("delete records: %w", err)
			}
			res, err := tx.ExecContext(ctx, `DELETE FROM uo_records WHERE op = ? AND hash IN (`+some+`)`, id, id, b.size.n)
			if err != nil {
				return fmt.Errorf("delete links: %w", err)
			}
			n, err := res.RowsAffected()
			if err != nil || n == int64(b.size.n) {
				return err
			}
			done = true
			_, err = tx.ExecContext(ctx, `DELETE FROM update_operations WHERE id = ? AND state = 'deleting'`, id)
			return err
		})
		if err != nil || done {
			return err
		}
		if err := b.after(ctx, time.Since(began)); err != nil {
			return err
		}
	}
}

// midwayHook calls, once, the function a test set with setMidway.
func (s *Store) midwayHook() {
	if f := s.midway.Swap(nil); f != nil {
		(*f)()
	}
}

// abandon removes the unpublished operation id of source after err, with
// its own deadline (ctx may be what was cancelled), and returns err,
// joined with the removal's error if that failed too.
func (s *Store) abandon(ctx context.Context, source string, id int64, err error) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	if cerr := s.dropOperation(cctx, source, id); cerr != nil {
		err = errors.Join(err, fmt.Errorf("remove the unpublished operation %d (the next update of the source will): %w", id, cerr))
	}
	return fmt.Errorf("put update of %s: %w", source, err)
}
