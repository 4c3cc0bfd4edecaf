-- 0008: which uncompressed content (diff ID) a layer blob holds, as lapps
-- verified it by reading the blob (store.Blobs). A layer index is reused
-- for a blob only through this table, never on an image configuration's
-- word. Rows go with their layer index (PruneLayers).
CREATE TABLE layer_blobs (
    blob        TEXT NOT NULL PRIMARY KEY,  -- sha256:… of the blob as stored
    diff_id     TEXT NOT NULL,              -- sha256:… of its uncompressed content
    verified_at TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX layer_blobs_diff_id ON layer_blobs (diff_id);
