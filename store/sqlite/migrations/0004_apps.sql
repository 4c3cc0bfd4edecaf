-- 0004: applications (store.Apps): apps, their deployment attempts and
-- their numbered scans. Lists (images, reasons, image scans) are JSON
-- arrays; rows of an app are deleted with it by RemoveApp.
CREATE TABLE apps (
    name       TEXT PRIMARY KEY,
    created_at TEXT NOT NULL,
    images     TEXT NOT NULL
);

-- Every deployment attempt, accepted or refused.
CREATE TABLE deployments (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app         TEXT    NOT NULL,
    env         TEXT    NOT NULL,
    deployed_at TEXT    NOT NULL,
    images      TEXT    NOT NULL,
    verdict     TEXT    NOT NULL,
    accepted    INTEGER NOT NULL,
    reasons     TEXT    NOT NULL
);
CREATE INDEX deployments_app ON deployments (app, env, id);

-- Numbered app scans: idx is 1, 2, 3… per app.
CREATE TABLE app_scans (
    app        TEXT    NOT NULL,
    idx        INTEGER NOT NULL,
    scanned_at TEXT    NOT NULL,
    images     TEXT    NOT NULL,
    verdict    TEXT    NOT NULL,
    summary    BLOB,
    PRIMARY KEY (app, idx)
);
