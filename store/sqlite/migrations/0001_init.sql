-- 0001: the initial schema.
--
-- Times are stored as fixed-width RFC 3339 text in UTC with nanoseconds
-- ("2024-05-01T12:00:00.000000000Z"), so they sort as text and read well in
-- the sqlite3 shell. JSON documents are stored as text. The statements stay
-- close to what PostgreSQL accepts so that its migrations can follow these.

-- Layer indexes, keyed by the layer digest.
CREATE TABLE layers (
    digest          TEXT PRIMARY KEY,
    indexer_version TEXT NOT NULL,
    data            TEXT NOT NULL,  -- JSON of indexer.LayerIndex
    created_at      TEXT NOT NULL
);

-- Folded image indexes, keyed by the manifest digest.
CREATE TABLE manifests (
    digest          TEXT PRIMARY KEY,
    indexer_version TEXT NOT NULL,
    data            TEXT NOT NULL,  -- JSON of indexer.ImageIndex
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
);

-- The layers of a manifest, in order.
CREATE TABLE manifest_layers (
    manifest TEXT    NOT NULL REFERENCES manifests (digest) ON DELETE CASCADE,
    position INTEGER NOT NULL,
    layer    TEXT    NOT NULL,
    PRIMARY KEY (manifest, position)
) WITHOUT ROWID;
CREATE INDEX manifest_layers_layer ON manifest_layers (layer);

-- The inverted index from package to manifest: one row per package kind and
-- name, and one per source package name, held by a manifest.
CREATE TABLE manifest_packages (
    manifest TEXT NOT NULL REFERENCES manifests (digest) ON DELETE CASCADE,
    kind     TEXT NOT NULL,
    name     TEXT NOT NULL,
    PRIMARY KEY (manifest, kind, name)
) WITHOUT ROWID;
CREATE INDEX manifest_packages_kind_name ON manifest_packages (kind, name, manifest);

-- Numbered scans of an image: idx is 1, 2, 3 … per image.
CREATE TABLE scans (
    image           TEXT    NOT NULL,
    idx             INTEGER NOT NULL,
    scanned_at      TEXT    NOT NULL,
    manifest_digest TEXT    NOT NULL,
    packages        INTEGER NOT NULL,
    counts          TEXT    NOT NULL,  -- JSON of store.SeverityCounts
    report          BLOB,
    PRIMARY KEY (image, idx)
);

-- One row per stored run of a source that changed its data.
CREATE TABLE update_operations (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    source      TEXT    NOT NULL,
    fingerprint TEXT    NOT NULL,
    created_at  TEXT    NOT NULL,
    records     INTEGER NOT NULL
);
CREATE INDEX update_operations_source ON update_operations (source, id);

-- Vulnerability records, de-duplicated by the SHA-256 of their JSON: a
-- record unchanged from one operation to the next is stored once.
CREATE TABLE records (
    hash      BLOB PRIMARY KEY,
    source    TEXT NOT NULL,
    id        TEXT NOT NULL,
    ecosystem TEXT NOT NULL,
    package   TEXT NOT NULL,
    data      TEXT NOT NULL  -- JSON of vuln.Record
);
CREATE INDEX records_ecosystem_package ON records (ecosystem, package, source, hash);

-- The records of each update operation. hash has no foreign key and no
-- index of its own: an operation's links are written tens of thousands at a
-- time, and each would cost a lookup and an index entry; records are only
-- deleted by PruneUpdates, which removes those no link refers to.
-- (WITHOUT ROWID, here and below, is SQLite's clustered primary key: the
-- table is its primary-key B-tree. PostgreSQL needs no equivalent.)
CREATE TABLE uo_records (
    op   INTEGER NOT NULL REFERENCES update_operations (id) ON DELETE CASCADE,
    hash BLOB    NOT NULL,
    PRIMARY KEY (op, hash)
) WITHOUT ROWID;

-- The last run of each source, changed data or not.
CREATE TABLE source_runs (
    source       TEXT PRIMARY KEY,
    last_run     TEXT NOT NULL,  -- JSON of the last store.SourceRun
    last_success TEXT            -- start of the last successful run, if any
);
