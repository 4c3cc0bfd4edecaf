-- 0015: a manifest's indexer version and distribution in an index of
-- their own, which PackagesNamed reads instead of the manifest's row
-- (issue 17). The distribution column (0013) comes after the index JSON
-- in the row, so reading it from the row walks the JSON's overflow
-- pages: for the 10,000 manifests of an update that concerns them all,
-- most of Affected's time.
CREATE INDEX manifests_package_meta ON manifests (digest, indexer_version, distribution);
