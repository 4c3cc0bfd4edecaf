package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lapps/lapps/store"
)

// The job queue. SQLite serves one machine, so this process's clock is the
// clock of every lease, as for store.Leases; every change goes through the
// one write connection (and SQLite's lock between processes), so a claim
// is one write transaction that no other claim interleaves with.

const jobCols = `id, kind, request, state, attempts, holder, created_at, started_at, lease_until, finished_at, progress, result, error`

// EnqueueJob stores j as queued.
func (s *Store) EnqueueJob(ctx context.Context, j *store.Job) (*store.Job, error) {
	if err := store.CheckEnqueueJob(j); err != nil {
		return nil, err
	}
	req := j.Request
	if req == nil {
		req = []byte{}
	}
	var out *store.Job
	err := s.write(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanJob(tx.QueryRowContext(ctx, `INSERT INTO jobs (id, kind, request, state, attempts, holder, created_at)
			VALUES (?, ?, ?, 'queued', 0, '', ?) ON CONFLICT (id) DO NOTHING RETURNING `+jobCols, j.ID, j.Kind, req, formatTime(now())))
		return err
	})
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("enqueue job %s: %w", j.ID, store.ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("enqueue job %s: %w", j.ID, err)
	}
	return out, nil
}

// ClaimJob takes the oldest queued job, or running job whose lease has
// expired, for holder.
func (s *Store) ClaimJob(ctx context.Context, holder string, ttl time.Duration) (*store.Job, error) {
	if err := store.CheckJobHolder(holder, ttl); err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	at := now()
	var out *store.Job
	err := s.write(ctx, func(tx *sql.Tx) error {
		// The state IN term lets SQLite use the partial index jobs_pending.
		j, err := scanJob(tx.QueryRowContext(ctx, `UPDATE jobs
			SET state = 'running', holder = ?, attempts = attempts + 1, started_at = ?, lease_until = ?, progress = NULL
			WHERE id = (SELECT id FROM jobs WHERE state IN ('queued', 'running') AND (state = 'queued' OR lease_until <= ?)
				ORDER BY created_at, id LIMIT 1)
			RETURNING `+jobCols, holder, formatTime(at), formatTime(at.Add(ttl)), formatTime(at)))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		out = j
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	return out, nil
}

// RenewJob extends holder's lease on job id, with its progress.
func (s *Store) RenewJob(ctx context.Context, id, holder string, ttl time.Duration, progress []byte) error {
	if err := store.CheckJobHolder(holder, ttl); err != nil {
		return fmt.Errorf("renew job %s: %w", id, err)
	}
	err := s.heldJob(ctx, id, holder, func(tx *sql.Tx) (sql.Result, error) {
		if progress == nil {
			return tx.ExecContext(ctx, `UPDATE jobs SET lease_until = ? WHERE id = ? AND holder = ? AND state = 'running'`,
				formatTime(now().Add(ttl)), id, holder)
		}
		return tx.ExecContext(ctx, `UPDATE jobs SET lease_until = ?, progress = ? WHERE id = ? AND holder = ? AND state = 'running'`,
			formatTime(now().Add(ttl)), progress, id, holder)
	})
	if err != nil {
		return fmt.Errorf("renew job %s: %w", id, err)
	}
	return nil
}

// FinishJob ends job id held by holder, succeeded or failed.
func (s *Store) FinishJob(ctx context.Context, id, holder string, result, failure []byte) error {
	if err := store.CheckJobHolder(holder, 1); err != nil {
		return fmt.Errorf("finish job %s: %w", id, err)
	}
	state := store.JobSucceeded
	if failure != nil {
		state, result = store.JobFailed, nil
	}
	err := s.heldJob(ctx, id, holder, func(tx *sql.Tx) (sql.Result, error) {
		return tx.ExecContext(ctx, `UPDATE jobs SET state = ?, finished_at = ?, lease_until = NULL, result = ?, error = ?
			WHERE id = ? AND holder = ? AND state = 'running'`, state, formatTime(now()), result, failure, id, holder)
	})
	if err != nil {
		return fmt.Errorf("finish job %s: %w", id, err)
	}
	return nil
}

// ReleaseJob puts job id held by holder back in the queue; the claim
// keeps counting as an attempt.
func (s *Store) ReleaseJob(ctx context.Context, id, holder string) error {
	if err := store.CheckJobHolder(holder, 1); err != nil {
		return fmt.Errorf("release job %s: %w", id, err)
	}
	err := s.heldJob(ctx, id, holder, func(tx *sql.Tx) (sql.Result, error) {
		return tx.ExecContext(ctx, `UPDATE jobs SET state = 'queued', holder = '',
			started_at = NULL, lease_until = NULL, progress = NULL
			WHERE id = ? AND holder = ? AND state = 'running'`, id, holder)
	})
	if err != nil {
		return fmt.Errorf("release job %s: %w", id, err)
	}
	return nil
}

// heldJob runs update, which changes job id only while holder holds it, in
// a write transaction, and tells why nothing changed: no such job
// (store.ErrNotFound) or not held (store.ErrJobLost).
func (s *Store) heldJob(ctx context.Context, id, holder string, update func(tx *sql.Tx) (sql.Result, error)) error {
	return s.write(ctx, func(tx *sql.Tx) error {
		res, err := update(tx)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 1 {
			return err
		}
		var state, by string
		err = tx.QueryRowContext(ctx, `SELECT state, holder FROM jobs WHERE id = ?`, id).Scan(&state, &by)
		if errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("%w: %s, held by %q, not %q", store.ErrJobLost, state, by, holder)
	})
}

// GetJob returns job id.
func (s *Store) GetJob(ctx context.Context, id string) (*store.Job, error) {
	j, err := scanJob(s.r.QueryRowContext(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("job %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("job %s: %w", id, err)
	}
	return j, nil
}

// PendingJobs counts the jobs queued or running.
func (s *Store) PendingJobs(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending jobs: %w", err)
	}
	return n, nil
}

// PruneJobs deletes at most limit jobs finished before before.
func (s *Store) PruneJobs(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune jobs: limit %d", limit)
	}
	return s.deleteCount(ctx, "prune jobs", `DELETE FROM jobs WHERE id IN (SELECT id FROM jobs
		WHERE finished_at IS NOT NULL AND finished_at < ? ORDER BY finished_at LIMIT ?)`, formatTime(before), limit)
}

// scanJob reads a row of jobCols.
func scanJob(row interface{ Scan(...any) error }) (*store.Job, error) {
	var (
		j                               store.Job
		created                         string
		started, leaseUntil, finishedAt sql.NullString
	)
	if err := row.Scan(&j.ID, &j.Kind, &j.Request, &j.State, &j.Attempts, &j.Holder, &created, &started, &leaseUntil, &finishedAt,
		&j.Progress, &j.Result, &j.Error); err != nil {
		return nil, err
	}
	var err error
	if j.CreatedAt, err = parseTime(created); err != nil {
		return nil, err
	}
	for _, t := range []struct {
		from sql.NullString
		to   *time.Time
	}{{started, &j.StartedAt}, {leaseUntil, &j.LeaseUntil}, {finishedAt, &j.FinishedAt}} {
		if t.from.Valid {
			if *t.to, err = parseTime(t.from.String); err != nil {
				return nil, err
			}
		}
	}
	j.Request, j.Progress, j.Result, j.Error = nilIfEmpty(j.Request), nilIfEmpty(j.Progress), nilIfEmpty(j.Result), nilIfEmpty(j.Error)
	return &j, nil
}

// nilIfEmpty returns nil for an empty b, so that an empty blob and no blob
// read back alike (as the PostgreSQL engine's).
func nilIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}
