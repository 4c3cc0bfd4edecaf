-- 0002: API tokens, the notification outbox and the notifier's cursors,
-- and what garbage collection needs; as the SQLite engine's 0002.

-- API bearer tokens, found by the SHA-256 of their secret.
CREATE TABLE tokens (
    id         bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text        NOT NULL,
    hash       bytea       NOT NULL UNIQUE,
    created_at timestamptz NOT NULL,
    last_used  timestamptz,
    revoked_at timestamptz
);

-- The outbox: one row per delivery (one payload for one webhook).
-- next_attempt is the due time, moved by claims (the lease) and failures
-- (the backoff); delivered_at is NULL until delivered.
CREATE TABLE notifications (
    id           text        PRIMARY KEY,
    webhook      text        NOT NULL,
    kind         text        NOT NULL,
    payload      bytea       NOT NULL,
    created_at   timestamptz NOT NULL,
    attempts     integer     NOT NULL DEFAULT 0,
    next_attempt timestamptz NOT NULL,
    delivered_at timestamptz,
    last_error   text        NOT NULL DEFAULT ''
);
-- Due work (ClaimNotifications, OutboxDepth): the undelivered rows by due
-- time. Delivered work (PruneDelivered): by delivery time.
CREATE INDEX notifications_due ON notifications (next_attempt) WHERE delivered_at IS NULL;
CREATE INDEX notifications_delivered ON notifications (delivered_at) WHERE delivered_at IS NOT NULL;

-- The notifier's position per cursor (a source): the last update operation
-- whose notifications are in the outbox.
CREATE TABLE notifier_cursors (
    cursor text   PRIMARY KEY,
    op     bigint NOT NULL
);

-- When a manifest was last referenced (PutManifest, TouchManifest), for
-- retention; PruneManifests looks for the manifests not seen since a time.
ALTER TABLE manifests ADD COLUMN last_seen timestamptz;
UPDATE manifests SET last_seen = updated_at;
ALTER TABLE manifests ALTER COLUMN last_seen SET NOT NULL;
CREATE INDEX manifests_last_seen ON manifests (last_seen);

-- Scans by manifest, for ImagesOfManifest and PruneManifests.
CREATE INDEX scans_manifest ON scans (manifest_digest, scanned_at);
-- Layers by storage time, for PruneLayers.
CREATE INDEX layers_created_at ON layers (created_at);
