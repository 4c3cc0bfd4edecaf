package server

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lapps/lapps/jobs/jobstest"
	"github.com/lapps/lapps/policy"
	"github.com/lapps/lapps/report"
)

// countingService answers Report with an empty report after release is
// closed, counting the calls.
type countingService struct {
	fakeService
	calls   atomic.Int32
	release chan struct{}
}

func (c *countingService) Report(ctx context.Context, _ string, _ int) (*report.Report, error) {
	c.calls.Add(1)
	select {
	case <-c.release:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return &report.Report{}, nil
}

// TestVerdictCache: concurrent callers of an image not cached wait for one
// lookup; a fresh verdict is answered without a lookup; a stale one is
// answered at once while one lookup refreshes it.
func TestVerdictCache(t *testing.T) {
	svc := &countingService{release: make(chan struct{})}
	s := newServer(t, svc, jobstest.Queue(t), WithAdmission(AdmissionConfig{Policy: &policy.Policy{FailOn: "high"}, CacheTTL: time.Hour}))
	defer s.Close()
	const callers = 32
	var wg sync.WaitGroup
	results := make(chan error, callers)
	for range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, found, err := s.verdict(context.Background(), "registry.example.com/a:1")
			if err == nil && (!found || v.Result != policy.Pass) {
				t.Errorf("verdict %+v found %v", v, found)
			}
			results <- err
		}()
	}
	// Every caller waits for the one lookup.
	for svc.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	close(svc.release)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := svc.calls.Load(); n != 1 {
		t.Errorf("%d lookups for %d concurrent callers, want 1", n, callers)
	}
	// Fresh: no lookup.
	if _, found, err := s.verdict(context.Background(), "registry.example.com/a:1"); err != nil || !found || svc.calls.Load() != 1 {
		t.Errorf("fresh verdict: found %v err %v, %d lookups", found, err, svc.calls.Load())
	}
	// Stale: answered, and refreshed once in the background.
	s.admit.mu.Lock()
	c := s.admit.cache["registry.example.com/a:1"]
	c.at = c.at.Add(-2 * time.Hour)
	s.admit.cache["registry.example.com/a:1"] = c
	s.admit.mu.Unlock()
	for range 5 {
		if _, found, err := s.verdict(context.Background(), "registry.example.com/a:1"); err != nil || !found {
			t.Fatalf("stale verdict: found %v err %v", found, err)
		}
	}
	s.admit.wg.Wait()
	if n := svc.calls.Load(); n != 2 {
		t.Errorf("%d lookups after a stale verdict, want 2", n)
	}
	s.admit.mu.Lock()
	refreshed := time.Since(s.admit.cache["registry.example.com/a:1"].at) < time.Hour
	s.admit.mu.Unlock()
	if !refreshed {
		t.Error("stale verdict not refreshed")
	}
	// An image with no scans: not found, not cached, its scan queued
	// once however often reviews name it.
	q := &countingQueue{Jobs: jobstest.Queue(t)}
	s2 := newServer(t, fakeService{}, q, WithAdmission(AdmissionConfig{}))
	defer s2.Close()
	for range 3 {
		if _, found, err := s2.verdict(context.Background(), "registry.example.com/new:1"); err != nil || found {
			t.Errorf("unscanned: found %v err %v", found, err)
		}
		s2.queueScan("registry.example.com/new:1", time.Now(), &reviewScans{left: 8})
	}
	s2.admit.mu.Lock()
	_, cached := s2.admit.cache["registry.example.com/new:1"]
	s2.admit.mu.Unlock()
	queued := q.enqueued.Load()
	if cached || queued != 1 {
		t.Errorf("unscanned image cached %v, %d scans queued, want 1", cached, queued)
	}
}
