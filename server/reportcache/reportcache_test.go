package reportcache

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func entry(key, version string, n int) *Entry {
	return &Entry{Key: key, Version: version, ETag: `"t"`, ContentType: "application/json", Body: []byte(strings.Repeat("x", n))}
}

// TestCacheBound: entries beyond the bound evict the least recently used
// ones, and the bytes held never exceed it.
func TestCacheBound(t *testing.T) {
	c := New(10 * (1000 + entryOverhead + 100))
	for i := 0; i < 10; i++ {
		c.Put(entry(fmt.Sprint("k", i), "v", 1000))
	}
	if s := c.Stats(); s.Entries != 10 || s.Evictions != 0 {
		t.Fatalf("10 entries that fit: %+v", s)
	}
	// k0 used: k1 is now the least recently used.
	if _, ok := c.Get("k0", "v"); !ok {
		t.Fatal("k0 missing")
	}
	c.Put(entry("k10", "v", 1000))
	if _, ok := c.Get("k1", "v"); ok {
		t.Error("k1, the least recently used, was kept past the bound")
	}
	for _, k := range []string{"k0", "k2", "k10"} {
		if _, ok := c.Get(k, "v"); !ok {
			t.Errorf("%s evicted", k)
		}
	}
	// Many more, of varied sizes: the bound holds.
	for i := 0; i < 1000; i++ {
		c.Put(entry(fmt.Sprint("m", i), "v", i*7%3000))
		if s := c.Stats(); s.Bytes > c.MaxBytes() {
			t.Fatalf("after %d puts %d bytes held, bound %d", i, s.Bytes, c.MaxBytes())
		}
	}
	if s := c.Stats(); s.Evictions == 0 {
		t.Errorf("no eviction: %+v", s)
	}
	// An entry above a quarter of the bound is not kept.
	c.Put(entry("huge", "v", int(c.MaxBytes()/4)+1))
	if _, ok := c.Get("huge", "v"); ok {
		t.Error("an entry of more than a quarter of the bound was kept")
	}
}

// TestCacheVersion: an entry is served only for its version, and only
// until it expires; a stale one is dropped.
func TestCacheVersion(t *testing.T) {
	c := New(0)
	now := time.Unix(1000, 0)
	c.now = func() time.Time { return now }
	c.Put(entry("k", "v1", 10))
	if _, ok := c.Get("k", "v2"); ok {
		t.Fatal("served for another version")
	}
	if _, ok := c.Get("k", "v1"); ok {
		t.Fatal("a stale entry was kept")
	}
	e := entry("k", "v1", 10)
	e.Expires = now.Add(time.Minute)
	c.Put(e)
	if _, ok := c.Get("k", "v1"); !ok {
		t.Fatal("not served before it expires")
	}
	now = now.Add(time.Minute)
	if _, ok := c.Get("k", "v1"); ok {
		t.Fatal("served once expired")
	}
	if s := c.Stats(); s.Entries != 0 || s.Bytes != 0 || s.Stale != 2 {
		t.Errorf("stats %+v", s)
	}
}

// TestFreshNeverOlder: a caller never gets a value read before it called,
// while concurrent callers share reads.
func TestFreshNeverOlder(t *testing.T) {
	var f Fresh
	var version atomic.Int64 // what the "store" holds
	var reads atomic.Int64
	read := func(context.Context) (string, error) {
		reads.Add(1)
		v := version.Load()
		time.Sleep(time.Millisecond)
		return fmt.Sprint(v), nil
	}
	var wg sync.WaitGroup
	errs := make(chan string, 1000)
	for g := 0; g < 32; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 30; i++ {
				if g == 0 {
					version.Add(1)
				}
				seen := version.Load()
				v, err := f.Do(context.Background(), "k", read)
				var n int64
				fmt.Sscan(v, &n)
				if err != nil || n < seen {
					errs <- fmt.Sprintf("called at version %d, got %q (%v)", seen, v, err)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if n := reads.Load(); n >= 32*30 {
		t.Errorf("%d reads for %d calls: none shared", n, 32*30)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.keys) != 0 {
		t.Errorf("%d keys left", len(f.keys))
	}
}

// TestFreshJoinsNoRunningRead: a call made while a read runs is not
// answered by it.
func TestFreshJoinsNoRunningRead(t *testing.T) {
	var f Fresh
	started, release := make(chan struct{}), make(chan struct{})
	var n atomic.Int64
	go f.Do(context.Background(), "k", func(context.Context) (string, error) {
		close(started)
		<-release
		return "old", nil
	})
	<-started
	done := make(chan string)
	go func() {
		v, _ := f.Do(context.Background(), "k", func(context.Context) (string, error) { n.Add(1); return "new", nil })
		done <- v
	}()
	time.Sleep(10 * time.Millisecond) // let it queue; the result does not depend on it
	close(release)
	if v := <-done; v != "new" || n.Load() != 1 {
		t.Errorf("got %q after %d reads of its own", v, n.Load())
	}
}
