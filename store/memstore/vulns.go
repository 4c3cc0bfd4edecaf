package memstore

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// PutUpdate implements store.Vulnerabilities: the records are checked and
// encoded by store.EncodeRecords, as the engines do, and published at
// once.
func (s *Store) PutUpdate(ctx context.Context, source, fingerprint string, records []vuln.Record) (*store.UpdateOperation, error) {
	if source == "" {
		return nil, errors.New("put update: no source")
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("put update of %s: %w", source, err)
	}
	enc, err := store.EncodeRecords(source, records)
	if err != nil {
		return nil, fmt.Errorf("put update of %s: %w", source, err)
	}
	ecos, newest := store.Summarize(records)
	origin := store.OriginFrom(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.nextOp++
	op := &operation{
		op:     store.UpdateOperation{ID: s.nextOp, Source: source, CreatedAt: s.at(), Fingerprint: fingerprint, Records: len(enc)},
		hashes: make(map[string]bool, len(enc)),
	}
	op.data = store.SourceData{Source: source, Operation: op.op.ID, UpdatedAt: op.op.CreatedAt, Records: len(enc),
		Type: origin.Type, Origin: origin.Path, Ecosystems: ecos, NewestRecord: newest}
	for _, e := range enc {
		h := hex.EncodeToString(e.Hash)
		op.hashes[h] = true
		r := e.Record
		s.records[h] = storedRecord{source: r.Source, id: r.ID, ecosystem: r.Ecosystem, pkg: r.Package, key: r.Key(), data: []byte(e.Data)}
	}
	s.ops[op.op.ID] = op
	c := op.op
	return &c, nil
}

// PutUpdateStream implements store.UpdateStreamer: the stream is read to
// its end before anything is stored, and an error it yields stores
// nothing.
func (s *Store) PutUpdateStream(ctx context.Context, source, fingerprint string, records store.RecordStream) (*store.UpdateOperation, error) {
	var all []vuln.Record
	for r, err := range records {
		if err != nil {
			return nil, fmt.Errorf("put update of %s: %w", source, err)
		}
		all = append(all, r)
	}
	return s.PutUpdate(ctx, source, fingerprint, all)
}

// RecordRun implements store.Vulnerabilities.
func (s *Store) RecordRun(ctx context.Context, run *store.SourceRun) error {
	data, err := store.EncodeRun(run)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.runs[run.Source]
	st.last = data
	if run.Err == "" {
		st.lastSuccess = run.StartedAt.UTC()
	}
	s.runs[run.Source] = st
	return nil
}

// latest returns the latest published operation of each source. The
// caller holds s.mu.
func (s *Store) latest() map[string]*operation {
	out := map[string]*operation{}
	for _, op := range s.ops {
		if l := out[op.op.Source]; l == nil || l.op.ID < op.op.ID {
			out[op.op.Source] = op
		}
	}
	return out
}

// SourceStatuses implements store.Vulnerabilities.
func (s *Store) SourceStatuses(ctx context.Context) ([]store.SourceStatus, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	latest := s.latest()
	names := map[string]bool{}
	for n := range s.runs {
		names[n] = true
	}
	for n := range latest {
		names[n] = true
	}
	var out []store.SourceStatus
	for _, n := range sortedKeys(names) {
		st := store.SourceStatus{Source: n}
		if r, ok := s.runs[n]; ok {
			if r.last != nil {
				run, err := store.DecodeRun(n, r.last)
				if err != nil {
					return nil, err
				}
				st.LastRun = run
			}
			st.LastSuccess = r.lastSuccess
		}
		if op := latest[n]; op != nil {
			c := op.op
			st.Latest = &c
		}
		out = append(out, st)
	}
	return out, nil
}

// UpdateOperations implements store.Vulnerabilities.
func (s *Store) UpdateOperations(ctx context.Context, source string) ([]store.UpdateOperation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.UpdateOperation
	for _, op := range s.ops {
		if op.op.Source == source {
			out = append(out, op.op)
		}
	}
	slices.SortFunc(out, func(a, b store.UpdateOperation) int { return cmp.Compare(b.ID, a.ID) })
	return out, nil
}

// operation returns published operation id, or store.ErrNotFound. The
// caller holds s.mu.
func (s *Store) operation(id int64) (*operation, error) {
	op, ok := s.ops[id]
	if !ok {
		return nil, fmt.Errorf("update operation %d: %w", id, store.ErrNotFound)
	}
	return op, nil
}

// DiffUpdates implements store.Vulnerabilities with the engines' rule:
// the records of to whose content from does not have are added (their
// Key is not in from) or changed (it is); the records of from whose
// content to does not have and whose Key to does not have are removed.
func (s *Store) DiffUpdates(ctx context.Context, from, to int64) (*store.Diff, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	toOp, err := s.operation(to)
	if err != nil {
		return nil, fmt.Errorf("diff updates %d..%d: %w", from, to, err)
	}
	fromHashes := map[string]bool{}
	if from != 0 {
		fromOp, err := s.operation(from)
		if err != nil {
			return nil, fmt.Errorf("diff updates %d..%d: %w", from, to, err)
		}
		if fromOp.op.Source != toOp.op.Source {
			return nil, fmt.Errorf("diff updates %d..%d: operations of different sources (%s, %s)", from, to, fromOp.op.Source, toOp.op.Source)
		}
		fromHashes = fromOp.hashes
	}
	onlyIn := func(a, b map[string]bool) (map[string]bool, []string) {
		keys := map[string]bool{}
		var hashes []string
		for h := range a {
			if !b[h] {
				keys[s.records[h].key] = true
				hashes = append(hashes, h)
			}
		}
		return keys, hashes
	}
	newerKeys, newer := onlyIn(toOp.hashes, fromHashes)
	olderKeys, older := onlyIn(fromHashes, toOp.hashes)
	d := &store.Diff{}
	for _, h := range newer {
		r, err := s.decode(h)
		if err != nil {
			return nil, fmt.Errorf("diff updates %d..%d: %w", from, to, err)
		}
		if olderKeys[s.records[h].key] {
			d.Changed = append(d.Changed, r)
		} else {
			d.Added = append(d.Added, r)
		}
	}
	for _, h := range older {
		if newerKeys[s.records[h].key] {
			continue
		}
		r, err := s.decode(h)
		if err != nil {
			return nil, fmt.Errorf("diff updates %d..%d: %w", from, to, err)
		}
		d.Removed = append(d.Removed, r)
	}
	for _, l := range [][]vuln.Record{d.Added, d.Removed, d.Changed} {
		store.SortRecords(l)
	}
	return d, nil
}

// decode decodes stored record h. The caller holds s.mu.
func (s *Store) decode(h string) (vuln.Record, error) {
	var r vuln.Record
	if err := json.Unmarshal(s.records[h].data, &r); err != nil {
		return r, fmt.Errorf("decode stored record: %w", err)
	}
	return r, nil
}

// collect decodes the records of the operations ops that keep accepts,
// sorted as store.SortRecords does. The caller holds s.mu.
func (s *Store) collect(ops []*operation, keep func(*storedRecord) bool) ([]vuln.Record, error) {
	var out []vuln.Record
	for _, op := range ops {
		for h := range op.hashes {
			sr := s.records[h]
			if !keep(&sr) {
				continue
			}
			r, err := s.decode(h)
			if err != nil {
				return nil, err
			}
			out = append(out, r)
		}
	}
	store.SortRecords(out)
	return out, nil
}

// current returns the latest operation of every source. The caller holds
// s.mu.
func (s *Store) current() []*operation {
	latest := s.latest()
	out := make([]*operation, 0, len(latest))
	for _, n := range sortedKeys(latest) {
		out = append(out, latest[n])
	}
	return out
}

// Records implements store.Vulnerabilities.
func (s *Store) Records(ctx context.Context, ecosystem string, packages []string) ([]vuln.Record, error) {
	names := uniqueNonEmpty(packages)
	if ecosystem == "" || len(names) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := s.collect(s.current(), func(r *storedRecord) bool { return r.ecosystem == ecosystem && names[r.pkg] })
	if err != nil {
		return nil, fmt.Errorf("records of %s: %w", ecosystem, err)
	}
	return out, nil
}

// RecordsByID implements store.RecordLookup.
func (s *Store) RecordsByID(ctx context.Context, ids []string) ([]vuln.Record, error) {
	ids, err := store.RecordIDs(ids)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	want := uniqueNonEmpty(ids)
	s.mu.Lock()
	defer s.mu.Unlock()
	out, err := s.collect(s.current(), func(r *storedRecord) bool { return want[r.id] })
	if err != nil {
		return nil, fmt.Errorf("records by id: %w", err)
	}
	return out, nil
}

// OperationRecords implements store.UpdateRecords.
func (s *Store) OperationRecords(ctx context.Context, op int64, ecosystem string, packages []string) ([]vuln.Record, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	o, err := s.operation(op)
	if err != nil {
		return nil, err
	}
	names := uniqueNonEmpty(packages)
	if ecosystem == "" || len(names) == 0 {
		return nil, nil
	}
	out, err := s.collect([]*operation{o}, func(r *storedRecord) bool { return r.ecosystem == ecosystem && names[r.pkg] })
	if err != nil {
		return nil, fmt.Errorf("records of operation %d in %s: %w", op, ecosystem, err)
	}
	return out, nil
}

// PruneUpdates implements store.Vulnerabilities.
func (s *Store) PruneUpdates(ctx context.Context, source string, keep int) (int, error) {
	if keep < 0 {
		return 0, fmt.Errorf("prune updates of %s: negative keep %d", source, keep)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var ids []int64
	for id, op := range s.ops {
		if op.op.Source == source {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	slices.Reverse(ids)
	if len(ids) <= keep {
		return 0, nil
	}
	gone := ids[keep:]
	for _, id := range gone {
		delete(s.ops, id)
	}
	// The records no operation refers to any more.
	used := map[string]bool{}
	for _, op := range s.ops {
		for h := range op.hashes {
			used[h] = true
		}
	}
	for h := range s.records {
		if !used[h] {
			delete(s.records, h)
		}
	}
	return len(gone), nil
}

// SourceData implements store.Coverage.
func (s *Store) SourceData(ctx context.Context) ([]store.SourceData, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.SourceData
	for _, op := range s.current() {
		d := op.data
		d.Ecosystems = make(map[string]int, len(op.data.Ecosystems))
		for k, v := range op.data.Ecosystems {
			d.Ecosystems[k] = v
		}
		out = append(out, d)
	}
	return out, nil
}

// CurrentOperations implements store.CurrentOperations: each source's
// current operation, in SourceData's order.
func (s *Store) CurrentOperations(ctx context.Context) ([]store.SourceOperation, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.SourceOperation
	for _, op := range s.current() {
		out = append(out, store.SourceOperation{Source: op.data.Source, Operation: op.data.Operation})
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
