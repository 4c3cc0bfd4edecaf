// Package scheduler runs periodic jobs (each source's ingest, scrub,
// garbage collection, notification delivery) at their intervals, with
// jitter, and on demand. A singleton job runs in one replica at a time: the
// scheduler takes the job's lock from a Locker (LeaseLocker: a lease in the
// shared database) before each run and skips the run when another replica
// holds it.
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
	// Singleton jobs run in one replica at a time: each run first takes
	// the lock "job/<Name>" from the scheduler's Locker, and is skipped
	// when another replica holds it.
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
}

// Option configures a Scheduler.
type Option func(*Scheduler)

// WithLocker sets the Locker of the singleton jobs.
func WithLocker(l Locker) Option {
	return func(s *Scheduler) { s.locker = l }
}

// New returns a scheduler of jobs. A Singleton job needs a Locker
// (WithLocker).
func New(jobs []Job, log *slog.Logger, observe Observer, opts ...Option) (*Scheduler, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Scheduler{jobs: jobs, log: log, observe: observe, triggers: map[string]chan struct{}{}, running: map[string]bool{}}
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
	if j.Singleton {
		// The run's context is cancelled when its Locker finds the lock
		// lost (abandon).
		runCtx, cancel := context.WithCancelCause(ctx)
		defer cancel(nil)
		runCtx = context.WithValue(runCtx, abandonKey{}, cancel)
		release, ok, err := s.locker.TryLock(runCtx, LockName(j.Name))
		switch {
		case err != nil:
			if ctx.Err() == nil {
				s.log.Error("job skipped: cannot take its lock", "job", j.Name, "err", err)
			}
			return
		case !ok:
			s.log.Debug("job skipped: another replica runs it", "job", j.Name)
			return
		}
		defer release()
		ctx = runCtx
	}
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
