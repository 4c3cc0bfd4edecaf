package scheduler

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"
)

func TestSchedulerRunsAndTriggers(t *testing.T) {
	var fast, slow, failed atomic.Int64
	var observed atomic.Int64
	s, err := New([]Job{
		{Name: "fast", Interval: 10 * time.Millisecond, Run: func(context.Context) error { fast.Add(1); return nil }},
		{Name: "slow", Interval: time.Hour, Run: func(context.Context) error { slow.Add(1); return nil }},
		{Name: "fails", Interval: time.Hour, RunAtStart: true, Run: func(context.Context) error { failed.Add(1); return errors.New("boom") }},
	}, nil, func(string, time.Duration, error) { observed.Add(1) })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for (fast.Load() < 3 || failed.Load() < 1) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if slow.Load() != 0 {
		t.Errorf("hourly job ran %d times without a trigger", slow.Load())
	}
	if !s.Trigger("slow") || s.Trigger("nope") {
		t.Error("Trigger")
	}
	for slow.Load() < 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	<-done
	if fast.Load() < 3 || slow.Load() != 1 || failed.Load() != 1 {
		t.Errorf("runs: fast %d slow %d failed %d", fast.Load(), slow.Load(), failed.Load())
	}
	if observed.Load() != fast.Load()+slow.Load()+failed.Load() {
		t.Errorf("observed %d runs", observed.Load())
	}
}

func TestJitterAndValidation(t *testing.T) {
	j := Job{Name: "x", Interval: time.Second, Jitter: 0.5}
	for i := 0; i < 100; i++ {
		if d := Next(j); d < time.Second || d > 1500*time.Millisecond {
			t.Fatalf("Next = %v", d)
		}
	}
	if _, err := New([]Job{{Name: "x", Interval: 0, Run: func(context.Context) error { return nil }}}, nil, nil); err == nil {
		t.Error("zero interval accepted")
	}
	if _, err := New([]Job{{Name: "x", Interval: 1, Run: func(context.Context) error { return nil }}, {Name: "x", Interval: 1, Run: func(context.Context) error { return nil }}}, nil, nil); err == nil {
		t.Error("duplicate names accepted")
	}
}
