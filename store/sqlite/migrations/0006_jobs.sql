-- 0006: the queue of scan jobs that the `lapps serve` replicas of one
-- database share (store.Jobs), and the key that records the scan of a
-- job run twice (its replica died after recording it) once
-- (store.Scan.Key).
CREATE TABLE jobs (
    id          TEXT    PRIMARY KEY,
    kind        TEXT    NOT NULL,
    request     BLOB    NOT NULL,
    state       TEXT    NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    holder      TEXT    NOT NULL DEFAULT '',
    created_at  TEXT    NOT NULL,
    started_at  TEXT,
    lease_until TEXT,
    finished_at TEXT,
    progress    BLOB,
    result      BLOB,
    error       BLOB
);
-- ClaimJob's oldest claimable job and PendingJobs: only unfinished jobs.
CREATE INDEX jobs_pending ON jobs (created_at, id) WHERE state IN ('queued', 'running');
-- PruneJobs: finished jobs, oldest first.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;

ALTER TABLE scans ADD COLUMN job_key TEXT;
CREATE UNIQUE INDEX scans_job_key ON scans (image, job_key) WHERE job_key IS NOT NULL;
