package notifier

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// DefaultPageSize is how many notifications one delivery carries at most:
// large enough that an advisory affecting thousands of images is a few
// dozen requests, small enough that a page stays well under a megabyte
// (an entry is about 400 bytes) and a receiver handles it in one go.
const DefaultPageSize = 100

// Payload is the JSON body of a vulnerability delivery.
type Payload struct {
	// DeliveryID is the notification's id, also in the webhook-id header
	// (HeaderID): the same on every retry, for de-duplication.
	DeliveryID string    `json:"delivery_id"`
	Webhook    string    `json:"webhook"`
	CreatedAt  time.Time `json:"created_at"`
	// Source and Operation name the update operation that caused it.
	Source    string `json:"source"`
	Operation int64  `json:"operation"`
	// Page is 1, 2, … of Pages: the changes of one operation, for one
	// webhook, in deliveries of at most the page size.
	Page          int            `json:"page"`
	Pages         int            `json:"pages"`
	Notifications []Notification `json:"notifications"`
}

// Notification is one (manifest, vulnerability, action) in a payload.
type Notification struct {
	ManifestDigest string        `json:"manifest_digest"`
	Images         []string      `json:"images"`
	Vulnerability  Vulnerability `json:"vulnerability"`
	// Action is "added" or "removed".
	Action string `json:"action"`
}

// Vulnerability is what a notification says of the vulnerability. One
// vulnerability often affects several installed packages of a manifest
// (musl and musl-utils, both built from musl): Package names the source
// package they share where the record named it (else the first
// installed package), and Packages lists every installed package
// affected. Severity is the highest of them; the other fields are those
// of the first package (by name).
type Vulnerability struct {
	ID               string          `json:"id"`
	Aliases          []string        `json:"aliases,omitempty"`
	Severity         vuln.Severity   `json:"severity"`
	Status           vuln.Status     `json:"status"`
	FixedVersion     string          `json:"fixed_version,omitempty"`
	Package          string          `json:"package"`
	InstalledVersion string          `json:"installed_version"`
	Ecosystem        string          `json:"ecosystem"`
	Title            string          `json:"title,omitempty"`
	Packages         []PackageChange `json:"packages"`
}

// PackageChange is one installed package a notification concerns.
type PackageChange struct {
	Name             string `json:"name"`
	Kind             string `json:"kind"`
	InstalledVersion string `json:"installed_version"`
	FixedVersion     string `json:"fixed_version,omitempty"`
	DBPath           string `json:"db_path,omitempty"`
}

// entries groups changes into one Notification per (manifest,
// vulnerability id, action), in the order of changes (which Affected
// sorts by manifest, action, id and package).
func entries(changes []Change) []Notification {
	var out []Notification
	at := map[string]int{}
	for _, c := range changes {
		f := c.Finding
		pc := PackageChange{Name: f.Package, Kind: f.PackageKind, InstalledVersion: f.InstalledVersion,
			FixedVersion: f.FixedVersion, DBPath: f.DBPath}
		k := c.ManifestDigest + "\x00" + f.ID + "\x00" + c.Action
		if i, ok := at[k]; ok {
			v := &out[i].Vulnerability
			v.Packages = append(v.Packages, pc)
			v.Severity = max(v.Severity, f.Severity)
			continue
		}
		images := c.Images
		if images == nil {
			images = []string{}
		}
		pkg := f.Package
		if f.SourcePackage != "" {
			pkg = f.SourcePackage
		}
		at[k] = len(out)
		out = append(out, Notification{
			ManifestDigest: c.ManifestDigest,
			Images:         images,
			Action:         c.Action,
			Vulnerability: Vulnerability{
				ID: f.ID, Aliases: f.Aliases, Severity: f.Severity, Status: f.Status, FixedVersion: f.FixedVersion,
				Package: pkg, InstalledVersion: f.InstalledVersion, Ecosystem: f.Ecosystem, Title: f.Title,
				Packages: []PackageChange{pc},
			},
		})
	}
	return out
}

// NotifyOption configures Notify.
type NotifyOption func(*notifyOptions)

type notifyOptions struct {
	pageSize int
	logger   *slog.Logger
	now      func() time.Time
}

// WithPageSize sets how many notifications a delivery carries at most
// (default DefaultPageSize).
func WithPageSize(n int) NotifyOption {
	return func(o *notifyOptions) {
		if n > 0 {
			o.pageSize = n
		}
	}
}

// WithLogger sets the logger (default slog.Default()).
func WithLogger(l *slog.Logger) NotifyOption {
	return func(o *notifyOptions) {
		if l != nil {
			o.logger = l
		}
	}
}

// WithClock sets the clock payloads are dated by (default time.Now).
func WithClock(now func() time.Time) NotifyOption {
	return func(o *notifyOptions) {
		if now != nil {
			o.now = now
		}
	}
}

// Notify enqueues the notifications of the update operations of source
// that are newer than its notifier cursor, one operation at a time, oldest
// first: for each, Affected against the operation before it, then one
// entry per (manifest, vulnerability, action) per webhook, in pages of at
// most the page size per delivery, stored with EnqueueNotifications, which
// moves the cursor to the operation in the same transaction. A crash
// before that leaves the operation to the next call; after it, the
// notifications are in the outbox: none is lost or enqueued twice.
//
// A source the notifier has never seen (cursor 0) is a baseline: its
// current data is not news, and the cursor moves to its latest operation
// without notifications. An operation whose predecessor was pruned before
// it could be diffed is skipped with a warning. With no webhooks the
// cursor moves without any work.
//
// Notify returns the number of entries enqueued, over all webhooks. It is
// meant to run for a source in one process at a time (the scheduler's
// singleton lock): two concurrent calls could enqueue an operation twice.
func Notify(ctx context.Context, st NotifyStore, source string, webhooks []Webhook, opts ...NotifyOption) (int, error) {
	o := &notifyOptions{pageSize: DefaultPageSize, logger: slog.Default(), now: time.Now}
	for _, opt := range opts {
		opt(o)
	}
	log := o.logger.With("source", source)
	cursor, err := st.NotifierCursor(ctx, source)
	if err != nil {
		return 0, fmt.Errorf("notify %s: %w", source, err)
	}
	ops, err := st.UpdateOperations(ctx, source)
	if err != nil {
		return 0, fmt.Errorf("notify %s: %w", source, err)
	}
	if len(ops) == 0 {
		return 0, nil
	}
	slices.Reverse(ops) // oldest first
	if cursor == 0 {
		latest := ops[len(ops)-1].ID
		if err := st.EnqueueNotifications(ctx, source, latest, nil); err != nil {
			return 0, fmt.Errorf("notify %s: baseline: %w", source, err)
		}
		log.Info("notifier baseline: current data is not notified", "operation", latest)
		return 0, nil
	}
	total := 0
	for i, op := range ops {
		if op.ID <= cursor {
			continue
		}
		if len(webhooks) == 0 {
			if err := st.EnqueueNotifications(ctx, source, op.ID, nil); err != nil {
				return total, fmt.Errorf("notify %s: %w", source, err)
			}
			continue
		}
		if i == 0 {
			log.Warn("the operation before this one was pruned before its notifications were computed; skipping it",
				"operation", op.ID, "cursor", cursor)
			if err := st.EnqueueNotifications(ctx, source, op.ID, nil); err != nil {
				return total, fmt.Errorf("notify %s: %w", source, err)
			}
			continue
		}
		prev := ops[i-1].ID
		started := time.Now()
		changes, err := Affected(ctx, st, prev, op.ID)
		if err != nil {
			return total, fmt.Errorf("notify %s: %w", source, err)
		}
		grouped := entries(changes)
		ns, err := deliveries(source, op.ID, grouped, webhooks, o.pageSize, o.now().UTC())
		if err != nil {
			return total, fmt.Errorf("notify %s: %w", source, err)
		}
		if err := st.EnqueueNotifications(ctx, source, op.ID, ns); err != nil {
			return total, fmt.Errorf("notify %s: %w", source, err)
		}
		total += len(grouped) * len(webhooks)
		log.Info("notifications enqueued", "operation", op.ID, "from", prev, "changes", len(changes), "notifications", len(grouped),
			"deliveries", len(ns), "took", time.Since(started).Round(time.Millisecond))
	}
	return total, nil
}

// deliveries pages changes into outbox entries, for each webhook.
func deliveries(source string, op int64, entries []Notification, webhooks []Webhook, pageSize int, now time.Time) ([]store.Notification, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	pages := (len(entries) + pageSize - 1) / pageSize
	var out []store.Notification
	for _, w := range webhooks {
		for p := range pages {
			id := newID()
			body, err := json.Marshal(Payload{
				DeliveryID: id, Webhook: w.Name, CreatedAt: now, Source: source, Operation: op,
				Page: p + 1, Pages: pages,
				Notifications: entries[p*pageSize : min((p+1)*pageSize, len(entries))],
			})
			if err != nil {
				return nil, err
			}
			out = append(out, store.Notification{ID: id, Webhook: w.Name, Kind: store.KindVulnerability,
				Payload: body, CreatedAt: now})
		}
	}
	return out, nil
}

// newID returns a random delivery id (128 bits, base32).
func newID() string { return rand.Text() }
