-- 0009: nothing changes. SQLite's 0009 lets its engine write an update
-- operation in batches of short transactions, hidden from readers until
-- published; this engine writes one in a single transaction, which
-- readers never see before it commits and which blocks no other writer.
-- The file keeps the migration numbers of the two engines alike.
SELECT 1;
