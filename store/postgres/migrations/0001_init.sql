-- 0001: the initial schema, table for table the schema of the SQLite engine
-- (store/sqlite/migrations/0001_init.sql), with PostgreSQL's types: times
-- are timestamptz (microseconds), documents json (kept as written, checked
-- to be JSON), digests and hashes text and bytea.

-- Layer indexes, keyed by the layer digest.
CREATE TABLE layers (
    digest          text        PRIMARY KEY,
    indexer_version text        NOT NULL,
    data            json        NOT NULL,  -- indexer.LayerIndex
    created_at      timestamptz NOT NULL
);

-- Folded image indexes, keyed by the manifest digest.
CREATE TABLE manifests (
    digest          text        PRIMARY KEY,
    indexer_version text        NOT NULL,
    data            json        NOT NULL,  -- indexer.ImageIndex
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL
);

-- The layers of a manifest, in order. The index on layer answers "which
-- manifests use this layer", which garbage collection asks of every layer.
CREATE TABLE manifest_layers (
    manifest text    NOT NULL REFERENCES manifests (digest) ON DELETE CASCADE,
    position integer NOT NULL,
    layer    text    NOT NULL,
    PRIMARY KEY (manifest, position)
);
CREATE INDEX manifest_layers_layer ON manifest_layers (layer);

-- The inverted index from package to manifest: one row per package kind and
-- name, and one per source package name, held by a manifest. The primary
-- key serves the deletes of PutManifest; (kind, name) INCLUDE (manifest)
-- serves ManifestsWithPackages as an index-only scan.
CREATE TABLE manifest_packages (
    manifest text NOT NULL REFERENCES manifests (digest) ON DELETE CASCADE,
    kind     text NOT NULL,
    name     text NOT NULL,
    PRIMARY KEY (manifest, kind, name)
);
CREATE INDEX manifest_packages_kind_name ON manifest_packages (kind, name) INCLUDE (manifest);

-- Numbered scans of an image: idx is 1, 2, 3 … per image. The primary key
-- serves GetScan, ListScans and the MAX(idx) of CreateScan.
CREATE TABLE scans (
    image           text        NOT NULL,
    idx             integer     NOT NULL CHECK (idx > 0),
    scanned_at      timestamptz NOT NULL,
    manifest_digest text        NOT NULL,
    packages        integer     NOT NULL,
    counts          json        NOT NULL,  -- store.SeverityCounts
    report          bytea,
    PRIMARY KEY (image, idx)
);

-- One row per stored run of a source that changed its data. (source, id)
-- finds a source's latest operation with one backward index probe.
CREATE TABLE update_operations (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source      text        NOT NULL,
    fingerprint text        NOT NULL,
    created_at  timestamptz NOT NULL,
    records     integer     NOT NULL
);
CREATE INDEX update_operations_source ON update_operations (source, id);

-- Vulnerability records, de-duplicated by the SHA-256 of their JSON: a
-- record unchanged from one operation to the next is stored once. The
-- (ecosystem, package) index finds the candidates of Records.
CREATE TABLE records (
    hash      bytea PRIMARY KEY CHECK (length(hash) = 32),
    source    text  NOT NULL,
    id        text  NOT NULL,
    ecosystem text  NOT NULL,
    package   text  NOT NULL,
    data      json  NOT NULL  -- vuln.Record
);
CREATE INDEX records_ecosystem_package ON records (ecosystem, package);

-- The records of each update operation. The primary key (op, hash) answers
-- both "is this record in the latest operation" (Records) and "the records
-- of an operation" (DiffUpdates, PruneUpdates). hash has no foreign key and
-- no index of its own: an operation's links are written tens of thousands
-- at a time; records are only deleted by PruneUpdates, which removes those
-- no link refers to.
CREATE TABLE uo_records (
    op   bigint NOT NULL REFERENCES update_operations (id) ON DELETE CASCADE,
    hash bytea  NOT NULL,
    PRIMARY KEY (op, hash)
);

-- The last run of each source, changed data or not.
CREATE TABLE source_runs (
    source       text PRIMARY KEY,
    last_run     json NOT NULL,  -- the last store.SourceRun
    last_success timestamptz     -- start of the last successful run, if any
);
