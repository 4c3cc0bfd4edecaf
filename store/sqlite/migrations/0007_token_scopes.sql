-- 0007: the scopes of API tokens (read, scan, deploy, admin), a
-- comma-separated list. Tokens made before scopes existed could do
-- everything but manage the server; they keep read, scan and deploy, and
-- an admin token must be made anew (`lapps token create NAME --scope admin`).
ALTER TABLE tokens ADD COLUMN scopes TEXT NOT NULL DEFAULT 'read,scan,deploy';
