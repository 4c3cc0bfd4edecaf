package memstore

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/lapps/lapps/store"
)

func copyNotification(n *store.Notification) store.Notification {
	c := *n
	c.Payload = slices.Clone(n.Payload)
	return c
}

func sortNotifications(ns []store.Notification) {
	slices.SortFunc(ns, func(a, b store.Notification) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
}

func micro(t time.Time) time.Time { return utc(t).Truncate(time.Microsecond) }

// EnqueueNotifications implements store.Outbox.
func (s *Store) EnqueueNotifications(ctx context.Context, cursor string, op int64, ns []store.Notification) error {
	if err := store.CheckNotifications(cursor, ns, nil); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("enqueue notifications of %s: %w", cursor, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range ns {
		if _, ok := s.notifications[n.ID]; ok {
			return fmt.Errorf("enqueue notifications of %s: notification %s: %w", cursor, n.ID, store.ErrExists)
		}
	}
	t := s.at()
	for _, n := range ns {
		c := store.Notification{ID: n.ID, Webhook: n.Webhook, Kind: n.Kind, Payload: slices.Clone(n.Payload),
			CreatedAt: micro(n.CreatedAt), NextAttempt: micro(n.NextAttempt)}
		if c.CreatedAt.IsZero() {
			c.CreatedAt = t
		}
		if c.NextAttempt.IsZero() {
			c.NextAttempt = c.CreatedAt
		}
		if c.Payload == nil {
			c.Payload = []byte{}
		}
		s.notifications[n.ID] = &c
	}
	s.cursors[cursor] = op
	return nil
}

// NotifierCursor implements store.Outbox.
func (s *Store) NotifierCursor(ctx context.Context, cursor string) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cursors[cursor], nil
}

// ClaimNotifications implements store.Outbox.
func (s *Store) ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Notification, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim notifications: limit %d", limit)
	}
	if lease < 0 {
		return nil, fmt.Errorf("claim notifications: negative lease %s", lease)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now = micro(now)
	var due []*store.Notification
	for _, n := range s.notifications {
		if n.DeliveredAt.IsZero() && !n.NextAttempt.After(now) {
			due = append(due, n)
		}
	}
	slices.SortFunc(due, func(a, b *store.Notification) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), cmp.Compare(a.ID, b.ID))
	})
	var out []store.Notification
	for _, n := range due[:min(limit, len(due))] {
		n.NextAttempt = now.Add(lease)
		out = append(out, copyNotification(n))
	}
	return out, nil
}

// MarkDelivered implements store.Outbox.
func (s *Store) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.notifications[id]
	if !ok {
		return fmt.Errorf("mark notification %s delivered: %w", id, store.ErrNotFound)
	}
	if n.DeliveredAt.IsZero() {
		n.DeliveredAt = micro(at)
	}
	return nil
}

// MarkFailed implements store.Outbox.
func (s *Store) MarkFailed(ctx context.Context, id string, next time.Time, errMsg string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n, ok := s.notifications[id]
	if !ok {
		return fmt.Errorf("mark notification %s failed: %w", id, store.ErrNotFound)
	}
	if n.DeliveredAt.IsZero() {
		n.Attempts++
		n.NextAttempt = micro(next)
		n.LastError = errMsg
	}
	return nil
}

// OutboxDepth implements store.Outbox.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	depth := 0
	for _, n := range s.notifications {
		if n.DeliveredAt.IsZero() {
			depth++
		}
	}
	return depth, nil
}

// PruneDelivered implements store.Outbox.
func (s *Store) PruneDelivered(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune delivered notifications: limit %d", limit)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var old []*store.Notification
	for _, n := range s.notifications {
		if !n.DeliveredAt.IsZero() && n.DeliveredAt.Before(before) {
			old = append(old, n)
		}
	}
	slices.SortFunc(old, func(a, b *store.Notification) int {
		return cmp.Or(a.DeliveredAt.Compare(b.DeliveredAt), cmp.Compare(a.ID, b.ID))
	})
	old = old[:min(limit, len(old))]
	for _, n := range old {
		delete(s.notifications, n.ID)
	}
	return len(old), nil
}

// Notifications implements store.Outbox.
func (s *Store) Notifications(ctx context.Context) ([]store.Notification, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]store.Notification, 0, len(s.notifications))
	for _, n := range s.notifications {
		out = append(out, copyNotification(n))
	}
	sortNotifications(out)
	return out, nil
}
