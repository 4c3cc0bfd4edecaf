-- 0009: update operations written in batches of short transactions, so
-- that an import never holds the write lock for long (store/sqlite
-- PutUpdate). An operation is 'writing' while its records are stored, its
-- writer renewing lease_until at every batch; 'published' once whole, the
-- only state readers see; 'deleting' while PruneUpdates (or the clean-up of
-- an operation whose writer died, its lease run out) removes it in batches.
-- Operations stored before were written whole: they are published.
ALTER TABLE update_operations ADD COLUMN state TEXT NOT NULL DEFAULT 'published'
    CHECK (state IN ('writing', 'published', 'deleting'));
ALTER TABLE update_operations ADD COLUMN lease_until TEXT;
-- The latest published operation of a source, and a source's operations
-- in a state, from one index.
DROP INDEX update_operations_source;
CREATE INDEX update_operations_source ON update_operations (source, state, id);
