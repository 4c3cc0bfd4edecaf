-- 0002: API tokens, the notification outbox and the notifier's cursors,
-- and what garbage collection needs.

-- API bearer tokens, found by the SHA-256 of their secret.
CREATE TABLE tokens (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL,
    hash       BLOB NOT NULL UNIQUE,
    created_at TEXT NOT NULL,
    last_used  TEXT,
    revoked_at TEXT
);

-- The outbox: one row per delivery (one payload for one webhook).
-- next_attempt is the due time, moved by claims (the lease) and failures
-- (the backoff); delivered_at is NULL until delivered.
CREATE TABLE notifications (
    id           TEXT    PRIMARY KEY,
    webhook      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    payload      BLOB    NOT NULL,
    created_at   TEXT    NOT NULL,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt TEXT    NOT NULL,
    delivered_at TEXT,
    last_error   TEXT    NOT NULL DEFAULT ''
);
-- Due work: undelivered rows by due time (a partial index, which
-- PostgreSQL has too).
CREATE INDEX notifications_due ON notifications (next_attempt) WHERE delivered_at IS NULL;
CREATE INDEX notifications_delivered ON notifications (delivered_at) WHERE delivered_at IS NOT NULL;

-- The notifier's position per cursor (a source): the last update operation
-- whose notifications are in the outbox.
CREATE TABLE notifier_cursors (
    cursor TEXT    PRIMARY KEY,
    op     INTEGER NOT NULL
);

-- When a manifest was last referenced (TouchManifest), for retention.
ALTER TABLE manifests ADD COLUMN last_seen TEXT NOT NULL DEFAULT '';
UPDATE manifests SET last_seen = updated_at;

-- Scans by manifest, for ImagesOfManifest and PruneManifests.
CREATE INDEX scans_manifest ON scans (manifest_digest, scanned_at);
-- Layers by storage time, for PruneLayers.
CREATE INDEX layers_created_at ON layers (created_at);
