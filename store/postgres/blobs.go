package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/store"
)

// queryBlobDiffID finds a blob's record by the primary key.
const queryBlobDiffID = `SELECT diff_id FROM layer_blobs WHERE blob = $1`

// BlobDiffID returns the diff ID verified for blob, or store.ErrNotFound.
func (s *Store) BlobDiffID(ctx context.Context, blob string) (string, error) {
	var diffID string
	err := s.pool.QueryRow(ctx, queryBlobDiffID, txt(blob)).Scan(&diffID)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("blob %s: %w", blob, store.ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("blob %s: %w", blob, err)
	}
	return diffID, nil
}

// PutBlobDiffID records that blob decompresses to diffID, refreshing the
// time of an identical record; a blob recorded with another diff ID is an
// error wrapping store.ErrExists.
func (s *Store) PutBlobDiffID(ctx context.Context, blob, diffID string) error {
	if err := store.CheckBlobDiffID(blob, diffID); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	err := s.write(ctx, func(tx pgx.Tx) error {
		// The update of a conflicting row happens only for the same
		// diff ID: otherwise no row changes, and the stored one says
		// which.
		tag, err := tx.Exec(ctx, `INSERT INTO layer_blobs (blob, diff_id, verified_at) VALUES ($1, $2, $3)
			ON CONFLICT (blob) DO UPDATE SET verified_at = excluded.verified_at WHERE layer_blobs.diff_id = excluded.diff_id`,
			blob, diffID, now())
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 1 {
			return nil
		}
		var stored string
		if err := tx.QueryRow(ctx, queryBlobDiffID, blob).Scan(&stored); err != nil {
			return err
		}
		return fmt.Errorf("%w with diff ID %s, not %s", store.ErrExists, stored, diffID)
	})
	if err != nil {
		return fmt.Errorf("put blob %s: %w", blob, err)
	}
	return nil
}
