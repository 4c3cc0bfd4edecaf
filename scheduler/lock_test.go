package scheduler

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fakeLocker is a Locker whose locks are held, or not, by the test.
type fakeLocker struct {
	mu       sync.Mutex
	heldBy   map[string]string // lock → "other" or "us"
	taken    []string
	released []string
	err      error
	attempts int
}

func (f *fakeLocker) TryLock(_ context.Context, name string) (func(), bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.err != nil {
		return nil, false, f.err
	}
	if f.heldBy[name] != "" {
		return nil, false, nil
	}
	f.heldBy[name] = "us"
	f.taken = append(f.taken, name)
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.heldBy, name)
		f.released = append(f.released, name)
	}, true, nil
}

func (f *fakeLocker) holds(name string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.heldBy[name] == "us"
}

// tries counts TryLock calls.
func (f *fakeLocker) tries() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts
}

// setHolder sets who holds lock name ("" frees it).
func (f *fakeLocker) setHolder(name, holder string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if holder == "" {
		delete(f.heldBy, name)
		return
	}
	f.heldBy[name] = holder
}

// eventually waits until cond holds, failing the test after a minute.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// start runs s until the test ends, and returns a function that stops
// it and waits for it.
func start(t *testing.T, s *Scheduler) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func TestSingletonJobs(t *testing.T) {
	locker := &fakeLocker{heldBy: map[string]string{"job/held": "other", "job/later": "other"}}
	var heldRuns, freeRuns, laterRuns, plainRuns atomic.Int64
	var lockedDuringRun atomic.Bool
	s, err := New([]Job{
		{Name: "held", Interval: time.Millisecond, RunAtStart: true, Singleton: true, Run: func(context.Context) error { heldRuns.Add(1); return nil }},
		{Name: "free", Interval: time.Hour, RunAtStart: true, Singleton: true, Run: func(context.Context) error {
			lockedDuringRun.Store(locker.holds("job/free"))
			freeRuns.Add(1)
			return nil
		}},
		{Name: "later", Interval: time.Hour, RunAtStart: true, Singleton: true, Run: func(context.Context) error { laterRuns.Add(1); return nil }},
		{Name: "plain", Interval: time.Hour, RunAtStart: true, Run: func(context.Context) error { plainRuns.Add(1); return nil }},
	}, nil, nil, WithLocker(locker), WithLockRetry(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	stop := start(t, s)

	// The free singleton runs at once, under its lock, and keeps the lock
	// between runs; the plain job needs none.
	eventually(t, "the free singleton and the plain job to run", func() bool { return freeRuns.Load() == 1 && plainRuns.Load() == 1 })
	if !lockedDuringRun.Load() {
		t.Error("the singleton ran without its lock")
	}
	// A held lock keeps its job from running however often this replica
	// tries (a trigger makes it try at once).
	n := locker.tries()
	s.Trigger("held")
	eventually(t, "retries of the held lock", func() bool { return locker.tries() >= n+20 })
	if heldRuns.Load() != 0 || laterRuns.Load() != 0 {
		t.Errorf("jobs whose lock another replica holds ran: %d, %d times", heldRuns.Load(), laterRuns.Load())
	}
	if !locker.holds("job/free") {
		t.Error("the leader released its lock between runs")
	}

	// The other holder dies: this replica takes the lock over and runs the
	// job at once (RunAtStart), once.
	locker.setHolder("job/later", "")
	eventually(t, "the job to be taken over", func() bool { return laterRuns.Load() == 1 })
	if !locker.holds("job/later") {
		t.Error("the job runs without its lock")
	}

	// Stopping releases every lock this replica holds, and only those.
	stop()
	if locker.holds("job/free") || locker.holds("job/later") {
		t.Error("locks still held after the scheduler stopped")
	}
	if freeRuns.Load() != 1 || laterRuns.Load() != 1 || heldRuns.Load() != 0 {
		t.Errorf("runs: free %d, later %d, held %d; want 1, 1, 0", freeRuns.Load(), laterRuns.Load(), heldRuns.Load())
	}
	locker.mu.Lock()
	taken, released := strings.Join(locker.taken, ","), strings.Join(locker.released, ",")
	locker.mu.Unlock()
	if len(locker.taken) != 2 || len(locker.released) != 2 {
		t.Errorf("locks taken %s, released %s: want job/free and job/later once each", taken, released)
	}
	if locker.heldBy["job/held"] != "other" {
		t.Errorf("the other replica's lock: %q", locker.heldBy["job/held"])
	}

	// A singleton needs a Locker.
	if _, err := New([]Job{{Name: "x", Interval: 1, Singleton: true, Run: func(context.Context) error { return nil }}}, nil, nil); err == nil {
		t.Error("a singleton job without a Locker accepted")
	}
}

func TestLockerErrorsAreRetried(t *testing.T) {
	locker := &fakeLocker{heldBy: map[string]string{}, err: errors.New("database down")}
	var runs atomic.Int64
	s, err := New([]Job{{Name: "gc", Interval: time.Hour, RunAtStart: true, Singleton: true, Run: func(context.Context) error { runs.Add(1); return nil }}},
		nil, nil, WithLocker(locker), WithLockRetry(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	eventually(t, "retries", func() bool { return locker.tries() >= 5 })
	if runs.Load() != 0 {
		t.Error("the job ran without its lock")
	}
	locker.mu.Lock()
	locker.err = nil
	locker.mu.Unlock()
	eventually(t, "the run once the database is back", func() bool { return runs.Load() == 1 })
}

// memLeases is store.Leases in memory, counting acquisitions; refuse
// makes renewals fail as if another holder had taken the lease.
type memLeases struct {
	mu       sync.Mutex
	holder   map[string]string
	expires  map[string]time.Time
	acquired atomic.Int64
	attempts atomic.Int64
	refuse   atomic.Bool
	renewed  chan struct{}
}

func newMemLeases() *memLeases {
	return &memLeases{holder: map[string]string{}, expires: map[string]time.Time{}, renewed: make(chan struct{}, 100)}
}

func (m *memLeases) AcquireLease(_ context.Context, name, holder string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.attempts.Add(1)
	if m.refuse.Load() {
		return false, nil
	}
	now := time.Now()
	h := m.holder[name]
	if h != "" && h != holder && now.Before(m.expires[name]) {
		return false, nil
	}
	renewal := h == holder
	m.holder[name], m.expires[name] = holder, now.Add(ttl)
	m.acquired.Add(1)
	if renewal {
		select {
		case m.renewed <- struct{}{}:
		default:
		}
	}
	return true, nil
}

func (m *memLeases) ReleaseLease(_ context.Context, name, holder string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holder[name] == holder {
		delete(m.holder, name)
		delete(m.expires, name)
	}
	return nil
}

func (m *memLeases) heldBy(name string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.holder[name]
}

// waitRenewals waits for n renewals, failing the test after a minute.
func waitRenewals(t *testing.T, m *memLeases, n int) {
	t.Helper()
	for range n {
		select {
		case <-m.renewed:
		case <-time.After(time.Minute):
			t.Fatal("the lease was not renewed")
		}
	}
}

func TestLeaseLockerRenewsDuringLongRuns(t *testing.T) {
	leases := newMemLeases()
	a := NewLeaseLocker(leases, "replica-a", 30*time.Millisecond, nil)
	b := NewLeaseLocker(leases, "replica-b", 30*time.Millisecond, nil)
	var sawB atomic.Bool
	s, err := New([]Job{{Name: "ingest/alpine", Interval: time.Hour, RunAtStart: true, Singleton: true, Run: func(ctx context.Context) error {
		// The run lasts several lease periods: renewed all along, the
		// lease stays a's, and b cannot take it.
		waitRenewals(t, leases, 5)
		if _, ok, _ := b.TryLock(ctx, "job/ingest/alpine"); ok {
			sawB.Store(true)
		}
		return ctx.Err()
	}}}, nil, nil, WithLocker(a))
	if err != nil {
		t.Fatal(err)
	}
	var runs atomic.Int64
	s.observe = func(string, time.Duration, error) { runs.Add(1) }
	stop := start(t, s)
	eventually(t, "the run", func() bool { return runs.Load() == 1 })
	stop()
	if sawB.Load() {
		t.Error("another replica took the lease during a renewed run")
	}
	if h := leases.heldBy("job/ingest/alpine"); h != "" {
		t.Errorf("lease still held by %q after the scheduler stopped", h)
	}
	if b, ok, _ := b.TryLock(context.Background(), "job/ingest/alpine"); !ok {
		t.Error("the other replica cannot take the lease after the run")
	} else {
		b()
	}
	if a.Holder() == b.Holder() || !strings.Contains(HolderID(), "/") {
		t.Errorf("holders %q, %q", a.Holder(), b.Holder())
	}
}

func TestLeaseLockerAbandonsALostRun(t *testing.T) {
	leases := newMemLeases()
	locker := NewLeaseLocker(leases, "replica-a", 30*time.Millisecond, nil)
	errs := make(chan error, 10)
	s, err := New([]Job{{Name: "scrub", Interval: time.Hour, RunAtStart: true, Singleton: true, Run: func(ctx context.Context) error {
		leases.refuse.Store(true) // another replica took the lease
		select {
		case <-ctx.Done():
		case <-time.After(time.Minute):
		}
		return ctx.Err()
	}}}, nil, func(_ string, _ time.Duration, err error) { errs <- err }, WithLocker(locker), WithLockRetry(time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	start(t, s)
	if err := <-errs; !errors.Is(err, ErrLockLost) {
		t.Errorf("run error %v, want ErrLockLost", err)
	}
	// This replica follows again: it tries the lock, which stays the
	// other replica's, and does not run the job.
	n := leases.acquired.Load()
	eventually(t, "attempts to take the lock again", func() bool { return leases.attempts.Load() >= 5 })
	if leases.acquired.Load() != n || len(errs) != 0 {
		t.Errorf("the job ran again without its lease")
	}
}
