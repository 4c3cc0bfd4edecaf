package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/store"
)

// SetAppVerdict records the verdict of app in env and returns the one
// recorded before. The row is first created empty when missing (a
// concurrent creator makes the insert wait for its commit), then locked,
// so that concurrent callers are serialized and each sees the verdict the
// other stored.
func (s *Store) SetAppVerdict(ctx context.Context, app, env, verdict string, at time.Time) (string, error) {
	if app == "" || env == "" || !store.ValidVerdict(verdict) {
		return "", fmt.Errorf("set app verdict %q/%q: want an app, an environment and pass, warn or fail, not %q", app, env, verdict)
	}
	a, e := txt(app), txt(env)
	var prev string
	err := s.write(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO app_verdicts (app, env, verdict, updated_at) VALUES ($1, $2, '', $3)
			ON CONFLICT (app, env) DO NOTHING`, a, e, at); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT verdict FROM app_verdicts WHERE app = $1 AND env = $2 FOR UPDATE`, a, e).Scan(&prev); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `UPDATE app_verdicts SET verdict = $3, updated_at = $4 WHERE app = $1 AND env = $2`, a, e, verdict, at)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("set app verdict %s/%s: %w", app, env, err)
	}
	return prev, nil
}
