package sqlite

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	"github.com/lapps/lapps/updater/osv"
	"github.com/lapps/lapps/vuln"
)

// lockWatcher measures, from a connection of its own (as another process
// would), the longest time the database's write lock could not be taken:
// it takes and drops the lock (BEGIN IMMEDIATE, ROLLBACK) in a loop with no
// busy wait, and records the longest interval between two successes.
type lockWatcher struct {
	db      *sql.DB
	stop    chan struct{}
	done    chan struct{}
	mu      sync.Mutex
	longest time.Duration
	takes   int
}

func watchLock(tb testing.TB, path string) *lockWatcher {
	tb.Helper()
	db, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(0)")
	if err != nil {
		tb.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	w := &lockWatcher{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(w.done)
		ctx := context.Background()
		conn, err := db.Conn(ctx)
		if err != nil {
			tb.Error(err)
			return
		}
		defer conn.Close()
		last := time.Now()
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
				time.Sleep(100 * time.Microsecond)
				continue
			}
			conn.ExecContext(ctx, `ROLLBACK`)
			t := time.Now()
			w.mu.Lock()
			w.longest = max(w.longest, t.Sub(last))
			w.takes++
			w.mu.Unlock()
			last = t
			time.Sleep(200 * time.Microsecond)
		}
	}()
	return w
}

// end stops the watcher and returns the longest hold it saw.
func (w *lockWatcher) end() (time.Duration, int) {
	close(w.stop)
	<-w.done
	w.db.Close()
	return w.longest, w.takes
}

// almaRecords parses the AlmaLinux OSV database of the shared data.
func almaRecords(tb testing.TB) []vuln.Record {
	tb.Helper()
	dir := testenv.VulnData(tb, "almalinux-osv-database")
	rs, err := osv.Parser{}.Parse(context.Background(), os.DirFS(dir))
	if err != nil {
		tb.Fatal(err)
	}
	for i := range rs {
		rs[i].Source = "almalinux"
	}
	return updater.Dedupe(rs)
}

func TestMeasureLockHold(t *testing.T) {
	if os.Getenv("LAPPS_MEASURE") == "" {
		t.Skip("LAPPS_MEASURE not set")
	}
	ctx := context.Background()
	for _, c := range []struct {
		name string
		recs func() []vuln.Record
	}{
		{"almalinux", func() []vuln.Record { return almaRecords(t) }},
		{"generated-50k", func() []vuln.Record { return genRecords("debian-tracker", 50_000, 0) }},
	} {
		s := openTemp(t)
		recs := c.recs()
		src := recs[0].Source
		w := watchLock(t, s.Path())
		start := time.Now()
		if _, err := s.PutUpdate(ctx, src, "fp1", recs); err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		longest, takes := w.end()
		t.Logf("%s: PutUpdate of %d records took %v; longest write-lock hold seen by another connection %v (%d takes)", c.name, len(recs), took, longest, takes)
		// A second update changing every record, then a prune of the first.
		for i := range recs {
			recs[i].Modified = recs[i].Modified.Add(time.Hour)
		}
		w = watchLock(t, s.Path())
		start = time.Now()
		if _, err := s.PutUpdate(ctx, src, "fp2", recs); err != nil {
			t.Fatal(err)
		}
		took = time.Since(start)
		longest, takes = w.end()
		t.Logf("%s: second PutUpdate (every record changed) took %v; longest hold %v (%d takes)", c.name, took, longest, takes)
		w = watchLock(t, s.Path())
		start = time.Now()
		if _, err := s.PruneUpdates(ctx, src, 1); err != nil {
			t.Fatal(err)
		}
		took = time.Since(start)
		longest, takes = w.end()
		t.Logf("%s: PruneUpdates(keep 1) took %v; longest hold %v (%d takes)", c.name, took, longest, takes)
		s.Close()
	}
}
