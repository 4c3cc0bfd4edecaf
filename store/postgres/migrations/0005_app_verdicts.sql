-- 0005: the last verdict of each (app, environment), for verdict alerts
-- (store.AppVerdicts), as the SQLite engine's 0005. Deleted with the app
-- by RemoveApp.
CREATE TABLE app_verdicts (
    app        text        NOT NULL,
    env        text        NOT NULL,
    verdict    text        NOT NULL,
    updated_at timestamptz NOT NULL,
    PRIMARY KEY (app, env)
);
