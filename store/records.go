package store

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/lapps/lapps/vuln"
)

// SortRecords sorts records by ecosystem, package and id.
func SortRecords(rs []vuln.Record) {
	slices.SortFunc(rs, func(a, b vuln.Record) int {
		return cmpStrings(a.Ecosystem, b.Ecosystem, a.Package, b.Package, a.ID, b.ID, a.Source, b.Source)
	})
}

// cmpStrings compares pairs of strings in turn.
func cmpStrings(pairs ...string) int {
	for i := 0; i+1 < len(pairs); i += 2 {
		if c := strings.Compare(pairs[i], pairs[i+1]); c != 0 {
			return c
		}
	}
	return 0
}

// DecodeRecords decodes stored records. Decoding JSON costs more than
// finding the records, so a large result is decoded on several cores.
func DecodeRecords(raw [][]byte) ([]vuln.Record, error) {
	if len(raw) == 0 {
		return nil, nil
	}
	out := make([]vuln.Record, len(raw))
	const perWorker = 64
	workers := min(runtime.GOMAXPROCS(0), (len(raw)+perWorker-1)/perWorker)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < len(raw); i += workers {
				if err := json.Unmarshal(raw[i], &out[i]); err != nil {
					errs[w] = fmt.Errorf("decode stored record: %w", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}
