-- 0011: what an update operation covers, stored with it so that a report
-- tells which sources cover an image, and how old their data is, without
-- reading records: its records counted by ecosystem (a JSON object), the
-- latest Modified or Published time of its records (NULL when none has a
-- date), and where it came from (the source type, and the path of an
-- import, so that an import never replaces another path's data unasked).
ALTER TABLE update_operations ADD COLUMN ecosystems TEXT;
ALTER TABLE update_operations ADD COLUMN newest_record TEXT;
ALTER TABLE update_operations ADD COLUMN source_type TEXT NOT NULL DEFAULT '';
ALTER TABLE update_operations ADD COLUMN origin TEXT NOT NULL DEFAULT '';
-- The current operation of each source, stored before, gets its
-- ecosystems and newest record time from its records now.
UPDATE update_operations SET
    ecosystems = (SELECT json_group_object(e.ecosystem, e.n) FROM (
        SELECT r.ecosystem AS ecosystem, COUNT(*) AS n
        FROM uo_records AS u JOIN records AS r ON r.hash = u.hash
        WHERE u.op = update_operations.id GROUP BY r.ecosystem) AS e),
    newest_record = (SELECT NULLIF(MAX(MAX(
            COALESCE(strftime('%Y-%m-%dT%H:%M:%SZ', json_extract(r.data, '$.modified')), ''),
            COALESCE(strftime('%Y-%m-%dT%H:%M:%SZ', json_extract(r.data, '$.published')), ''))), '')
        FROM uo_records AS u JOIN records AS r ON r.hash = u.hash
        WHERE u.op = update_operations.id)
WHERE id IN (SELECT MAX(id) FROM update_operations WHERE state = 'published' GROUP BY source);
