package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// TestMeasureLockHold measures, for a large real feed (AlmaLinux's OSV
// database) and a generated one, how long PutUpdate and PruneUpdates take
// and the longest time another connection could not take the write lock
// while they ran. Run with LAPPS_MEASURE=1 and -v; it asserts nothing. The
// times are of a second, unwatched run: the watcher's own lock takes
// slow the writer down.
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
		recs := c.recs()
		src := recs[0].Source
		changed := slices.Clone(recs)
		for i := range changed {
			changed[i].Modified = changed[i].Modified.Add(time.Hour)
		}
		steps := []struct {
			what string
			fn   func(s *Store) error
		}{
			{fmt.Sprintf("PutUpdate of %d records", len(recs)), func(s *Store) error {
				_, err := s.PutUpdate(ctx, src, "fp1", recs)
				return err
			}},
			{"second PutUpdate (every record changed)", func(s *Store) error {
				_, err := s.PutUpdate(ctx, src, "fp2", changed)
				return err
			}},
			{"PruneUpdates(keep 1)", func(s *Store) error {
				_, err := s.PruneUpdates(ctx, src, 1)
				return err
			}},
		}
		holds := make([]time.Duration, len(steps))
		s := openTemp(t)
		for i, st := range steps {
			w := watchLock(t, s.Path())
			if err := st.fn(s); err != nil {
				t.Fatal(err)
			}
			holds[i], _ = w.end()
		}
		s.Close()
		s = openTemp(t)
		for i, st := range steps {
			start := time.Now()
			if err := st.fn(s); err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: %s took %v; longest write-lock hold seen by another connection %v", c.name, st.what, time.Since(start).Round(time.Millisecond), holds[i].Round(time.Millisecond))
		}
		s.Close()
	}
}
