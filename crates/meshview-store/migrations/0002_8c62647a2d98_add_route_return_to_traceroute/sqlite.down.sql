-- SQLite >= 3.35 drops an unindexed, unconstrained column in place.
ALTER TABLE traceroute DROP COLUMN route_return;
