package updater_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/testenv"
	"github.com/lapps/lapps/updater"
	_ "github.com/lapps/lapps/updater/all"
	"github.com/lapps/lapps/vuln"
)

// streamingStore is a fakeStore that takes updates as streams, as the
// engines do, so that Run goes through the spill file.
type streamingStore struct {
	*fakeStore
	streamed int
}

func (s *streamingStore) PutUpdateStream(ctx context.Context, source, fingerprint string, records store.RecordStream) (*store.UpdateOperation, error) {
	var recs []vuln.Record
	for r, err := range records {
		if err != nil {
			return nil, err
		}
		recs = append(recs, r)
	}
	s.streamed++
	return s.fakeStore.PutUpdate(ctx, source, fingerprint, recs)
}

// storedJSON returns the records of a store's latest operation of
// source, as JSON lines sorted by key.
func storedJSON(t *testing.T, s *fakeStore, source string) []string {
	t.Helper()
	ops, err := s.UpdateOperations(context.Background(), source)
	if err != nil || len(ops) == 0 {
		t.Fatalf("UpdateOperations(%s) = %v, %v", source, ops, err)
	}
	recs := slices.Clone(s.records[ops[0].ID])
	slices.SortFunc(recs, func(a, b vuln.Record) int { return strings.Compare(a.Key(), b.Key()) })
	out := make([]string, len(recs))
	for i := range recs {
		b, err := json.Marshal(&recs[i])
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(b)
	}
	return out
}

// TestStreamedRunSameRecords: a run through the spill file (a store that
// takes streams) stores the very records the run through memory does,
// for real feeds of every parser that streams, duplicates across files
// merged alike.
func TestStreamedRunSameRecords(t *testing.T) {
	for _, tc := range []struct{ typ, path string }{
		{"osv", testenv.VulnData(t, "golang-vulndb", "data", "osv")},
		{"osv", testenv.VulnData(t, "github-advisory-database", "advisories")},
		{"alpine-secdb", testenv.VulnData(t, "alpine-secdb")},
		{"debian-dsa", testenv.VulnData(t, "debian-security-tracker", "data")},
		{"debian-tracker", testenv.VulnData(t, "vunnel-format-samples", "tests", "unit", "providers", "debian", "test-fixtures", "input")},
		{"ubuntu-uct", testenv.VulnData(t, "ubuntu-cve-tracker", "active")},
		{"csaf", testenv.VulnData(t, "vunnel-format-samples", "tests", "unit", "providers", "rhel", "test-fixtures", "csaf")},
		{"rustsec", testenv.VulnData(t, "rustsec-advisory-db")},
		{"kev", testenv.VulnData(t, "cisa-kev", "known_exploited_vulnerabilities.json")},
	} {
		t.Run(tc.typ+"/"+tc.path[strings.LastIndex(tc.path, "vulndata/")+9:], func(t *testing.T) {
			ctx := context.Background()
			mem := newFakeStore()
			if _, err := updater.Import(ctx, mem, tc.typ, tc.path, "src"); err != nil {
				t.Fatalf("import through memory: %v", err)
			}
			st := &streamingStore{fakeStore: newFakeStore()}
			if _, err := updater.Import(ctx, st, tc.typ, tc.path, "src"); err != nil {
				t.Fatalf("import through a stream: %v", err)
			}
			if st.streamed != 1 {
				t.Fatalf("PutUpdateStream called %d times, want 1", st.streamed)
			}
			want, got := storedJSON(t, mem, "src"), storedJSON(t, st.fakeStore, "src")
			if len(want) == 0 {
				t.Fatal("no records")
			}
			if !slices.Equal(got, want) {
				t.Errorf("%d records streamed, %d through memory; first difference:", len(got), len(want))
				for i := range min(len(got), len(want)) {
					if got[i] != want[i] {
						t.Errorf("streamed %s\nmemory   %s", got[i], want[i])
						break
					}
				}
			}
		})
	}
}

// boomParser emits records, one key twice, and then fails (or panics).
type boomParser struct{ panics bool }

func (p boomParser) Parse(ctx context.Context, feed fs.FS) ([]vuln.Record, error) {
	return updater.Collect(ctx, p, feed)
}

func (p boomParser) ParseStream(ctx context.Context, feed fs.FS, emit func(vuln.Record) error) error {
	for i := range 10 {
		r := vuln.Record{ID: fmt.Sprintf("CVE-2024-%04d", i%9), Ecosystem: "Debian:12", Package: "p", Status: vuln.StatusUnfixed}
		if err := emit(r); err != nil {
			return err
		}
	}
	if p.panics {
		panic("boom")
	}
	return errBoom
}

var errBoom = errors.New("boom")

func init() {
	updater.Register("test-boom-error", boomParser{})
	updater.Register("test-boom-panic", boomParser{panics: true})
}

// TestStreamedRunFails: a streaming parse that fails or panics after
// emitting records, and records that cross the feed's bound in the spill
// file, store nothing, and the source's earlier data stays.
func TestStreamedRunFails(t *testing.T) {
	ctx := context.Background()
	st := &streamingStore{fakeStore: newFakeStore()}
	uct := testenv.VulnData(t, "ubuntu-cve-tracker", "active")
	if _, err := updater.Import(ctx, st, "kev", testenv.VulnData(t, "cisa-kev", "known_exploited_vulnerabilities.json"), "src"); err != nil {
		t.Fatal(err)
	}
	before := storedJSON(t, st.fakeStore, "src")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "feed"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		src  updater.Source
		is   func(error) bool
	}{
		{"error", updater.Source{Name: "src", Type: "test-boom-error", Path: dir}, func(err error) bool { return errors.Is(err, errBoom) }},
		{"panic", updater.Source{Name: "src", Type: "test-boom-panic", Path: dir}, func(err error) bool { return errors.Is(err, updater.ErrPanic) }},
		// The tracker's 32 MB of files make 80 MB of records: within a
		// feed bound of 40 MB, the spill file crosses it.
		{"spill bound", updater.Source{Name: "src", Type: "ubuntu-uct", Path: uct, MaxFeedBytes: 40 << 20}, func(err error) bool {
			var le *limits.Error
			return errors.As(err, &le) && strings.Contains(err.Error(), "records of the feed")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := updater.Run(ctx, st, tc.src, updater.WithForce(true))
			if !tc.is(err) {
				t.Fatalf("Run = %v", err)
			}
			if after := storedJSON(t, st.fakeStore, "src"); !slices.Equal(after, before) {
				t.Error("the failed run changed the stored records")
			}
			if n := st.opCount("src"); n != 1 {
				t.Errorf("%d operations after a failed run, want 1", n)
			}
		})
	}
}
