package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/lapps/lapps/store"
)

// EnqueueNotifications adds ns to the outbox and sets cursor to op in one
// transaction.
func (s *Store) EnqueueNotifications(ctx context.Context, cursor string, op int64, ns []store.Notification) error {
	if err := store.CheckNotifications(cursor, ns, nil); err != nil {
		return err
	}
	err := s.write(ctx, func(tx *sql.Tx) error {
		ins, err := tx.PrepareContext(ctx, `INSERT INTO notifications (id, webhook, kind, payload, created_at, attempts, next_attempt)
			VALUES (?, ?, ?, ?, ?, 0, ?)`)
		if err != nil {
			return err
		}
		defer ins.Close()
		t := now()
		for _, n := range ns {
			created := n.CreatedAt
			if created.IsZero() {
				created = t
			}
			next := n.NextAttempt
			if next.IsZero() {
				next = created
			}
			payload := n.Payload
			if payload == nil {
				payload = []byte{}
			}
			if _, err := ins.ExecContext(ctx, n.ID, n.Webhook, n.Kind, payload, formatTime(created), formatTime(next)); err != nil {
				return fmt.Errorf("notification %s: %w", n.ID, err)
			}
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO notifier_cursors (cursor, op) VALUES (?, ?)
			ON CONFLICT (cursor) DO UPDATE SET op = excluded.op`, cursor, op)
		return err
	})
	if err != nil {
		return fmt.Errorf("enqueue notifications of %s: %w", cursor, err)
	}
	return nil
}

// NotifierCursor returns the op last stored for cursor, 0 when none.
func (s *Store) NotifierCursor(ctx context.Context, cursor string) (int64, error) {
	var op int64
	err := s.r.QueryRowContext(ctx, `SELECT op FROM notifier_cursors WHERE cursor = ?`, cursor).Scan(&op)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("notifier cursor %s: %w", cursor, err)
	}
	return op, nil
}

const notificationCols = `id, webhook, kind, payload, created_at, attempts, next_attempt, delivered_at, last_error`

// ClaimNotifications returns at most limit due notifications, oldest
// first, and leases them until now+lease. The selection and the update are
// one statement in one write transaction, and SQLite has one writer at a
// time, so two callers cannot claim the same notification.
func (s *Store) ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Notification, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim notifications: limit %d", limit)
	}
	if lease < 0 {
		return nil, fmt.Errorf("claim notifications: negative lease %s", lease)
	}
	var out []store.Notification
	err := s.write(ctx, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `UPDATE notifications SET next_attempt = ?
			WHERE id IN (SELECT id FROM notifications WHERE delivered_at IS NULL AND next_attempt <= ?
				ORDER BY created_at, id LIMIT ?)
			RETURNING `+notificationCols, formatTime(now.Add(lease)), formatTime(now), limit)
		if err != nil {
			return err
		}
		out, err = scanNotifications(rows)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	sortNotifications(out)
	return out, nil
}

// MarkDelivered records the delivery of notification id.
func (s *Store) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE notifications SET delivered_at = COALESCE(delivered_at, ?) WHERE id = ?`, formatTime(at), id)
		return affectedOne(res, err)
	})
	if err != nil {
		return fmt.Errorf("mark notification %s delivered: %w", id, err)
	}
	return nil
}

// MarkFailed records a failed attempt of notification id.
func (s *Store) MarkFailed(ctx context.Context, id string, next time.Time, errMsg string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		var delivered sql.NullString
		if err := tx.QueryRowContext(ctx, `SELECT delivered_at FROM notifications WHERE id = ?`, id).Scan(&delivered); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return store.ErrNotFound
			}
			return err
		}
		if delivered.Valid {
			return nil
		}
		_, err := tx.ExecContext(ctx, `UPDATE notifications SET attempts = attempts + 1, next_attempt = ?, last_error = ? WHERE id = ?`,
			formatTime(next), errMsg, id)
		return err
	})
	if err != nil {
		return fmt.Errorf("mark notification %s failed: %w", id, err)
	}
	return nil
}

// OutboxDepth returns the number of undelivered notifications.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM notifications WHERE delivered_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("outbox depth: %w", err)
	}
	return n, nil
}

// PruneDelivered deletes at most limit notifications delivered before
// before, oldest delivery first.
func (s *Store) PruneDelivered(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune delivered notifications: limit %d", limit)
	}
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM notifications WHERE id IN (SELECT id FROM notifications
			WHERE delivered_at IS NOT NULL AND delivered_at < ? ORDER BY delivered_at, id LIMIT ?)`, formatTime(before), limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune delivered notifications: %w", err)
	}
	return int(n), nil
}

// Notifications returns every notification of the outbox, oldest first.
func (s *Store) Notifications(ctx context.Context) ([]store.Notification, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+notificationCols+` FROM notifications ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	out, err := scanNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	return out, nil
}

// scanNotifications reads and closes rows of notificationCols.
func scanNotifications(rows *sql.Rows) ([]store.Notification, error) {
	defer rows.Close()
	var out []store.Notification
	for rows.Next() {
		var (
			n             store.Notification
			created, next string
			delivered     sql.NullString
			attempts      int64
			payload       []byte
		)
		if err := rows.Scan(&n.ID, &n.Webhook, &n.Kind, &payload, &created, &attempts, &next, &delivered, &n.LastError); err != nil {
			return nil, err
		}
		var err error
		if n.CreatedAt, err = parseTime(created); err != nil {
			return nil, err
		}
		if n.NextAttempt, err = parseTime(next); err != nil {
			return nil, err
		}
		if n.DeliveredAt, err = parseNullTime(delivered); err != nil {
			return nil, err
		}
		n.Attempts = int(attempts)
		n.Payload = payload
		out = append(out, n)
	}
	return out, rows.Err()
}

func sortNotifications(ns []store.Notification) {
	slices.SortFunc(ns, func(a, b store.Notification) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
