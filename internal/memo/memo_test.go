package memo

import (
	"fmt"
	"sync"
	"testing"
)

// TestMap checks that values are remembered, and that storing beyond the
// bound forgets the others and keeps the new one.
func TestMap(t *testing.T) {
	m := Map[string, int]{Max: 3}
	for i := range 3 {
		m.Store(fmt.Sprint(i), i)
	}
	for i := range 3 {
		if v, ok := m.Load(fmt.Sprint(i)); !ok || v != i {
			t.Fatalf("%d: %d, %v", i, v, ok)
		}
	}
	m.Store("3", 3)
	if _, ok := m.Load("0"); ok {
		t.Error("a value beyond the bound left the others remembered")
	}
	if v, ok := m.Load("3"); !ok || v != 3 || m.Len() != 1 {
		t.Errorf("after the bound: %d, %v, %d remembered", v, ok, m.Len())
	}
}

// TestMapDefault checks that a Map without Max is bounded by DefaultMax.
func TestMapDefault(t *testing.T) {
	var m Map[int, int]
	for i := range DefaultMax + 1 {
		m.Store(i, i)
	}
	if n := m.Len(); n != 1 {
		t.Errorf("%d remembered after DefaultMax+1 stores, want 1 (the rest forgotten)", n)
	}
}

// TestMapConcurrent stores from many goroutines: the count never goes
// far beyond the bound (run with -race).
func TestMapConcurrent(t *testing.T) {
	m := Map[int, int]{Max: 100}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 1000 {
				m.Store(g*1000+i, i)
				m.Load(i)
			}
		}()
	}
	wg.Wait()
	if n := m.Len(); n > 100 {
		t.Errorf("%d remembered, bound 100", n)
	}
}
