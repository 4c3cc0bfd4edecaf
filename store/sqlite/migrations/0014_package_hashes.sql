-- 0014: each package row carries the hash of its JSON (the first 16
-- bytes of its SHA-256, store.PackageHash), and the two indexes that
-- find package rows by name cover it: PackagesNamed reads (manifest,
-- position, hash) from the index alone, and the JSON of each distinct
-- package once, not once per manifest that holds it (issue 17). SQLite
-- has no SHA-256 function: the rows already there are dropped and their
-- manifests marked, and the store writes them again, with their hashes,
-- the first time it is asked (as after 0013).
-- And the index GC's batch selection needs (PruneManifests: ORDER BY
-- last_seen, digest), so that it is a range scan instead of a sort of
-- every manifest not seen since the cut-off.
DELETE FROM manifest_package_rows;
UPDATE manifests SET package_rows = 0 WHERE package_rows <> 0;
ALTER TABLE manifest_package_rows ADD COLUMN hash BLOB NOT NULL DEFAULT x'';
DROP INDEX manifest_package_rows_name;
DROP INDEX manifest_package_rows_source;
CREATE INDEX manifest_package_rows_name ON manifest_package_rows (kind, name, hash);
CREATE INDEX manifest_package_rows_source ON manifest_package_rows (kind, source_name, hash) WHERE source_name <> '';
CREATE INDEX manifests_last_seen ON manifests (last_seen, digest);
