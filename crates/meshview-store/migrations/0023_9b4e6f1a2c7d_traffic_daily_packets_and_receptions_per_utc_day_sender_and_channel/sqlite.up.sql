-- Packets and receptions per UTC day, sender and channel, kept by the writer in the
-- batch's transaction and, like the other rollups, for `cleanup.rollup_days`: a year of
-- top talkers sums a row per sender and day (730,000 on a 2,000-node mesh) instead of
-- `traffic_hourly`'s rows per hour and port (35 million), which took 8 s a request.
-- Filled here from `traffic_hourly`.
CREATE TABLE traffic_daily (
    day_us BIGINT NOT NULL,
    from_node_id BIGINT NOT NULL,
    channel VARCHAR NOT NULL,
    packets BIGINT NOT NULL,
    receptions BIGINT NOT NULL,
    PRIMARY KEY (day_us, from_node_id, channel)
) WITHOUT ROWID;
INSERT INTO traffic_daily (day_us, from_node_id, channel, packets, receptions)
SELECT (hour_us / 86400000000) * 86400000000, from_node_id, channel, SUM(packets),
       SUM(receptions)
FROM traffic_hourly
GROUP BY (hour_us / 86400000000) * 86400000000, from_node_id, channel
HAVING SUM(packets) <> 0 OR SUM(receptions) <> 0;
