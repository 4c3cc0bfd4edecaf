-- 0014: each package row carries the hash of its JSON (the first 16
-- bytes of its SHA-256, as store.PackageHash computes it), and the two
-- indexes that find package rows by name include it: PackagesNamed
-- reads (manifest, position, hash) from the index alone, and the JSON of
-- each distinct package once, not once per manifest that holds it
-- (issue 17). The rows already there get their hash here.
-- GC's batch selection (PruneManifests: ORDER BY last_seen) is a range
-- scan of manifests_last_seen, which migration 0002 created; the SQLite
-- engine gets that index in its 0014.
ALTER TABLE manifest_package_rows ADD COLUMN hash bytea;
UPDATE manifest_package_rows SET hash = substring(sha256(convert_to(data, 'UTF8')) FROM 1 FOR 16);
ALTER TABLE manifest_package_rows ALTER COLUMN hash SET NOT NULL;
DROP INDEX manifest_package_rows_name;
DROP INDEX manifest_package_rows_source;
CREATE INDEX manifest_package_rows_name ON manifest_package_rows (kind, name) INCLUDE (manifest, position, hash);
CREATE INDEX manifest_package_rows_source ON manifest_package_rows (kind, source_name) INCLUDE (manifest, position, hash)
    WHERE source_name <> '';
