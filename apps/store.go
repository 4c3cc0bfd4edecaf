package apps

import (
	"context"

	"github.com/lapps/lapps/store"
)

// Store is the part of the store an apps Local uses, declared here by its
// consumer: the apps, their deployments and app scans (store.Apps), the
// last verdict of each deployment (store.AppVerdicts), an image's scans,
// and the outbox the alerts go to. A store.Store satisfies it.
type Store interface {
	store.Apps
	store.AppVerdicts
	// ListScans is store.Scans.ListScans.
	ListScans(ctx context.Context, image string) ([]store.Scan, error)
	// EnqueueNotifications is store.Outbox.EnqueueNotifications.
	EnqueueNotifications(ctx context.Context, cursor string, op int64, ns []store.Notification) error
}

var _ Store = store.Store(nil)
