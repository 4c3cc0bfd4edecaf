package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/lapps/lapps/store"
)

// testAppVerdicts checks SetAppVerdict: the previous verdict per (app,
// env), bad input, removal with the app, and concurrent callers each
// seeing the other's verdict.
func testAppVerdicts(t *testing.T, s store.Store) {
	ctx := context.Background()
	at := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	for _, bad := range [][3]string{{"", "prod", "pass"}, {"shop", "", "pass"}, {"shop", "prod", "ok"}, {"shop", "prod", ""}} {
		if _, err := s.SetAppVerdict(ctx, bad[0], bad[1], bad[2], at); err == nil {
			t.Errorf("SetAppVerdict(%q, %q, %q): no error", bad[0], bad[1], bad[2])
		}
	}
	if _, err := s.CreateApp(ctx, "shop", nil); err != nil {
		t.Fatal(err)
	}
	for i, step := range []struct{ app, env, verdict, want string }{
		{"shop", "prod", store.VerdictPass, ""},
		{"shop", "prod", store.VerdictFail, store.VerdictPass},
		{"shop", "staging", store.VerdictWarn, ""},
		{"shop", "prod", store.VerdictFail, store.VerdictFail},
		{"shop", "prod", store.VerdictWarn, store.VerdictFail},
		{"shop", "staging", store.VerdictPass, store.VerdictWarn},
		{"blog", "prod", store.VerdictPass, ""},
	} {
		prev, err := s.SetAppVerdict(ctx, step.app, step.env, step.verdict, at.Add(time.Duration(i)*time.Minute))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if prev != step.want {
			t.Errorf("step %d: SetAppVerdict(%s, %s, %s) = %q, want %q", i, step.app, step.env, step.verdict, prev, step.want)
		}
	}
	if err := s.RemoveApp(ctx, "shop"); err != nil {
		t.Fatal(err)
	}
	if prev, err := s.SetAppVerdict(ctx, "shop", "prod", store.VerdictPass, at); err != nil || prev != "" {
		t.Errorf("after RemoveApp: previous %q, %v; want none", prev, err)
	}
	if prev, err := s.SetAppVerdict(ctx, "blog", "prod", store.VerdictWarn, at); err != nil || prev != store.VerdictPass {
		t.Errorf("other app: previous %q, %v; want pass", prev, err)
	}

	// Concurrent callers alternate verdicts on one new key: the previous
	// verdicts they see, with the final one, form one chain, so that
	// every change is seen exactly once.
	const n = 8
	prevs := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := store.VerdictPass
			if i%2 == 1 {
				v = store.VerdictFail
			}
			prevs[i], errs[i] = s.SetAppVerdict(ctx, "race", "prod", v, at)
		}()
	}
	wg.Wait()
	empty := 0
	for i, err := range errs {
		if err != nil {
			t.Fatalf("concurrent SetAppVerdict %d: %v", i, err)
		}
		if prevs[i] == "" {
			empty++
		}
	}
	if empty != 1 {
		t.Errorf("concurrent SetAppVerdict: %d callers saw no previous verdict, want 1 (%q)", empty, prevs)
	}
}
