// Package store defines lapps' storage: one interface, implemented by the
// embedded SQLite engine (store/sqlite) and by PostgreSQL, both held to the
// conformance suite in store/storetest.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/lapps/lapps/indexer"
	"github.com/lapps/lapps/vuln"
)

// ErrNotFound is returned (wrapped) when a requested object does not exist.
var ErrNotFound = errors.New("not found")

// Store is the whole storage interface.
type Store interface {
	Layers
	Manifests
	Scans
	Vulnerabilities
	// Close releases the store's resources.
	Close() error
}

// Layers stores layer indexes under their digests.
type Layers interface {
	// Layer returns the stored index of a layer, or ErrNotFound. The caller
	// checks IndexerVersion.
	Layer(ctx context.Context, digest string) (*indexer.LayerIndex, error)
	// PutLayer stores or replaces a layer's index.
	PutLayer(ctx context.Context, idx *indexer.LayerIndex) error
}

// Manifests stores folded image indexes under manifest digests.
type Manifests interface {
	// Manifest returns the stored index of a manifest, or ErrNotFound.
	Manifest(ctx context.Context, digest string) (*indexer.ImageIndex, error)
	// PutManifest stores or replaces a manifest's index, its layer list and
	// its packages (the inverted index from package to manifest).
	PutManifest(ctx context.Context, idx *indexer.ImageIndex) error
	// ManifestsWithPackages returns the digests of the manifests that hold a
	// package of the given kind whose name or source name is one of names.
	ManifestsWithPackages(ctx context.Context, kind string, names []string) ([]string, error)
}

// SeverityCounts counts findings by normalised severity.
type SeverityCounts map[vuln.Severity]int

// Scan is one numbered scan of an image (or of a transport path).
type Scan struct {
	// Image is the normalised image name the scan is numbered under.
	Image string
	// Index is 1, 2, 3… per Image; assigned by CreateScan.
	Index          int
	ScannedAt      time.Time
	ManifestDigest string
	Packages       int
	Counts         SeverityCounts
	// Report is the report as it stood at scan time, as JSON.
	Report []byte
}

// Scans stores numbered scans.
type Scans interface {
	// CreateScan stores s under the next index for s.Image, atomically,
	// and returns that index.
	CreateScan(ctx context.Context, s *Scan) (int, error)
	// ListScans returns the scans of an image, oldest first, without their
	// reports.
	ListScans(ctx context.Context, image string) ([]Scan, error)
	// GetScan returns scan number index of an image (the latest when index
	// is 0), or ErrNotFound.
	GetScan(ctx context.Context, image string, index int) (*Scan, error)
}

// UpdateOperation is one stored run of a source that changed its data.
type UpdateOperation struct {
	ID        int64
	Source    string
	CreatedAt time.Time
	// Fingerprint identifies the upstream content (a digest of the feed).
	Fingerprint string
	Records     int
}

// SourceRun is the outcome of one run of a source, changed data or not.
type SourceRun struct {
	Source    string
	StartedAt time.Time
	Duration  time.Duration
	// Err is empty on success.
	Err string
	// Operation is the update operation the run created, 0 when the feed
	// was unchanged or the run failed.
	Operation int64
	// Validators are the HTTP validators (ETag, Last-Modified) of the
	// fetched feed, kept for the next conditional request.
	Validators map[string]string
}

// SourceStatus is what is known of one source.
type SourceStatus struct {
	Source  string
	LastRun *SourceRun
	// LastSuccess is the time of the last run that succeeded.
	LastSuccess time.Time
	// Latest is the source's current update operation, if any.
	Latest *UpdateOperation
}

// Diff is the difference between two update operations of one source.
type Diff struct {
	Added, Removed, Changed []vuln.Record
}

// Vulnerabilities stores vulnerability data as update operations.
type Vulnerabilities interface {
	// PutUpdate stores records as the new update operation of source, in
	// one transaction. Records with the same Key are an error.
	PutUpdate(ctx context.Context, source, fingerprint string, records []vuln.Record) (*UpdateOperation, error)
	// RecordRun records the outcome of a run of a source.
	RecordRun(ctx context.Context, run *SourceRun) error
	// SourceStatuses returns the status of every source that ever ran.
	SourceStatuses(ctx context.Context) ([]SourceStatus, error)
	// UpdateOperations lists the update operations of a source, newest first.
	UpdateOperations(ctx context.Context, source string) ([]UpdateOperation, error)
	// DiffUpdates compares two update operations of the same source; from
	// may be 0 (everything in to is added).
	DiffUpdates(ctx context.Context, from, to int64) (*Diff, error)
	// Records returns the current records (those of each source's latest
	// update operation) of an ecosystem for the given package names.
	Records(ctx context.Context, ecosystem string, packages []string) ([]vuln.Record, error)
	// PruneUpdates removes the update operations of source beyond the keep
	// newest, and the records no operation refers to any more. It returns
	// the number of operations removed.
	PruneUpdates(ctx context.Context, source string, keep int) (int, error)
}
