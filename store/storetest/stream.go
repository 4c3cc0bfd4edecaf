package storetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// streamed is a store whose PutUpdate goes through PutUpdateStream, so
// that the tests of updates hold the streamed path to PutUpdate's
// behaviour.
type streamed struct{ store.Store }

func (s streamed) PutUpdate(ctx context.Context, source, fingerprint string, records []vuln.Record) (*store.UpdateOperation, error) {
	return s.Store.(store.UpdateStreamer).PutUpdateStream(ctx, source, fingerprint, store.RecordsOf(records))
}

// unwrap returns the engine's store under streamed, for the hooks.
func unwrap(s store.Store) store.Store {
	if w, ok := s.(streamed); ok {
		return w.Store
	}
	return s
}

// streamedTests are the tests run again with PutUpdate streamed.
var streamedTests = map[string]bool{
	"BadInput": true, "Records": true, "RecordsByID": true, "DiffUpdates": true, "DuplicateKeys": true,
	"SourceStatuses": true, "SourceData": true, "PruneUpdates": true, "HiddenOperation": true,
	"FailedUpdate": true, "AbandonedUpdate": true, "OperationRecords": true, "StreamError": true,
}

// streamedHooks passes the engine's store to hooks.
func streamedHooks(h Hooks) Hooks {
	out := h
	if h.Midway != nil {
		out.Midway = func(s store.Store, fn func()) { h.Midway(unwrap(s), fn) }
	}
	if h.Abandon != nil {
		out.Abandon = func(t *testing.T, s store.Store, source string, records []vuln.Record) {
			h.Abandon(t, unwrap(s), source, records)
		}
	}
	if h.Leftovers != nil {
		out.Leftovers = func(t *testing.T, s store.Store) int { return h.Leftovers(t, unwrap(s)) }
	}
	return out
}

// testStreamError: a stream that fails half-way, and one whose records
// repeat a key after many others, publish nothing and leave nothing.
func testStreamError(t *testing.T, s store.Store, h Hooks) {
	ctx := context.Background()
	st, ok := unwrap(s).(store.UpdateStreamer)
	if !ok {
		t.Fatal("the engine does not implement store.UpdateStreamer")
	}
	op1 := putUpdate(t, s, srcDebian, "sha256:aaaa", debian1())
	boom := errors.New("the feed broke")
	many := append(debian2(), manyRecords(srcDebian, 3000)...)
	failing := func(yield func(vuln.Record, error) bool) {
		for i, r := range many {
			if i == 2500 {
				yield(vuln.Record{}, boom)
				return
			}
			if !yield(r, nil) {
				return
			}
		}
	}
	if _, err := st.PutUpdateStream(ctx, srcDebian, "sha256:bbbb", failing); !errors.Is(err, boom) {
		t.Errorf("PutUpdateStream of a failing stream = %v, want %v", err, boom)
	}
	checkOnly(t, s, srcDebian, op1, debian1(), op1.ID+1)
	checkNoLeftovers(t, h, s, "after a failed stream")

	dup := append(slices.Clone(many), many[0])
	if _, err := st.PutUpdateStream(ctx, srcDebian, "sha256:cccc", store.RecordsOf(dup)); err == nil {
		t.Error("PutUpdateStream with a key repeated at the end: no error")
	}
	checkOnly(t, s, srcDebian, op1, debian1(), op1.ID+1)
	checkNoLeftovers(t, h, s, "after a stream repeating a key")

	op2, err := st.PutUpdateStream(ctx, srcDebian, "sha256:dddd", store.RecordsOf(many))
	if err != nil || op2.Records != len(many) {
		t.Fatalf("PutUpdateStream = %+v, %v; want %d records", op2, err, len(many))
	}
	checkRecords(t, s, "Debian:12", []string{"many0000", "many0999"}, pick(many, isPackage("Debian:12", "many0000", "many0999")))
}
