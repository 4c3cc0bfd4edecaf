package postgres

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/jackc/pgx/v5"
)

// Advisory locks. PostgreSQL keeps two key spaces apart: one bigint key,
// and two int4 keys. The migration lock is one bigint key; the finer locks
// are two int4 keys, a class from the list below and a hash of the locked
// name. A hash collision between two names only makes them wait for each
// other. All are transaction-level: they go with the transaction, and with
// the connection when a replica dies.
const (
	// migrationLock serialises schema migrations across the replicas of
	// one database: "lapps" in ASCII.
	migrationLock int64 = 0x6c61707073

	// lockScanImage serialises the numbering of one image's scans.
	lockScanImage int32 = 1
	// lockSource serialises the writes of one source's update operations
	// (PutUpdate, PruneUpdates), so that operation ids increase in commit
	// order and a prune never deletes a record an update is linking.
	lockSource int32 = 2
)

// lockKey hashes a name into the second key of a two-key advisory lock.
func lockKey(name string) int32 {
	h := fnv.New32a()
	h.Write([]byte(name))
	return int32(h.Sum32())
}

// lock takes the transaction-level advisory lock (class, name), waiting
// for it.
func lock(ctx context.Context, tx pgx.Tx, class int32, name string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1, $2)`, class, lockKey(name)); err != nil {
		return fmt.Errorf("lock %d/%q: %w", class, name, err)
	}
	return nil
}
