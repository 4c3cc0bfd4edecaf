package updater

import (
	"bufio"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"

	"github.com/lapps/lapps/limits"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// StreamParser is a Parser that hands its records to emit as it reads the
// feed, rather than returning them all at once, so that a run holds no
// more of a large feed in memory than the parser's own state. Records of
// the same Key may be emitted more than once (one per file that names
// them): the run merges them as Parse would (Merger, else Dedupe). On
// error the run stores nothing of what was emitted.
type StreamParser interface {
	Parser
	ParseStream(ctx context.Context, feed fs.FS, emit func(vuln.Record) error) error
}

// Merger is implemented by a parser whose Parse merges records of the
// same Key by a rule of its own rather than Dedupe's: Merge returns the
// one record Parse would give for parts, in the order they were emitted.
type Merger interface {
	Merge(parts []vuln.Record) vuln.Record
}

// Collect runs a StreamParser's ParseStream and returns the records it
// emits, in order: what a StreamParser's Parse builds on.
func Collect(ctx context.Context, p StreamParser, feed fs.FS) ([]vuln.Record, error) {
	var recs []vuln.Record
	err := p.ParseStream(ctx, feed, func(r vuln.Record) error {
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return recs, nil
}

// spill holds the records of one run on disk until the parse is done, and
// in memory only what it takes to find records of the same key and to
// give the records in the order of their content hash: about 60 bytes a
// record (a 100,000-record feed takes 6 MB, where its records themselves
// would take hundreds). Records are written as the store encodes them
// (store.EncodeRecord), and read back one at a time.
//
// Written here rather than with a library: what it needs (append, read at
// an offset, an index of 16-byte keys) is a few lines over os.File, and
// an embedded key-value store would bring its own memory and write
// amplification to what is a throw-away file.
type spill struct {
	source  string
	f       *os.File
	w       *bufio.Writer
	off     int64
	max     int64 // bound of the bytes written
	lim     Limits
	entries []spillEntry
	keys    map[[16]byte]int32 // key hash → first entry
	groups  map[int32][]int32  // first entry → every entry of its key, in order
}

// spillEntry is one record written to the spill.
type spillEntry struct {
	off  int64
	n    int32
	hash uint64 // the first 8 bytes of the record's content hash
	dead bool   // merged into another entry
}

// newSpill creates the spill file in dir (the system's temporary
// directory when empty).
func newSpill(dir, source string, lim Limits) (*spill, error) {
	f, err := os.CreateTemp(dir, "lapps-records-*")
	if err != nil {
		return nil, fmt.Errorf("records file: %w", err)
	}
	return &spill{source: source, f: f, w: bufio.NewWriterSize(f, 1<<16), max: lim.FeedBytes, lim: lim,
		keys: map[[16]byte]int32{}}, nil
}

// Close removes the spill file.
func (s *spill) Close() error {
	name := s.f.Name()
	return errors.Join(s.f.Close(), os.Remove(name))
}

// add writes a record, and notes a key seen before.
func (s *spill) add(r vuln.Record) error {
	enc, err := store.EncodeRecord(s.source, r)
	if err != nil {
		return err
	}
	if len(s.entries) >= 1<<31-1 {
		return s.lim.RecordsError("records of the feed")
	}
	idx, err := s.write(enc)
	if err != nil {
		return err
	}
	sum := sha256.Sum256([]byte(enc.Record.Key()))
	var k [16]byte
	copy(k[:], sum[:])
	if first, ok := s.keys[k]; ok {
		if s.groups == nil {
			s.groups = map[int32][]int32{}
		}
		if _, ok := s.groups[first]; !ok {
			s.groups[first] = []int32{first}
		}
		s.groups[first] = append(s.groups[first], idx)
		return nil
	}
	s.keys[k] = idx
	return nil
}

// write appends an encoded record and returns its entry.
func (s *spill) write(enc store.EncodedRecord) (int32, error) {
	if s.off+int64(len(enc.Data)) > s.max {
		return 0, limits.New("records of the feed", s.max, "bytes", KeyMaxFeedBytes)
	}
	if _, err := s.w.WriteString(enc.Data); err != nil {
		return 0, fmt.Errorf("records file: %w", err)
	}
	s.entries = append(s.entries, spillEntry{off: s.off, n: int32(len(enc.Data)), hash: binary.BigEndian.Uint64(enc.Hash)})
	s.off += int64(len(enc.Data))
	return int32(len(s.entries) - 1), nil
}

// read decodes entry i.
func (s *spill) read(i int32, buf []byte) (vuln.Record, []byte, error) {
	e := s.entries[i]
	buf = slices.Grow(buf[:0], int(e.n))[:e.n]
	if _, err := s.f.ReadAt(buf, e.off); err != nil {
		return vuln.Record{}, buf, fmt.Errorf("records file: %w", err)
	}
	var r vuln.Record
	if err := json.Unmarshal(buf, &r); err != nil {
		return vuln.Record{}, buf, fmt.Errorf("records file: %w", err)
	}
	return r, buf, nil
}

// finish merges the records of each key written more than once (with
// merge, one key at a time) and returns the order in which to read the
// live entries: by content hash.
func (s *spill) finish(merge func([]vuln.Record) vuln.Record) ([]int32, error) {
	var buf []byte
	firsts := make([]int32, 0, len(s.groups))
	for first := range s.groups {
		firsts = append(firsts, first)
	}
	slices.Sort(firsts) // a deterministic file, whatever the map's order
	for _, first := range firsts {
		if err := s.w.Flush(); err != nil {
			return nil, fmt.Errorf("records file: %w", err)
		}
		g := s.groups[first]
		parts := make([]vuln.Record, len(g))
		for i, idx := range g {
			var err error
			if parts[i], buf, err = s.read(idx, buf); err != nil {
				return nil, err
			}
			s.entries[idx].dead = true
		}
		m := merge(parts)
		m.Source = s.source
		enc, err := store.EncodeRecord(s.source, m)
		if err != nil {
			return nil, err
		}
		if _, err := s.write(enc); err != nil {
			return nil, err
		}
	}
	s.groups = nil
	s.keys = nil // not needed any more: free it before the store's work
	if err := s.w.Flush(); err != nil {
		return nil, fmt.Errorf("records file: %w", err)
	}
	order := make([]int32, 0, len(s.entries))
	for i := range s.entries {
		if !s.entries[i].dead {
			order = append(order, int32(i))
		}
	}
	slices.SortFunc(order, func(a, b int32) int { return cmp.Compare(s.entries[a].hash, s.entries[b].hash) })
	return order, nil
}

// stream reads the entries of order one at a time.
func (s *spill) stream(ctx context.Context, order []int32) store.RecordStream {
	return func(yield func(vuln.Record, error) bool) {
		var buf []byte
		for n, i := range order {
			if n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					yield(vuln.Record{}, err)
					return
				}
			}
			r, b, err := s.read(i, buf)
			buf = b
			if err != nil {
				yield(vuln.Record{}, err)
				return
			}
			if !yield(r, nil) {
				return
			}
		}
	}
}

// parseTo parses the feed into a spill: a StreamParser emits into it; any
// other parser's result is written to it and dropped.
func parseTo(ctx context.Context, parser Parser, feed fs.FS, sp *spill) error {
	emit := func(r vuln.Record) error {
		r.Source = sp.source
		return sp.add(r)
	}
	if p, ok := parser.(StreamParser); ok {
		return p.ParseStream(ctx, feed, emit)
	}
	recs, err := parser.Parse(ctx, feed)
	if err != nil {
		return err
	}
	for i := range recs {
		if err := emit(recs[i]); err != nil {
			return err
		}
		recs[i] = vuln.Record{} // let the collector have it
	}
	return nil
}

// mergeOf is the merge rule of parser's records.
func mergeOf(parser Parser) func([]vuln.Record) vuln.Record {
	if m, ok := parser.(Merger); ok {
		return m.Merge
	}
	return merge
}
