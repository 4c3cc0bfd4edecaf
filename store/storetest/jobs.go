package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/store"
)

// The cases of store.Jobs. As for the leases, expiry runs on the engine's
// clock, which a test cannot move: a claim is given a millisecond and the
// test waits past it.

func enqueue(t *testing.T, s store.Store, id string) *store.Job {
	t.Helper()
	j, err := s.EnqueueJob(context.Background(), &store.Job{ID: id, Kind: "scan", Request: []byte(`{"image":"` + id + `"}`)})
	if err != nil {
		t.Fatalf("EnqueueJob(%s): %v", id, err)
	}
	return j
}

// claim claims a job for holder and checks it is want ("" for none).
func claim(t *testing.T, s store.Store, holder string, ttl time.Duration, want string) *store.Job {
	t.Helper()
	j, err := s.ClaimJob(context.Background(), holder, ttl)
	if err != nil {
		t.Fatalf("ClaimJob(%s): %v", holder, err)
	}
	got := ""
	if j != nil {
		got = j.ID
	}
	if got != want {
		t.Fatalf("ClaimJob(%s) = %q, want %q", holder, got, want)
	}
	return j
}

func getJob(t *testing.T, s store.Store, id string) *store.Job {
	t.Helper()
	j, err := s.GetJob(context.Background(), id)
	if err != nil {
		t.Fatalf("GetJob(%s): %v", id, err)
	}
	return j
}

func pending(t *testing.T, s store.Store, want int) {
	t.Helper()
	if n, err := s.PendingJobs(context.Background()); err != nil || n != want {
		t.Errorf("PendingJobs = %d, %v; want %d", n, err, want)
	}
}

func testJobs(t *testing.T, s store.Store) {
	ctx := context.Background()
	before := time.Now().Add(-time.Minute)
	a := enqueue(t, s, "job-a")
	if a.ID != "job-a" || a.Kind != "scan" || string(a.Request) != `{"image":"job-a"}` || a.State != store.JobQueued ||
		a.Attempts != 0 || a.Holder != "" || a.CreatedAt.Before(before) || !a.StartedAt.IsZero() || !a.LeaseUntil.IsZero() || !a.FinishedAt.IsZero() {
		t.Errorf("enqueued job: %+v", a)
	}
	sameJSON(t, "GetJob of a queued job", getJob(t, s, "job-a"), a)
	enqueue(t, s, "job-b")
	enqueue(t, s, "job-c")
	pending(t, s, 3)

	// Bad and duplicate jobs.
	if _, err := s.EnqueueJob(ctx, &store.Job{ID: "job-a", Kind: "scan"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("EnqueueJob of a taken id: %v, want store.ErrExists", err)
	}
	for _, j := range []*store.Job{nil, {Kind: "scan"}, {ID: "x"}, {ID: strings.Repeat("x", 201), Kind: "scan"}, {ID: "x\x00", Kind: "scan"}, {ID: "\xff", Kind: "scan"}} {
		if _, err := s.EnqueueJob(ctx, j); err == nil {
			t.Errorf("EnqueueJob(%+v): no error", j)
		}
	}
	if _, err := s.GetJob(ctx, "nope"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("GetJob of no such job: %v, want store.ErrNotFound", err)
	}
	for _, c := range []struct {
		holder string
		ttl    time.Duration
	}{{"", time.Hour}, {"h1", 0}, {"h1", -time.Second}, {"h\x00", time.Hour}} {
		if _, err := s.ClaimJob(ctx, c.holder, c.ttl); err == nil {
			t.Errorf("ClaimJob(%q, %v): no error", c.holder, c.ttl)
		}
	}
	pending(t, s, 3)

	// Claims take the oldest first, one holder each.
	ja := claim(t, s, "h1", time.Hour, "job-a")
	if ja.State != store.JobRunning || ja.Holder != "h1" || ja.Attempts != 1 || ja.StartedAt.IsZero() ||
		!ja.LeaseUntil.After(ja.StartedAt.Add(59*time.Minute)) || !ja.CreatedAt.Equal(a.CreatedAt) || ja.Progress != nil {
		t.Errorf("claimed job: %+v", ja)
	}
	sameJSON(t, "GetJob of a claimed job", getJob(t, s, "job-a"), ja)
	claim(t, s, "h2", time.Hour, "job-b")
	pending(t, s, 3)

	// Renewals: only by the holder; progress recorded when given.
	if err := s.RenewJob(ctx, "job-a", "h2", time.Hour, nil); !errors.Is(err, store.ErrJobLost) {
		t.Errorf("RenewJob by another holder: %v, want store.ErrJobLost", err)
	}
	if err := s.RenewJob(ctx, "nope", "h1", time.Hour, nil); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RenewJob of no such job: %v, want store.ErrNotFound", err)
	}
	if err := s.RenewJob(ctx, "job-a", "h1", 2*time.Hour, []byte(`{"stage":"layer"}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.RenewJob(ctx, "job-a", "h1", 2*time.Hour, nil); err != nil {
		t.Fatal(err)
	}
	if j := getJob(t, s, "job-a"); string(j.Progress) != `{"stage":"layer"}` || !j.LeaseUntil.After(ja.LeaseUntil) || j.Holder != "h1" {
		t.Errorf("renewed job: progress %s, lease until %v (claimed until %v), holder %q", j.Progress, j.LeaseUntil, ja.LeaseUntil, j.Holder)
	}

	// Finishing: by the holder only, once.
	if err := s.FinishJob(ctx, "job-a", "h2", []byte(`{}`), nil); !errors.Is(err, store.ErrJobLost) {
		t.Errorf("FinishJob by another holder: %v, want store.ErrJobLost", err)
	}
	if err := s.FinishJob(ctx, "job-a", "h1", []byte(`{"scan_index":1}`), nil); err != nil {
		t.Fatal(err)
	}
	done := getJob(t, s, "job-a")
	if done.State != store.JobSucceeded || string(done.Result) != `{"scan_index":1}` || done.Error != nil || done.FinishedAt.Before(done.StartedAt) ||
		!done.LeaseUntil.IsZero() || done.Holder != "h1" || done.Attempts != 1 {
		t.Errorf("succeeded job: %+v", done)
	}
	if err := s.FinishJob(ctx, "job-a", "h1", []byte(`{}`), nil); !errors.Is(err, store.ErrJobLost) {
		t.Errorf("FinishJob of a finished job: %v, want store.ErrJobLost", err)
	}
	if err := s.RenewJob(ctx, "job-a", "h1", time.Hour, nil); !errors.Is(err, store.ErrJobLost) {
		t.Errorf("RenewJob of a finished job: %v, want store.ErrJobLost", err)
	}
	if err := s.FinishJob(ctx, "nope", "h1", nil, []byte(`{}`)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("FinishJob of no such job: %v, want store.ErrNotFound", err)
	}
	pending(t, s, 2)

	// Release puts a job back in the queue, keeping the attempt it used
	// (a job that hangs and is released at every shutdown must run out of
	// attempts); it is claimed again before younger ones, as a second
	// attempt.
	if err := s.ReleaseJob(ctx, "job-b", "h1"); !errors.Is(err, store.ErrJobLost) {
		t.Errorf("ReleaseJob by another holder: %v, want store.ErrJobLost", err)
	}
	if err := s.ReleaseJob(ctx, "job-b", "h2"); err != nil {
		t.Fatal(err)
	}
	if j := getJob(t, s, "job-b"); j.State != store.JobQueued || j.Holder != "" || j.Attempts != 1 || !j.StartedAt.IsZero() || !j.LeaseUntil.IsZero() {
		t.Errorf("released job: %+v", j)
	}
	if err := s.ReleaseJob(ctx, "job-b", "h2"); !errors.Is(err, store.ErrJobLost) {
		t.Errorf("ReleaseJob of a queued job: %v, want store.ErrJobLost", err)
	}
	if jb := claim(t, s, "h1", time.Hour, "job-b"); jb.Attempts != 2 {
		t.Errorf("released job claimed again: attempt %d, want 2", jb.Attempts)
	}
	if err := s.FinishJob(ctx, "job-b", "h1", []byte(`{"ignored":true}`), []byte(`{"code":"not_found"}`)); err != nil {
		t.Fatal(err)
	}
	if j := getJob(t, s, "job-b"); j.State != store.JobFailed || string(j.Error) != `{"code":"not_found"}` || j.Result != nil || j.FinishedAt.IsZero() {
		t.Errorf("failed job: %+v", j)
	}

	// An expired claim is taken over by another holder, whose claim
	// counts as a second attempt; the first holder has lost it.
	claim(t, s, "h1", time.Millisecond, "job-c")
	time.Sleep(20 * time.Millisecond)
	jc := claim(t, s, "h2", time.Hour, "job-c")
	if jc.Attempts != 2 || jc.Holder != "h2" || jc.Progress != nil {
		t.Errorf("job taken over: %+v", jc)
	}
	claim(t, s, "h1", time.Hour, "")
	if err := s.RenewJob(ctx, "job-c", "h1", time.Hour, []byte(`{}`)); !errors.Is(err, store.ErrJobLost) {
		t.Errorf("RenewJob by the holder of an expired claim taken over: %v, want store.ErrJobLost", err)
	}
	if err := s.FinishJob(ctx, "job-c", "h1", []byte(`{}`), nil); !errors.Is(err, store.ErrJobLost) {
		t.Errorf("FinishJob by the holder of an expired claim taken over: %v, want store.ErrJobLost", err)
	}
	if err := s.FinishJob(ctx, "job-c", "h2", []byte(`{}`), nil); err != nil {
		t.Fatal(err)
	}
	pending(t, s, 0)
	claim(t, s, "h1", time.Hour, "")

	// Pruning: finished jobs only, oldest first, in batches.
	enqueue(t, s, "job-d")
	if _, err := s.PruneJobs(ctx, time.Now(), 0); err == nil {
		t.Error("PruneJobs with limit 0: no error")
	}
	if n, err := s.PruneJobs(ctx, before, 10); err != nil || n != 0 {
		t.Errorf("PruneJobs before every job finished: %d, %v", n, err)
	}
	later := time.Now().Add(time.Hour)
	if n, err := s.PruneJobs(ctx, later, 2); err != nil || n != 2 {
		t.Errorf("PruneJobs(limit 2) = %d, %v; want 2", n, err)
	}
	if _, err := s.GetJob(ctx, "job-a"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the oldest finished job survived pruning: %v", err)
	}
	if n, err := s.PruneJobs(ctx, later, 10); err != nil || n != 1 {
		t.Errorf("PruneJobs = %d, %v; want 1", n, err)
	}
	if j := getJob(t, s, "job-d"); j.State != store.JobQueued {
		t.Errorf("queued job after pruning: %+v", j)
	}
	pending(t, s, 1)
}

// testJobsConcurrent has several holders claim from one queue at once
// until it is empty: every job is claimed exactly once.
func testJobsConcurrent(t *testing.T, s store.Store) {
	ctx := context.Background()
	const jobs, holders = 60, 8
	for i := range jobs {
		enqueue(t, s, fmt.Sprintf("job-%03d", i))
	}
	var (
		mu      sync.Mutex
		claimed []string
		wg      sync.WaitGroup
		start   = make(chan struct{})
	)
	for h := range holders {
		wg.Go(func() {
			<-start
			holder := fmt.Sprintf("holder-%d", h)
			for misses := 0; misses < 3; {
				j, err := s.ClaimJob(ctx, holder, time.Hour)
				if err != nil {
					t.Error(err)
					return
				}
				if j == nil {
					// SKIP LOCKED may answer none while another claims
					// the last rows; ask again before giving up.
					misses++
					continue
				}
				mu.Lock()
				claimed = append(claimed, j.ID)
				mu.Unlock()
				if err := s.FinishJob(ctx, j.ID, holder, []byte(`{}`), nil); err != nil {
					t.Error(err)
				}
			}
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(claimed)
	if len(claimed) != jobs || len(slices.Compact(slices.Clone(claimed))) != jobs {
		t.Errorf("%d claims of %d jobs (%d distinct), want each once", len(claimed), jobs, len(slices.Compact(slices.Clone(claimed))))
	}
	pending(t, s, 0)
}

// testScanKey checks that a scan under a key is stored once, however
// often and however concurrently it is created.
func testScanKey(t *testing.T, s store.Store) {
	ctx := context.Background()
	create := func(image, key string, want int) {
		t.Helper()
		n, err := s.CreateScan(ctx, &store.Scan{Image: image, ManifestDigest: "sha256:aa", Packages: 3, Report: []byte(`{}`), Key: key})
		if err != nil || n != want {
			t.Fatalf("CreateScan(%s, key %q) = %d, %v; want %d", image, key, n, err, want)
		}
	}
	create("reg/app:1", "job-1", 1)
	create("reg/app:1", "job-1", 1)
	create("reg/app:1", "job-2", 2)
	create("reg/app:1", "", 3)
	create("reg/app:1", "", 4)
	create("reg/app:1", "job-1", 1)
	create("reg/other:1", "job-1", 1)
	if scans, err := s.ListScans(ctx, "reg/app:1"); err != nil || len(scans) != 4 {
		t.Errorf("scans of reg/app:1: %d, %v; want 4", len(scans), err)
	}
	if _, err := s.CreateScan(ctx, &store.Scan{Image: "reg/app:1", Key: strings.Repeat("k", 201)}); err == nil {
		t.Error("CreateScan with a key of 201 bytes: no error")
	}

	// Racing creators of one keyed scan all get its index.
	const racers = 8
	var (
		wg  sync.WaitGroup
		got = make([]int, racers)
	)
	for i := range racers {
		wg.Go(func() {
			n, err := s.CreateScan(ctx, &store.Scan{Image: "reg/race:1", ManifestDigest: "sha256:bb", Report: []byte(`{}`), Key: "job-race"})
			if err != nil {
				t.Error(err)
			}
			got[i] = n
		})
	}
	wg.Wait()
	for i, n := range got {
		if n != 1 {
			t.Errorf("racer %d: scan %d, want 1", i, n)
		}
	}
	if scans, err := s.ListScans(ctx, "reg/race:1"); err != nil || len(scans) != 1 {
		t.Errorf("scans of reg/race:1: %d, %v; want 1", len(scans), err)
	}
}

// CheckUpgradedFrom5 checks a store opened on a database written at
// schema 5 that held one scan of reg/app:1 (index 1): the scan is kept,
// numbering goes on after it, a keyed scan is stored once, and the job
// queue of schema 6 works. Each engine's migration test calls it.
func CheckUpgradedFrom5(t *testing.T, s store.Store) {
	t.Helper()
	ctx := context.Background()
	for range 2 {
		if n, err := s.CreateScan(ctx, &store.Scan{Image: "reg/app:1", ManifestDigest: "sha256:aa", Key: "job-1"}); err != nil || n != 2 {
			t.Errorf("keyed CreateScan after migration = %d, %v; want 2", n, err)
		}
	}
	if scans, err := s.ListScans(ctx, "reg/app:1"); err != nil || len(scans) != 2 {
		t.Errorf("scans after migration: %d, %v; want 2", len(scans), err)
	}
	if _, err := s.EnqueueJob(ctx, &store.Job{ID: "j", Kind: "scan"}); err != nil {
		t.Fatal(err)
	}
	if j, err := s.ClaimJob(ctx, "h", time.Minute); err != nil || j == nil || j.ID != "j" {
		t.Errorf("ClaimJob after migration = %+v, %v", j, err)
	}
}
