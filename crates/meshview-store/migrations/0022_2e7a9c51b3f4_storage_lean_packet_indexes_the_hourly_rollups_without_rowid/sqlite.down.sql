-- Back to the covering sender index and the rowid rollup tables.
DROP INDEX idx_packet_from_node_time_us;
CREATE INDEX idx_packet_from_node_time_us ON packet
    (from_node_id, import_time_us DESC, id DESC, portnum, to_node_id, channel, payload);

DROP INDEX idx_packet_to_node_time_us;
CREATE INDEX idx_packet_to_node_time_us ON packet (to_node_id, import_time_us DESC, id DESC);

CREATE INDEX idx_packet_seen_node_id ON packet_seen (node_id);

CREATE TABLE traffic_hourly_old (
    hour_us BIGINT NOT NULL,
    from_node_id BIGINT NOT NULL,
    portnum INTEGER NOT NULL,
    channel VARCHAR NOT NULL,
    packets BIGINT NOT NULL,
    receptions BIGINT NOT NULL,
    PRIMARY KEY (hour_us, from_node_id, portnum, channel)
);
INSERT INTO traffic_hourly_old (hour_us, from_node_id, portnum, channel, packets, receptions)
SELECT hour_us, from_node_id, portnum, channel, packets, receptions FROM traffic_hourly;
DROP TABLE traffic_hourly;
ALTER TABLE traffic_hourly_old RENAME TO traffic_hourly;
CREATE INDEX idx_traffic_hourly_from ON traffic_hourly (from_node_id, hour_us);

CREATE TABLE traffic_hourly_total_old (
    hour_us BIGINT NOT NULL,
    portnum INTEGER NOT NULL,
    channel VARCHAR NOT NULL,
    packets BIGINT NOT NULL,
    receptions BIGINT NOT NULL,
    PRIMARY KEY (hour_us, portnum, channel)
);
INSERT INTO traffic_hourly_total_old (hour_us, portnum, channel, packets, receptions)
SELECT hour_us, portnum, channel, packets, receptions FROM traffic_hourly_total;
DROP TABLE traffic_hourly_total;
ALTER TABLE traffic_hourly_total_old RENAME TO traffic_hourly_total;

CREATE TABLE link_hourly_old (
    from_node_id BIGINT NOT NULL,
    to_node_id BIGINT NOT NULL,
    hour_us BIGINT NOT NULL,
    samples BIGINT NOT NULL,
    snr_samples BIGINT NOT NULL,
    snr_sum FLOAT NOT NULL,
    snr_min FLOAT,
    snr_max FLOAT,
    PRIMARY KEY (from_node_id, to_node_id, hour_us)
);
INSERT INTO link_hourly_old (from_node_id, to_node_id, hour_us, samples, snr_samples, snr_sum,
    snr_min, snr_max)
SELECT from_node_id, to_node_id, hour_us, samples, snr_samples, snr_sum, snr_min, snr_max
FROM link_hourly;
DROP TABLE link_hourly;
ALTER TABLE link_hourly_old RENAME TO link_hourly;
