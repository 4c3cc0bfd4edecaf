// Package reportcache keeps encoded reports in memory, bounded in bytes
// and evicted least recently used first, so that a server answers the
// same report again without matching the image against the data and
// without encoding it.
//
// An entry is stored under a key (what was asked: the route, the image,
// the format) with a version (what the answer is made of: the scan, the
// manifest, the vulnerability data version). A lookup gives the version
// the caller has just read from the store; an entry of another version is
// never returned, and is dropped. The cache itself never reads the store.
//
// It is written here rather than taken from a library because the bound
// is in bytes of the encoded bodies (two of them, identity and gzip) and
// the version check is part of the lookup; container/list does the LRU.
package reportcache

import (
	"container/list"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultMaxBytes is the default bound of a cache (server.report_cache.max_bytes).
const DefaultMaxBytes = 64 << 20

// DefaultMaxAge is the default lifetime of an entry of a live report
// (server.report_cache.max_age).
const DefaultMaxAge = 10 * time.Minute

// entryOverhead is what an entry costs besides its bodies, counted
// against the bound so that many small entries cannot exceed it.
const entryOverhead = 512

// Entry is one encoded report.
type Entry struct {
	// Key is what was asked; Version what the answer was made of.
	Key, Version string
	// ETag is the entity tag of Body, quoted ("…"); the gzip encoding is
	// served under the same tag with -gz before the closing quote.
	ETag        string
	ContentType string
	// Body is the encoded report; Gzip the same gzip-compressed, nil
	// when compression is not worth it.
	Body, Gzip []byte
	// Expires is when the entry stops being served (the ages of the data
	// sources it shows change then, or the cache's max age ran out);
	// zero never.
	Expires time.Time
	// Immutable marks a recorded scan's report, which never changes.
	Immutable bool
}

func (e *Entry) size() int64 {
	return int64(len(e.Key)+len(e.Version)+len(e.ETag)+len(e.ContentType)+len(e.Body)+len(e.Gzip)) + entryOverhead
}

// Stats counts what the cache did.
type Stats struct {
	Hits, Misses, Evictions, Stale int64
	Entries                        int
	Bytes                          int64
}

// Cache is a bounded LRU of entries; safe for concurrent use.
type Cache struct {
	max int64
	now func() time.Time

	mu   sync.Mutex
	size int64
	ll   *list.List // of *Entry, most recently used first
	m    map[string]*list.Element

	hits, misses, evictions, stale atomic.Int64
}

// New returns a cache of at most maxBytes of entries (their bodies and
// keys). maxBytes <= 0 is DefaultMaxBytes.
func New(maxBytes int64) *Cache {
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Cache{max: maxBytes, now: time.Now, ll: list.New(), m: map[string]*list.Element{}}
}

// MaxBytes returns the bound.
func (c *Cache) MaxBytes() int64 { return c.max }

// Get returns the entry of key when it has version and has not expired.
// An entry of another version, or expired, is removed.
func (c *Cache) Get(key, version string) (*Entry, bool) {
	c.mu.Lock()
	el, ok := c.m[key]
	if !ok {
		c.mu.Unlock()
		c.misses.Add(1)
		return nil, false
	}
	e := el.Value.(*Entry)
	if e.Version != version || (!e.Expires.IsZero() && !c.now().Before(e.Expires)) {
		c.remove(el)
		c.mu.Unlock()
		c.stale.Add(1)
		c.misses.Add(1)
		return nil, false
	}
	c.ll.MoveToFront(el)
	c.mu.Unlock()
	c.hits.Add(1)
	return e, true
}

// Put stores e under e.Key, replacing what was there, and evicts the
// least recently used entries beyond the bound. An entry larger than a
// quarter of the bound is not stored: one report must not empty the
// cache.
func (c *Cache) Put(e *Entry) {
	sz := e.size()
	if sz > c.max/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[e.Key]; ok {
		c.remove(el)
	}
	c.m[e.Key] = c.ll.PushFront(e)
	c.size += sz
	for c.size > c.max {
		c.remove(c.ll.Back())
		c.evictions.Add(1)
	}
}

// remove drops el; c.mu is held.
func (c *Cache) remove(el *list.Element) {
	e := c.ll.Remove(el).(*Entry)
	delete(c.m, e.Key)
	c.size -= e.size()
}

// Stats returns the counts so far.
func (c *Cache) Stats() Stats {
	c.mu.Lock()
	n, b := c.ll.Len(), c.size
	c.mu.Unlock()
	return Stats{Hits: c.hits.Load(), Misses: c.misses.Load(), Evictions: c.evictions.Load(), Stale: c.stale.Load(), Entries: n, Bytes: b}
}
