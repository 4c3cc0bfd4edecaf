-- 0007: the scopes of API tokens; as the SQLite engine's 0007.
ALTER TABLE tokens ADD COLUMN scopes text NOT NULL DEFAULT 'read,scan,deploy';
