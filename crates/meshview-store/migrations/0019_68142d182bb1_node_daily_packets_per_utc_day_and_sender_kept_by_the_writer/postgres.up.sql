-- Packets per UTC day and sender: what `/api/snapshots/daily` counts nodes and packets
-- from (a day of `traffic_hourly` is hours × senders × ports × channels, too many rows to
-- count distinct senders in on a big mesh). Kept by the writer in the batch's
-- transaction, beyond the raw rows' retention; filled here from `traffic_hourly`.
CREATE TABLE node_daily (
    day_us BIGINT NOT NULL,
    node_id BIGINT NOT NULL,
    packets BIGINT NOT NULL,
    PRIMARY KEY (day_us, node_id)
);
INSERT INTO node_daily (day_us, node_id, packets)
SELECT (hour_us / 86400000000) * 86400000000, from_node_id, SUM(packets)
FROM traffic_hourly
WHERE packets > 0
GROUP BY (hour_us / 86400000000) * 86400000000, from_node_id;
