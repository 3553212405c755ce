-- "Packets to node N, newest first" (direct messages, stats by recipient) needs the time
-- in the index; the (from_node_id) and (to_node_id) indexes are prefixes of the
-- (…, import_time_us) ones and only cost writes.
CREATE INDEX idx_packet_to_node_time_us ON packet (to_node_id, import_time_us DESC);
DROP INDEX idx_packet_to_node_id;
DROP INDEX idx_packet_from_node_id;

-- Traffic per UTC hour, port and channel over all senders: what unfiltered stats read.
CREATE TABLE traffic_hourly_total (
    hour_us BIGINT NOT NULL,
    portnum INTEGER NOT NULL,
    channel VARCHAR NOT NULL,
    packets BIGINT NOT NULL,
    receptions BIGINT NOT NULL,
    PRIMARY KEY (hour_us, portnum, channel)
);
INSERT INTO traffic_hourly_total (hour_us, portnum, channel, packets, receptions)
SELECT hour_us, portnum, channel, SUM(packets), SUM(receptions)
FROM traffic_hourly GROUP BY hour_us, portnum, channel;
