-- Fewer bytes per stored reception (docs/benchmarks.md, "Storage").
--
-- The sender index carried every column a node's packet list reads, the payload
-- included: the packet table's bytes a second time (772 of the 3-million-packet
-- benchmark database's 4,166 MB). It keeps the port, so a port filter (positions,
-- telemetry) is still decided in the index; the rows listed are read from the table.
DROP INDEX idx_packet_from_node_time_us;
CREATE INDEX idx_packet_from_node_time_us ON packet
    (from_node_id, import_time_us DESC, id DESC, portnum);

-- The recipient index leaves broadcasts out: nine packets in ten are broadcast, and
-- lists of them are read by time (the queries keep off this index for broadcast).
DROP INDEX idx_packet_to_node_time_us;
CREATE INDEX idx_packet_to_node_time_us ON packet (to_node_id, import_time_us DESC, id DESC)
    WHERE to_node_id <> 4294967295;

-- No query reads the receptions by gateway alone (the gateways' counts come from the
-- `gateway_hourly` rollup): MeshView's index on it was 166 MB here, 14 bytes a reception.
DROP INDEX idx_packet_seen_node_id;

-- The hourly rollups keep their rows in their primary key's b-tree (WITHOUT ROWID)
-- instead of in a rowid table plus a copy of the key in the primary key's index.
CREATE TABLE traffic_hourly_new (
    hour_us BIGINT NOT NULL,
    from_node_id BIGINT NOT NULL,
    portnum INTEGER NOT NULL,
    channel VARCHAR NOT NULL,
    packets BIGINT NOT NULL,
    receptions BIGINT NOT NULL,
    PRIMARY KEY (hour_us, from_node_id, portnum, channel)
) WITHOUT ROWID;
INSERT INTO traffic_hourly_new (hour_us, from_node_id, portnum, channel, packets, receptions)
SELECT hour_us, from_node_id, portnum, channel, packets, receptions FROM traffic_hourly;
DROP TABLE traffic_hourly;
ALTER TABLE traffic_hourly_new RENAME TO traffic_hourly;
CREATE INDEX idx_traffic_hourly_from ON traffic_hourly (from_node_id, hour_us);

CREATE TABLE traffic_hourly_total_new (
    hour_us BIGINT NOT NULL,
    portnum INTEGER NOT NULL,
    channel VARCHAR NOT NULL,
    packets BIGINT NOT NULL,
    receptions BIGINT NOT NULL,
    PRIMARY KEY (hour_us, portnum, channel)
) WITHOUT ROWID;
INSERT INTO traffic_hourly_total_new (hour_us, portnum, channel, packets, receptions)
SELECT hour_us, portnum, channel, packets, receptions FROM traffic_hourly_total;
DROP TABLE traffic_hourly_total;
ALTER TABLE traffic_hourly_total_new RENAME TO traffic_hourly_total;

CREATE TABLE link_hourly_new (
    from_node_id BIGINT NOT NULL,
    to_node_id BIGINT NOT NULL,
    hour_us BIGINT NOT NULL,
    samples BIGINT NOT NULL,
    snr_samples BIGINT NOT NULL,
    snr_sum FLOAT NOT NULL,
    snr_min FLOAT,
    snr_max FLOAT,
    PRIMARY KEY (from_node_id, to_node_id, hour_us)
) WITHOUT ROWID;
INSERT INTO link_hourly_new (from_node_id, to_node_id, hour_us, samples, snr_samples, snr_sum,
    snr_min, snr_max)
SELECT from_node_id, to_node_id, hour_us, samples, snr_samples, snr_sum, snr_min, snr_max
FROM link_hourly;
DROP TABLE link_hourly;
ALTER TABLE link_hourly_new RENAME TO link_hourly;
