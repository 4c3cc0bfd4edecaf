package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// Hooks give the suite what it cannot reach through store.Store: the
// moments of an update that only an interleaving or a crash shows. Every
// engine provides all of them.
type Hooks struct {
	// Midway makes the next PutUpdate of s call fn once, after some of
	// its records are written and before its operation is published. fn
	// may call s, except to write the source being updated (which waits
	// for the update).
	Midway func(s store.Store, fn func())
	// Abandon leaves on s what a process that died half-way through a
	// PutUpdate of source with records leaves, as found after its lease
	// (where the engine has one) ran out.
	Abandon func(t *testing.T, s store.Store, source string, records []vuln.Record)
	// Leftovers counts the rows of s that belong to no published
	// operation: operations not published, their links to records, and
	// records that no operation links.
	Leftovers func(t *testing.T, s store.Store) int
}

// manyRecords makes n records of source for Debian:12 packages many0000…,
// so that an update spans several of an engine's batches.
func manyRecords(source string, n int) []vuln.Record {
	rs := make([]vuln.Record, n)
	for i := range rs {
		rs[i] = vuln.Record{
			ID: fmt.Sprintf("CVE-2024-%05d", i), Source: source, Ecosystem: "Debian:12", Package: fmt.Sprintf("many%04d", i/3),
			Ranges:   []vuln.Range{{Type: vuln.RangeEcosystem, Introduced: "0", Fixed: fmt.Sprintf("1.%d-1", i)}},
			Status:   vuln.StatusFixed,
			Severity: vuln.Severity(i % 6),
			Title:    "a generated advisory",
		}
	}
	return rs
}

// opIDs returns the ids of the operations of source, newest first.
func opIDs(t *testing.T, s store.Store, source string) []int64 {
	t.Helper()
	ops, err := s.UpdateOperations(context.Background(), source)
	if err != nil {
		t.Fatalf("UpdateOperations(%s): %v", source, err)
	}
	var ids []int64
	for _, op := range ops {
		ids = append(ids, op.ID)
	}
	return ids
}

// checkOnly checks what every reader says of source while op alone is
// published (with want its records for Debian:12 deb12 names), and that
// the operation numbered hidden, not published, is not found.
func checkOnly(t *testing.T, s store.Store, source string, op *store.UpdateOperation, want []vuln.Record, hidden int64) {
	t.Helper()
	ctx := context.Background()
	deb12 := []string{"glibc", "curl", "openssl", "zlib", "many0000", "many0050"}
	checkRecords(t, s, "Debian:12", deb12, pick(want, isPackage("Debian:12", deb12...)))
	if ids := opIDs(t, s, source); !slices.Equal(ids, []int64{op.ID}) {
		t.Errorf("UpdateOperations(%s) = %v, want only %d", source, ids, op.ID)
	}
	st, err := s.SourceStatuses(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range st {
		if x.Source == source && (x.Latest == nil || x.Latest.ID != op.ID || x.Latest.Records != op.Records) {
			t.Errorf("SourceStatuses: %s latest %+v, want %+v", source, x.Latest, op)
		}
	}
	if _, err := s.DiffUpdates(ctx, op.ID, hidden); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("DiffUpdates(%d, %d), to an unpublished operation: err = %v, want ErrNotFound", op.ID, hidden, err)
	}
	if _, err := s.OperationRecords(ctx, hidden, "Debian:12", deb12); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("OperationRecords(%d), of an unpublished operation: err = %v, want ErrNotFound", hidden, err)
	}
}

// checkNoLeftovers checks that s holds no rows of unpublished operations.
func checkNoLeftovers(t *testing.T, h Hooks, s store.Store, when string) {
	t.Helper()
	if n := h.Leftovers(t, s); n != 0 {
		t.Errorf("%s: %d rows of unpublished operations left", when, n)
	}
}

// testHiddenOperation: while a PutUpdate is written, readers see the
// source's previous operation, other writes go on, and a second update of
// the source waits and is published after it.
func testHiddenOperation(t *testing.T, s store.Store, h Hooks) {
	ctx := context.Background()
	op1 := putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())
	goOp := putUpdate(t, s, srcGo, "sha256:go01", goRecords())
	big := append(debian2(), manyRecords(srcDebian, 300)...)

	var (
		called bool
		wg     sync.WaitGroup
		op3    *store.UpdateOperation
		err3   error
	)
	h.Midway(s, func() {
		called = true
		// The writing operation is numbered after goOp, if anything.
		checkOnly(t, s, srcDebian, op1, debian1(), goOp.ID+1)
		if ids := opIDs(t, s, srcGo); !slices.Equal(ids, []int64{goOp.ID}) {
			t.Errorf("UpdateOperations(%s) = %v, want only %d", srcGo, ids, goOp.ID)
		}
		// Other writes go on.
		if _, err := s.CreateScan(ctx, &store.Scan{Image: "reg/app:1", ManifestDigest: digest1, Counts: store.SeverityCounts{}, Report: []byte("{}")}); err != nil {
			t.Errorf("CreateScan during an update: %v", err)
		}
		if _, err := s.EnqueueJob(ctx, &store.Job{ID: "during-update", Kind: "scan", Request: []byte("{}")}); err != nil {
			t.Errorf("EnqueueJob during an update: %v", err)
		}
		if n, err := s.PruneUpdates(ctx, srcGo, 1); err != nil || n != 0 {
			t.Errorf("PruneUpdates(%s) during an update of %s = %d, %v; want 0", srcGo, srcDebian, n, err)
		}
		// A second update of the same source, started now, waits for this
		// one.
		wg.Go(func() { op3, err3 = s.PutUpdate(ctx, srcDebian, "sha256:cccc", debian3()) })
	})
	op2 := putUpdate(t, s, srcDebian, "sha256:bbbb", big)
	wg.Wait()
	if !called {
		t.Fatal("the Midway hook was not called")
	}
	if err3 != nil {
		t.Fatalf("the second PutUpdate: %v", err3)
	}
	if !(goOp.ID < op2.ID && op2.ID < op3.ID) {
		t.Errorf("operation ids %d (%s), then %d and %d (%s): want them increasing", goOp.ID, srcGo, op2.ID, op3.ID, srcDebian)
	}
	if ids := opIDs(t, s, srcDebian); !slices.Equal(ids, []int64{op3.ID, op2.ID, op1.ID}) {
		t.Errorf("UpdateOperations(%s) = %v, want [%d %d %d]", srcDebian, ids, op3.ID, op2.ID, op1.ID)
	}
	deb12 := []string{"glibc", "curl", "openssl", "zlib", "many0000"}
	checkRecords(t, s, "Debian:12", deb12, pick(debian3(), isPackage("Debian:12", deb12...)))
	d, err := s.DiffUpdates(ctx, 0, op2.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Added) != len(big) {
		t.Errorf("operation %d has %d records, want %d", op2.ID, len(d.Added), len(big))
	}
	checkNoLeftovers(t, h, s, "after the updates")
}

// testFailedUpdate: an update whose context ends half-way publishes
// nothing and leaves nothing.
func testFailedUpdate(t *testing.T, s store.Store, h Hooks) {
	ctx := context.Background()
	op1 := putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	h.Midway(s, cancel)
	if _, err := s.PutUpdate(cctx, srcDebian, "sha256:bbbb", append(debian2(), manyRecords(srcDebian, 300)...)); err == nil {
		t.Fatal("PutUpdate cancelled half-way: no error")
	}
	checkOnly(t, s, srcDebian, op1, debian1(), op1.ID+1)
	checkNoLeftovers(t, h, s, "after a cancelled update")
	// The source takes updates again.
	op2 := putUpdate(t, s, srcDebian, "sha256:cccc", debian2())
	if ids := opIDs(t, s, srcDebian); !slices.Equal(ids, []int64{op2.ID, op1.ID}) {
		t.Errorf("UpdateOperations(%s) = %v, want [%d %d]", srcDebian, ids, op2.ID, op1.ID)
	}
}

// testAbandonedUpdate: what a process that died while writing an update
// leaves is invisible, and the next PruneUpdates or PutUpdate of the
// source removes it.
func testAbandonedUpdate(t *testing.T, s store.Store, h Hooks) {
	ctx := context.Background()
	op1 := putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())
	goOp := putUpdate(t, s, srcGo, "sha256:go01", goRecords())
	big := append(debian2(), manyRecords(srcDebian, 300)...)

	h.Abandon(t, s, srcDebian, big)
	checkOnly(t, s, srcDebian, op1, debian1(), goOp.ID+1)
	// Another source's prune leaves it (it is not that source's); this
	// source's prune counts only published operations, and removes it.
	if n, err := s.PruneUpdates(ctx, srcGo, 1); err != nil || n != 0 {
		t.Errorf("PruneUpdates(%s) = %d, %v; want 0", srcGo, n, err)
	}
	if n, err := s.PruneUpdates(ctx, srcDebian, 1); err != nil || n != 0 {
		t.Errorf("PruneUpdates(%s, keep 1) beside an abandoned update = %d, %v; want 0", srcDebian, n, err)
	}
	checkNoLeftovers(t, h, s, "after PruneUpdates")
	checkOnly(t, s, srcDebian, op1, debian1(), goOp.ID+1)

	// Abandoned again: the next update does not wait for it, and removes
	// it.
	h.Abandon(t, s, srcDebian, big)
	op2 := putUpdate(t, s, srcDebian, "sha256:bbbb", debian2())
	checkNoLeftovers(t, h, s, "after the next PutUpdate")
	if ids := opIDs(t, s, srcDebian); !slices.Equal(ids, []int64{op2.ID, op1.ID}) {
		t.Errorf("UpdateOperations(%s) = %v, want [%d %d]", srcDebian, ids, op2.ID, op1.ID)
	}
	deb12 := []string{"glibc", "curl", "openssl", "zlib", "many0000"}
	checkRecords(t, s, "Debian:12", deb12, pick(debian2(), isPackage("Debian:12", deb12...)))
	// The records the abandoned updates shared with published operations
	// are still there.
	d, err := s.DiffUpdates(ctx, 0, op1.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Added) != len(debian1()) {
		t.Errorf("operation %d has %d records, want %d", op1.ID, len(d.Added), len(debian1()))
	}
	if n, err := s.PruneUpdates(ctx, srcDebian, 0); err != nil || n != 2 {
		t.Errorf("PruneUpdates(%s, keep 0) = %d, %v; want 2", srcDebian, n, err)
	}
	checkNoLeftovers(t, h, s, "after PruneUpdates(keep 0)")
}
