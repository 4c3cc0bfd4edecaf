package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// batch is the number of rows one INSERT statement carries: multi-row
// statements spare most of the per-statement cost of database/sql and the
// driver, and 500 rows × 6 columns stays far below SQLite's limit on bound
// parameters (32766).
const batch = 500

// insertRecords inserts the records of operation op, in batches of
// prepared multi-row statements.
func insertRecords(ctx context.Context, tx *sql.Tx, op int64, enc []store.EncodedRecord) error {
	recStmt := func(n int) string {
		return `INSERT INTO records (hash, source, id, ecosystem, package, data) VALUES ` +
			strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?, ?), ", n), ", ") +
			` ON CONFLICT (hash) DO NOTHING`
	}
	linkStmt := func(n int) string {
		return `INSERT INTO uo_records (op, hash) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?), ", n), ", ")
	}
	var full [2]*sql.Stmt // prepared once for full batches
	defer func() {
		for _, st := range full {
			if st != nil {
				st.Close()
			}
		}
	}()
	recArgs := make([]any, 0, 6*batch)
	linkArgs := make([]any, 0, 2*batch)
	for start := 0; start < len(enc); start += batch {
		chunk := enc[start:min(start+batch, len(enc))]
		recArgs, linkArgs = recArgs[:0], linkArgs[:0]
		for _, e := range chunk {
			r := e.Record
			recArgs = append(recArgs, e.Hash, r.Source, r.ID, r.Ecosystem, r.Package, e.Data)
			linkArgs = append(linkArgs, op, e.Hash)
		}
		var err error
		if len(chunk) == batch {
			if full[0] == nil {
				if full[0], err = tx.PrepareContext(ctx, recStmt(batch)); err != nil {
					return err
				}
				if full[1], err = tx.PrepareContext(ctx, linkStmt(batch)); err != nil {
					return err
				}
			}
			_, err = full[0].ExecContext(ctx, recArgs...)
			if err == nil {
				_, err = full[1].ExecContext(ctx, linkArgs...)
			}
		} else {
			_, err = tx.ExecContext(ctx, recStmt(len(chunk)), recArgs...)
			if err == nil {
				_, err = tx.ExecContext(ctx, linkStmt(len(chunk)), linkArgs...)
			}
		}
		if err != nil {
			return fmt.Errorf("insert records %d to %d: %w", start, start+len(chunk), err)
		}
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
	var success any // NULL: keep the previous last success
	if run.Err == "" {
		success = formatTime(run.StartedAt)
	}
	_, err = s.w.ExecContext(ctx, `INSERT INTO source_runs (source, last_run, last_success) VALUES (?, ?, ?)
		ON CONFLICT (source) DO UPDATE SET last_run = excluded.last_run,
			last_success = COALESCE(excluded.last_success, source_runs.last_success)`,
		run.Source, string(data), success)
	if err != nil {
		return fmt.Errorf("record run of %s: %w", run.Source, err)
	}
	return nil
}

// SourceStatuses returns the status of every source that ever ran or
// stored an update, sorted by source name.
func (s *Store) SourceStatuses(ctx context.Context) ([]store.SourceStatus, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT n.source, r.last_run, r.last_success, o.id, o.fingerprint, o.created_at, o.records
		FROM (SELECT source FROM source_runs UNION SELECT source FROM update_operations WHERE state = 'published') AS n
		LEFT JOIN source_runs AS r ON r.source = n.source
		LEFT JOIN update_operations AS o ON o.id = (SELECT MAX(id) FROM update_operations AS l
			WHERE l.source = n.source AND l.state = 'published')
		ORDER BY n.source`)
	if err != nil {
		return nil, fmt.Errorf("source statuses: %w", err)
	}
	defer rows.Close()
	var out []store.SourceStatus
	for rows.Next() {
		var (
			st                      store.SourceStatus
			lastRun, lastSuccess    sql.NullString
			opID, opRecords         sql.NullInt64
			opFingerprint, opCreate sql.NullString
		)
		if err := rows.Scan(&st.Source, &lastRun, &lastSuccess, &opID, &opFingerprint, &opCreate, &opRecords); err != nil {
			return nil, fmt.Errorf("source statuses: %w", err)
		}
		if lastRun.Valid {
			if st.LastRun, err = store.DecodeRun(st.Source, []byte(lastRun.String)); err != nil {
				return nil, err
			}
		}
		if lastSuccess.Valid {
			if st.LastSuccess, err = parseTime(lastSuccess.String); err != nil {
				return nil, fmt.Errorf("source %s: %w", st.Source, err)
			}
		}
		if opID.Valid {
			t, err := parseTime(opCreate.String)
			if err != nil {
				return nil, fmt.Errorf("source %s: %w", st.Source, err)
			}
			st.Latest = &store.UpdateOperation{ID: opID.Int64, Source: st.Source, CreatedAt: t,
				Fingerprint: opFingerprint.String, Records: int(opRecords.Int64)}
		}
		out = append(out, st)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("source statuses: %w", err)
	}
	return out, nil
}

// UpdateOperations lists the update operations of a source, newest first.
func (s *Store) UpdateOperations(ctx context.Context, source string) ([]store.UpdateOperation, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, source, fingerprint, created_at, records
		FROM update_operations WHERE source = ? AND state = 'published' ORDER BY id DESC`, source)
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
		out = append(out, *op)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("update operations of %s: %w", source, err)
	}
	return out, nil
}

// operation returns published update operation id, or store.ErrNotFound.
func operation(ctx context.Context, tx *sql.Tx, id int64) (*store.UpdateOperation, error) {
	op, err := scanOperation(tx.QueryRowContext(ctx, `SELECT id, source, fingerprint, created_at, records
		FROM update_operations WHERE id = ? AND state = 'published'`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("update operation %d: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("update operation %d: %w", id, err)
	}
	return op, nil
}

func scanOperation(row interface{ Scan(...any) error }) (*store.UpdateOperation, error) {
	var (
		op      store.UpdateOperation
		created string
		records int64
	)
	if err := row.Scan(&op.ID, &op.Source, &op.Fingerprint, &created, &records); err != nil {
		return nil, err
	}
	t, err := parseTime(created)
	if err != nil {
		return nil, err
	}
	op.CreatedAt, op.Records = t, int(records)
	return &op, nil
}

// DiffUpdates compares two update operations of the same source by record
// Key: records only in to are added, records only in from removed, and
// records in both whose content differs changed (as they are in to). from
// may be 0, and everything in to is then added. Each list is sorted by
// ecosystem, package and id. An unknown operation is store.ErrNotFound;
// operations of different sources are an error.
func (s *Store) DiffUpdates(ctx context.Context, from, to int64) (*store.Diff, error) {
	// One snapshot for all queries, so that a concurrent prune cannot
	// remove an operation half-way.
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("diff updates %d..%d: %w", from, to, err)
	}
	defer tx.Rollback()
	toOp, err := operation(ctx, tx, to)
	if err != nil {
		return nil, fmt.Errorf("diff updates %d..%d: %w", from, to, err)
	}
	if from != 0 {
		fromOp, err := operation(ctx, tx, from)
		if err == nil {
			err = store.DiffSources(fromOp, toOp)
		}
		if err != nil {
			return nil, fmt.Errorf("diff updates %d..%d: %w", from, to, err)
		}
	}
	// The records of one operation whose exact content the other does not
	// have: added and changed records on the to side, removed records and
	// the earlier versions of changed records on the from side.
	const onlyIn = `SELECT r.data FROM uo_records AS u JOIN records AS r ON r.hash = u.hash
		WHERE u.op = ? AND NOT EXISTS (SELECT 1 FROM uo_records AS o WHERE o.op = ? AND o.hash = u.hash)`
	newer, err := queryRecords(ctx, tx, onlyIn, to, from)
	if err != nil {
		return nil, fmt.Errorf("diff updates %d..%d: %w", from, to, err)
	}
	older, err := queryRecords(ctx, tx, onlyIn, from, to)
	if err != nil {
		return nil, fmt.Errorf("diff updates %d..%d: %w", from, to, err)
	}
	return store.DiffRecords(newer, older), nil
}

// queryRecords runs a query selecting the data column of records and
// decodes them.
func queryRecords(ctx context.Context, q interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}, query string, args ...any) ([]vuln.Record, error) {
	rows, err := q.QueryContext(ctx, query, args...)
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

// Records returns the records of each source's latest update operation in
// ecosystem for the given package names, sorted by package, id and source.
func (s *Store) Records(ctx context.Context, ecosystem string, packages []string) ([]vuln.Record, error) {
	packages = uniqueNonEmpty(packages)
	if ecosystem == "" || len(packages) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(packages)
	if err != nil {
		return nil, fmt.Errorf("records of %s: %w", ecosystem, err)
	}
	// The (ecosystem, package) index finds the candidates; one lookup in
	// uo_records' primary key keeps those of the latest operation of their
	// source (found in the (source, id) index of update_operations).
	stmt, err := s.recordsStmt(ctx)
	if err != nil {
		return nil, fmt.Errorf("records of %s: %w", ecosystem, err)
	}
	rows, err := stmt.QueryContext(ctx, ecosystem, string(list))
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

// recordsQuery finds the current records (those of the latest published
// operation of their source) of an ecosystem for a JSON list of package
// names.
const recordsQuery = `SELECT r.hash, r.data FROM records AS r
		WHERE r.ecosystem = ? AND r.package IN (SELECT value FROM json_each(?))
		AND EXISTS (SELECT 1 FROM uo_records AS u WHERE u.hash = r.hash AND u.op =
			(SELECT MAX(o.id) FROM update_operations AS o WHERE o.source = r.source AND o.state = 'published'))`

// recordsStmt returns the prepared recordsQuery: reports ask it several
// times each, and preparing it costs as much as running it.
func (s *Store) recordsStmt(ctx context.Context) (*sql.Stmt, error) {
	return s.readStmt(ctx, recordsQuery)
}

// readStmt returns query prepared on the read pool, prepared once: the
// queries that every report request asks (its versions, its records),
// whose preparation costs as much as running them. The statements are
// closed by Close.
func (s *Store) readStmt(ctx context.Context, query string) (*sql.Stmt, error) {
	s.stmtMu.Lock()
	defer s.stmtMu.Unlock()
	if q, ok := s.stmts[query]; ok {
		return q, nil
	}
	q, err := s.r.PrepareContext(context.WithoutCancel(ctx), query)
	if err != nil {
		return nil, err
	}
	if s.stmts == nil {
		s.stmts = map[string]*sql.Stmt{}
	}
	s.stmts[query] = q
	return q, nil
}

// rowScanner is a row of QueryRow, prepared or not.
type rowScanner interface{ Scan(...any) error }

// errRow is a row whose statement could not be prepared.
type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// readRow runs a one-row query prepared once on the read pool (readStmt).
func (s *Store) readRow(ctx context.Context, query string, args ...any) rowScanner {
	q, err := s.readStmt(ctx, query)
	if err != nil {
		return errRow{err}
	}
	return q.QueryRowContext(ctx, args...)
}

// recordsByIDQuery finds the current records (those of the latest
// published operation of their source) whose id is in a JSON list: the
// records_id index (0010) finds the candidates, and the latest-operation
// check is recordsQuery's.
const recordsByIDQuery = `SELECT r.hash, r.data FROM records AS r
		WHERE r.id IN (SELECT value FROM json_each(?))
		AND EXISTS (SELECT 1 FROM uo_records AS u WHERE u.hash = r.hash AND u.op =
			(SELECT MAX(o.id) FROM update_operations AS o WHERE o.source = r.source AND o.state = 'published'))`

// RecordsByID returns the current records whose id is one of ids, of any
// ecosystem and source, sorted by ecosystem, package, id and source.
func (s *Store) RecordsByID(ctx context.Context, ids []string) ([]vuln.Record, error) {
	ids, err := store.RecordIDs(ids)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	list, err := json.Marshal(ids)
	if err != nil {
		return nil, fmt.Errorf("records by id: %w", err)
	}
	rows, err := s.r.QueryContext(ctx, recordsByIDQuery, string(list))
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
