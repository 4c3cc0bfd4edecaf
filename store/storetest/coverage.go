package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// testSourceData checks Coverage.SourceData: per current operation, its
// ecosystems counted, its newest record time (zero without dates), and
// the origin its PutUpdate's context carried; an older operation of a
// source is not returned, and a source replaced by an empty update
// covers nothing.
func testSourceData(t *testing.T, s store.Store) {
	ctx := context.Background()
	got, err := s.SourceData(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("SourceData of an empty store = %v, %v; want none", got, err)
	}
	d1 := debian1()
	if _, err := s.PutUpdate(store.WithOrigin(ctx, store.Origin{Type: "debian-tracker"}), srcDebian, "f1", d1); err != nil {
		t.Fatal(err)
	}
	// The second Debian operation is the current one: its dates and counts.
	d2 := append(debian1(), vuln.Record{ID: "CVE-2024-0001", Source: srcDebian, Ecosystem: "Debian:11", Package: "zlib",
		Status: vuln.StatusUnfixed, Modified: time.Date(2024, time.March, 1, 12, 30, 0, 0, time.FixedZone("x", 3600))})
	op2, err := s.PutUpdate(store.WithOrigin(ctx, store.Origin{Type: "debian-tracker"}), srcDebian, "f2", d2)
	if err != nil {
		t.Fatal(err)
	}
	// Go records carry no dates; imported from a path.
	opGo, err := s.PutUpdate(store.WithOrigin(ctx, store.Origin{Type: "osv", Path: "/data/go vulndb.zip"}), srcGo, "g1", goRecords())
	if err != nil {
		t.Fatal(err)
	}
	// A source without an origin, emptied by its second update.
	if _, err := s.PutUpdate(ctx, srcOSVDebian, "o1", osvDebian()); err != nil {
		t.Fatal(err)
	}
	opEmpty, err := s.PutUpdate(ctx, srcOSVDebian, "o2", nil)
	if err != nil {
		t.Fatal(err)
	}
	got, err = s.SourceData(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 {
		t.Fatalf("SourceData = %+v; want 3 sources", got)
	}
	wantDebian := map[string]int{}
	for _, r := range d2 {
		wantDebian[r.Ecosystem]++
	}
	want := []store.SourceData{
		{Source: srcDebian, Operation: op2.ID, Records: len(d2), Type: "debian-tracker", Ecosystems: wantDebian,
			NewestRecord: time.Date(2024, time.March, 1, 11, 30, 0, 0, time.UTC)},
		{Source: srcOSVDebian, Operation: opEmpty.ID, Records: 0, Ecosystems: map[string]int{}},
		{Source: srcGo, Operation: opGo.ID, Records: 2, Type: "osv", Origin: "/data/go vulndb.zip", Ecosystems: map[string]int{vuln.EcosystemGo: 2}},
	}
	for i := range want {
		g := got[i]
		if g.UpdatedAt.IsZero() {
			t.Errorf("%s: no UpdatedAt", g.Source)
		}
		g.UpdatedAt = time.Time{}
		sameJSON(t, "SourceData "+want[i].Source, g, want[i])
		if !g.NewestRecord.Equal(want[i].NewestRecord) {
			t.Errorf("%s: NewestRecord = %v; want %v", g.Source, g.NewestRecord, want[i].NewestRecord)
		}
	}
	// CurrentOperations: the same sources and operations, in the same
	// order (what the data version of reports hashes).
	engine := s
	if w, ok := s.(streamed); ok {
		engine = w.Store
	}
	c, ok := engine.(store.CurrentOperations)
	if !ok {
		t.Fatal("the engine does not implement store.CurrentOperations")
	}
	ops, err := c.CurrentOperations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var wantOps []store.SourceOperation
	for _, d := range got {
		wantOps = append(wantOps, store.SourceOperation{Source: d.Source, Operation: d.Operation})
	}
	if !slices.Equal(ops, wantOps) {
		t.Errorf("CurrentOperations = %+v; want %+v", ops, wantOps)
	}
}

// Upgraded10Records are the records (id, ecosystem, JSON) that each
// engine's migration test stores, with its own SQL, as the one operation
// of source "old" in a database at schema 10: CheckUpgradedFrom10 then
// checks that migration 0011 filled in what the operation covers.
var Upgraded10Records = []struct{ ID, Ecosystem, Data string }{
	{"CVE-1", "Debian:12", `{"id":"CVE-1","source":"old","ecosystem":"Debian:12","package":"p","status":"fixed","published":"2024-05-01T00:00:00Z","modified":"2024-05-02T12:00:00+02:00"}`},
	{"CVE-2", "Debian:12", `{"id":"CVE-2","source":"old","ecosystem":"Debian:12","package":"q","status":"fixed","published":"2023-01-01T00:00:00Z"}`},
	{"GO-1", "Go", `{"id":"GO-1","source":"old","ecosystem":"Go","package":"stdlib","status":"fixed"}`},
}

// CheckUpgradedFrom10 checks a store opened on the database described at
// Upgraded10Records.
func CheckUpgradedFrom10(t *testing.T, s store.Store) {
	t.Helper()
	got, err := s.SourceData(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Source != "old" {
		t.Fatalf("SourceData after migration = %+v; want source old", got)
	}
	sameJSON(t, "ecosystems after migration", got[0].Ecosystems, map[string]int{"Debian:12": 2, "Go": 1})
	if want := time.Date(2024, time.May, 2, 10, 0, 0, 0, time.UTC); !got[0].NewestRecord.Equal(want) {
		t.Errorf("NewestRecord after migration = %v; want %v", got[0].NewestRecord, want)
	}
	if got[0].Type != "" || got[0].Origin != "" || got[0].Records != 3 {
		t.Errorf("after migration: %+v", got[0])
	}
}
