package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// PutUpdate stores records as the new update operation of source, in one
// transaction: on any error nothing is stored, and readers see the
// source's previous operation until it commits (the SQLite engine, whose
// single write lock a long transaction would hold, writes in batches
// instead, to the same effect). Records with the same Key,
// records without an id, ecosystem or package, and records of another
// source are errors. A record stored by an earlier operation with the same
// content is shared, not stored again. Updates and prunes of one source
// queue on an advisory lock, so that operation ids increase in the order
// operations become visible.
func (s *Store) PutUpdate(ctx context.Context, source, fingerprint string, records []vuln.Record) (*store.UpdateOperation, error) {
	// One write path: the streamed one, over the slice.
	return s.PutUpdateStream(ctx, source, fingerprint, store.RecordsOf(records))
}

// PutUpdateStream implements store.UpdateStreamer: PutUpdate, taking the
// records from a stream. In the one transaction of PutUpdate, the records
// are copied (COPY, pgx.CopyFrom, reading the stream as it goes) into a
// temporary table dropped at commit, and then inserted from it, in hash
// order, into records and uo_records by two statements; the operation's
// count and coverage are set last. Memory holds one record at a time and
// COPY's buffer, whatever the size of the feed.
func (s *Store) PutUpdateStream(ctx context.Context, source, fingerprint string, records store.RecordStream) (*store.UpdateOperation, error) {
	if source == "" {
		return nil, errors.New("put update: no source")
	}
	enc := store.NewUpdateEncoder(source)
	op := &store.UpdateOperation{Source: source, CreatedAt: now(), Fingerprint: fingerprint}
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := lock(ctx, tx, lockSource, txt(source)); err != nil {
			return err
		}
		origin := store.OriginFrom(ctx)
		if err := tx.QueryRow(ctx, `INSERT INTO update_operations (source, fingerprint, created_at, records, ecosystems, newest_record, source_type, origin)
			VALUES ($1, $2, $3, 0, '{}', NULL, $4, $5) RETURNING id`,
			txt(source), txt(fingerprint), op.CreatedAt, txt(origin.Type), txt(origin.Path)).Scan(&op.ID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TEMPORARY TABLE update_stage (hash bytea, source text, id text, ecosystem text,
			package text, data json) ON COMMIT DROP`); err != nil {
			return fmt.Errorf("stage: %w", err)
		}
		src := &copySource{enc: enc}
		src.pull, src.stop = iter.Pull2(records)
		defer src.stop()
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"update_stage"},
			[]string{"hash", "source", "id", "ecosystem", "package", "data"}, src); err != nil {
			if src.err != nil {
				// The stream's own error, rather than COPY's report of it.
				return fmt.Errorf("records: %w", src.err)
			}
			return fmt.Errorf("copy records: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO records (hash, source, id, ecosystem, package, data)
			SELECT hash, source, id, ecosystem, package, data FROM update_stage ORDER BY hash
			ON CONFLICT (hash) DO NOTHING`); err != nil {
			return fmt.Errorf("insert records: %w", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO uo_records (op, hash) SELECT $1, hash FROM update_stage ORDER BY hash`, op.ID); err != nil {
			return fmt.Errorf("insert links: %w", err)
		}
		op.Records = enc.Count()
		ecos, newest := enc.Summary()
		var nw *time.Time
		if !newest.IsZero() {
			nw = &newest
		}
		if _, err := tx.Exec(ctx, `UPDATE update_operations SET records = $1, ecosystems = $2, newest_record = $3 WHERE id = $4`,
			op.Records, txt(store.EncodeEcosystems(ecos)), nw, op.ID); err != nil {
			return err
		}
		if f := s.midway.Swap(nil); f != nil {
			(*f)()
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("put update of %s: %w", source, err)
	}
	return op, nil
}

// copySource is the pgx.CopyFromSource of PutUpdateStream: it encodes the
// stream's records one at a time.
type copySource struct {
	enc  *store.UpdateEncoder
	pull func() (vuln.Record, error, bool)
	stop func()
	row  []any
	err  error
}

func (c *copySource) Next() bool {
	r, err, ok := c.pull()
	if !ok {
		return false
	}
	if err != nil {
		c.err = err
		return false
	}
	e, err := c.enc.Encode(r)
	if err != nil {
		c.err = err
		return false
	}
	rec := e.Record
	c.row = []any{e.Hash, txt(rec.Source), txt(rec.ID), txt(rec.Ecosystem), txt(rec.Package), e.Data}
	return true
}

func (c *copySource) Values() ([]any, error) { return c.row, nil }

func (c *copySource) Err() error { return c.err }

// batch is the number of records one statement of insertRecords carries:
// large enough that the round trips do not count, small enough that a
// statement's arrays stay a few megabytes.
const batch = 5000

// insertRecords inserts the records of operation op and links them to it,
// batch records per statement: each statement passes the columns as arrays
// and unnests them, inserting the records not yet stored and every link.
// The statements are pipelined, one round trip for all of them.
func insertRecords(ctx context.Context, tx pgx.Tx, op int64, enc []store.EncodedRecord) error {
	const q = `WITH r AS (
			INSERT INTO records (hash, source, id, ecosystem, package, data)
			SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], $6::json[])
			ON CONFLICT (hash) DO NOTHING)
		INSERT INTO uo_records (op, hash) SELECT $7, h FROM unnest($1::bytea[]) AS h`
	// In hash order, the links of the new operation append to the right
	// edge of uo_records' primary key, and the records' inserts touch the
	// pages of the hash index in order.
	enc = slices.Clone(enc)
	slices.SortFunc(enc, func(a, b store.EncodedRecord) int { return bytes.Compare(a.Hash, b.Hash) })
	b := &pgx.Batch{}
	for start := 0; start < len(enc); start += batch {
		chunk := enc[start:min(start+batch, len(enc))]
		var (
			hashes                      = make([][]byte, len(chunk))
			sources, ids, ecos, pkgs, d = make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk)), make([]string, len(chunk))
		)
		for i, e := range chunk {
			r := e.Record
			hashes[i], sources[i], ids[i], ecos[i], pkgs[i], d[i] = e.Hash, txt(r.Source), txt(r.ID), txt(r.Ecosystem), txt(r.Package), e.Data
		}
		b.Queue(q, hashes, sources, ids, ecos, pkgs, d, op)
	}
	if b.Len() == 0 {
		return nil
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("insert records: %w", err)
	}
	return nil
}

// RecordRun records the outcome of a run of a source: it becomes the
// source's last run, and its last success when run.Err is empty.
func (s *Store) RecordRun(ctx context.Context, run *store.SourceRun) error {
	data, err := store.EncodeRun(run)
	if err != nil {
		return err
	}
	var success *time.Time // NULL: keep the previous last success
	if run.Err == "" {
		success = &run.StartedAt
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO source_runs (source, last_run, last_success) VALUES ($1, $2, $3)
		ON CONFLICT (source) DO UPDATE SET last_run = excluded.last_run,
			last_success = COALESCE(excluded.last_success, source_runs.last_success)`,
		txt(run.Source), string(data), success)
	if err != nil {
		return fmt.Errorf("record run of %s: %w", run.Source, err)
	}
	return nil
}

// SourceStatuses returns the status of every source that ever ran or
// stored an update, sorted by source name.
func (s *Store) SourceStatuses(ctx context.Context) ([]store.SourceStatus, error) {
	rows, err := s.pool.Query(ctx, `SELECT n.source, r.last_run, r.last_success, o.id, o.fingerprint, o.created_at, o.records
		FROM (SELECT source FROM source_runs UNION SELECT DISTINCT source FROM update_operations) AS n
		LEFT JOIN source_runs AS r ON r.source = n.source
		LEFT JOIN LATERAL (SELECT id, fingerprint, created_at, records FROM update_operations AS l
			WHERE l.source = n.source ORDER BY id DESC LIMIT 1) AS o ON true`)
	if err != nil {
		return nil, fmt.Errorf("source statuses: %w", err)
	}
	defer rows.Close()
	var out []store.SourceStatus
	for rows.Next() {
		var (
			st            store.SourceStatus
			lastRun       []byte
			lastSuccess   *time.Time
			opID          *int64
			opRecords     *int
			opFingerprint *string
			opCreated     *time.Time
		)
		if err := rows.Scan(&st.Source, &lastRun, &lastSuccess, &opID, &opFingerprint, &opCreated, &opRecords); err != nil {
			return nil, fmt.Errorf("source statuses: %w", err)
		}
		if lastRun != nil {
			if st.LastRun, err = store.DecodeRun(st.Source, lastRun); err != nil {
				return nil, err
			}
		}
		if lastSuccess != nil {
			st.LastSuccess = lastSuccess.UTC()
		}
		if opID != nil && opFingerprint != nil && opCreated != nil && opRecords != nil {
			st.Latest = &store.UpdateOperation{ID: *opID, Source: st.Source, CreatedAt: opCreated.UTC(),
				Fingerprint: *opFingerprint, Records: *opRecords}
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("source statuses: %w", err)
	}
	slices.SortFunc(out, func(a, b store.SourceStatus) int { return strings.Compare(a.Source, b.Source) })
	return out, nil
}

// operationCols are the columns scanOperation reads.
const operationCols = `id, source, fingerprint, created_at, records`

// UpdateOperations lists the update operations of a source, newest first.
func (s *Store) UpdateOperations(ctx context.Context, source string) ([]store.UpdateOperation, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+operationCols+` FROM update_operations WHERE source = $1 ORDER BY id DESC`, txt(source))
	if err != nil {
		return nil, fmt.Errorf("update operations of %s: %w", source, err)
	}
	defer rows.Close()
	var out []store.UpdateOperation
	for rows.Next() {
		op, err := scanOperation(rows)
		if err != nil {
			return nil, fmt.Errorf("update operations of %s: %w", source, err)
		}
		op.Source = source // as asked, even where txt changed it
		out = append(out, *op)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("update operations of %s: %w", source, err)
	}
	return out, nil
}

// operation returns update operation id, or store.ErrNotFound.
func operation(ctx context.Context, tx pgx.Tx, id int64) (*store.UpdateOperation, error) {
	op, err := scanOperation(tx.QueryRow(ctx, `SELECT `+operationCols+` FROM update_operations WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("update operation %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("update operation %d: %w", id, err)
	}
	return op, nil
}

func scanOperation(row pgx.Row) (*store.UpdateOperation, error) {
	var op store.UpdateOperation
	if err := row.Scan(&op.ID, &op.Source, &op.Fingerprint, &op.CreatedAt, &op.Records); err != nil {
		return nil, err
	}
	op.CreatedAt = op.CreatedAt.UTC()
	return &op, nil
}

// snapshot runs fn in a read-only REPEATABLE READ transaction: all its
// queries see one snapshot, so that a concurrent prune or update cannot
// change the data half-way.
func (s *Store) snapshot(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return pgx.BeginTxFunc(ctx, s.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

// queryOnlyIn selects the records of one operation ($1) whose exact
// content the other ($2) does not have.
const queryOnlyIn = `SELECT r.data FROM uo_records AS u JOIN records AS r ON r.hash = u.hash
	WHERE u.op = $1 AND NOT EXISTS (SELECT 1 FROM uo_records AS o WHERE o.op = $2 AND o.hash = u.hash)`

// DiffUpdates compares two update operations of the same source by record
// Key: records only in to are added, records only in from removed, and
// records in both whose content differs changed (as they are in to). from
// may be 0, and everything in to is then added. Each list is sorted by
// ecosystem, package and id. An unknown operation is store.ErrNotFound;
// operations of different sources are an error.
func (s *Store) DiffUpdates(ctx context.Context, from, to int64) (*store.Diff, error) {
	var newer, older []vuln.Record
	err := s.snapshot(ctx, func(tx pgx.Tx) error {
		toOp, err := operation(ctx, tx, to)
		if err != nil {
			return err
		}
		if from != 0 {
			fromOp, err := operation(ctx, tx, from)
			if err != nil {
				return err
			}
			if err := store.DiffSources(fromOp, toOp); err != nil {
				return err
			}
		}
		// Added and changed records on the to side, removed records and
		// the earlier versions of changed records on the from side.
		if newer, err = queryRecords(ctx, tx, queryOnlyIn, to, from); err != nil {
			return err
		}
		older, err = queryRecords(ctx, tx, queryOnlyIn, from, to)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("diff updates %d..%d: %w", from, to, err)
	}
	return store.DiffRecords(newer, older), nil
}

// querier is what pgxpool.Pool and pgx.Tx have in common for queries.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

// queryRecords runs a query selecting the data column of records and
// decodes them.
func queryRecords(ctx context.Context, q querier, query string, args ...any) ([]vuln.Record, error) {
	rows, err := q.Query(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	raw, err := store.CollectRows(rows, store.ScanBytes)
	if err != nil {
		return nil, err
	}
	return store.DecodeRecords(raw)
}

// queryRecordsCurrent selects the records of an ecosystem ($1) for package
// names ($2, an array) that the latest operation of their source links.
// The latest operation of each source is computed once (update_operations
// is small: pruned to a few operations per source); the (ecosystem,
// package) index finds the candidate records, a few per name; and one
// probe of uo_records' primary key (op, hash) per candidate keeps those of
// the latest operation. The probe is a scalar subquery, which PostgreSQL
// evaluates per row as written, rather than EXISTS, which it may turn into
// a join that reads all of uo_records, the largest table, when its
// estimates favour it.
const queryRecordsCurrent = `WITH latest AS MATERIALIZED (
		SELECT source, MAX(id) AS op FROM update_operations GROUP BY source)
	SELECT r.hash, r.data FROM records AS r JOIN latest AS l ON l.source = r.source
	WHERE r.ecosystem = $1 AND r.package = ANY ($2::text[])
	AND (SELECT true FROM uo_records AS u WHERE u.op = l.op AND u.hash = r.hash)`

// Records returns the records of each source's latest update operation in
// ecosystem for the given package names, sorted by package, id and source.
// The query is one statement, so it sees one snapshot: never half of an
// update.
func (s *Store) Records(ctx context.Context, ecosystem string, packages []string) ([]vuln.Record, error) {
	packages = uniqueNonEmpty(txts(packages))
	if ecosystem == "" || len(packages) == 0 {
		return nil, nil
	}
	rows, err := s.pool.Query(ctx, queryRecordsCurrent, txt(ecosystem), packages)
	if err != nil {
		return nil, fmt.Errorf("records of %s: %w", ecosystem, err)
	}
	defer rows.Close()
	out, err := store.CollectRows(rows, s.records.ScanRow)
	if err != nil {
		return nil, fmt.Errorf("records of %s: %w", ecosystem, err)
	}
	store.SortRecords(out)
	return out, nil
}

// queryRecordsByID selects the current records whose id is one of $1 (an
// array), of any ecosystem: the records_id index (0010) finds the
// candidates, and the latest-operation probe is queryRecordsCurrent's.
const queryRecordsByID = `WITH latest AS MATERIALIZED (
		SELECT source, MAX(id) AS op FROM update_operations GROUP BY source)
	SELECT r.hash, r.data FROM records AS r JOIN latest AS l ON l.source = r.source
	WHERE r.id = ANY ($1::text[])
	AND (SELECT true FROM uo_records AS u WHERE u.op = l.op AND u.hash = r.hash)`

// RecordsByID returns the current records whose id is one of ids, of any
// ecosystem and source, sorted by ecosystem, package, id and source. One
// statement: one snapshot.
func (s *Store) RecordsByID(ctx context.Context, ids []string) ([]vuln.Record, error) {
	ids, err := store.RecordIDs(txts(ids))
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	rows, err := s.pool.Query(ctx, queryRecordsByID, ids)
	if err != nil {
		return nil, fmt.Errorf("records by id: %w", err)
	}
	defer rows.Close()
	out, err := store.CollectRows(rows, s.records.ScanRow)
	if err != nil {
		return nil, fmt.Errorf("records by id: %w", err)
	}
	store.SortRecords(out)
	return out, nil
}

// queryOperationRecords selects the records of an ecosystem ($1) for
// package names ($2) that operation $4, of source $3, links.
// As in queryRecordsCurrent, the probe of uo_records is a scalar subquery.
const queryOperationRecords = `SELECT r.data FROM records AS r
	WHERE r.ecosystem = $1 AND r.package = ANY ($2::text[]) AND r.source = $3
	AND (SELECT true FROM uo_records AS u WHERE u.op = $4 AND u.hash = r.hash)`

// OperationRecords returns the records of update operation op in
// ecosystem for the given package names, sorted by package, id and source.
// An unknown operation is store.ErrNotFound.
func (s *Store) OperationRecords(ctx context.Context, op int64, ecosystem string, packages []string) ([]vuln.Record, error) {
	var out []vuln.Record
	err := s.snapshot(ctx, func(tx pgx.Tx) error {
		o, err := operation(ctx, tx, op)
		if err != nil {
			return err
		}
		packages = uniqueNonEmpty(txts(packages))
		if ecosystem == "" || len(packages) == 0 {
			return nil
		}
		out, err = queryRecords(ctx, tx, queryOperationRecords, txt(ecosystem), packages, o.Source, op)
		if err != nil {
			return fmt.Errorf("records of operation %d in %s: %w", op, ecosystem, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	store.SortRecords(out)
	return out, nil
}

// PruneUpdates removes the update operations of source beyond the keep
// newest, and the records no operation refers to any more, in one
// transaction under the source's lock. It returns the number of
// operations removed.
func (s *Store) PruneUpdates(ctx context.Context, source string, keep int) (int, error) {
	if keep < 0 {
		return 0, fmt.Errorf("prune updates of %s: negative keep %d", source, keep)
	}
	src := txt(source)
	var removed int
	err := s.write(ctx, func(tx pgx.Tx) error {
		if err := lock(ctx, tx, lockSource, src); err != nil {
			return err
		}
		rows, err := tx.Query(ctx, `SELECT id FROM update_operations WHERE source = $1 ORDER BY id DESC OFFSET $2`, src, keep)
		if err != nil {
			return fmt.Errorf("old operations: %w", err)
		}
		old, err := collect[int64](rows)
		if err != nil {
			return fmt.Errorf("old operations: %w", err)
		}
		if len(old) == 0 {
			return nil
		}
		// Records are never shared between sources (their JSON holds the
		// source), so the orphans are the records the removed operations
		// link and none of the source's remaining operations does.
		if _, err := tx.Exec(ctx, `DELETE FROM records AS r
			USING (SELECT DISTINCT hash FROM uo_records WHERE op = ANY ($2::bigint[])) AS c
			WHERE r.hash = c.hash AND r.source = $1
			AND NOT EXISTS (SELECT 1 FROM update_operations AS o JOIN uo_records AS u ON u.op = o.id
				WHERE o.source = $1 AND o.id <> ALL ($2::bigint[]) AND u.hash = r.hash)`, src, old); err != nil {
			return fmt.Errorf("delete orphaned records: %w", err)
		}
		if _, err := tx.Exec(ctx, `DELETE FROM uo_records WHERE op = ANY ($1::bigint[])`, old); err != nil {
			return fmt.Errorf("delete links: %w", err)
		}
		tag, err := tx.Exec(ctx, `DELETE FROM update_operations WHERE id = ANY ($1::bigint[])`, old)
		if err != nil {
			return fmt.Errorf("delete operations: %w", err)
		}
		removed = int(tag.RowsAffected())
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune updates of %s: %w", source, err)
	}
	return removed, nil
}
