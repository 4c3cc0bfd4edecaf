package jobs

import (
	"log/slog"
	"time"
)

// DefaultScanTimeout bounds a scan job unless WithScanTimeout says
// otherwise.
const DefaultScanTimeout = 30 * time.Minute

// Option configures a Runner.
type Option func(*Runner)

// WithReplica names this replica among those sharing the database (the
// holder of the scan jobs it claims; default scheduler.HolderID) and sets
// the lease of its claims (default scheduler.DefaultLeaseTTL): a job
// whose replica dies is claimed again once its lease has expired.
func WithReplica(holder string, leaseTTL time.Duration) Option {
	return func(j *Runner) {
		if holder != "" {
			j.holder = holder
		}
		if leaseTTL > 0 {
			j.ttl = leaseTTL
		}
	}
}

// WithConcurrency sets how many scan jobs this replica runs at once
// (default 2, server.scan_concurrency); more wait in the queue, for this
// replica or another.
func WithConcurrency(n int) Option {
	return func(j *Runner) {
		if n > 0 {
			j.concurrency = n
		}
	}
}

// WithScanTimeout bounds every scan job (default 30m,
// server.scan_timeout): a scan still running after d is cancelled and its
// job fails with limit_exceeded.
func WithScanTimeout(d time.Duration) Option {
	return func(j *Runner) {
		if d > 0 {
			j.scanTimeout = d
		}
	}
}

// WithLocalImages lets jobs name images by a local transport under dirs
// (server.local_images), checked again before a job runs (a job queued by
// a replica configured otherwise, or before an upgrade); without it every
// local transport is refused.
func WithLocalImages(dirs []string) Option {
	return func(j *Runner) { j.localRoots = append([]string{}, dirs...) }
}

// WithCredentialKey sets the key that seals the registry credentials a
// caller sends with a scan (Harbor's) while its job waits in the queue
// (server.harbor.credentials_key). Replicas sharing a database need the
// same key to run each other's Harbor scans; without it, each replica
// seals with a random key of its own, held in memory only, and a Harbor
// scan claimed by another replica (or after a restart) fails with a
// message that says so.
func WithCredentialKey(key []byte) Option {
	return func(j *Runner) {
		if len(key) > 0 {
			j.credKey = append([]byte(nil), key...)
		}
	}
}

// WithObserver has f told the duration of each successful scan (the
// server's metrics).
func WithObserver(f func(time.Duration)) Option { return func(j *Runner) { j.observe = f } }

// WithLogger sets the logger.
func WithLogger(l *slog.Logger) Option {
	return func(j *Runner) {
		if l != nil {
			j.log = l
		}
	}
}
