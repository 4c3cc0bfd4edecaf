-- 0010: reserved. Another branch of issue 13 adds the real migration 0010;
-- this placeholder keeps the numbers of this branch without a gap and is
-- dropped when the branches are merged.
SELECT 1;
