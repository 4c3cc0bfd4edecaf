package store

import (
	"fmt"

	"github.com/lapps/lapps/vuln"
)

// DiffSources checks that two update operations can be diffed: from may
// be nil (a diff from nothing), otherwise both are of one source. Both
// engines call it on the operations their DiffUpdates reads.
func DiffSources(from, to *UpdateOperation) error {
	if from != nil && from.Source != to.Source {
		return fmt.Errorf("operations of different sources (%s, %s)", from.Source, to.Source)
	}
	return nil
}

// DiffRecords is the arithmetic of DiffUpdates, shared by both engines:
// given the records of the later operation whose exact content the earlier
// one lacks (newer) and the converse (older), the records of a Key only in
// newer are added, those of a Key only in older removed, and those of a
// Key in both changed, as they are in newer. Each list is sorted by
// ecosystem, package and id (SortRecords).
func DiffRecords(newer, older []vuln.Record) *Diff {
	inOlder := make(map[string]bool, len(older))
	for i := range older {
		inOlder[older[i].Key()] = true
	}
	inNewer := make(map[string]bool, len(newer))
	d := &Diff{}
	for _, r := range newer {
		k := r.Key()
		inNewer[k] = true
		if inOlder[k] {
			d.Changed = append(d.Changed, r)
		} else {
			d.Added = append(d.Added, r)
		}
	}
	for _, r := range older {
		if !inNewer[r.Key()] {
			d.Removed = append(d.Removed, r)
		}
	}
	for _, l := range [][]vuln.Record{d.Added, d.Removed, d.Changed} {
		SortRecords(l)
	}
	return d
}
