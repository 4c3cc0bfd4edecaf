package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/lapps/lapps/store"
)

// AcquireLease takes or renews the lease name for holder until ttl from
// the database's now(), in one statement: the upsert inserts a free lease,
// and updates a held one only when holder holds it or it has expired.
// PostgreSQL runs concurrent upserts of one key one after the other, each
// seeing the row the one before left, so exactly one of several
// acquirers of a free lease gets it.
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	if err := store.CheckLease(name, holder, ttl); err != nil {
		return false, err
	}
	tag, err := s.pool.Exec(ctx, `INSERT INTO leases AS l (name, holder, expires_at)
		VALUES ($1, $2, now() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = EXCLUDED.holder, expires_at = EXCLUDED.expires_at
		WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()`,
		name, holder, ttl.Microseconds())
	if err != nil {
		return false, fmt.Errorf("acquire lease %q: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

// ReleaseLease frees the lease name if holder holds it.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	if err := store.CheckLease(name, holder, 1); err != nil {
		return err
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM leases WHERE name = $1 AND holder = $2`, name, holder); err != nil {
		return fmt.Errorf("release lease %q: %w", name, err)
	}
	return nil
}
