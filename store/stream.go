package store

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"iter"
	"time"

	"github.com/lapps/lapps/vuln"
)

// RecordStream yields the records of an update one at a time, and an
// error (ending the stream) when producing them failed.
type RecordStream = iter.Seq2[vuln.Record, error]

// UpdateStreamer stores an update from a stream of records, holding no
// more than a batch of them in memory: what the updater uses for feeds of
// hundreds of thousands of records. Both engines implement it.
type UpdateStreamer interface {
	// PutUpdateStream is PutUpdate reading its records from records: the
	// same checks, the same atomicity for readers (nothing is published
	// until the last record is stored; on error, including one the stream
	// yields, nothing is). Records given in the order of their content
	// hash (EncodeRecord) are written fastest.
	PutUpdateStream(ctx context.Context, source, fingerprint string, records RecordStream) (*UpdateOperation, error)
}

// RecordsOf returns a stream of records.
func RecordsOf(records []vuln.Record) RecordStream {
	return func(yield func(vuln.Record, error) bool) {
		for _, r := range records {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// EncodeRecord encodes one record of an update of source as both engines
// store it (its JSON with Source set, and the SHA-256 of that JSON),
// after EncodeRecords' checks of a single record.
func EncodeRecord(source string, r vuln.Record) (EncodedRecord, error) {
	switch {
	case r.ID == "" || r.Ecosystem == "" || r.Package == "":
		return EncodedRecord{}, fmt.Errorf("record (%q, ecosystem %q, package %q): id, ecosystem and package are required", r.ID, r.Ecosystem, r.Package)
	case r.Source == "":
		r.Source = source
	case r.Source != source:
		return EncodedRecord{}, fmt.Errorf("record %s %s %s: source %q in an update of %q", r.ID, r.Ecosystem, r.Package, r.Source, source)
	}
	b, err := json.Marshal(&r)
	if err != nil {
		return EncodedRecord{}, fmt.Errorf("record %s %s %s: %w", r.ID, r.Ecosystem, r.Package, err)
	}
	h := sha256.Sum256(b)
	return EncodedRecord{Record: &r, Hash: h[:], Data: string(b)}, nil
}

// UpdateEncoder checks and encodes the records of one streamed update,
// one at a time: EncodeRecord's checks, and that no two records share a
// Key, which it remembers as 16 bytes of the key's SHA-256 (a few
// megabytes for a million records, rather than the keys). It sums up the
// records as Summarize does.
type UpdateEncoder struct {
	source string
	keys   map[[16]byte]struct{}
	ecos   map[string]int
	newest time.Time
	n      int
}

// NewUpdateEncoder returns an encoder for an update of source.
func NewUpdateEncoder(source string) *UpdateEncoder {
	return &UpdateEncoder{source: source, keys: map[[16]byte]struct{}{}, ecos: map[string]int{}}
}

// Encode checks and encodes the next record.
func (e *UpdateEncoder) Encode(r vuln.Record) (EncodedRecord, error) {
	enc, err := EncodeRecord(e.source, r)
	if err != nil {
		return enc, fmt.Errorf("record %d: %w", e.n, err)
	}
	sum := sha256.Sum256([]byte(enc.Record.Key()))
	var k [16]byte
	copy(k[:], sum[:])
	if _, dup := e.keys[k]; dup {
		return EncodedRecord{}, fmt.Errorf("record %d has the key of an earlier one (%s, %s, %s)", e.n, r.ID, r.Ecosystem, r.Package)
	}
	e.keys[k] = struct{}{}
	e.n++
	e.ecos[r.Ecosystem]++
	for _, t := range []time.Time{r.Modified, r.Published} {
		if t.After(e.newest) {
			e.newest = t
		}
	}
	return enc, nil
}

// Count is the number of records encoded so far.
func (e *UpdateEncoder) Count() int { return e.n }

// Summary is what Summarize returns of the records encoded so far.
func (e *UpdateEncoder) Summary() (map[string]int, time.Time) {
	newest := e.newest
	if !newest.IsZero() {
		newest = newest.UTC()
	}
	return e.ecos, newest
}
