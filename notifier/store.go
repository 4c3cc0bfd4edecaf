package notifier

import (
	"context"
	"time"

	"github.com/lapps/lapps/model"
	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// The store roles the notifier uses, declared here by their consumer: a
// store.Store satisfies each of them, and so does a fake in a test (see
// store/memstore) that has only these methods.

// AffectedStore is what Affected reads: the diff of two update
// operations, the manifests holding the packages it names, the records
// before and after, and the images of a manifest. A store that also
// implements store.PackageRows (both engines do) is read through its
// package rows rather than by decoding whole manifest indexes.
type AffectedStore interface {
	// DiffUpdates is store.Vulnerabilities.DiffUpdates.
	DiffUpdates(ctx context.Context, from, to int64) (*store.Diff, error)
	// Records is store.Vulnerabilities.Records.
	Records(ctx context.Context, ecosystem string, packages []string) ([]vuln.Record, error)
	// OperationRecords is store.UpdateRecords.OperationRecords.
	OperationRecords(ctx context.Context, op int64, ecosystem string, packages []string) ([]vuln.Record, error)
	// RecordsByID is store.RecordLookup.RecordsByID.
	RecordsByID(ctx context.Context, ids []string) ([]vuln.Record, error)
	// ManifestsWithPackages is store.Manifests.ManifestsWithPackages.
	ManifestsWithPackages(ctx context.Context, kind string, names []string) ([]string, error)
	// Manifest is store.Manifests.Manifest.
	Manifest(ctx context.Context, digest string) (*model.ImageIndex, error)
	// ImagesOfManifest is store.Retention.ImagesOfManifest.
	ImagesOfManifest(ctx context.Context, digest string) ([]string, error)
}

// NotifyStore is what Notify uses: AffectedStore, the source's update
// operations, and the outbox's cursor and queue.
type NotifyStore interface {
	AffectedStore
	// UpdateOperations is store.Vulnerabilities.UpdateOperations.
	UpdateOperations(ctx context.Context, source string) ([]store.UpdateOperation, error)
	// NotifierCursor is store.Outbox.NotifierCursor.
	NotifierCursor(ctx context.Context, cursor string) (int64, error)
	// EnqueueNotifications is store.Outbox.EnqueueNotifications.
	EnqueueNotifications(ctx context.Context, cursor string, op int64, ns []store.Notification) error
}

// DeliveryStore is the part of the outbox a Deliverer works on.
type DeliveryStore interface {
	// ClaimNotifications is store.Outbox.ClaimNotifications.
	ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Notification, error)
	// MarkDelivered is store.Outbox.MarkDelivered.
	MarkDelivered(ctx context.Context, id string, at time.Time) error
	// MarkFailed is store.Outbox.MarkFailed.
	MarkFailed(ctx context.Context, id string, next time.Time, errMsg string) error
}

// A store.Store is every role above.
var (
	_ NotifyStore   = store.Store(nil)
	_ DeliveryStore = store.Outbox(nil)
)
