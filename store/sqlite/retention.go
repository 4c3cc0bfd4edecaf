package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/lapps/lapps/store"
	"github.com/lapps/lapps/vuln"
)

// OperationRecords returns the records of update operation op in
// ecosystem for the given package names, sorted by package, id and source.
func (s *Store) OperationRecords(ctx context.Context, op int64, ecosystem string, packages []string) ([]vuln.Record, error) {
	tx, err := s.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("records of operation %d: %w", op, err)
	}
	defer tx.Rollback()
	o, err := operation(ctx, tx, op)
	if err != nil {
		return nil, err
	}
	packages = uniqueNonEmpty(packages)
	if ecosystem == "" || len(packages) == 0 {
		return nil, nil
	}
	list, err := json.Marshal(packages)
	if err != nil {
		return nil, fmt.Errorf("records of operation %d: %w", op, err)
	}
	out, err := queryRecords(ctx, tx, `SELECT r.data FROM records AS r
		WHERE r.ecosystem = ? AND r.package IN (SELECT value FROM json_each(?)) AND r.source = ?
		AND EXISTS (SELECT 1 FROM uo_records AS u WHERE u.op = ? AND u.hash = r.hash)`,
		ecosystem, string(list), o.Source, op)
	if err != nil {
		return nil, fmt.Errorf("records of operation %d in %s: %w", op, ecosystem, err)
	}
	store.SortRecords(out)
	return out, nil
}

// LatestScans returns the latest scan of every image, without report,
// sorted by image.
func (s *Store) LatestScans(ctx context.Context) ([]store.Scan, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT image, idx, scanned_at, manifest_digest, packages, counts, NULL
		FROM scans AS s WHERE idx = (SELECT MAX(idx) FROM scans AS t WHERE t.image = s.image)
		ORDER BY image`)
	if err != nil {
		return nil, fmt.Errorf("latest scans: %w", err)
	}
	defer rows.Close()
	var out []store.Scan
	for rows.Next() {
		sc, err := scanScan(rows)
		if err != nil {
			return nil, fmt.Errorf("latest scans: %w", err)
		}
		out = append(out, *sc)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("latest scans: %w", err)
	}
	return out, nil
}

// ImagesOfManifest returns, sorted, the images whose latest scan is of
// manifest digest.
func (s *Store) ImagesOfManifest(ctx context.Context, digest string) ([]string, error) {
	out, err := queryStrings(ctx, s.r, `SELECT image FROM scans AS s
		WHERE manifest_digest = ? AND idx = (SELECT MAX(idx) FROM scans AS t WHERE t.image = s.image)
		ORDER BY image`, digest)
	if err != nil {
		return nil, fmt.Errorf("images of manifest %s: %w", digest, err)
	}
	return out, nil
}

// TouchManifest records that manifest digest is referenced at at.
func (s *Store) TouchManifest(ctx context.Context, digest string, at time.Time) error {
	t := formatTime(at)
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE manifests SET last_seen = CASE WHEN last_seen < ? THEN ? ELSE last_seen END
			WHERE digest = ?`, t, t, digest)
		return affectedOne(res, err)
	})
	if err != nil {
		return fmt.Errorf("touch manifest %s: %w", digest, err)
	}
	return nil
}

// PruneScans deletes, per image, the scans beyond the keep newest, at most
// limit in all.
func (s *Store) PruneScans(ctx context.Context, keep, limit int) (int, error) {
	if keep < 1 || limit <= 0 {
		return 0, fmt.Errorf("prune scans: keep %d, limit %d: both must be positive", keep, limit)
	}
	return s.deleteCount(ctx, "prune scans", `DELETE FROM scans WHERE (image, idx) IN (
		SELECT image, idx FROM (SELECT image, idx, ROW_NUMBER() OVER (PARTITION BY image ORDER BY idx DESC) AS rn FROM scans) AS ranked
		WHERE rn > ? ORDER BY image, idx LIMIT ?)`, keep, limit)
}

// queryPruneManifests selects at most ?2 manifests last seen before ?1
// with no scan since, least recently seen first: a range scan of
// manifests_last_seen (last_seen, digest; migration 0014) in that order,
// which stops after ?2 victims, instead of a sort of every manifest not
// seen since.
const queryPruneManifests = `SELECT digest FROM manifests AS m
	WHERE m.last_seen < ?1 AND m.updated_at < ?1
	AND NOT EXISTS (SELECT 1 FROM scans AS s WHERE s.manifest_digest = m.digest AND s.scanned_at >= ?1)
	ORDER BY m.last_seen, digest LIMIT ?2`

// PruneManifests deletes at most limit manifests last seen before before,
// with their scans, layer lists and packages.
func (s *Store) PruneManifests(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune manifests: limit %d", limit)
	}
	b := formatTime(before)
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		digests, err := queryStrings(ctx, tx, queryPruneManifests, b, limit)
		if err != nil {
			return err
		}
		for _, d := range digests {
			for _, q := range []string{
				`DELETE FROM scans WHERE manifest_digest = ?`,
				`DELETE FROM manifest_layers WHERE manifest = ?`,
				`DELETE FROM manifest_packages WHERE manifest = ?`,
				`DELETE FROM manifest_package_rows WHERE manifest = ?`,
				`DELETE FROM manifests WHERE digest = ?`,
			} {
				if _, err := tx.ExecContext(ctx, q, d); err != nil {
					return fmt.Errorf("manifest %s: %w", d, err)
				}
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
// that no manifest lists, and the blob records of their diff IDs, in one
// transaction.
func (s *Store) PruneLayers(ctx context.Context, before time.Time, limit int) (int, error) {
	if limit <= 0 {
		return 0, fmt.Errorf("prune layers: limit %d", limit)
	}
	var n int
	err := s.write(ctx, func(tx *sql.Tx) error {
		gone, err := queryStrings(ctx, tx, `DELETE FROM layers WHERE digest IN (SELECT digest FROM layers AS l
			WHERE l.created_at < ? AND NOT EXISTS (SELECT 1 FROM manifest_layers AS ml WHERE ml.layer = l.digest)
			ORDER BY l.created_at, digest LIMIT ?) RETURNING digest`, formatTime(before), limit)
		if err != nil {
			return err
		}
		n = len(gone)
		if n == 0 {
			return nil
		}
		list, err := json.Marshal(gone)
		if err != nil {
			return err
		}
		// The index layer_blobs_diff_id finds them.
		_, err = tx.ExecContext(ctx, `DELETE FROM layer_blobs WHERE diff_id IN (SELECT value FROM json_each(?))`, string(list))
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("prune layers: %w", err)
	}
	return n, nil
}

// deleteCount runs a DELETE in a write transaction and returns the number
// of rows it deleted.
func (s *Store) deleteCount(ctx context.Context, what, query string, args ...any) (int, error) {
	var n int64
	err := s.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, query, args...)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", what, err)
	}
	return int(n), nil
}

// ImagesOfManifests implements store.PackageRows: ImagesOfManifest for
// many manifests, one query.
func (s *Store) ImagesOfManifests(ctx context.Context, digests []string) (map[string][]string, error) {
	if len(digests) == 0 {
		return map[string][]string{}, nil
	}
	list, err := json.Marshal(uniqueNonEmpty(digests))
	if err != nil {
		return nil, fmt.Errorf("images of %d manifests: %w", len(digests), err)
	}
	rows, err := s.r.QueryContext(ctx, `SELECT manifest_digest, image FROM scans AS s
		WHERE manifest_digest IN (SELECT value FROM json_each(?)) AND idx = (SELECT MAX(idx) FROM scans AS t WHERE t.image = s.image)
		ORDER BY image`, string(list))
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
