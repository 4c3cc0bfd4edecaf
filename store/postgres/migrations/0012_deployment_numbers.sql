-- 0012: deployments are numbered 1, 2, 3 … per app, as the SQLite
-- engine's 0012. id stays the global order; number is what users see.
-- Existing rows are numbered per app in id order.
ALTER TABLE deployments ADD COLUMN number bigint NOT NULL DEFAULT 0;
UPDATE deployments AS d SET number = n.rn
FROM (SELECT id, row_number() OVER (PARTITION BY app ORDER BY id) AS rn FROM deployments) AS n
WHERE d.id = n.id;
CREATE UNIQUE INDEX deployments_app_number ON deployments (app, number);
