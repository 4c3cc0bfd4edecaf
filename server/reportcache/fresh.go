package reportcache

import (
	"context"
	"sync"
)

// Fresh shares reads of a version among concurrent callers without ever
// giving a caller a value read before it asked: a caller joins a read
// that has not started yet, or starts one; while a read of its key is
// running, new callers wait for it to end and share the next one. So at
// most two reads of a key are in flight or queued, however many callers
// there are, and every caller gets a value at least as new as the store
// held when it called — what reading it itself would give.
//
// singleflight.Group shares a read already running, which may have read
// the store before the caller asked: a report older than the data the
// caller could see. Hence this.
type Fresh struct {
	mu   sync.Mutex
	keys map[string]*freshKey
}

type freshKey struct {
	running, next *flight
}

type flight struct {
	done chan struct{}
	val  string
	err  error
}

// Do returns fn's value for key, read by a call of fn that started after
// Do was called. fn runs with ctx without its cancellation, since other
// callers may share its value; a caller whose ctx ends stops waiting.
func (f *Fresh) Do(ctx context.Context, key string, fn func(context.Context) (string, error)) (string, error) {
	f.mu.Lock()
	if f.keys == nil {
		f.keys = map[string]*freshKey{}
	}
	k := f.keys[key]
	if k == nil {
		k = &freshKey{}
		f.keys[key] = k
	}
	switch {
	case k.next != nil:
		// Queued behind a running read: it starts after this call.
		fl := k.next
		f.mu.Unlock()
		return wait(ctx, fl)
	case k.running != nil:
		fl := &flight{done: make(chan struct{})}
		k.next = fl
		prev := k.running
		f.mu.Unlock()
		<-prev.done
		f.mu.Lock()
		k.running, k.next = fl, nil
		f.mu.Unlock()
		f.run(ctx, key, k, fl, fn)
		return fl.val, fl.err
	default:
		fl := &flight{done: make(chan struct{})}
		k.running = fl
		f.mu.Unlock()
		f.run(ctx, key, k, fl, fn)
		return fl.val, fl.err
	}
}

// run reads into fl and ends it; the key is forgotten when nothing more
// is running or queued.
func (f *Fresh) run(ctx context.Context, key string, k *freshKey, fl *flight, fn func(context.Context) (string, error)) {
	defer func() {
		f.mu.Lock()
		if k.running == fl {
			k.running = nil
		}
		if k.running == nil && k.next == nil && f.keys[key] == k {
			delete(f.keys, key)
		}
		f.mu.Unlock()
		close(fl.done)
	}()
	fl.val, fl.err = fn(context.WithoutCancel(ctx))
}

func wait(ctx context.Context, fl *flight) (string, error) {
	select {
	case <-fl.done:
		return fl.val, fl.err
	case <-ctx.Done():
		return "", ctx.Err()
	}
}
