-- 0013: the packages of every manifest as rows (issue 17), so that the
-- manifests an update affects, and the packages of theirs it concerns,
-- are found by an index and read without decoding whole manifest
-- indexes: one row per package, in the manifest's order, with its JSON
-- (vuln.Package, as text: returned byte for byte) and the names it is
-- found by. The manifest keeps its distribution (JSON, "null" when none)
-- beside the rows. Manifests stored before have package_rows false and no
-- rows: the store writes them the first time it is asked (and
-- PutManifest for every manifest since). Rows go with their manifest (ON
-- DELETE CASCADE: scrub, GC).
CREATE TABLE manifest_package_rows (
    manifest    text    NOT NULL REFERENCES manifests (digest) ON DELETE CASCADE,
    position    integer NOT NULL,
    kind        text    NOT NULL,
    name        text    NOT NULL,
    source_name text    NOT NULL,
    data        text    NOT NULL,
    PRIMARY KEY (manifest, position)
);
CREATE INDEX manifest_package_rows_name ON manifest_package_rows (kind, name) INCLUDE (manifest, position);
CREATE INDEX manifest_package_rows_source ON manifest_package_rows (kind, source_name) INCLUDE (manifest, position)
    WHERE source_name <> '';
ALTER TABLE manifests ADD COLUMN distribution text;
ALTER TABLE manifests ADD COLUMN package_rows boolean NOT NULL DEFAULT false;
CREATE INDEX manifests_without_package_rows ON manifests (digest) WHERE NOT package_rows;
