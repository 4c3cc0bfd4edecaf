-- 0003: leases, the timed locks under which singleton work runs
-- (store.Leases). expires_at is in the store's fixed-width time layout, so
-- that it compares as text.
CREATE TABLE leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
