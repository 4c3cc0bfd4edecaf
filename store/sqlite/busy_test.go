package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/store"
)

// The tests of this file check that other connections (another Store on
// the same file, another process) neither fail with SQLITE_BUSY nor wait
// for the whole of a long update. They log how long the longest of their
// calls took; they assert no time.

// TestOpenWhileWriteLocked opens a database whose schema is current while
// another connection holds its write lock, as a long import in another
// process does: opening needs no write lock, and reads work.
func TestOpenWhileWriteLocked(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lapps.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateScan(ctx, &store.Scan{Image: "reg/app:1", ManifestDigest: digestA}); err != nil {
		t.Fatal(err)
	}
	s.Close()

	// The lock is held, from another connection with a write transaction
	// open, until Open and the reads below have returned: were Open to
	// need it, it would fail with SQLITE_BUSY after busyTimeout.
	holder, err := sql.Open("sqlite", "file:"+filepath.ToSlash(path)+"?_pragma=busy_timeout(0)")
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Close()
	tx, err := holder.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO leases (name, holder, expires_at) VALUES ('x', 'y', 'z')`); err != nil {
		t.Fatal(err)
	}

	s, err = Open(ctx, path)
	if err != nil {
		t.Fatalf("Open while another connection writes: %v", err)
	}
	defer s.Close()
	if sc, err := s.GetScan(ctx, "reg/app:1", 0); err != nil || sc.Index != 1 {
		t.Errorf("GetScan while another connection writes = %+v, %v", sc, err)
	}
	if _, err := s.SourceStatuses(ctx); err != nil {
		t.Errorf("SourceStatuses while another connection writes: %v", err)
	}
}

const digestA = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

// busyRecords is the size of the update the tests below run beside: a
// large feed (the Debian tracker's, AlmaLinux's OSV database).
func busyRecords() int {
	if n, err := strconv.Atoi(os.Getenv("LAPPS_BUSY_RECORDS")); err == nil && n > 0 {
		return n
	}
	if raceEnabled {
		return 5_000
	}
	return 30_000
}

// smallCalls makes the calls a CLI or a server makes while an import
// runs (reads, scans recorded, jobs queued) against s, in a loop, until
// stop is closed, and returns how many it made, the longest, and the
// first error.
func smallCalls(s store.Store, tag string, stop <-chan struct{}) (n int, longest time.Duration, err error) {
	ctx := context.Background()
	names := []string{"pkg00000", "pkg00100", "pkg01000", "openssl"}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return n, longest, nil
		default:
		}
		start := time.Now()
		var err error
		switch i % 5 {
		case 0:
			_, err = s.Records(ctx, "Debian:12", names)
		case 1:
			_, err = s.CreateScan(ctx, &store.Scan{Image: "reg/" + tag + ":1", ScannedAt: time.Now(), ManifestDigest: digestA,
				Counts: store.SeverityCounts{}, Report: []byte(`{}`)})
		case 2:
			_, err = s.EnqueueJob(ctx, &store.Job{ID: fmt.Sprintf("%s-%d", tag, i), Kind: "scan", Request: []byte(`{}`)})
		case 3:
			_, err = s.SourceStatuses(ctx)
		case 4:
			_, err = s.GetScan(ctx, "reg/"+tag+":1", 0)
			if errors.Is(err, store.ErrNotFound) {
				err = nil
			}
		}
		if err != nil {
			return n, longest, fmt.Errorf("call %d: %w", i, err)
		}
		longest = max(longest, time.Since(start))
		n++
		time.Sleep(time.Millisecond)
	}
}

// TestNoBusyBesideUpdate runs a large PutUpdate in one Store and small
// calls in a second Store opened on the same file (its own connections,
// which SQLite locks against as against another process): none fails.
func TestNoBusyBesideUpdate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lapps.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	recs := genRecords("debian-tracker", busyRecords(), 0)

	stop := make(chan struct{})
	var wg sync.WaitGroup
	var (
		n       int
		longest time.Duration
		callErr error
	)
	wg.Go(func() { n, longest, callErr = smallCalls(b, "b", stop) })
	start := time.Now()
	_, err = a.PutUpdate(ctx, "debian-tracker", "fp", recs)
	took := time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if callErr != nil {
		t.Fatalf("beside a PutUpdate of %d records: %v", len(recs), callErr)
	}
	t.Logf("PutUpdate of %d records: %v; %d calls beside it, the longest %v", len(recs), took, n, longest)
}

// TestNoBusyAcrossProcesses runs the small calls in another process
// (this test binary, run as TestBusyHelperProcess) while this one stores a
// large update.
func TestNoBusyAcrossProcesses(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "lapps.db")
	a, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	recs := genRecords("debian-tracker", busyRecords(), 0)

	cmd := exec.Command(os.Args[0], "-test.run=^TestBusyHelperProcess$", "-test.v")
	cmd.Env = append(os.Environ(), "LAPPS_BUSY_HELPER_DB="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := bufio.NewScanner(stdout)
	result := make(chan helperResult, 1)
	ready := make(chan struct{})
	go func() {
		var res helperResult
		for lines.Scan() {
			l := lines.Bytes()
			switch {
			case string(l) == "READY":
				close(ready)
			case len(l) > 7 && string(l[:7]) == "RESULT ":
				if err := json.Unmarshal(l[7:], &res); err != nil {
					res.Err = err.Error()
				}
			}
		}
		io.Copy(io.Discard, stdout)
		result <- res
	}()
	select {
	case <-ready:
	case res := <-result:
		cmd.Wait()
		t.Fatalf("helper ended before it was ready: %+v", res)
	}
	start := time.Now()
	_, err = a.PutUpdate(ctx, "debian-tracker", "fp", recs)
	took := time.Since(start)
	stdin.Close()
	res := <-result
	if werr := cmd.Wait(); werr != nil && res.Err == "" {
		res.Err = werr.Error()
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Err != "" {
		t.Fatalf("in another process, beside a PutUpdate of %d records: %s", len(recs), res.Err)
	}
	t.Logf("PutUpdate of %d records: %v; %d calls in another process beside it, the longest %v",
		len(recs), took, res.Calls, time.Duration(res.Longest))
}

type helperResult struct {
	Calls   int    `json:"calls"`
	Longest int64  `json:"longest_ns"`
	Err     string `json:"err,omitempty"`
}

// TestBusyHelperProcess is the other process of TestNoBusyAcrossProcesses:
// it opens the database named by LAPPS_BUSY_HELPER_DB, prints READY, makes
// small calls until its standard input ends, and prints its result.
func TestBusyHelperProcess(t *testing.T) {
	path := os.Getenv("LAPPS_BUSY_HELPER_DB")
	if path == "" {
		t.Skip("the helper process of TestNoBusyAcrossProcesses")
	}
	var res helperResult
	defer func() {
		b, _ := json.Marshal(res)
		fmt.Printf("\nRESULT %s\n", b)
	}()
	s, err := Open(context.Background(), path)
	if err != nil {
		res.Err = err.Error()
		return
	}
	defer s.Close()
	stop := make(chan struct{})
	go func() {
		io.Copy(io.Discard, os.Stdin)
		close(stop)
	}()
	if _, err := s.SourceStatuses(context.Background()); err != nil {
		res.Err = err.Error()
		return
	}
	fmt.Println("READY")
	n, longest, err := smallCalls(s, "helper", stop)
	res.Calls, res.Longest = n, int64(longest)
	if err != nil {
		res.Err = err.Error()
	}
}
