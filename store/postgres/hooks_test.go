package postgres

import (
	"context"
	"testing"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/storetest"
	"github.com/lapps/lapps/vuln"
)

// hooks are this engine's storetest.Hooks.
var hooks = storetest.Hooks{
	Midway: func(st store.Store, fn func()) {
		st.(*Store).midway.Store(&fn)
	},
	Abandon:   abandon,
	Leftovers: leftovers,
}

// abandon does what PutUpdate does, but for its commit: the transaction
// of a process that dies is rolled back by the server, as here.
func abandon(t *testing.T, st store.Store, source string, records []vuln.Record) {
	t.Helper()
	ctx := context.Background()
	s := st.(*Store)
	enc, err := store.EncodeRecords(source, records)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback(ctx)
	if err := lock(ctx, tx, lockSource, txt(source)); err != nil {
		t.Fatal(err)
	}
	var id int64
	if err := tx.QueryRow(ctx, `INSERT INTO update_operations (source, fingerprint, created_at, records) VALUES ($1, 'abandoned', now(), $2) RETURNING id`,
		txt(source), len(enc)).Scan(&id); err != nil {
		t.Fatal(err)
	}
	if err := insertRecords(ctx, tx, id, enc[:len(enc)/2]); err != nil {
		t.Fatal(err)
	}
}

// leftovers counts the links of no operation and the records no
// operation links (every operation stored is published).
func leftovers(t *testing.T, st store.Store) int {
	t.Helper()
	var n int
	if err := st.(*Store).pool.QueryRow(context.Background(), `SELECT
		(SELECT COUNT(*) FROM uo_records WHERE op NOT IN (SELECT id FROM update_operations))
		+ (SELECT COUNT(*) FROM records AS r WHERE NOT EXISTS (SELECT 1 FROM uo_records AS u WHERE u.hash = r.hash))`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
