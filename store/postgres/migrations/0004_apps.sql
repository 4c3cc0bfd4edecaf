-- 0004: applications (store.Apps), as the SQLite engine's 0004. Lists
-- (images, reasons, image scans) are JSON arrays in text; rows of an app
-- are deleted with it by RemoveApp.
CREATE TABLE apps (
    name       text        PRIMARY KEY,
    created_at timestamptz NOT NULL,
    images     text        NOT NULL
);

-- Every deployment attempt, accepted or refused.
CREATE TABLE deployments (
    id          bigserial   PRIMARY KEY,
    app         text        NOT NULL,
    env         text        NOT NULL,
    deployed_at timestamptz NOT NULL,
    images      text        NOT NULL,
    verdict     text        NOT NULL,
    accepted    boolean     NOT NULL,
    reasons     text        NOT NULL
);
CREATE INDEX deployments_app ON deployments (app, env, id);

-- Numbered app scans: idx is 1, 2, 3… per app.
CREATE TABLE app_scans (
    app        text        NOT NULL,
    idx        integer     NOT NULL,
    scanned_at timestamptz NOT NULL,
    images     text        NOT NULL,
    verdict    text        NOT NULL,
    summary    bytea,
    PRIMARY KEY (app, idx)
);
