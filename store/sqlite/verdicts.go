package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/lapps/lapps/store"
)

// SetAppVerdict records the verdict of app in env and returns the one
// recorded before. The single writer connection serializes callers.
func (s *Store) SetAppVerdict(ctx context.Context, app, env, verdict string, at time.Time) (string, error) {
	if app == "" || env == "" || !store.ValidVerdict(verdict) {
		return "", fmt.Errorf("set app verdict %q/%q: want an app, an environment and pass, warn or fail, not %q", app, env, verdict)
	}
	var prev string
	err := s.write(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT verdict FROM app_verdicts WHERE app = ? AND env = ?`, app, env).Scan(&prev)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO app_verdicts (app, env, verdict, updated_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (app, env) DO UPDATE SET verdict = excluded.verdict, updated_at = excluded.updated_at`,
			app, env, verdict, formatTime(at))
		return err
	})
	if err != nil {
		return "", fmt.Errorf("set app verdict %s/%s: %w", app, env, err)
	}
	return prev, nil
}
