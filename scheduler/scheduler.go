// Package scheduler runs periodic jobs (each source's ingest, scrub,
// garbage collection, notification delivery) at their intervals, with
// jitter, and on demand.
//
// A singleton job runs in one replica at a time. Its lock (from a Locker;
// LeaseLocker: a lease in the shared database) makes one replica the job's
// leader: the leader keeps the lock, renewed, between runs and runs the
// job at its interval; the others try to take the lock every lock-retry
// period and do nothing else. When the leader dies its lease expires and
// the next replica to try becomes the leader, running the job at once when
// it is RunAtStart (the dead leader may have died in the middle of a run)
// and after an interval otherwise. A leader that stops releases the lock,
// so that another replica takes over without waiting for the expiry.
package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"
)

// Job is one periodic piece of work.
type Job struct {
	// Name identifies the job in logs and metrics ("ingest/debian-dsa",
	// "scrub", "gc").
	Name string
	// Interval is the time between the end of one run and the start of
	// the next; Jitter adds up to that fraction of Interval at random
	// (0.1 = up to 10 %), so that replicas and sources spread out.
	Interval time.Duration
	Jitter   float64
	// RunAtStart runs the job once as soon as the scheduler starts.
	RunAtStart bool
	// Singleton jobs run in one replica at a time: the replica holding
	// the lock LockName(Name) from the scheduler's Locker (see the package
	// documentation).
	Singleton bool
	// Run does the work.
	Run func(ctx context.Context) error
}

// Observer is told about each run (for metrics).
type Observer func(job string, took time.Duration, err error)

// Scheduler runs jobs.
type Scheduler struct {
	jobs     []Job
	log      *slog.Logger
	observe  Observer
	triggers map[string]chan struct{}
	mu       sync.Mutex
	running  map[string]bool
	locker   Locker
	retry    time.Duration
}

// DefaultLockRetry is how often a replica that is not a singleton job's
// leader tries to take the job's lock, by default.
const DefaultLockRetry = 10 * time.Second

// Option configures a Scheduler.
type Option func(*Scheduler)

// WithLocker sets the Locker of the singleton jobs.
func WithLocker(l Locker) Option {
	return func(s *Scheduler) { s.locker = l }
}

// WithLockRetry sets how often a replica tries to take the lock of a
// singleton job another replica leads (DefaultLockRetry when d <= 0):
// with the lease's TTL, the longest a dead leader's job waits.
func WithLockRetry(d time.Duration) Option {
	return func(s *Scheduler) {
		if d > 0 {
			s.retry = d
		}
	}
}

// New returns a scheduler of jobs. A Singleton job needs a Locker
// (WithLocker).
func New(jobs []Job, log *slog.Logger, observe Observer, opts ...Option) (*Scheduler, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Scheduler{jobs: jobs, log: log, observe: observe, triggers: map[string]chan struct{}{}, running: map[string]bool{}, retry: DefaultLockRetry}
	for _, o := range opts {
		o(s)
	}
	for _, j := range jobs {
		if j.Name == "" || j.Run == nil {
			return nil, errors.New("scheduler: a job needs a name and a Run function")
		}
		if j.Singleton && s.locker == nil {
			return nil, fmt.Errorf("scheduler: job %s is a singleton but the scheduler has no Locker", j.Name)
		}
		if j.Interval <= 0 {
			return nil, fmt.Errorf("scheduler: job %s: interval must be positive", j.Name)
		}
		if _, dup := s.triggers[j.Name]; dup {
			return nil, fmt.Errorf("scheduler: two jobs named %s", j.Name)
		}
		s.triggers[j.Name] = make(chan struct{}, 1)
	}
	return s, nil
}

// Trigger asks for a run of the named job now (coalesced with a pending
// request). It returns false for an unknown job.
func (s *Scheduler) Trigger(name string) bool {
	ch, ok := s.triggers[name]
	if !ok {
		return false
	}
	select {
	case ch <- struct{}{}:
	default:
	}
	return true
}

// Run runs the jobs until ctx is done, each in its own goroutine; one
// job's runs never overlap.
func (s *Scheduler) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, j := range s.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.loop(ctx, j)
		}()
	}
	wg.Wait()
}

// Next returns the delay before the next run of j.
func Next(j Job) time.Duration {
	d := j.Interval
	if j.Jitter > 0 {
		d += time.Duration(rand.Float64() * j.Jitter * float64(j.Interval))
	}
	return d
}

func (s *Scheduler) loop(ctx context.Context, j Job) {
	if j.Singleton {
		s.lead(ctx, j)
		return
	}
	s.schedule(ctx, j)
}

// lead runs a singleton job while this replica leads it: it tries to take
// the job's lock every retry period (at once on a trigger), and, holding
// it, schedules the job until ctx is done or the lock is lost.
func (s *Scheduler) lead(ctx context.Context, j Job) {
	name := LockName(j.Name)
	for {
		// The leader's context is cancelled when the Locker finds the
		// lock lost (abandon): the run in progress stops, and this
		// replica follows again.
		leaderCtx, cancel := context.WithCancelCause(ctx)
		leaderCtx = context.WithValue(leaderCtx, abandonKey{}, cancel)
		release, ok, err := s.locker.TryLock(leaderCtx, name)
		switch {
		case err != nil && ctx.Err() == nil:
			s.log.Error("cannot take a singleton job's lock", "job", j.Name, "err", err)
		case ok:
			s.log.Info("leading singleton job", "job", j.Name)
			s.schedule(leaderCtx, j)
			release()
			if cause := context.Cause(leaderCtx); errors.Is(cause, ErrLockLost) {
				s.log.Error("singleton job's lock lost; following", "job", j.Name, "err", cause)
			}
		default:
			s.log.Debug("another replica leads the job", "job", j.Name)
		}
		cancel(nil)
		retry := time.NewTimer(s.retry + time.Duration(rand.Float64()*0.1*float64(s.retry)))
		select {
		case <-ctx.Done():
			retry.Stop()
			return
		case <-retry.C:
		case <-s.triggers[j.Name]:
			retry.Stop()
		}
	}
}

// schedule runs j at its interval (and on triggers) until ctx is done.
func (s *Scheduler) schedule(ctx context.Context, j Job) {
	delay := Next(j)
	if j.RunAtStart {
		delay = 0
	}
	timer := time.NewTimer(delay)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-s.triggers[j.Name]:
			if !timer.Stop() {
				select {
				case <-timer.C:
				default:
				}
			}
		}
		s.runOnce(ctx, j)
		timer.Reset(Next(j))
	}
}

func (s *Scheduler) runOnce(ctx context.Context, j Job) {
	start := time.Now()
	err := j.Run(ctx)
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, ErrLockLost) {
		err = fmt.Errorf("%w: %w", cause, err)
	}
	took := time.Since(start)
	if s.observe != nil {
		s.observe(j.Name, took, err)
	}
	switch {
	case err != nil && ctx.Err() == nil:
		s.log.Error("job failed", "job", j.Name, "took", took, "err", err)
	case err == nil:
		s.log.Info("job done", "job", j.Name, "took", took)
	}
}
