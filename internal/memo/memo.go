// Package memo remembers values computed from keys on request paths, up
// to a bound: when more than the bound are remembered, all are
// forgotten at once (the working set of a request path, such as the
// images and verdicts admission sees, is small; a caller that varies its
// keys without end costs a recomputation, never memory).
package memo

import (
	"sync"
	"sync/atomic"
)

// Map remembers at most about Max values by key; the zero Map is ready
// to use, by many goroutines at once.
type Map[K comparable, V any] struct {
	// Max is the bound: storing beyond it forgets everything first.
	// Zero or less is DefaultMax.
	Max int64
	m   sync.Map
	n   atomic.Int64
}

// Load returns the value remembered for k, if any.
func (m *Map[K, V]) Load(k K) (V, bool) {
	v, ok := m.m.Load(k)
	if !ok {
		var zero V
		return zero, false
	}
	return v.(V), true
}

// DefaultMax is the bound of a Map without Max.
const DefaultMax = 4096

// Store remembers v for k.
func (m *Map[K, V]) Store(k K, v V) {
	limit := m.Max
	if limit <= 0 {
		limit = DefaultMax
	}
	if m.n.Add(1) > limit {
		m.m.Clear()
		m.n.Store(1) // this one
	}
	m.m.Store(k, v)
}

// Clear forgets every value.
func (m *Map[K, V]) Clear() {
	m.m.Clear()
	m.n.Store(0)
}

// Len counts the values remembered, one by one (for tests).
func (m *Map[K, V]) Len() int64 {
	var n int64
	m.m.Range(func(any, any) bool { n++; return true })
	return n
}
