-- 0008: verified layer blobs (store.Blobs); as the SQLite engine's 0008.
CREATE TABLE layer_blobs (
    blob        text        NOT NULL PRIMARY KEY,
    diff_id     text        NOT NULL,
    verified_at timestamptz NOT NULL
);
CREATE INDEX layer_blobs_diff_id ON layer_blobs (diff_id);
