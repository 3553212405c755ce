-- MeshView's four core tables with the microsecond timestamps of MeshView 3.0.
-- Names and types match MeshView so SQL written against it keeps working; foreign keys are
-- declared (and enforced by the connection: PRAGMA foreign_keys=ON).
CREATE TABLE node (
    id VARCHAR NOT NULL PRIMARY KEY,
    node_id BIGINT UNIQUE,
    long_name VARCHAR,
    short_name VARCHAR,
    hw_model VARCHAR,
    firmware VARCHAR,
    role VARCHAR,
    last_lat BIGINT,
    last_long BIGINT,
    channel VARCHAR
);

CREATE TABLE packet (
    id BIGINT NOT NULL PRIMARY KEY,
    portnum INTEGER,
    from_node_id BIGINT,
    to_node_id BIGINT,
    payload BYTEA,
    import_time_us BIGINT,
    channel VARCHAR
);
CREATE INDEX idx_packet_from_node_id ON packet (from_node_id);
CREATE INDEX idx_packet_to_node_id ON packet (to_node_id);
CREATE INDEX idx_packet_import_time_us ON packet (import_time_us DESC);
CREATE INDEX idx_packet_from_node_time_us ON packet (from_node_id, import_time_us DESC);

CREATE TABLE packet_seen (
    packet_id BIGINT NOT NULL REFERENCES packet (id),
    node_id BIGINT NOT NULL,
    rx_time BIGINT NOT NULL,
    hop_limit INTEGER,
    hop_start INTEGER,
    channel VARCHAR,
    rx_snr FLOAT,
    rx_rssi INTEGER,
    topic VARCHAR,
    import_time_us BIGINT,
    PRIMARY KEY (packet_id, node_id, rx_time)
);
-- Lookups by packet_id use the primary key's prefix; no separate index needed.
CREATE INDEX idx_packet_seen_node_id ON packet_seen (node_id);
CREATE INDEX idx_packet_seen_import_time_us ON packet_seen (import_time_us DESC);

CREATE TABLE traceroute (
    id SERIAL PRIMARY KEY,
    packet_id BIGINT REFERENCES packet (id),
    gateway_node_id BIGINT,
    done BOOLEAN,
    route BYTEA,
    import_time_us BIGINT
);
CREATE INDEX idx_traceroute_import_time_us ON traceroute (import_time_us DESC);
