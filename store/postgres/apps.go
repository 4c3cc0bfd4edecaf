package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/store"
)

// CreateApp stores a new app; store.ErrExists when the name is taken.
func (s *Store) CreateApp(ctx context.Context, name string, images []string) (*store.App, error) {
	imgs, err := store.EncodeApp(name, images, txt)
	if err != nil {
		return nil, err
	}
	at := now()
	tag, err := s.pool.Exec(ctx, `INSERT INTO apps (name, created_at, images) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING`,
		txt(name), at, imgs)
	if err != nil {
		return nil, fmt.Errorf("create app %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return nil, fmt.Errorf("create app %s: %w", name, store.ErrExists)
	}
	return store.NewApp(name, images, at), nil
}

// GetApp returns app name, or store.ErrNotFound.
func (s *Store) GetApp(ctx context.Context, name string) (*store.App, error) {
	a, err := scanApp(s.pool.QueryRow(ctx, `SELECT name, created_at, images FROM apps WHERE name = $1`, txt(name)))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("app %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	return a, nil
}

// ListApps returns every app, by name.
func (s *Store) ListApps(ctx context.Context) ([]store.App, error) {
	rows, err := s.pool.Query(ctx, `SELECT name, created_at, images FROM apps ORDER BY name COLLATE "C"`)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	defer rows.Close()
	out, err := store.CollectRows(rows, scanApp)
	if err != nil {
		return nil, fmt.Errorf("list apps: %w", err)
	}
	return out, nil
}

func scanApp(row store.Row) (*store.App, error) {
	var (
		a      store.App
		images string
	)
	if err := row.Scan(&a.Name, &a.CreatedAt, &images); err != nil {
		return nil, err
	}
	a.CreatedAt = a.CreatedAt.UTC()
	var err error
	if a.Images, err = store.DecodeList[string](images); err != nil {
		return nil, err
	}
	return &a, nil
}

// SetAppImages replaces the images of app name.
func (s *Store) SetAppImages(ctx context.Context, name string, images []string) error {
	imgs, err := store.EncodeList(txts(images))
	if err != nil {
		return fmt.Errorf("set images of app %s: %w", name, err)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE apps SET images = $1 WHERE name = $2`, imgs, txt(name))
	if err != nil {
		return fmt.Errorf("set images of app %s: %w", name, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("set images of app %s: %w", name, store.ErrNotFound)
	}
	return nil
}

// RemoveApp deletes app name, its deployments and its app scans.
func (s *Store) RemoveApp(ctx context.Context, name string) error {
	n := txt(name)
	err := s.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `DELETE FROM apps WHERE name = $1`, n)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.Exec(ctx, `DELETE FROM deployments WHERE app = $1`, n); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `DELETE FROM app_verdicts WHERE app = $1`, n); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `DELETE FROM app_scans WHERE app = $1`, n)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove app %s: %w", name, err)
	}
	return nil
}

// lockApp locks the row of app name until the transaction ends (so that a
// concurrent RemoveApp or CreateAppScan waits), or returns
// store.ErrNotFound.
func lockApp(ctx context.Context, tx pgx.Tx, name string) error {
	var one int
	err := tx.QueryRow(ctx, `SELECT 1 FROM apps WHERE name = $1 FOR UPDATE`, name).Scan(&one)
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	return err
}

// RecordDeployment stores a deployment attempt and returns its number
// within its app.
func (s *Store) RecordDeployment(ctx context.Context, d *store.Deployment) (int64, error) {
	c, err := store.EncodeDeployment(d, txt, now())
	if err != nil {
		return 0, err
	}
	app := txt(d.App)
	var id int64
	err = s.write(ctx, func(tx pgx.Tx) error {
		if err := lockApp(ctx, tx, app); err != nil {
			return err
		}
		// The app's row is locked: the next number is free.
		return tx.QueryRow(ctx, `INSERT INTO deployments (app, number, env, deployed_at, images, verdict, accepted, reasons)
			SELECT $1, COALESCE(MAX(number), 0) + 1, $2, $3, $4, $5, $6, $7 FROM deployments WHERE app = $1 RETURNING number`,
			app, txt(d.Env), c.At, c.Images, d.Verdict, d.Accepted, c.Reasons).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("record deployment of %s: %w", d.App, err)
	}
	return id, nil
}

const deploymentCols = `number, app, env, deployed_at, images, verdict, accepted, reasons`

// Deployments returns the deployments of app, oldest first.
func (s *Store) Deployments(ctx context.Context, app string) ([]store.Deployment, error) {
	return s.deployments(ctx, app, `SELECT `+deploymentCols+` FROM deployments WHERE app = $1 ORDER BY id`)
}

// CurrentDeployments returns the latest accepted deployment of app per
// environment, by environment.
func (s *Store) CurrentDeployments(ctx context.Context, app string) ([]store.Deployment, error) {
	return s.deployments(ctx, app, `SELECT `+deploymentCols+` FROM deployments WHERE id IN (
		SELECT MAX(id) FROM deployments WHERE app = $1 AND accepted GROUP BY env) ORDER BY env COLLATE "C"`)
}

func (s *Store) deployments(ctx context.Context, app, query string) ([]store.Deployment, error) {
	rows, err := s.pool.Query(ctx, query, txt(app))
	if err != nil {
		return nil, fmt.Errorf("deployments of %s: %w", app, err)
	}
	defer rows.Close()
	out, err := store.CollectRows(rows, scanDeployment)
	if err != nil {
		return nil, fmt.Errorf("deployments of %s: %w", app, err)
	}
	return out, nil
}

// scanDeployment reads a row of deploymentCols.
func scanDeployment(row store.Row) (*store.Deployment, error) {
	var (
		d               store.Deployment
		images, reasons string
	)
	if err := row.Scan(&d.ID, &d.App, &d.Env, &d.At, &images, &d.Verdict, &d.Accepted, &reasons); err != nil {
		return nil, err
	}
	d.At = d.At.UTC()
	if err := store.DecodeDeployment(&d, images, reasons); err != nil {
		return nil, err
	}
	return &d, nil
}

// CreateAppScan stores sc under the next index for sc.App and returns that
// index. The app's row is locked first, so that concurrent callers, in one
// process or several, get distinct, consecutive indexes.
func (s *Store) CreateAppScan(ctx context.Context, sc *store.AppScan) (int, error) {
	c, err := store.EncodeAppScan(sc, txt, now())
	if err != nil {
		return 0, err
	}
	app := txt(sc.App)
	var idx int
	err = s.write(ctx, func(tx pgx.Tx) error {
		if err := lockApp(ctx, tx, app); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `INSERT INTO app_scans (app, idx, scanned_at, images, verdict, summary)
			SELECT $1, COALESCE(MAX(idx), 0) + 1, $2, $3, $4, $5 FROM app_scans WHERE app = $1 RETURNING idx`,
			app, c.At, c.Images, sc.Verdict, c.Summary).Scan(&idx)
	})
	if err != nil {
		return 0, fmt.Errorf("create app scan of %s: %w", sc.App, err)
	}
	return idx, nil
}

const appScanCols = `app, idx, scanned_at, images, verdict, summary`

// ListAppScans returns the scans of app, oldest first.
func (s *Store) ListAppScans(ctx context.Context, app string) ([]store.AppScan, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+appScanCols+` FROM app_scans WHERE app = $1 ORDER BY idx`, txt(app))
	if err != nil {
		return nil, fmt.Errorf("list scans of app %s: %w", app, err)
	}
	defer rows.Close()
	out, err := store.CollectRows(rows, scanAppScan)
	if err != nil {
		return nil, fmt.Errorf("list scans of app %s: %w", app, err)
	}
	return out, nil
}

// GetAppScan returns scan number index of app, the latest when index is
// 0, or store.ErrNotFound.
func (s *Store) GetAppScan(ctx context.Context, app string, index int) (*store.AppScan, error) {
	if index < 0 {
		return nil, fmt.Errorf("scan %d of app %s: negative scan index", index, app)
	}
	var row pgx.Row
	if index == 0 {
		row = s.pool.QueryRow(ctx, `SELECT `+appScanCols+` FROM app_scans WHERE app = $1 ORDER BY idx DESC LIMIT 1`, txt(app))
	} else {
		row = s.pool.QueryRow(ctx, `SELECT `+appScanCols+` FROM app_scans WHERE app = $1 AND idx = $2`, txt(app), index)
	}
	sc, err := scanAppScan(row)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("scan %d of app %s: %w", index, app, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("scan %d of app %s: %w", index, app, err)
	}
	return sc, nil
}

func scanAppScan(row store.Row) (*store.AppScan, error) {
	var (
		sc      store.AppScan
		at      time.Time
		images  string
		summary []byte
	)
	if err := row.Scan(&sc.App, &sc.Index, &at, &images, &sc.Verdict, &summary); err != nil {
		return nil, err
	}
	sc.ScannedAt = at.UTC()
	if err := store.DecodeAppScan(&sc, images, summary); err != nil {
		return nil, err
	}
	return &sc, nil
}
