package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lapps/lapps/store"
)

// AcquireLease takes or renews the lease name for holder until ttl from
// now. SQLite serves one machine, so this process's clock is the clock
// every holder shares; writes go one at a time through the store's write
// connection (and SQLite's lock between processes), so exactly one of
// several acquirers of a free lease gets it.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if err := store.CheckLease(name, holder, ttl); err != nil {
		return false, err
	}
	at := now()
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO leases AS l (name, holder, expires_at) VALUES (?, ?, ?)
			ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
			WHERE l.holder = excluded.holder OR l.expires_at <= ?`,
			name, holder, formatTime(at.Add(ttl)), formatTime(at))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return n == 1, nil
}

// ReleaseLease frees the lease name if holder holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := store.CheckLease(name, holder, 1); err != nil {
		return err
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `DELETE FROM leases WHERE name = ? AND holder = ?`, name, holder)
		return err
	})
	if err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}
