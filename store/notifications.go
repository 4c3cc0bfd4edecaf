package store

import (
	"errors"
	"fmt"
)

// MaxNotificationID bounds a notification's id, which travels in an HTTP
// header (webhook-id).
const MaxNotificationID = 200

// CheckNotifications checks what EnqueueNotifications is given: a cursor,
// and notifications each with an id (unique, at most MaxNotificationID
// bytes), a webhook and a kind. Ids are compared as text stores them
// (nil: as given). Its errors are EnqueueNotifications', whole, in every
// engine.
func CheckNotifications(cursor string, ns []Notification, text TextFunc) error {
	if cursor == "" {
		return errors.New("enqueue notifications: no cursor")
	}
	seen := make(map[string]bool, len(ns))
	for i, n := range ns {
		key := n.ID
		if text != nil {
			key = text(n.ID)
		}
		switch {
		case n.ID == "" || len(n.ID) > MaxNotificationID:
			return fmt.Errorf("enqueue notifications of %s: notification %d: id %q is empty or longer than %d bytes", cursor, i, n.ID, MaxNotificationID)
		case seen[key]:
			return fmt.Errorf("enqueue notifications of %s: duplicate id %q", cursor, n.ID)
		case n.Webhook == "" || n.Kind == "":
			return fmt.Errorf("enqueue notifications of %s: notification %s: webhook and kind are required", cursor, n.ID)
		}
		seen[key] = true
	}
	return nil
}
