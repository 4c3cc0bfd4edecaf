package updater

import (
	"context"
	"maps"
	"sync"
)

// Skips counts the malformed entries a parser skipped during one run, by
// reason ("osv: range with an empty event"): a range whose version is
// empty or does not parse never widens to every version; it is skipped,
// and a record left without any valid range is dropped. Run gives the
// parser a context carrying one (Skip counts into it), logs the counts
// once per source and returns them in Result. Safe for concurrent use.
type Skips struct {
	mu sync.Mutex
	m  map[string]int
}

// Add counts n entries skipped for reason.
func (s *Skips) Add(reason string, n int) {
	if n <= 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]int{}
	}
	s.m[reason] += n
}

// Total returns the number of entries skipped.
func (s *Skips) Total() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := 0
	for _, n := range s.m {
		t += n
	}
	return t
}

// Counts returns the counts by reason (nil when nothing was skipped).
func (s *Skips) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) == 0 {
		return nil
	}
	return maps.Clone(s.m)
}

type skipsKey struct{}

// WithSkips returns a context whose Skip calls count into s.
func WithSkips(ctx context.Context, s *Skips) context.Context {
	return context.WithValue(ctx, skipsKey{}, s)
}

// Skip counts n malformed entries skipped for reason in the run ctx
// belongs to (see Skips); outside a run it does nothing. Parsers call it
// once per reason with their counts, not once per entry.
func Skip(ctx context.Context, reason string, n int) {
	if s, ok := ctx.Value(skipsKey{}).(*Skips); ok {
		s.Add(reason, n)
	}
}
