package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lapps/lapps/store"
)

// CreateScan stores s under the next index for s.Image and returns that
// index. The index is computed and the row inserted by one statement in
// one write transaction, so concurrent callers get distinct, consecutive
// indexes; in the same transaction, a scan of s.Image under s.Key, when
// given, is looked for first. s.Index is ignored; a zero s.ScannedAt becomes the current time.
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
	var report any // NULL when there is no report
	if sc.Report != nil {
		report = sc.Report
	}
	if err := store.CheckScanKey(sc.Key); err != nil {
		return 0, fmt.Errorf("create scan of %s: %w", sc.Image, err)
	}
	var key any // NULL when there is no key
	if sc.Key != "" {
		key = sc.Key
	}
	var idx int
	err = s.write(ctx, func(tx *sql.Tx) error {
		if key != nil {
			err := tx.QueryRowContext(ctx, `SELECT idx FROM scans WHERE image = ? AND job_key = ?`, sc.Image, key).Scan(&idx)
			if !errors.Is(err, sql.ErrNoRows) {
				return err // recorded already (err nil), or failed
			}
		}
		return tx.QueryRowContext(ctx, `INSERT INTO scans (image, idx, scanned_at, manifest_digest, packages, counts, report, job_key)
			SELECT ?, COALESCE(MAX(idx), 0) + 1, ?, ?, ?, ?, ?, ? FROM scans WHERE image = ?
			RETURNING idx`,
			sc.Image, formatTime(at), sc.ManifestDigest, sc.Packages, string(counts), report, key, sc.Image).Scan(&idx)
	})
	if err != nil {
		return 0, fmt.Errorf("create scan of %s: %w", sc.Image, err)
	}
	return idx, nil
}

// ListScans returns the scans of an image, oldest first, without their
// reports; none (and no error) for an image never scanned.
func (s *Store) ListScans(ctx context.Context, image string) ([]store.Scan, error) {
	q, err := s.readStmt(ctx, `SELECT image, idx, scanned_at, manifest_digest, packages, counts, NULL
		FROM scans WHERE image = ? ORDER BY idx`)
	if err != nil {
		return nil, fmt.Errorf("list scans of %s: %w", image, err)
	}
	rows, err := q.QueryContext(ctx, image)
	if err != nil {
		return nil, fmt.Errorf("list scans of %s: %w", image, err)
	}
	defer rows.Close()
	var out []store.Scan
	for rows.Next() {
		sc, err := scanScan(rows)
		if err != nil {
			return nil, fmt.Errorf("list scans of %s: %w", image, err)
		}
		out = append(out, *sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list scans of %s: %w", image, err)
	}
	return out, nil
}

// GetScan returns scan number index of an image, the latest when index is
// 0, or store.ErrNotFound.
func (s *Store) GetScan(ctx context.Context, image string, index int) (*store.Scan, error) {
	if index < 0 {
		return nil, fmt.Errorf("scan %d of %s: negative scan index", index, image)
	}
	const cols = `SELECT image, idx, scanned_at, manifest_digest, packages, counts, report FROM scans`
	var row rowScanner
	if index == 0 {
		row = s.readRow(ctx, cols+` WHERE image = ? ORDER BY idx DESC LIMIT 1`, image)
	} else {
		row = s.readRow(ctx, cols+` WHERE image = ? AND idx = ?`, image, index)
	}
	sc, err := scanScan(row)
	switch {
	case errors.Is(err, sql.ErrNoRows) && index == 0:
		return nil, fmt.Errorf("latest scan of %s: %w", image, store.ErrNotFound)
	case errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("scan %d of %s: %w", index, image, store.ErrNotFound)
	case err != nil:
		return nil, fmt.Errorf("scan %d of %s: %w", index, image, err)
	}
	return sc, nil
}

// scanScan reads a row of scans columns.
func scanScan(row interface{ Scan(...any) error }) (*store.Scan, error) {
	var (
		sc       store.Scan
		at       string
		counts   string
		report   []byte
		packages int64
	)
	if err := row.Scan(&sc.Image, &sc.Index, &at, &sc.ManifestDigest, &packages, &counts, &report); err != nil {
		return nil, err
	}
	t, err := parseTime(at)
	if err != nil {
		return nil, err
	}
	sc.ScannedAt = t
	sc.Packages = int(packages)
	if err := json.Unmarshal([]byte(counts), &sc.Counts); err != nil {
		return nil, fmt.Errorf("decode stored counts: %w", err)
	}
	sc.Report = report
	return &sc, nil
}
