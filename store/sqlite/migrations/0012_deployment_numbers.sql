-- 0012: deployments are numbered 1, 2, 3 … per app (an app's first
-- deployment is #1), as app scans are. id stays the global order; number
-- is what users see. Existing rows are numbered per app in id order.
ALTER TABLE deployments ADD COLUMN number INTEGER NOT NULL DEFAULT 0;
UPDATE deployments SET number = (
    SELECT COUNT(*) FROM deployments AS d
    WHERE d.app = deployments.app AND d.id <= deployments.id);
CREATE UNIQUE INDEX deployments_app_number ON deployments (app, number);
