package store

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/lapps/lapps/vuln"
)

// EncodedRecord is a record ready to store: its JSON and the SHA-256 of
// that JSON, the content hash under which both engines store it.
type EncodedRecord struct {
	Record *vuln.Record
	Hash   []byte
	Data   string
}

// EncodeRecords checks the records of an update of source and encodes
// them: every record needs an id, an ecosystem and a package, belongs to
// source (an empty Source is taken to mean source) and has a Key of its own.
// Encoding and hashing, the bulk of the work, run on several cores.
//
// Both engines use it, so that they hash records alike.
func EncodeRecords(source string, records []vuln.Record) ([]EncodedRecord, error) {
	out := make([]EncodedRecord, len(records))
	keys := make(map[string]int, len(records))
	for i := range records {
		r := records[i] // a copy: the caller's records are not changed
		switch {
		case r.ID == "" || r.Ecosystem == "" || r.Package == "":
			return nil, fmt.Errorf("record %d (%q, ecosystem %q, package %q): id, ecosystem and package are required", i, r.ID, r.Ecosystem, r.Package)
		case r.Source == "":
			r.Source = source
		case r.Source != source:
			return nil, fmt.Errorf("record %s %s %s: source %q in an update of %q", r.ID, r.Ecosystem, r.Package, r.Source, source)
		}
		k := r.Key()
		if j, dup := keys[k]; dup {
			return nil, fmt.Errorf("records %d and %d have the same key (%s, %s, %s)", j, i, r.ID, r.Ecosystem, r.Package)
		}
		keys[k] = i
		out[i].Record = &r
	}
	const perWorker = 256
	workers := min(runtime.GOMAXPROCS(0), (len(out)+perWorker-1)/perWorker)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(out); i += workers {
				r := out[i].Record
				b, err := json.Marshal(r)
				if err != nil {
					errs[w] = fmt.Errorf("record %s %s %s: %w", r.ID, r.Ecosystem, r.Package, err)
					return
				}
				h := sha256.Sum256(b)
				out[i].Hash, out[i].Data = h[:], string(b)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
