package store

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"sync"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/vuln"
)

// RecordCache keeps decoded records by content hash. A stored record never
// changes under its hash, so the cache needs no invalidation; it only
// spares the JSON decoding that dominates a report's lookups. Both engines
// use it. It is
// bounded: when full it starts again empty.
type RecordCache struct {
	mu  sync.RWMutex
	m   map[string]*vuln.Record
	max int
}

// NewRecordCache returns a cache of at most max records.
func NewRecordCache(max int) *RecordCache {
	return &RecordCache{m: make(map[string]*vuln.Record), max: max}
}

// Decode returns the record stored as data under hash, decoding it only
// when it is not cached. The caller gets its own copy, slices included.
func (c *RecordCache) Decode(hash, data []byte) (vuln.Record, error) {
	c.mu.RLock()
	r, ok := c.m[string(hash)]
	c.mu.RUnlock()
	if ok {
		return clone(r), nil
	}
	var rec vuln.Record
	if err := json.Unmarshal(data, &rec); err != nil {
		return vuln.Record{}, fmt.Errorf("decode stored record: %w", err)
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[string]*vuln.Record, c.max)
	}
	stored := clone(&rec)
	c.m[string(hash)] = &stored
	c.mu.Unlock()
	return rec, nil
}

// ScanRow reads a row of (hash, data), the columns both engines select
// for current records, and decodes it as Decode does; for CollectRows.
func (c *RecordCache) ScanRow(row Row) (*vuln.Record, error) {
	var hash, data []byte
	if err := row.Scan(&hash, &data); err != nil {
		return nil, err
	}
	rec, err := c.Decode(hash, data)
	if err != nil {
		return nil, err
	}
	return &rec, nil
}

// clone copies a record and its slices.
func clone(r *vuln.Record) vuln.Record {
	c := *r
	c.Aliases = slices.Clone(r.Aliases)
	c.Ranges = slices.Clone(r.Ranges)
	c.Versions = slices.Clone(r.Versions)
	c.CVSS = slices.Clone(r.CVSS)
	c.Links = slices.Clone(r.Links)
	return c
}

// IndexCache keeps decoded image indexes by the SHA-256 of their stored
// JSON, so that an index rewritten by anyone (another process included)
// is never served stale, while repeated reports of an unchanged image skip
// the decoding. Bounded like RecordCache.
type IndexCache struct {
	mu  sync.Mutex
	m   map[[32]byte]*model.ImageIndex
	max int
}

// NewIndexCache returns a cache of at most max indexes.
func NewIndexCache(max int) *IndexCache {
	return &IndexCache{m: make(map[[32]byte]*model.ImageIndex), max: max}
}

// Decode returns the index stored as data, as a copy the caller may change.
func (c *IndexCache) Decode(data []byte) (*model.ImageIndex, error) {
	key := sha256.Sum256(data)
	c.mu.Lock()
	idx, ok := c.m[key]
	c.mu.Unlock()
	if ok {
		return cloneIndex(idx), nil
	}
	var dec model.ImageIndex
	if err := json.Unmarshal(data, &dec); err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.m) >= c.max {
		c.m = make(map[[32]byte]*model.ImageIndex, c.max)
	}
	c.m[key] = cloneIndex(&dec)
	c.mu.Unlock()
	return &dec, nil
}

// cloneIndex copies an index deeply enough that changing the copy's
// fields and slices leaves the original alone.
func cloneIndex(idx *model.ImageIndex) *model.ImageIndex {
	c := *idx
	if idx.Distribution != nil {
		d := *idx.Distribution
		c.Distribution = &d
	}
	c.Layers = slices.Clone(idx.Layers)
	c.Packages = slices.Clone(idx.Packages)
	c.OSOwned = slices.Clone(idx.OSOwned)
	c.Warnings = slices.Clone(idx.Warnings)
	return &c
}
