package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/store"
)

// The job queue. Every time of a job comes from the database's clock
// (now()), as for store.Leases, so that the replicas' clocks never decide
// whether a lease has expired.

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
	out, err := scanJob(s.pool.QueryRow(ctx, `INSERT INTO jobs (id, kind, request, state, attempts, holder, created_at)
		VALUES ($1, $2, $3, 'queued', 0, '', now()) ON CONFLICT (id) DO NOTHING RETURNING `+jobCols, j.ID, j.Kind, req))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("enqueue job %s: %w", j.ID, store.ErrExists)
	}
	if err != nil {
		return nil, fmt.Errorf("enqueue job %s: %w", j.ID, err)
	}
	return out, nil
}

// queryClaimJob claims the oldest claimable job for $1 until $2
// microseconds from now. FOR UPDATE SKIP LOCKED makes concurrent
// claimers, in this process or other replicas, pass over the job another
// is claiming instead of waiting for it; a job claimed and committed
// meanwhile is re-checked against the WHERE clause (its lease now runs)
// before it is locked, and skipped. The state IN term matches the partial
// index jobs_pending.
const queryClaimJob = `UPDATE jobs
	SET state = 'running', holder = $1, attempts = attempts + 1, started_at = now(),
		lease_until = now() + $2 * interval '1 microsecond', progress = NULL
	WHERE id = (SELECT id FROM jobs WHERE state IN ('queued', 'running') AND (state = 'queued' OR lease_until <= now())
		ORDER BY created_at, id COLLATE "C" LIMIT 1 FOR UPDATE SKIP LOCKED)
	RETURNING ` + jobCols

// ClaimJob takes the oldest queued job, or running job whose lease has
// expired, for holder, in one statement.
func (s *Store) ClaimJob(ctx context.Context, holder string, ttl time.Duration) (*store.Job, error) {
	if err := store.CheckJobHolder(holder, ttl); err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	j, err := scanJob(s.pool.QueryRow(ctx, queryClaimJob, holder, ttl.Microseconds()))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("claim job: %w", err)
	}
	return j, nil
}

// RenewJob extends holder's lease on job id, with its progress.
func (s *Store) RenewJob(ctx context.Context, id, holder string, ttl time.Duration, progress []byte) error {
	if err := store.CheckJobHolder(holder, ttl); err != nil {
		return fmt.Errorf("renew job %s: %w", id, err)
	}
	err := s.heldJob(ctx, id, holder, `UPDATE jobs SET lease_until = now() + $3 * interval '1 microsecond',
		progress = COALESCE($4, progress) WHERE id = $1 AND holder = $2 AND state = 'running'`, ttl.Microseconds(), progress)
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
	err := s.heldJob(ctx, id, holder, `UPDATE jobs SET state = $3, finished_at = now(), lease_until = NULL, result = $4, error = $5
		WHERE id = $1 AND holder = $2 AND state = 'running'`, state, result, failure)
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
	err := s.heldJob(ctx, id, holder, `UPDATE jobs SET state = 'queued', holder = '',
		started_at = NULL, lease_until = NULL, progress = NULL
		WHERE id = $1 AND holder = $2 AND state = 'running'`)
	if err != nil {
		return fmt.Errorf("release job %s: %w", id, err)
	}
	return nil
}

// heldJob runs update ($1 the job id, $2 the holder, then args), which
// changes job id only while holder holds it, and tells why nothing
// changed: no such job (store.ErrNotFound) or not held (store.ErrJobLost).
func (s *Store) heldJob(ctx context.Context, id, holder, update string, args ...any) error {
	if store.CheckJobID(id) != nil {
		return store.ErrNotFound // no such id can be stored
	}
	tag, err := s.pool.Exec(ctx, update, append([]any{id, holder}, args...)...)
	if err != nil {
		return err
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var state, by string
	err = s.pool.QueryRow(ctx, `SELECT state, holder FROM jobs WHERE id = $1`, id).Scan(&state, &by)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	if err != nil {
		return err
	}
	return fmt.Errorf("%w: %s, held by %q, not %q", store.ErrJobLost, state, by, holder)
}

// GetJob returns job id.
func (s *Store) GetJob(ctx context.Context, id string) (*store.Job, error) {
	if store.CheckJobID(id) != nil {
		return nil, fmt.Errorf("job %q: %w", id, store.ErrNotFound)
	}
	j, err := scanJob(s.pool.QueryRow(ctx, `SELECT `+jobCols+` FROM jobs WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
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
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count pending jobs: %w", err)
	}
	return n, nil
}

// queryPruneJobs deletes at most $2 jobs finished before $1, oldest
// first: the partial index jobs_finished finds them, and the primary key
// each row to delete. The ids are collected into an array first (an
// InitPlan), so that no plan, custom or generic, joins a large table's
// every row against them.
const queryPruneJobs = `DELETE FROM jobs WHERE id = ANY (ARRAY(SELECT id FROM jobs
	WHERE finished_at IS NOT NULL AND finished_at < $1 ORDER BY finished_at LIMIT $2))`

// PruneJobs deletes at most limit jobs finished before before.
func (s *Store) PruneJobs(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune jobs: limit %d", limit)
	}
	return s.deleteCount(ctx, "prune jobs", queryPruneJobs, before, limit)
}

// scanJob reads a row of jobCols.
func scanJob(row pgx.Row) (*store.Job, error) {
	var (
		j                               store.Job
		started, leaseUntil, finishedAt *time.Time
	)
	if err := row.Scan(&j.ID, &j.Kind, &j.Request, &j.State, &j.Attempts, &j.Holder, &j.CreatedAt, &started, &leaseUntil, &finishedAt,
		&j.Progress, &j.Result, &j.Error); err != nil {
		return nil, err
	}
	j.CreatedAt, j.StartedAt, j.LeaseUntil, j.FinishedAt = j.CreatedAt.UTC(), utcOrZero(started), utcOrZero(leaseUntil), utcOrZero(finishedAt)
	j.Request, j.Progress, j.Result, j.Error = nilIfEmpty(j.Request), nilIfEmpty(j.Progress), nilIfEmpty(j.Result), nilIfEmpty(j.Error)
	return &j, nil
}
