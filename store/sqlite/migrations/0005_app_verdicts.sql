-- 0005: the last verdict of each (app, environment), for verdict alerts
-- (store.AppVerdicts). Deleted with the app by RemoveApp.
CREATE TABLE app_verdicts (
    app        TEXT NOT NULL,
    env        TEXT NOT NULL,
    verdict    TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (app, env)
);
