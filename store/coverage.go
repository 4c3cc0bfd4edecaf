package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lapps/lapps/vuln"
)

// SourceData is what the current (latest published) update operation of
// one source holds: enough to tell, per report, which sources cover an
// image and how old their data is, without reading the records.
type SourceData struct {
	Source string
	// Operation is the source's current update operation, UpdatedAt when
	// it was stored (the import or update time), Records its size.
	Operation int64
	UpdatedAt time.Time
	Records   int
	// Type is the source type the operation was stored by ("osv",
	// "alpine-secdb", …), Origin what it was read from (the path of an
	// import); both empty when not given to PutUpdate (WithOrigin) or
	// stored before lapps recorded them.
	Type   string
	Origin string
	// Ecosystems counts the operation's records by ecosystem. Computed
	// when the operation is stored (for operations stored before, when
	// the schema was upgraded).
	Ecosystems map[string]int
	// NewestRecord is the latest Modified or Published time of the
	// operation's records: the age of the data itself. Zero when no
	// record carries a date (the Go vulndb's OSV export has none), or for
	// operations stored before lapps recorded it.
	NewestRecord time.Time
}

// Coverage reads what each source's current data covers.
type Coverage interface {
	// SourceData returns one entry per source with a published update
	// operation, sorted by source name: its current operation's
	// ecosystems, newest record time, type and origin. It reads no
	// records.
	SourceData(ctx context.Context) ([]SourceData, error)
}

// Origin is where the records of an update operation came from. PutUpdate
// stores the Origin of its context (WithOrigin) with the operation.
type Origin struct {
	// Type is the source type (parser) that read the records.
	Type string
	// Path is the local file, directory or zip an import read; empty for
	// sources fetched from URLs.
	Path string
}

type originKey struct{}

// WithOrigin returns a context under which PutUpdate records o as the
// origin of the operation it stores. A context carries it, rather than an
// argument of PutUpdate, so that the updaters that call PutUpdate need not
// know of it.
func WithOrigin(ctx context.Context, o Origin) context.Context {
	return context.WithValue(ctx, originKey{}, o)
}

// OriginFrom returns the Origin WithOrigin put in ctx, or the zero Origin.
func OriginFrom(ctx context.Context) Origin {
	o, _ := ctx.Value(originKey{}).(Origin)
	return o
}

// Summarize counts records by ecosystem and returns the latest of their
// Modified and Published times (zero when none has a date), as PutUpdate
// stores them with an operation.
func Summarize(records []vuln.Record) (map[string]int, time.Time) {
	ecos := map[string]int{}
	var newest time.Time
	for i := range records {
		r := &records[i]
		ecos[r.Ecosystem]++
		for _, t := range []time.Time{r.Modified, r.Published} {
			if t.After(newest) {
				newest = t
			}
		}
	}
	if !newest.IsZero() {
		newest = newest.UTC()
	}
	return ecos, newest
}

// EncodeEcosystems encodes the per-ecosystem counts of an operation as
// both engines store them (a JSON object).
func EncodeEcosystems(ecos map[string]int) string {
	if ecos == nil {
		ecos = map[string]int{}
	}
	b, _ := json.Marshal(ecos) // a map of strings to ints always encodes
	return string(b)
}

// DecodeEcosystems decodes what EncodeEcosystems (or a migration's
// backfill) stored; empty data is nil (unknown).
func DecodeEcosystems(source string, data []byte) (map[string]int, error) {
	if len(data) == 0 {
		return nil, nil
	}
	ecos := map[string]int{}
	if err := json.Unmarshal(data, &ecos); err != nil {
		return nil, fmt.Errorf("source %s: decode stored ecosystems: %w", source, err)
	}
	return ecos, nil
}

// CurrentOperations is implemented by the engines: each source's current
// (latest published) update operation, ordered by source name as
// SourceData is, without the rest of SourceData. Reports read it at
// every request (the data version), where decoding SourceData's
// ecosystem counts cost more than the query.
type CurrentOperations interface {
	CurrentOperations(ctx context.Context) ([]SourceOperation, error)
}

// SourceOperation is a source's current update operation.
type SourceOperation struct {
	Source    string
	Operation int64
}
