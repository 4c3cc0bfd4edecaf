-- 0010: records by vulnerability id (store.RecordLookup): a finding is
-- enriched with what every source says of the same vulnerability (its id,
-- aliases and CVEs), whatever the ecosystem.
CREATE INDEX records_id ON records (id);
