package updater_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// fakeStore is an in-memory store.Vulnerabilities with the semantics the
// updater relies on.
type fakeStore struct {
	mu      sync.Mutex
	nextID  int64
	ops     []store.UpdateOperation
	records map[int64][]vuln.Record
	runs    []store.SourceRun
}

func newFakeStore() *fakeStore { return &fakeStore{records: map[int64][]vuln.Record{}} }

func (s *fakeStore) PutUpdate(_ context.Context, source, fingerprint string, records []vuln.Record) (*store.UpdateOperation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	seen := map[string]bool{}
	for _, r := range records {
		if seen[r.Key()] {
			return nil, fmt.Errorf("duplicate record key %q", r.Key())
		}
		seen[r.Key()] = true
		if r.Source != source {
			return nil, fmt.Errorf("record %s has source %q, want %q", r.ID, r.Source, source)
		}
	}
	s.nextID++
	op := store.UpdateOperation{ID: s.nextID, Source: source, CreatedAt: time.Now(), Fingerprint: fingerprint, Records: len(records)}
	s.ops = append(s.ops, op)
	s.records[op.ID] = append([]vuln.Record(nil), records...)
	return &op, nil
}

func (s *fakeStore) RecordRun(_ context.Context, run *store.SourceRun) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.runs = append(s.runs, *run)
	return nil
}

func (s *fakeStore) SourceStatuses(context.Context) ([]store.SourceStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	by := map[string]*store.SourceStatus{}
	get := func(name string) *store.SourceStatus {
		if by[name] == nil {
			by[name] = &store.SourceStatus{Source: name}
		}
		return by[name]
	}
	for i := range s.runs {
		r := s.runs[i]
		st := get(r.Source)
		st.LastRun = &r
		if r.Err == "" {
			st.LastSuccess = r.StartedAt
		}
	}
	for i := range s.ops {
		op := s.ops[i]
		get(op.Source).Latest = &op
	}
	var out []store.SourceStatus
	for _, st := range by {
		out = append(out, *st)
	}
	return out, nil
}

func (s *fakeStore) UpdateOperations(_ context.Context, source string) ([]store.UpdateOperation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.UpdateOperation
	for i := len(s.ops) - 1; i >= 0; i-- {
		if s.ops[i].Source == source {
			out = append(out, s.ops[i])
		}
	}
	return out, nil
}

func (s *fakeStore) DiffUpdates(context.Context, int64, int64) (*store.Diff, error) {
	return nil, fmt.Errorf("not implemented by the fake")
}

func (s *fakeStore) Records(_ context.Context, ecosystem string, packages []string) ([]vuln.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	latest := map[string]int64{}
	for _, op := range s.ops {
		latest[op.Source] = op.ID
	}
	want := map[string]bool{}
	for _, p := range packages {
		want[p] = true
	}
	var out []vuln.Record
	for _, id := range latest {
		for _, r := range s.records[id] {
			if r.Ecosystem == ecosystem && want[r.Package] {
				out = append(out, r)
			}
		}
	}
	return out, nil
}

func (s *fakeStore) PruneUpdates(_ context.Context, source string, keep int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var kept []store.UpdateOperation
	n, removed := 0, 0
	for i := len(s.ops) - 1; i >= 0; i-- {
		op := s.ops[i]
		if op.Source == source {
			n++
			if n > keep {
				delete(s.records, op.ID)
				removed++
				continue
			}
		}
		kept = append([]store.UpdateOperation{op}, kept...)
	}
	s.ops = kept
	return removed, nil
}

func (s *fakeStore) lastRun(t *testing.T, source string) store.SourceRun {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i := len(s.runs) - 1; i >= 0; i-- {
		if s.runs[i].Source == source {
			return s.runs[i]
		}
	}
	t.Fatalf("no run of %s recorded", source)
	return store.SourceRun{}
}

func (s *fakeStore) opCount(source string) int {
	ops, _ := s.UpdateOperations(context.Background(), source)
	return len(ops)
}

// feedServer serves files on 127.0.0.1 with ETag and Last-Modified
// (http.ServeContent answers conditional requests), recording requests.
type feedServer struct {
	*httptest.Server
	mu           sync.Mutex
	files        map[string][]byte
	noValidators bool
	// before, when set, answers a request first; returning true ends it.
	before   func(w http.ResponseWriter, r *http.Request) bool
	requests []http.Header
	paths    []string
	modified time.Time
}

func newFeedServer(t *testing.T) *feedServer {
	t.Helper()
	fsrv := &feedServer{files: map[string][]byte{}, modified: time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(fsrv.serve))
	l, err := netListen()
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = l
	srv.Start()
	fsrv.Server = srv
	t.Cleanup(srv.Close)
	return fsrv
}

func (f *feedServer) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Header.Clone())
	f.paths = append(f.paths, r.URL.Path)
	data, ok := f.files[r.URL.Path]
	before, noValidators, mod := f.before, f.noValidators, f.modified
	f.mu.Unlock()
	if before != nil && before(w, r) {
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	if noValidators {
		w.Header().Set("Content-Length", fmt.Sprint(len(data)))
		w.Write(data)
		return
	}
	sum := sha256.Sum256(data)
	w.Header().Set("ETag", `"`+hex.EncodeToString(sum[:8])+`"`)
	http.ServeContent(w, r, path.Base(r.URL.Path), mod, bytes.NewReader(data))
}

func (f *feedServer) set(p string, data []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.files[p] = data
	f.modified = f.modified.Add(time.Hour)
}

func (f *feedServer) lastRequest() http.Header {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests[len(f.requests)-1]
}

func (f *feedServer) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// zipFiles zips the files of dir (relative names, filtered by keep) with
// prefix before each name.
func zipFiles(t testing.TB, dir, prefix string, keep func(name string) bool) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if keep != nil && !keep(rel) {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		w, err := zw.Create(prefix + rel)
		if err != nil {
			return err
		}
		_, err = w.Write(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// osvCounts computes from the files under dir, independently of the
// parser, the number of (record, affected package) pairs of records that
// are not withdrawn and can be matched (some ECOSYSTEM or SEMVER range,
// explicit versions, or neither ranges nor versions), and the number of
// distinct record keys among them.
func osvCounts(t testing.TB, dir string) (pairs, keys int, withdrawn []string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		ext := strings.ToLower(filepath.Ext(p))
		if ext != ".json" && ext != ".yaml" && ext != ".yml" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		var doc any
		if ext == ".json" {
			err = json.Unmarshal(data, &doc)
		} else {
			err = yaml.Unmarshal(data, &doc)
		}
		if err != nil {
			return fmt.Errorf("%s: %w", p, err)
		}
		rec, ok := doc.(map[string]any)
		if !ok {
			return nil // an index list
		}
		id, _ := rec["id"].(string)
		if w, ok := rec["withdrawn"]; ok && w != nil && w != "" {
			withdrawn = append(withdrawn, id)
			return nil
		}
		affected, _ := rec["affected"].([]any)
		for _, a := range affected {
			am := a.(map[string]any)
			pkg, _ := am["package"].(map[string]any)
			eco, _ := pkg["ecosystem"].(string)
			name, _ := pkg["name"].(string)
			if eco == "" || name == "" {
				continue
			}
			ranges, _ := am["ranges"].([]any)
			versions, _ := am["versions"].([]any)
			usable := len(ranges) == 0 || len(versions) > 0
			for _, r := range ranges {
				typ, _ := r.(map[string]any)["type"].(string)
				if typ == "ECOSYSTEM" || typ == "SEMVER" {
					usable = true
				}
			}
			if !usable {
				continue
			}
			pairs++
			e, _ := vuln.NormalizeEcosystem(eco)
			if e == vuln.EcosystemPyPI {
				name = pep503(name)
			}
			seen[id+"\x00"+e+"\x00"+name] = true
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(withdrawn)
	return pairs, len(seen), withdrawn
}

func pep503(name string) string {
	name = strings.ToLower(name)
	for _, sep := range []string{"_", "."} {
		name = strings.ReplaceAll(name, sep, "-")
	}
	for strings.Contains(name, "--") {
		name = strings.ReplaceAll(name, "--", "-")
	}
	return name
}

func netListen() (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:0") }
