-- The time before which the retention purge may have deleted raw rows (packets,
-- receptions, traceroutes): one row, moved forward by every purge as it starts. Windows
-- that begin earlier are answered from the rollups, which outlive the raw rows
-- (time travel, `/api/edges?from=`).
CREATE TABLE raw_horizon (
    id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    purged_before_us BIGINT NOT NULL
);
