package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/store"
)

// CreateScan stores s under the next index for s.Image and returns that
// index. Callers of one image queue on an advisory lock for that image,
// held until their transaction ends, and each computes MAX(idx)+1 after
// taking it, so that concurrent callers, in one process or several, get
// distinct, consecutive indexes; under the same lock, a scan of s.Image
// under s.Key, when given, is looked for first. s.Index is ignored; a
// zero s.ScannedAt becomes the current time.
func (s *Store) CreateScan(ctx context.Context, sc *store.Scan) (int, error) {
	if sc == nil || sc.Image == "" {
		return 0, errors.New("create scan: no image")
	}
	counts, err := json.Marshal(sc.Counts)
	if err != nil {
		return 0, fmt.Errorf("create scan of %s: %w", sc.Image, err)
	}
	at := sc.ScannedAt
	if at.IsZero() {
		at = now()
	}
	if err := store.CheckScanKey(sc.Key); err != nil {
		return 0, fmt.Errorf("create scan of %s: %w", sc.Image, err)
	}
	var key *string // NULL when there is no key
	if sc.Key != "" {
		key = &sc.Key
	}
	image := txt(sc.Image)
	var idx int
	err = s.write(ctx, func(tx pgx.Tx) error {
		if err := lock(ctx, tx, lockScanImage, image); err != nil {
			return err
		}
		// Statements of their own after the lock: in READ COMMITTED they
		// see every scan committed before the lock was granted.
		if key != nil {
			err := tx.QueryRow(ctx, `SELECT idx FROM scans WHERE image = $1 AND job_key = $2`, image, *key).Scan(&idx)
			if !errors.Is(err, pgx.ErrNoRows) {
				return err // recorded already (err nil), or failed
			}
		}
		return tx.QueryRow(ctx, `INSERT INTO scans (image, idx, scanned_at, manifest_digest, packages, counts, report, job_key)
			SELECT $1, COALESCE(MAX(idx), 0) + 1, $2, $3, $4, $5, $6, $7 FROM scans WHERE image = $1
			RETURNING idx`,
			image, at, txt(sc.ManifestDigest), sc.Packages, string(counts), sc.Report, key).Scan(&idx)
	})
	if err != nil {
		return 0, fmt.Errorf("create scan of %s: %w", sc.Image, err)
	}
	return idx, nil
}

// scanCols are the columns scanScan reads, with the report.
const scanCols = `image, idx, scanned_at, manifest_digest, packages, counts, report`

// scanColsNoReport are scanCols without the report.
const scanColsNoReport = `image, idx, scanned_at, manifest_digest, packages, counts, NULL::bytea`

// ListScans returns the scans of an image, oldest first, without their
// reports; none (and no error) for an image never scanned.
func (s *Store) ListScans(ctx context.Context, image string) ([]store.Scan, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+scanColsNoReport+` FROM scans WHERE image = $1 ORDER BY idx`, txt(image))
	if err != nil {
		return nil, fmt.Errorf("list scans of %s: %w", image, err)
	}
	out, err := collectScans(rows)
	if err != nil {
		return nil, fmt.Errorf("list scans of %s: %w", image, err)
	}
	for i := range out {
		out[i].Image = image // as asked, even where txt changed it
	}
	return out, nil
}

// Queries of GetScan: both are one probe of the primary key (image, idx).
const (
	queryScan       = `SELECT ` + scanCols + ` FROM scans WHERE image = $1 AND idx = $2`
	queryLatestScan = `SELECT ` + scanCols + ` FROM scans WHERE image = $1 ORDER BY idx DESC LIMIT 1`
)

// GetScan returns scan number index of an image, the latest when index is
// 0, or store.ErrNotFound.
func (s *Store) GetScan(ctx context.Context, image string, index int) (*store.Scan, error) {
	if index < 0 {
		return nil, fmt.Errorf("scan %d of %s: negative scan index", index, image)
	}
	var row pgx.Row
	if index == 0 {
		row = s.pool.QueryRow(ctx, queryLatestScan, txt(image))
	} else {
		row = s.pool.QueryRow(ctx, queryScan, txt(image), index)
	}
	sc, err := scanScan(row)
	switch {
	case errors.Is(err, pgx.ErrNoRows) && index == 0:
		return nil, fmt.Errorf("latest scan of %s: %w", image, store.ErrNotFound)
	case errors.Is(err, pgx.ErrNoRows):
		return nil, fmt.Errorf("scan %d of %s: %w", index, image, store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("scan %d of %s: %w", index, image, err)
	}
	sc.Image = image
	return sc, nil
}

// collectScans reads and closes rows of scan columns.
func collectScans(rows pgx.Rows) ([]store.Scan, error) {
	defer rows.Close()
	var out []store.Scan
	for rows.Next() {
		sc, err := scanScan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *sc)
	}
	return out, rows.Err()
}

// scanScan reads a row of scan columns.
func scanScan(row pgx.Row) (*store.Scan, error) {
	var (
		sc     store.Scan
		counts []byte
	)
	if err := row.Scan(&sc.Image, &sc.Index, &sc.ScannedAt, &sc.ManifestDigest, &sc.Packages, &counts, &sc.Report); err != nil {
		return nil, err
	}
	sc.ScannedAt = sc.ScannedAt.UTC()
	sc.Report = nilIfEmpty(sc.Report)
	if err := json.Unmarshal(counts, &sc.Counts); err != nil {
		return nil, fmt.Errorf("decode stored counts: %w", err)
	}
	return &sc, nil
}
