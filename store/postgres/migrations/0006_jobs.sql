-- 0006: the queue of scan jobs that the `lapps serve` replicas of one
-- database share (store.Jobs), and the key that records the scan of a
-- job run twice (its replica died after recording it) once
-- (store.Scan.Key), as the SQLite engine's 0006.
CREATE TABLE jobs (
    id          text        PRIMARY KEY,
    kind        text        NOT NULL,
    request     bytea       NOT NULL,
    state       text        NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    attempts    integer     NOT NULL DEFAULT 0,
    holder      text        NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL,
    started_at  timestamptz,
    lease_until timestamptz,
    finished_at timestamptz,
    progress    bytea,
    result      bytea,
    error       bytea
);
-- ClaimJob's oldest claimable job (FOR UPDATE SKIP LOCKED) and
-- PendingJobs: only unfinished jobs, so the index stays small however
-- many finished jobs wait for PruneJobs.
CREATE INDEX jobs_pending ON jobs (created_at, id COLLATE "C") WHERE state IN ('queued', 'running');
-- PruneJobs: finished jobs, oldest first.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

ALTER TABLE scans ADD COLUMN job_key text;
CREATE UNIQUE INDEX scans_job_key ON scans (image, job_key) WHERE job_key IS NOT NULL;
