package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/lapps/lapps/store"
)

// CreateApp stores a new app; store.ErrExists when the name is taken.
func (s *Store) CreateApp(ctx context.Context, name string, images []string) (*store.App, error) {
	imgs, err := store.EncodeApp(name, images, nil)
	if err != nil {
		return nil, err
	}
	at := now()
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO apps (name, created_at, images) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING`,
			name, formatTime(at), imgs)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrExists
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("create app %s: %w", name, err)
	}
	return store.NewApp(name, images, at), nil
}

// GetApp returns app name, or store.ErrNotFound.
func (s *Store) GetApp(ctx context.Context, name string) (*store.App, error) {
	a, err := scanApp(s.readRow(ctx, `SELECT name, created_at, images FROM apps WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("app %s: %w", name, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("app %s: %w", name, err)
	}
	return a, nil
}

// ListApps returns every app, by name.
func (s *Store) ListApps(ctx context.Context) ([]store.App, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT name, created_at, images FROM apps ORDER BY name`)
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
		a          store.App
		at, images string
	)
	if err := row.Scan(&a.Name, &at, &images); err != nil {
		return nil, err
	}
	t, err := parseTime(at)
	if err != nil {
		return nil, err
	}
	a.CreatedAt = t
	if a.Images, err = store.DecodeList[string](images); err != nil {
		return nil, err
	}
	return &a, nil
}

// SetAppImages replaces the images of app name.
func (s *Store) SetAppImages(ctx context.Context, name string, images []string) error {
	imgs, err := store.EncodeList(images)
	if err != nil {
		return fmt.Errorf("set images of app %s: %w", name, err)
	}
	err = s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE apps SET images = ? WHERE name = ?`, imgs, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set images of app %s: %w", name, err)
	}
	return nil
}

// RemoveApp deletes app name, its deployments and its app scans.
func (s *Store) RemoveApp(ctx context.Context, name string) error {
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM apps WHERE name = ?`, name)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return store.ErrNotFound
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM deployments WHERE app = ?`, name); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM app_verdicts WHERE app = ?`, name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM app_scans WHERE app = ?`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("remove app %s: %w", name, err)
	}
	return nil
}

// RecordDeployment stores a deployment attempt and returns its number
// within its app.
func (s *Store) RecordDeployment(ctx context.Context, d *store.Deployment) (int64, error) {
	c, err := store.EncodeDeployment(d, nil, now())
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM apps WHERE name = ?`, d.App).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		} else if err != nil {
			return err
		}
		// SQLite has one writer: the next number is free.
		return tx.QueryRowContext(ctx, `INSERT INTO deployments (app, number, env, deployed_at, images, verdict, accepted, reasons)
			SELECT ?1, COALESCE(MAX(number), 0) + 1, ?2, ?3, ?4, ?5, ?6, ?7 FROM deployments WHERE app = ?1 RETURNING number`,
			d.App, d.Env, formatTime(c.At), c.Images, d.Verdict, d.Accepted, c.Reasons).Scan(&id)
	})
	if err != nil {
		return 0, fmt.Errorf("record deployment of %s: %w", d.App, err)
	}
	return id, nil
}

const deploymentCols = `number, app, env, deployed_at, images, verdict, accepted, reasons`

// Deployments returns the deployments of app, oldest first.
func (s *Store) Deployments(ctx context.Context, app string) ([]store.Deployment, error) {
	return s.deployments(ctx, app, `SELECT `+deploymentCols+` FROM deployments WHERE app = ? ORDER BY id`)
}

// CurrentDeployments returns the latest accepted deployment of app per
// environment, by environment.
func (s *Store) CurrentDeployments(ctx context.Context, app string) ([]store.Deployment, error) {
	return s.deployments(ctx, app, `SELECT `+deploymentCols+` FROM deployments WHERE id IN (
		SELECT MAX(id) FROM deployments WHERE app = ?1 AND accepted GROUP BY env) ORDER BY env`)
}

func (s *Store) deployments(ctx context.Context, app, query string) ([]store.Deployment, error) {
	rows, err := s.r.QueryContext(ctx, query, app)
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
		d                   store.Deployment
		at, images, reasons string
	)
	if err := row.Scan(&d.ID, &d.App, &d.Env, &at, &images, &d.Verdict, &d.Accepted, &reasons); err != nil {
		return nil, err
	}
	var err error
	if d.At, err = parseTime(at); err != nil {
		return nil, err
	}
	if err := store.DecodeDeployment(&d, images, reasons); err != nil {
		return nil, err
	}
	return &d, nil
}

// CreateAppScan stores sc under the next index for sc.App, in one write
// transaction (SQLite has one writer), and returns that index.
func (s *Store) CreateAppScan(ctx context.Context, sc *store.AppScan) (int, error) {
	c, err := store.EncodeAppScan(sc, nil, now())
	if err != nil {
		return 0, err
	}
	var idx int
	err = s.write(ctx, func(tx *sql.Tx) error {
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM apps WHERE name = ?`, sc.App).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return store.ErrNotFound
		} else if err != nil {
			return err
		}
		return tx.QueryRowContext(ctx, `INSERT INTO app_scans (app, idx, scanned_at, images, verdict, summary)
			SELECT ?1, COALESCE(MAX(idx), 0) + 1, ?2, ?3, ?4, ?5 FROM app_scans WHERE app = ?1 RETURNING idx`,
			sc.App, formatTime(c.At), c.Images, sc.Verdict, c.Summary).Scan(&idx)
	})
	if err != nil {
		return 0, fmt.Errorf("create app scan of %s: %w", sc.App, err)
	}
	return idx, nil
}

const appScanCols = `app, idx, scanned_at, images, verdict, summary`

// ListAppScans returns the scans of app, oldest first.
func (s *Store) ListAppScans(ctx context.Context, app string) ([]store.AppScan, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+appScanCols+` FROM app_scans WHERE app = ? ORDER BY idx`, app)
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
	var row rowScanner
	if index == 0 {
		row = s.readRow(ctx, `SELECT `+appScanCols+` FROM app_scans WHERE app = ? ORDER BY idx DESC LIMIT 1`, app)
	} else {
		row = s.readRow(ctx, `SELECT `+appScanCols+` FROM app_scans WHERE app = ? AND idx = ?`, app, index)
	}
	sc, err := scanAppScan(row)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("scan %d of app %s: %w", index, app, store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("scan %d of app %s: %w", index, app, err)
	}
	return sc, nil
}

func scanAppScan(row store.Row) (*store.AppScan, error) {
	var (
		sc         store.AppScan
		at, images string
		summary    []byte
	)
	if err := row.Scan(&sc.App, &sc.Index, &at, &images, &sc.Verdict, &summary); err != nil {
		return nil, err
	}
	t, err := parseTime(at)
	if err != nil {
		return nil, err
	}
	sc.ScannedAt = t
	if err := store.DecodeAppScan(&sc, images, summary); err != nil {
		return nil, err
	}
	return &sc, nil
}
