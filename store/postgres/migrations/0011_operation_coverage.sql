-- 0011: what an update operation covers, stored with it so that a report
-- tells which sources cover an image, and how old their data is, without
-- reading records: its records counted by ecosystem, the latest Modified
-- or Published time of its records (NULL when none has a date), and where
-- it came from (the source type, and the path of an import, so that an
-- import never replaces another path's data unasked).
ALTER TABLE update_operations
    ADD COLUMN ecosystems jsonb,
    ADD COLUMN newest_record timestamptz,
    ADD COLUMN source_type text NOT NULL DEFAULT '',
    ADD COLUMN origin text NOT NULL DEFAULT '';
-- The current operation of each source, stored before, gets its
-- ecosystems and newest record time from its records now.
UPDATE update_operations AS o SET
    ecosystems = COALESCE((SELECT jsonb_object_agg(e.ecosystem, e.n) FROM (
        SELECT r.ecosystem, count(*) AS n
        FROM uo_records AS u JOIN records AS r ON r.hash = u.hash
        WHERE u.op = o.id GROUP BY r.ecosystem) AS e), '{}'::jsonb),
    newest_record = (SELECT max(greatest((r.data->>'modified')::timestamptz, (r.data->>'published')::timestamptz))
        FROM uo_records AS u JOIN records AS r ON r.hash = u.hash
        WHERE u.op = o.id)
WHERE o.id IN (SELECT max(id) FROM update_operations GROUP BY source);
