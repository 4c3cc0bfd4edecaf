package jobs

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/store/sqlite"
)

// testQueue returns the job queue of a new SQLite store, closed when the
// test ends (after the runners on it, closed by cleanups registered
// later).
func testQueue(t testing.TB) store.Jobs {
	t.Helper()
	st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "jobs.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}
