package sqlite

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/storetest"
	"github.com/lapps/lapps/vuln"
)

// hooks are this engine's storetest.Hooks.
var hooks = storetest.Hooks{
	Midway: func(st store.Store, fn func()) {
		s := st.(*Store)
		// Batches of a few records, so that a test's update has many.
		s.txRecords = 7
		s.midway.Store(&fn)
	},
	Abandon:   abandon,
	Leftovers: leftovers,
}

// abandon does what PutUpdate does up to half of its records, as a
// process that dies then would, and lets its lease run out.
func abandon(t *testing.T, st store.Store, source string, records []vuln.Record) {
	t.Helper()
	ctx := context.Background()
	s := st.(*Store)
	enc, err := store.EncodeRecords(source, records)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.beginOperation(ctx, source, "abandoned", len(enc))
	if err != nil {
		t.Fatal(err)
	}
	for start := 0; start < len(enc)/2; start += 100 {
		if err := s.write(ctx, func(tx *sql.Tx) error {
			return insertRecords(ctx, tx, id, enc[start:min(start+100, len(enc)/2)])
		}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.w.ExecContext(ctx, `UPDATE update_operations SET lease_until = ? WHERE id = ?`,
		formatTime(now().Add(-time.Second)), id); err != nil {
		t.Fatal(err)
	}
	if n := leftovers(t, s); n < len(enc)/2 {
		t.Fatalf("abandon left %d rows of an unpublished operation, want at least %d", n, len(enc)/2)
	}
}

// leftovers counts the rows of operations not published, and the records
// no operation links.
func leftovers(t *testing.T, st store.Store) int {
	t.Helper()
	var n int
	if err := st.(*Store).r.QueryRow(`SELECT
		(SELECT COUNT(*) FROM update_operations WHERE state <> 'published')
		+ (SELECT COUNT(*) FROM uo_records WHERE op NOT IN (SELECT id FROM update_operations WHERE state = 'published'))
		+ (SELECT COUNT(*) FROM records AS r WHERE NOT EXISTS (SELECT 1 FROM uo_records AS u WHERE u.hash = r.hash))`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
