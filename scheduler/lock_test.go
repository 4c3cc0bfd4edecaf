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
}

func (f *fakeLocker) TryLock(_ context.Context, name string) (func(), bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
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

func TestSingletonJobs(t *testing.T) {
	locker := &fakeLocker{heldBy: map[string]string{"job/held": "other"}}
	var heldRuns, freeRuns, plainRuns atomic.Int64
	var lockedDuringRun atomic.Bool
	var observed sync.Map
	s, err := New([]Job{
		{Name: "held", Interval: time.Hour, Singleton: true, Run: func(context.Context) error { heldRuns.Add(1); return nil }},
		{Name: "free", Interval: time.Hour, Singleton: true, Run: func(context.Context) error {
			lockedDuringRun.Store(locker.holds("job/free"))
			freeRuns.Add(1)
			return nil
		}},
		{Name: "plain", Interval: time.Hour, Run: func(context.Context) error { plainRuns.Add(1); return nil }},
	}, nil, func(job string, _ time.Duration, _ error) { observed.Store(job, true) }, WithLocker(locker))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, name := range []string{"held", "free", "plain"} {
		for _, j := range s.jobs {
			if j.Name == name {
				s.runOnce(ctx, j)
			}
		}
	}
	if heldRuns.Load() != 0 {
		t.Errorf("a job whose lock another replica holds ran %d times", heldRuns.Load())
	}
	if _, ok := observed.Load("held"); ok {
		t.Error("a skipped run was observed as a run")
	}
	if freeRuns.Load() != 1 || !lockedDuringRun.Load() {
		t.Errorf("free singleton: %d runs, locked during the run %v", freeRuns.Load(), lockedDuringRun.Load())
	}
	if plainRuns.Load() != 1 {
		t.Errorf("plain job: %d runs", plainRuns.Load())
	}
	if strings.Join(locker.taken, ",") != "job/free" || strings.Join(locker.released, ",") != "job/free" || locker.holds("job/free") {
		t.Errorf("locks taken %v, released %v: want job/free taken and released once", locker.taken, locker.released)
	}

	// A Locker failing skips the run.
	locker.err = errors.New("database down")
	for _, j := range s.jobs {
		if j.Name == "free" {
			s.runOnce(ctx, j)
		}
	}
	if freeRuns.Load() != 1 {
		t.Errorf("the run went ahead without its lock (%d runs)", freeRuns.Load())
	}

	// A singleton needs a Locker.
	if _, err := New([]Job{{Name: "x", Interval: 1, Singleton: true, Run: func(context.Context) error { return nil }}}, nil, nil); err == nil {
		t.Error("a singleton job without a Locker accepted")
	}
}

// memLeases is store.Leases in memory, counting acquisitions; refuse
// makes renewals fail as if another holder had taken the lease.
type memLeases struct {
	mu       sync.Mutex
	holder   map[string]string
	expires  map[string]time.Time
	acquired atomic.Int64
	refuse   atomic.Bool
	renewed  chan struct{}
}

func newMemLeases() *memLeases {
	return &memLeases{holder: map[string]string{}, expires: map[string]time.Time{}, renewed: make(chan struct{}, 100)}
}

func (m *memLeases) AcquireLease(_ context.Context, name, holder string, ttl time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
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
	s, err := New([]Job{{Name: "ingest/alpine", Interval: time.Hour, Singleton: true, Run: func(ctx context.Context) error {
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
	s.runOnce(context.Background(), s.jobs[0])
	if sawB.Load() {
		t.Error("another replica took the lease during a renewed run")
	}
	if h := leases.heldBy("job/ingest/alpine"); h != "" {
		t.Errorf("lease still held by %q after the run", h)
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
	var runErr error
	s, err := New([]Job{{Name: "scrub", Interval: time.Hour, Singleton: true, Run: func(ctx context.Context) error {
		leases.refuse.Store(true) // another replica took the lease
		select {
		case <-ctx.Done():
		case <-time.After(time.Minute):
		}
		return ctx.Err()
	}}}, nil, func(_ string, _ time.Duration, err error) { runErr = err }, WithLocker(locker))
	if err != nil {
		t.Fatal(err)
	}
	s.runOnce(context.Background(), s.jobs[0])
	if !errors.Is(runErr, ErrLockLost) {
		t.Errorf("run error %v, want ErrLockLost", runErr)
	}
}
