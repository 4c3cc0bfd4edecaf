package server

import (
	"fmt"
	"testing"
)

// TestAdmissionCheckMemo: the references check accepted are remembered,
// never more than maxCached of them (a generated stream of distinct
// references crosses the bound), and a refused one is refused every
// time, never remembered.
func TestAdmissionCheckMemo(t *testing.T) {
	a := &admitter{}
	a.checked.Max = maxCached
	count := func() int { return int(a.checked.Len()) }
	for i := range 3*maxCached + 7 {
		if err := a.check(fmt.Sprintf("registry.example/team/app-%d:1.0", i)); err != nil {
			t.Fatal(err)
		}
		if n := count(); n > maxCached {
			t.Fatalf("after %d references %d are remembered, more than %d", i+1, n, maxCached)
		}
	}
	if _, ok := a.checked.Load(fmt.Sprintf("registry.example/team/app-%d:1.0", 3*maxCached+6)); !ok {
		t.Error("the latest accepted reference is not remembered")
	}
	for range 2 {
		if err := a.check("docker-archive:/etc/passwd"); err == nil {
			t.Fatal("a local transport was accepted")
		}
	}
	if _, ok := a.checked.Load("docker-archive:/etc/passwd"); ok {
		t.Error("a refused reference was remembered")
	}
}
