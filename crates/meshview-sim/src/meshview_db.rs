//! The Python MeshView 3.0.5 database schema (Alembic head `23dad03d2e42`), as DDL we wrote
//! from the reference description of its models and migrations: what an operator who
//! switches brings along. The adoption tests build small ones from it, and
//! `meshview-bench adopt` a big one filled from a seeded database.

/// SQL dialect of the DDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// MeshView's tables in the order their rows can be copied (parents first), with the
/// columns MeshView 3.0.5 gives them.
pub const HEAD_TABLES: [(&str, &str); 5] = [
    (
        "node",
        "id, node_id, long_name, short_name, hw_model, firmware, role, last_lat, last_long, channel, first_seen_us, last_seen_us, is_mqtt_gateway",
    ),
    (
        "packet",
        "id, portnum, from_node_id, to_node_id, payload, import_time_us, channel",
    ),
    (
        "packet_seen",
        "packet_id, node_id, rx_time, hop_limit, hop_start, channel, rx_snr, rx_rssi, topic, import_time_us",
    ),
    (
        "traceroute",
        "id, packet_id, gateway_node_id, done, route, import_time_us, route_return",
    ),
    (
        "node_public_key",
        "id, node_id, public_key, first_seen_us, last_seen_us",
    ),
];

/// MeshView 3.0.5's tables without their secondary indexes (see [`head_indexes`]), its
/// `alembic_version` at head, `migration_status` and the tutorial table `example` it ships.
pub fn head_tables(d: Dialect) -> String {
    let (blob, float, serial, datetime) = types(d);
    format!(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
         INSERT INTO alembic_version VALUES ('23dad03d2e42');
         CREATE TABLE migration_status (id INTEGER PRIMARY KEY CHECK (id = 1), in_progress BOOLEAN NOT NULL DEFAULT FALSE, updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP);
         INSERT INTO migration_status (id, in_progress) VALUES (1, FALSE);
         CREATE TABLE node (id VARCHAR NOT NULL, node_id BIGINT, long_name VARCHAR, short_name VARCHAR, hw_model VARCHAR, firmware VARCHAR, role VARCHAR, last_lat BIGINT, last_long BIGINT, channel VARCHAR, first_seen_us BIGINT, last_seen_us BIGINT, is_mqtt_gateway BOOLEAN, PRIMARY KEY (id), UNIQUE (node_id));
         CREATE TABLE packet (id BIGINT NOT NULL, portnum INTEGER, from_node_id BIGINT, to_node_id BIGINT, payload {blob}, import_time_us BIGINT, channel VARCHAR, PRIMARY KEY (id));
         CREATE TABLE packet_seen (packet_id BIGINT NOT NULL, node_id BIGINT NOT NULL, rx_time BIGINT NOT NULL, hop_limit INTEGER, hop_start INTEGER, channel VARCHAR, rx_snr {float}, rx_rssi INTEGER, topic VARCHAR, import_time_us BIGINT, PRIMARY KEY (packet_id, node_id, rx_time), FOREIGN KEY (packet_id) REFERENCES packet (id));
         CREATE TABLE traceroute (id {serial}, packet_id BIGINT, gateway_node_id BIGINT, done BOOLEAN, route {blob}, import_time_us BIGINT, route_return {blob}, FOREIGN KEY (packet_id) REFERENCES packet (id));
         CREATE TABLE node_public_key (id {serial}, node_id BIGINT NOT NULL, public_key VARCHAR NOT NULL, first_seen_us BIGINT, last_seen_us BIGINT);
         CREATE TABLE example (id {serial}, name VARCHAR(100) NOT NULL, description TEXT, value {float}, is_active BOOLEAN DEFAULT TRUE NOT NULL, created_at {datetime} DEFAULT CURRENT_TIMESTAMP NOT NULL, updated_at {datetime});"
    )
}

/// MeshView 3.0.5's secondary indexes (it declares `idx_traceroute_packet_id` but never
/// creates it). Separate so a big database can be filled before they are built.
pub fn head_indexes() -> &'static str {
    "CREATE INDEX idx_node_node_id ON node (node_id);
     CREATE INDEX idx_node_first_seen_us ON node (first_seen_us);
     CREATE INDEX idx_node_last_seen_us ON node (last_seen_us);
     CREATE INDEX idx_packet_from_node_id ON packet (from_node_id);
     CREATE INDEX idx_packet_to_node_id ON packet (to_node_id);
     CREATE INDEX idx_packet_import_time_us ON packet (import_time_us);
     CREATE INDEX idx_packet_from_node_time_us ON packet (from_node_id, import_time_us);
     CREATE INDEX idx_packet_seen_node_id ON packet_seen (node_id);
     CREATE INDEX idx_packet_seen_packet_id ON packet_seen (packet_id);
     CREATE INDEX idx_packet_seen_import_time_us ON packet_seen (import_time_us);
     CREATE INDEX idx_traceroute_import_time_us ON traceroute (import_time_us);
     CREATE INDEX idx_node_public_key_node_id ON node_public_key (node_id);
     CREATE INDEX idx_node_public_key_public_key ON node_public_key (public_key);
     CREATE INDEX idx_example_name ON example (name);"
}

/// The whole MeshView 3.0.5 schema: [`head_tables`] then [`head_indexes`].
pub fn head_schema(d: Dialect) -> String {
    format!("{}\n{}", head_tables(d), head_indexes())
}

/// MeshView's first Alembic revision (`c88468b7ab0b`): `DateTime` columns beside (or
/// instead of) the microsecond ones, no `node_public_key`, no first/last-seen times.
pub fn initial_schema(d: Dialect) -> String {
    let (blob, float, serial, datetime) = types(d);
    format!(
        "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
         INSERT INTO alembic_version VALUES ('c88468b7ab0b');
         CREATE TABLE node (id VARCHAR NOT NULL, node_id BIGINT, long_name VARCHAR, short_name VARCHAR, hw_model VARCHAR, firmware VARCHAR, role VARCHAR, last_lat BIGINT, last_long BIGINT, channel VARCHAR, last_update {datetime}, PRIMARY KEY (id), UNIQUE (node_id));
         CREATE INDEX idx_node_node_id ON node (node_id);
         CREATE TABLE packet (id BIGINT NOT NULL, portnum INTEGER, from_node_id BIGINT, to_node_id BIGINT, payload {blob}, import_time {datetime}, import_time_us BIGINT, channel VARCHAR, PRIMARY KEY (id));
         CREATE INDEX idx_packet_from_node_id ON packet (from_node_id);
         CREATE INDEX idx_packet_import_time ON packet (import_time);
         CREATE TABLE packet_seen (packet_id BIGINT NOT NULL, node_id BIGINT NOT NULL, rx_time BIGINT NOT NULL, hop_limit INTEGER, hop_start INTEGER, channel VARCHAR, rx_snr {float}, rx_rssi INTEGER, topic VARCHAR, import_time {datetime}, PRIMARY KEY (packet_id, node_id, rx_time), FOREIGN KEY (packet_id) REFERENCES packet (id));
         CREATE INDEX idx_packet_seen_node_id ON packet_seen (node_id);
         CREATE TABLE traceroute (id {serial}, packet_id BIGINT, gateway_node_id BIGINT, done BOOLEAN, route {blob}, import_time {datetime}, FOREIGN KEY (packet_id) REFERENCES packet (id));
         CREATE INDEX idx_traceroute_import_time ON traceroute (import_time);"
    )
}

/// (blob, float, autoincrement integer primary key, datetime) as SQLAlchemy spells them.
fn types(d: Dialect) -> (&'static str, &'static str, &'static str, &'static str) {
    match d {
        Dialect::Sqlite => ("BLOB", "FLOAT", "INTEGER NOT NULL PRIMARY KEY", "DATETIME"),
        Dialect::Postgres => (
            "BYTEA",
            "DOUBLE PRECISION",
            "SERIAL PRIMARY KEY",
            "TIMESTAMP WITHOUT TIME ZONE",
        ),
    }
}
