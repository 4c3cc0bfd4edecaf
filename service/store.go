package service

import (
	"context"
	"time"

	"github.com/lapps/lapps/store"
)

// Store is the part of the store a Local uses, declared here by its
// consumer; a store.Store satisfies it. Scans use Layers, Blobs,
// Manifests, Scans and the records (Vulnerabilities, RecordLookup) with
// their Coverage; vulndb update and import use Vulnerabilities; scrub and
// garbage collection use Retention and the two prunes below. It has no
// tokens, leases, apps, jobs queue or outbox: those are the server's.
type Store interface {
	store.Layers
	store.Blobs
	store.Manifests
	store.Scans
	store.Vulnerabilities
	store.RecordLookup
	store.Coverage
	store.Retention
	// PruneDelivered is store.Outbox.PruneDelivered (garbage collection).
	PruneDelivered(ctx context.Context, before time.Time, limit int) (int, error)
	// PruneJobs is store.Jobs.PruneJobs (garbage collection).
	PruneJobs(ctx context.Context, before time.Time, limit int) (int, error)
	// Close releases the store's resources.
	Close() error
}

var _ Store = store.Store(nil)
