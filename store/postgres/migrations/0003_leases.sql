-- 0003: leases, the timed locks under which the replicas of one database
-- run singleton work (store.Leases); as the SQLite engine's 0003.
-- expires_at is on the database's clock (now()), which every replica
-- shares.
CREATE TABLE leases (
    name       text        PRIMARY KEY,
    holder     text        NOT NULL,
    expires_at timestamptz NOT NULL
);
