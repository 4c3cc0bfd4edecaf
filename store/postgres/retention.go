package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lapps/lapps/store"
)

// queryLatestScans selects the latest scan of every image: DISTINCT ON
// walks the primary key (image, idx) once.
const queryLatestScans = `SELECT DISTINCT ON (image) ` + scanColsNoReport + ` FROM scans ORDER BY image, idx DESC`

// LatestScans returns the latest scan of every image, without report,
// sorted by image.
func (s *Store) LatestScans(ctx context.Context) ([]store.Scan, error) {
	rows, err := s.pool.Query(ctx, queryLatestScans)
	if err != nil {
		return nil, fmt.Errorf("latest scans: %w", err)
	}
	out, err := collectScans(rows)
	if err != nil {
		return nil, fmt.Errorf("latest scans: %w", err)
	}
	// Byte by byte, whatever the database's collation.
	slices.SortFunc(out, func(a, b store.Scan) int { return strings.Compare(a.Image, b.Image) })
	return out, nil
}

// ImagesOfManifest returns, sorted, the images whose latest scan is of
// manifest digest: the scans_manifest index finds the scans of the
// manifest, one probe of the primary key tells whether each is its
// image's latest.
func (s *Store) ImagesOfManifest(ctx context.Context, digest string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT image COLLATE "C" FROM scans AS s
		WHERE manifest_digest = $1 AND NOT EXISTS (SELECT 1 FROM scans AS t WHERE t.image = s.image AND t.idx > s.idx)
		ORDER BY 1`, txt(digest))
	if err != nil {
		return nil, fmt.Errorf("images of manifest %s: %w", digest, err)
	}
	out, err := collect[string](rows)
	if err != nil {
		return nil, fmt.Errorf("images of manifest %s: %w", digest, err)
	}
	return out, nil
}

// TouchManifest records that manifest digest is referenced at at; the
// last-seen time only moves forward.
func (s *Store) TouchManifest(ctx context.Context, digest string, at time.Time) error {
	tag, err := s.pool.Exec(ctx, `UPDATE manifests SET last_seen = GREATEST(last_seen, $1) WHERE digest = $2`, at, txt(digest))
	if err := affectedOne(tag, err); err != nil {
		return fmt.Errorf("touch manifest %s: %w", digest, err)
	}
	return nil
}

// PruneScans deletes, per image, the scans beyond the keep newest, at most
// limit in all, by image and index.
func (s *Store) PruneScans(ctx context.Context, keep, limit int) (int, error) {
	if keep < 1 || limit <= 0 {
		return 0, fmt.Errorf("prune scans: keep %d, limit %d: both must be positive", keep, limit)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM scans WHERE (image, idx) IN (
		SELECT image, idx FROM (SELECT image, idx, ROW_NUMBER() OVER (PARTITION BY image ORDER BY idx DESC) AS rn FROM scans) AS ranked
		WHERE rn > $1 ORDER BY image COLLATE "C", idx LIMIT $2)`, keep, limit)
	if err != nil {
		return 0, fmt.Errorf("prune scans: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// PruneManifests deletes at most limit manifests last seen before before,
// with their scans, layer lists and packages, in one transaction.
func (s *Store) PruneManifests(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune manifests: limit %d", limit)
	}
	var n int
	err := s.write(ctx, func(tx pgx.Tx) error {
		// FOR UPDATE: a PutManifest or TouchManifest of a chosen manifest
		// that commits meanwhile is re-checked, and keeps it.
		rows, err := tx.Query(ctx, `SELECT digest FROM manifests AS m
			WHERE m.updated_at < $1 AND m.last_seen < $1
			AND NOT EXISTS (SELECT 1 FROM scans AS s WHERE s.manifest_digest = m.digest AND s.scanned_at >= $1)
			ORDER BY digest COLLATE "C" LIMIT $2 FOR UPDATE`, before, limit)
		if err != nil {
			return err
		}
		digests, err := collect[string](rows)
		if err != nil {
			return err
		}
		if len(digests) == 0 {
			return nil
		}
		for _, q := range []string{
			`DELETE FROM scans WHERE manifest_digest = ANY ($1::text[])`,
			`DELETE FROM manifest_layers WHERE manifest = ANY ($1::text[])`,
			`DELETE FROM manifest_packages WHERE manifest = ANY ($1::text[])`,
			`DELETE FROM manifests WHERE digest = ANY ($1::text[])`,
		} {
			if _, err := tx.Exec(ctx, q, digests); err != nil {
				return err
			}
		}
		n = len(digests)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("prune manifests: %w", err)
	}
	return n, nil
}

// PruneLayers deletes at most limit layer indexes stored before before
// that no manifest lists.
func (s *Store) PruneLayers(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune layers: limit %d", limit)
	}
	tag, err := s.pool.Exec(ctx, `DELETE FROM layers WHERE digest IN (SELECT digest FROM layers AS l
		WHERE l.created_at < $1 AND NOT EXISTS (SELECT 1 FROM manifest_layers AS ml WHERE ml.layer = l.digest)
		ORDER BY digest COLLATE "C" LIMIT $2)`, before, limit)
	if err != nil {
		return 0, fmt.Errorf("prune layers: %w", err)
	}
	return int(tag.RowsAffected()), nil
}
