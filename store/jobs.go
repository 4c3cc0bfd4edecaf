package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"
)

// Job states.
const (
	JobQueued    = "queued"
	JobRunning   = "running"
	JobSucceeded = "succeeded"
	JobFailed    = "failed"
)

// ErrJobLost is returned (wrapped) by RenewJob, FinishJob and ReleaseJob
// when the caller no longer holds the job: its lease expired and another
// replica claimed it, or it is finished. The caller stops working on it.
var ErrJobLost = errors.New("job no longer held")

// Job is one unit of queued work (indexing an image) shared by every
// process on one database: whichever replica claims it runs it, and any
// replica answers for it.
type Job struct {
	// ID is chosen by the caller of EnqueueJob (non-empty, at most 200
	// bytes, unique).
	ID string
	// Kind says what Request means ("scan").
	Kind string
	// Request is the job's input, as JSON, stored as given.
	Request []byte
	// State is JobQueued, JobRunning, JobSucceeded or JobFailed.
	State string
	// Attempts counts the claims of the job: 1 for a job that ran once.
	Attempts int
	// Holder is the replica that claimed the job last; empty while queued.
	Holder string
	// CreatedAt is set by EnqueueJob to the current time.
	CreatedAt time.Time
	// StartedAt is the time of the latest claim; zero while queued.
	StartedAt time.Time
	// LeaseUntil is when the holder's claim expires unless renewed; zero
	// unless running.
	LeaseUntil time.Time
	// FinishedAt is zero until FinishJob.
	FinishedAt time.Time
	// Progress is the latest progress its holder recorded, as JSON.
	Progress []byte
	// Result is the outcome of a succeeded job, Error that of a failed
	// one, both as JSON.
	Result, Error []byte
}

// Jobs is the queue of indexing jobs that the `lapps serve` replicas of
// one database share: each replica claims queued jobs while it has room,
// so that more replicas index more images at once, and a job whose
// replica dies is claimed again when its lease expires. Leases run on the
// database's clock where the engine has one (PostgreSQL).
type Jobs interface {
	// EnqueueJob stores j (ID, Kind, Request) as queued and returns it as
	// stored. A duplicate ID is ErrExists; an invalid ID or an empty Kind
	// is an error.
	EnqueueJob(ctx context.Context, j *Job) (*Job, error)
	// ClaimJob takes the oldest job (by CreatedAt, then ID) that is queued
	// or running under an expired lease, for holder until ttl from now:
	// it becomes running, Attempts grows by one and StartedAt is now.
	// Concurrent callers, in one process or several, never get the same
	// job while its lease runs. It returns nil and no error when there is
	// no such job. An empty holder or ttl <= 0 is an error.
	ClaimJob(ctx context.Context, holder string, ttl time.Duration) (*Job, error)
	// RenewJob extends holder's lease on running job id to ttl from now
	// and, when progress is not nil, records it. ErrJobLost when holder
	// does not hold it, ErrNotFound when there is no such job.
	RenewJob(ctx context.Context, id, holder string, ttl time.Duration, progress []byte) error
	// FinishJob ends running job id held by holder: succeeded with result
	// when failure is nil, failed with failure otherwise. ErrJobLost when
	// holder does not hold it, ErrNotFound when there is no such job.
	FinishJob(ctx context.Context, id, holder string, result, failure []byte) error
	// ReleaseJob puts running job id held by holder back in the queue, for
	// a replica that stops before finishing it. The claim keeps counting
	// in Attempts: a job that hangs, and is released at every shutdown,
	// runs out of attempts instead of being retried forever. ErrJobLost
	// and ErrNotFound as for FinishJob.
	ReleaseJob(ctx context.Context, id, holder string) error
	// GetJob returns job id, or ErrNotFound.
	GetJob(ctx context.Context, id string) (*Job, error)
	// PendingJobs returns the number of jobs queued or running.
	PendingJobs(ctx context.Context) (int, error)
	// PruneJobs deletes at most limit jobs finished before before, oldest
	// first, and returns how many it deleted; unfinished jobs are never
	// deleted. limit <= 0 is an error.
	PruneJobs(ctx context.Context, before time.Time, limit int) (int, error)
}

// maxJobID bounds job ids, which travel in URLs.
const maxJobID = 200

// CheckJobID validates a job id alike for every engine.
func CheckJobID(id string) error {
	if id == "" || len(id) > maxJobID || !isText(id) {
		return fmt.Errorf("job id %q: empty, longer than %d bytes or not valid UTF-8 text", id, maxJobID)
	}
	return nil
}

// CheckEnqueueJob validates the argument of Jobs.EnqueueJob alike for
// every engine.
func CheckEnqueueJob(j *Job) error {
	if j == nil {
		return errors.New("enqueue job: no job")
	}
	if err := CheckJobID(j.ID); err != nil {
		return fmt.Errorf("enqueue job: %w", err)
	}
	if j.Kind == "" || !isText(j.Kind) {
		return fmt.Errorf("enqueue job %s: kind %q is empty or not valid UTF-8 text", j.ID, j.Kind)
	}
	return nil
}

// CheckJobHolder validates the holder and, when ttl is not 1, the lease
// of Jobs.ClaimJob and Jobs.RenewJob (ttl > 0), alike for every engine;
// FinishJob and ReleaseJob check with ttl 1.
func CheckJobHolder(holder string, ttl time.Duration) error {
	if holder == "" || !isText(holder) {
		return fmt.Errorf("job holder %q is empty or not valid UTF-8 text", holder)
	}
	if ttl <= 0 {
		return errors.New("job lease: ttl must be positive")
	}
	return nil
}

// CheckScanKey validates Scan.Key alike for every engine.
func CheckScanKey(key string) error {
	if len(key) > maxJobID || !isText(key) {
		return fmt.Errorf("scan key %q: longer than %d bytes or not valid UTF-8 text", key, maxJobID)
	}
	return nil
}

// isText reports whether s is text every engine stores as it is: valid
// UTF-8 without NUL.
func isText(s string) bool { return utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 }
