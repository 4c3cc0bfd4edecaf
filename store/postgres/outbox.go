package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/store"
)

// EnqueueNotifications adds ns to the outbox and sets cursor to op in one
// transaction.
func (s *Store) EnqueueNotifications(ctx context.Context, cursor string, op int64, ns []store.Notification) error {
	if err := store.CheckNotifications(cursor, ns, txt); err != nil {
		return err
	}
	t := now()
	var (
		ids, webhooks, kinds = make([]string, len(ns)), make([]string, len(ns)), make([]string, len(ns))
		payloads             = make([][]byte, len(ns))
		created, next        = make([]time.Time, len(ns)), make([]time.Time, len(ns))
	)
	for i, n := range ns {
		ids[i], webhooks[i], kinds[i] = txt(n.ID), txt(n.Webhook), txt(n.Kind)
		created[i] = n.CreatedAt
		if created[i].IsZero() {
			created[i] = t
		}
		next[i] = n.NextAttempt
		if next[i].IsZero() {
			next[i] = created[i]
		}
		payloads[i] = n.Payload
		if payloads[i] == nil {
			payloads[i] = []byte{}
		}
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		// An id already stored violates the primary key: the whole
		// transaction, cursor included, is rolled back.
		if _, err := tx.Exec(ctx, `INSERT INTO notifications (id, webhook, kind, payload, created_at, attempts, next_attempt)
			SELECT n.id, n.webhook, n.kind, n.payload, n.created_at, 0, n.next_attempt
			FROM unnest($1::text[], $2::text[], $3::text[], $4::bytea[], $5::timestamptz[], $6::timestamptz[])
				AS n (id, webhook, kind, payload, created_at, next_attempt)`,
			ids, webhooks, kinds, payloads, created, next); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `INSERT INTO notifier_cursors (cursor, op) VALUES ($1, $2)
			ON CONFLICT (cursor) DO UPDATE SET op = excluded.op`, txt(cursor), op)
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
	err := s.pool.QueryRow(ctx, `SELECT op FROM notifier_cursors WHERE cursor = $1`, txt(cursor)).Scan(&op)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("notifier cursor %s: %w", cursor, err)
	}
	return op, nil
}

const notificationCols = `id, webhook, kind, payload, created_at, attempts, next_attempt, delivered_at, last_error`

// queryClaim leases at most $3 due notifications (delivered_at NULL,
// next_attempt <= $2), oldest first, until $1. FOR UPDATE SKIP LOCKED
// makes concurrent claimers, in this process or other replicas, pass over
// the rows another is claiming instead of waiting for them; a row another
// claimer leased and committed meanwhile is re-checked against the WHERE
// clause (no longer due) before it is locked.
const queryClaim = `UPDATE notifications SET next_attempt = $1
	WHERE id IN (SELECT id FROM notifications WHERE delivered_at IS NULL AND next_attempt <= $2
		ORDER BY created_at, id COLLATE "C" LIMIT $3 FOR UPDATE SKIP LOCKED)
	RETURNING ` + notificationCols

// ClaimNotifications returns at most limit due notifications, oldest
// first, and leases them until now+lease, in one statement: no two
// callers receive the same notification while its lease runs.
func (s *Store) ClaimNotifications(ctx context.Context, now time.Time, lease time.Duration, limit int) ([]store.Notification, error) {
	if limit <= 0 {
		return nil, fmt.Errorf("claim notifications: limit %d", limit)
	}
	if lease < 0 {
		return nil, fmt.Errorf("claim notifications: negative lease %s", lease)
	}
	rows, err := s.pool.Query(ctx, queryClaim, now.Add(lease), now, limit)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	out, err := collectNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("claim notifications: %w", err)
	}
	sortNotifications(out)
	return out, nil
}

// MarkDelivered records the delivery of notification id.
func (s *Store) MarkDelivered(ctx context.Context, id string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE notifications SET delivered_at = COALESCE(delivered_at, $1) WHERE id = $2`, at, txt(id))
	if err := affectedOne(tag, err); err != nil {
		return fmt.Errorf("mark notification %s delivered: %w", id, err)
	}
	return nil
}

// MarkFailed records a failed attempt of notification id; a delivered
// notification is left as it is.
func (s *Store) MarkFailed(ctx context.Context, id string, next time.Time, errMsg string) error {
	var delivered bool
	err := s.pool.QueryRow(ctx, `WITH u AS (
			UPDATE notifications SET attempts = attempts + 1, next_attempt = $2, last_error = $3
			WHERE id = $1 AND delivered_at IS NULL RETURNING 1)
		SELECT delivered_at IS NOT NULL FROM notifications WHERE id = $1`, txt(id), next, txt(errMsg)).Scan(&delivered)
	if errors.Is(err, pgx.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("mark notification %s failed: %w", id, err)
	}
	return nil
}

// OutboxDepth returns the number of undelivered notifications.
func (s *Store) OutboxDepth(ctx context.Context) (int, error) {
	var n int
	if err := s.pool.QueryRow(ctx, `SELECT COUNT(*) FROM notifications WHERE delivered_at IS NULL`).Scan(&n); err != nil {
		return 0, fmt.Errorf("outbox depth: %w", err)
	}
	return n, nil
}

// queryPruneDelivered deletes at most $2 notifications delivered before
// $1, oldest delivery first: the partial index notifications_delivered
// yields them in order, and the primary key finds each row. The ids are
// collected into an array first (an InitPlan), so that no plan, custom or
// generic, joins the whole outbox against them.
const queryPruneDelivered = `DELETE FROM notifications WHERE id = ANY (ARRAY(SELECT id FROM notifications
	WHERE delivered_at IS NOT NULL AND delivered_at < $1 ORDER BY delivered_at LIMIT $2))`

// PruneDelivered deletes at most limit notifications delivered before
// before, oldest delivery first.
func (s *Store) PruneDelivered(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune delivered notifications: limit %d", limit)
	}
	return s.deleteCount(ctx, "prune delivered notifications", queryPruneDelivered, before, limit)
}

// Notifications returns every notification of the outbox, oldest first.
func (s *Store) Notifications(ctx context.Context) ([]store.Notification, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+notificationCols+` FROM notifications`)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	out, err := collectNotifications(rows)
	if err != nil {
		return nil, fmt.Errorf("notifications: %w", err)
	}
	sortNotifications(out)
	return out, nil
}

// collectNotifications reads and closes rows of notificationCols.
func collectNotifications(rows pgx.Rows) ([]store.Notification, error) {
	defer rows.Close()
	var out []store.Notification
	for rows.Next() {
		var (
			n         store.Notification
			delivered *time.Time
		)
		if err := rows.Scan(&n.ID, &n.Webhook, &n.Kind, &n.Payload, &n.CreatedAt, &n.Attempts, &n.NextAttempt, &delivered, &n.LastError); err != nil {
			return nil, err
		}
		n.CreatedAt, n.NextAttempt, n.DeliveredAt = n.CreatedAt.UTC(), n.NextAttempt.UTC(), utcOrZero(delivered)
		n.Payload = nilIfEmpty(n.Payload)
		out = append(out, n)
	}
	return out, rows.Err()
}

// sortNotifications sorts by creation time, then id byte by byte.
func sortNotifications(ns []store.Notification) {
	slices.SortFunc(ns, func(a, b store.Notification) int {
		if c := a.CreatedAt.Compare(b.CreatedAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
}
