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

// queryPruneScans deletes, per image, the scans beyond the $1 newest, at
// most $2, image after image and oldest first within an image. It never
// reads the whole table: a loose index scan of the primary key (image,
// idx) walks the distinct images, one probe each (the recursive CTE); per
// image, one backward probe finds the newest scan beyond the kept ones,
// and the scans up to it are read from the same index. The keys are
// collected into two arrays first (InitPlans), in one order so that their
// elements pair up, so that the DELETE finds each row by the primary key
// whatever the plan.
const queryPruneScans = `WITH RECURSIVE images (image) AS (
		(SELECT image FROM scans ORDER BY image LIMIT 1)
		UNION ALL
		SELECT (SELECT s.image FROM scans AS s WHERE s.image > i.image ORDER BY s.image LIMIT 1)
		FROM images AS i WHERE i.image IS NOT NULL
	), victims AS (
		SELECT v.image, v.idx FROM images AS i
		CROSS JOIN LATERAL (SELECT s.idx FROM scans AS s WHERE s.image = i.image ORDER BY s.idx DESC OFFSET $1 LIMIT 1) AS cut
		CROSS JOIN LATERAL (SELECT s.image, s.idx FROM scans AS s WHERE s.image = i.image AND s.idx <= cut.idx ORDER BY s.idx LIMIT $2) AS v
		WHERE i.image IS NOT NULL
		LIMIT $2
	)
	DELETE FROM scans AS s USING unnest(
		ARRAY(SELECT image FROM victims ORDER BY image, idx),
		ARRAY(SELECT idx FROM victims ORDER BY image, idx)) AS d (image, idx)
	WHERE s.image = d.image AND s.idx = d.idx`

// PruneScans deletes, per image, the scans beyond the keep newest, at most
// limit in all, by image and index.
func (s *Store) PruneScans(ctx context.Context, keep, limit int) (int, error) {
	if keep < 1 || limit <= 0 {
		return 0, fmt.Errorf("prune scans: keep %d, limit %d: both must be positive", keep, limit)
	}
	return s.deleteCount(ctx, "prune scans", queryPruneScans, keep, limit)
}

// queryPruneManifests selects, and locks, at most $2 manifests last seen
// before $1 with no scan since, least recently seen first: the index
// manifests_last_seen yields them in that order, and one probe of
// scans_manifest per manifest tells whether it was scanned since, so the
// walk stops after $2 victims. OFFSET 0 keeps the NOT EXISTS a probe per
// manifest: without it the planner may turn it into an anti join that
// hashes every recent scan first.
const queryPruneManifests = `SELECT digest FROM manifests AS m
	WHERE m.last_seen < $1 AND m.updated_at < $1
	AND NOT EXISTS (SELECT 1 FROM scans AS s WHERE s.manifest_digest = m.digest AND s.scanned_at >= $1 OFFSET 0)
	ORDER BY m.last_seen LIMIT $2 FOR UPDATE`

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
		rows, err := tx.Query(ctx, queryPruneManifests, before, limit)
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
			`DELETE FROM manifest_package_rows WHERE manifest = ANY ($1::text[])`,
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

// queryPruneLayers deletes at most $2 layer indexes stored before $1 that
// no manifest lists, oldest first, and the blob records of their diff IDs,
// and counts the layers deleted: the index layers_created_at yields
// them in that order, one probe of manifest_layers_layer per layer tells
// whether a manifest lists it, and the walk stops after $2 victims, whose
// digests are collected into an array first (an InitPlan) so that the
// DELETE finds each by the primary key; the deleted digests, collected
// into an array again, find their blob records by layer_blobs_diff_id.
// One statement, so one transaction.
const queryPruneLayers = `WITH gone AS (
		DELETE FROM layers WHERE digest = ANY (ARRAY(SELECT l.digest FROM layers AS l
			WHERE l.created_at < $1 AND NOT EXISTS (SELECT 1 FROM manifest_layers AS ml WHERE ml.layer = l.digest)
			ORDER BY l.created_at LIMIT $2))
		RETURNING digest),
	blobs AS (DELETE FROM layer_blobs WHERE diff_id = ANY (ARRAY(SELECT digest FROM gone)))
	SELECT count(*) FROM gone`

// PruneLayers deletes at most limit layer indexes stored before before
// that no manifest lists, and the blob records of their diff IDs.
func (s *Store) PruneLayers(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune layers: limit %d", limit)
	}
	var n int
	if err := s.pool.QueryRow(ctx, queryPruneLayers, before, limit).Scan(&n); err != nil {
		return 0, fmt.Errorf("prune layers: %w", err)
	}
	return n, nil
}

// deleteCount runs a DELETE and returns the number of rows it deleted, as
// the SQLite engine's.
func (s *Store) deleteCount(ctx context.Context, what, query string, args ...any) (int, error) {
	tag, err := s.pool.Exec(ctx, query, args...)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return int(tag.RowsAffected()), nil
}

// queryImagesOfManifests is ImagesOfManifest's query for many manifests
// ($1, an array): scans_manifest finds the scans of each.
const queryImagesOfManifests = `SELECT s.manifest_digest, s.image COLLATE "C" FROM scans AS s
	WHERE s.manifest_digest = ANY ($1::text[]) AND NOT EXISTS (SELECT 1 FROM scans AS t WHERE t.image = s.image AND t.idx > s.idx)
	ORDER BY 2`

// ImagesOfManifests implements store.PackageRows: ImagesOfManifest for
// many manifests, one query.
func (s *Store) ImagesOfManifests(ctx context.Context, digests []string) (map[string][]string, error) {
	if len(digests) == 0 {
		return map[string][]string{}, nil
	}
	rows, err := s.pool.Query(ctx, queryImagesOfManifests, uniqueNonEmpty(txts(digests)))
	if err != nil {
		return nil, fmt.Errorf("images of %d manifests: %w", len(digests), err)
	}
	defer rows.Close()
	out, err := store.CollectPairs(rows)
	if err != nil {
		return nil, fmt.Errorf("images of %d manifests: %w", len(digests), err)
	}
	return out, nil
}
