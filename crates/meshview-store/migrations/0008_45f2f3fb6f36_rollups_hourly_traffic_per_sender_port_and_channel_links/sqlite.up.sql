-- Small tables the writer keeps current in the same transaction as the raw rows, so that
-- stats, top talkers and edges never scan millions of packets.

-- Traffic per UTC hour, sender, port and channel: packets are counted in the hour they
-- were first stored, receptions in the hour each was stored (attributed to the packet's
-- sender).
CREATE TABLE traffic_hourly (
    hour_us BIGINT NOT NULL,
    from_node_id BIGINT NOT NULL,
    portnum INTEGER NOT NULL,
    channel VARCHAR NOT NULL,
    packets BIGINT NOT NULL,
    receptions BIGINT NOT NULL,
    PRIMARY KEY (hour_us, from_node_id, portnum, channel)
);
CREATE INDEX idx_traffic_hourly_from ON traffic_hourly (from_node_id, hour_us);

INSERT INTO traffic_hourly (hour_us, from_node_id, portnum, channel, packets, receptions)
SELECT h, f, p, c, SUM(pk), SUM(rc) FROM (
    SELECT (import_time_us / 3600000000) * 3600000000 AS h, COALESCE(from_node_id, 0) AS f,
           COALESCE(portnum, 0) AS p, COALESCE(channel, '') AS c, 1 AS pk, 0 AS rc
    FROM packet WHERE import_time_us IS NOT NULL
    UNION ALL
    SELECT (s.import_time_us / 3600000000) * 3600000000, COALESCE(p.from_node_id, 0),
           COALESCE(p.portnum, 0), COALESCE(p.channel, ''), 0, 1
    FROM packet_seen s JOIN packet p ON p.id = s.packet_id
    WHERE s.import_time_us IS NOT NULL
) t
GROUP BY h, f, p, c;

-- Directed radio links (to_node heard from_node), from traceroute paths and neighbour
-- reports. Filled for existing data by the Rust hook backfill_node_link, which decodes
-- the stored payloads.
CREATE TABLE node_link (
    from_node_id BIGINT NOT NULL,
    to_node_id BIGINT NOT NULL,
    source VARCHAR NOT NULL,
    first_seen_us BIGINT NOT NULL,
    last_seen_us BIGINT NOT NULL,
    count BIGINT NOT NULL,
    last_snr FLOAT,
    last_packet_id BIGINT,
    PRIMARY KEY (from_node_id, to_node_id, source)
);
CREATE INDEX idx_node_link_last_seen ON node_link (last_seen_us);
CREATE INDEX idx_node_link_to ON node_link (to_node_id);
