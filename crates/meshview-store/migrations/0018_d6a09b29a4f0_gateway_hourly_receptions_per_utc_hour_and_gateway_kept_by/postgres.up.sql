-- Receptions per UTC hour and gateway: what `/api/snapshots/daily` counts gateways from,
-- kept by the writer in the batch's transaction and, like the other rollups, beyond the
-- raw rows' retention. Filled here from the stored receptions.
CREATE TABLE gateway_hourly (
    hour_us BIGINT NOT NULL,
    gateway_node_id BIGINT NOT NULL,
    receptions BIGINT NOT NULL,
    PRIMARY KEY (hour_us, gateway_node_id)
);
INSERT INTO gateway_hourly (hour_us, gateway_node_id, receptions)
SELECT (import_time_us / 3600000000) * 3600000000, node_id, COUNT(*)
FROM packet_seen
WHERE import_time_us IS NOT NULL
GROUP BY (import_time_us / 3600000000) * 3600000000, node_id;
