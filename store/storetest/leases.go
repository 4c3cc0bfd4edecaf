package storetest

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapps/lapps/store"
)

// The cases of store.Leases. Expiry runs on the engine's clock (the
// database's for PostgreSQL), which a test cannot move: the expiry case
// gives a lease a millisecond and waits past it, which only ever makes the
// lease more expired.

func acquire(t *testing.T, s store.Store, name, holder string, ttl time.Duration, want bool) {
	t.Helper()
	got, err := s.AcquireLease(context.Background(), name, holder, ttl)
	if err != nil {
		t.Fatalf("AcquireLease(%s, %s): %v", name, holder, err)
	}
	if got != want {
		t.Errorf("AcquireLease(%s, %s) = %v, want %v", name, holder, got, want)
	}
}

func testLeases(t *testing.T, s store.Store) {
	ctx := context.Background()
	// Exclusive: a running lease is its holder's alone; other names are
	// apart.
	acquire(t, s, "job/ingest/alpine", "a", time.Hour, true)
	acquire(t, s, "job/ingest/alpine", "b", time.Hour, false)
	acquire(t, s, "job/scrub", "b", time.Hour, true)
	acquire(t, s, "job/scrub", "a", time.Hour, false)

	// Renewal by the holder succeeds, and keeps others out.
	acquire(t, s, "job/ingest/alpine", "a", time.Hour, true)
	acquire(t, s, "job/ingest/alpine", "b", time.Hour, false)

	// Release by another holder does nothing; by the holder it frees the
	// lease.
	if err := s.ReleaseLease(ctx, "job/ingest/alpine", "b"); err != nil {
		t.Fatal(err)
	}
	acquire(t, s, "job/ingest/alpine", "b", time.Hour, false)
	if err := s.ReleaseLease(ctx, "job/ingest/alpine", "a"); err != nil {
		t.Fatal(err)
	}
	acquire(t, s, "job/ingest/alpine", "b", time.Hour, true)
	acquire(t, s, "job/ingest/alpine", "a", time.Hour, false)
	if err := s.ReleaseLease(ctx, "never/taken", "a"); err != nil {
		t.Errorf("ReleaseLease of a lease never taken: %v", err)
	}

	// Expiry hands the lease over: b renews for a millisecond, then
	// waits past it.
	acquire(t, s, "job/ingest/alpine", "b", time.Millisecond, true)
	time.Sleep(20 * time.Millisecond)
	acquire(t, s, "job/ingest/alpine", "a", time.Hour, true)
	acquire(t, s, "job/ingest/alpine", "b", time.Hour, false)
	// The old holder's release no longer frees it.
	if err := s.ReleaseLease(ctx, "job/ingest/alpine", "b"); err != nil {
		t.Fatal(err)
	}
	acquire(t, s, "job/ingest/alpine", "b", time.Hour, false)

	// Bad arguments.
	for _, c := range []struct {
		name, holder string
		ttl          time.Duration
	}{{"", "a", time.Hour}, {"x", "", time.Hour}, {"x", "a", 0}, {"x", "a", -time.Second}, {"x\x00y", "a", time.Hour}, {"x", "\xff", time.Hour}} {
		if _, err := s.AcquireLease(ctx, c.name, c.holder, c.ttl); err == nil {
			t.Errorf("AcquireLease(%q, %q, %v): no error", c.name, c.holder, c.ttl)
		}
	}
	if err := s.ReleaseLease(ctx, "", "a"); err == nil {
		t.Error("ReleaseLease of an empty name: no error")
	}
}

// testLeasesConcurrent has several holders race for free leases, round
// after round: each round exactly one wins.
func testLeasesConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const rounds, holders = 20, 8
	for r := range rounds {
		name := fmt.Sprintf("race/%d", r)
		var (
			wins  atomic.Int64
			wg    sync.WaitGroup
			start = make(chan struct{})
		)
		for h := range holders {
			wg.Go(func() {
				<-start
				ok, err := s.AcquireLease(ctx, name, fmt.Sprintf("holder-%d", h), time.Hour)
				if err != nil {
					t.Error(err)
				}
				if ok {
					wins.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			t.Errorf("round %d: %d of %d holders acquired a free lease, want 1", r, n, holders)
		}
	}
}
