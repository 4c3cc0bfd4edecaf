package scheduler

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/lapps/lapps/store"
)

// Locker takes the named locks under which singleton jobs run, shared by
// every replica of one deployment.
type Locker interface {
	// TryLock takes the lock name if no one holds it, without waiting,
	// and holds it until release is called (release is nil unless ok).
	// ok is false when another holder has it. ctx is the context of the
	// work done under the lock; a Locker that finds the lock lost while
	// held cancels it with ErrLockLost when the scheduler made it.
	TryLock(ctx context.Context, name string) (release func(), ok bool, err error)
}

// LockName is the name of the lock of job: "job/<job>".
func LockName(job string) string { return "job/" + job }

// ErrLockLost is the cause with which a singleton leader's context is
// cancelled when its lock is found lost (renewal refused, or failing until
// the lease ran out): another replica may be doing the same work.
var ErrLockLost = errors.New("singleton lock lost")

// abandonKey keys the cancel function of a singleton leader in its
// context.
type abandonKey struct{}

// abandon cancels the singleton leader whose context is ctx (the one
// given to TryLock) with cause; without one it does nothing.
func abandon(ctx context.Context, cause error) {
	if cancel, ok := ctx.Value(abandonKey{}).(context.CancelCauseFunc); ok {
		cancel(cause)
	}
}

// DefaultLeaseTTL is the lease of a LeaseLocker when none is given: how
// long a dead replica's singleton work waits before another replica takes
// it over.
const DefaultLeaseTTL = time.Minute

// LeaseLocker is a Locker over the database's leases (store.Leases): a
// lock is a lease of TTL, renewed every TTL/3 while held and released
// after, so that a replica that dies holding it loses it within TTL.
type LeaseLocker struct {
	leases store.Leases
	holder string
	ttl    time.Duration
	log    *slog.Logger
}

// NewLeaseLocker returns a Locker taking leases of ttl (DefaultLeaseTTL
// when ttl <= 0) in leases as holder (HolderID when empty).
func NewLeaseLocker(leases store.Leases, holder string, ttl time.Duration, log *slog.Logger) *LeaseLocker {
	if ttl <= 0 {
		ttl = DefaultLeaseTTL
	}
	if holder == "" {
		holder = HolderID()
	}
	if log == nil {
		log = slog.Default()
	}
	return &LeaseLocker{leases: leases, holder: holder, ttl: ttl, log: log}
}

// TTL returns the lease the locker takes.
func (l *LeaseLocker) TTL() time.Duration { return l.ttl }

// Holder returns the holder name the locker takes leases as.
func (l *LeaseLocker) Holder() string { return l.holder }

// HolderID names this process among the replicas: host name, process id
// and a random part (a restarted process with a reused pid is another
// holder).
func HolderID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown-host"
	}
	b := make([]byte, 6)
	rand.Read(b)
	return fmt.Sprintf("%s/%d/%s", host, os.Getpid(), hex.EncodeToString(b))
}

// TryLock acquires the lease name and starts renewing it every TTL/3. A
// renewal refused (the lease expired and another holder took it) or
// failing for a whole TTL cancels ctx with ErrLockLost, when ctx is a
// singleton leader's. release stops the renewals and releases the lease.
func (l *LeaseLocker) TryLock(ctx context.Context, name string) (func(), bool, error) {
	ok, err := l.leases.AcquireLease(ctx, name, l.holder, l.ttl)
	if err != nil || !ok {
		return nil, false, err
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { l.renew(ctx, name, stop) })
	var once sync.Once
	release := func() {
		once.Do(func() {
			close(stop)
			wg.Wait()
			// The run's context may be done (shutdown): release all the
			// same, so that another replica need not wait for the expiry.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			if err := l.leases.ReleaseLease(rctx, name, l.holder); err != nil {
				l.log.Warn("cannot release lease; it expires by itself", "lease", name, "err", err)
			}
		})
	}
	return release, true, nil
}

// renew extends the lease name every TTL/3 until stop is closed or ctx is
// done.
func (l *LeaseLocker) renew(ctx context.Context, name string, stop <-chan struct{}) {
	tick := time.NewTicker(l.ttl / 3)
	defer tick.Stop()
	held := time.Now() // the lease runs at least until held+ttl
	for {
		select {
		case <-stop:
			return
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		attempt := time.Now()
		ok, err := l.leases.AcquireLease(ctx, name, l.holder, l.ttl)
		switch {
		case err == nil && ok:
			held = attempt
		case err == nil:
			l.log.Error("lease lost to another replica: abandoning its work", "lease", name)
			abandon(ctx, fmt.Errorf("%w: %s taken by another holder", ErrLockLost, name))
			return
		case time.Since(held) >= l.ttl:
			l.log.Error("lease not renewed before it expired: abandoning its work", "lease", name, "err", err)
			abandon(ctx, fmt.Errorf("%w: %s: %w", ErrLockLost, name, err))
			return
		default:
			if ctx.Err() == nil {
				l.log.Warn("cannot renew lease; retrying", "lease", name, "err", err)
			}
		}
	}
}
