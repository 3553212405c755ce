//! Python MeshView databases, built from DDL we wrote from the reference description of
//! its schema (MeshView 3.0.5: its models and its Alembic history), at its head revision and
//! at its initial revision, filled with the oddities real ones carry.

use meshview_sim::meshview_db::{self, Dialect};

use crate::common::{Backend, TestDb};
use crate::migrations::blob;

fn dialect(b: Backend) -> Dialect {
    match b {
        Backend::Sqlite => Dialect::Sqlite,
        Backend::Postgres => Dialect::Postgres,
    }
}

/// MeshView 3.0.5 at alembic head 23dad03d2e42 (incl. its `example` table and the
/// missing traceroute(packet_id) index).
pub async fn create_head(db: &TestDb) {
    db.exec(&meshview_db::head_schema(dialect(db.backend)))
        .await;
}

/// Fills a head-schema MeshView database: 3 nodes (one with NULL times from before 3.0),
/// 4 packets (one with NULL import_time_us), 5 receptions of which 2 are orphans,
/// 3 traceroutes of which 1 is an orphan, public keys with a duplicate pair.
pub async fn fill_head(db: &TestDb) {
    let b = db.backend;
    // MeshView's SQLite cleanup deleted packets before their children, leaving orphans;
    // on PostgreSQL we bypass the FK triggers to build the same state.
    let (pre, post) = match b {
        Backend::Sqlite => ("PRAGMA foreign_keys = OFF;", ""),
        Backend::Postgres => (
            "SET session_replication_role = replica;",
            "SET session_replication_role = DEFAULT;",
        ),
    };
    db.exec(&format!(
        "{pre}
         INSERT INTO node VALUES ('!0000000a', 10, 'Alpha ☠️🐮', 'A', 'HELTEC_V3', '2.5.0', 'CLIENT', 373000000, -1224000000, 'LongFast', 1700000000000000, 1700000500000000, TRUE);
         INSERT INTO node VALUES ('!0000000b', 11, '<img src=x onerror=alert(1)>', 'B', 'TBEAM', NULL, 'ROUTER', NULL, NULL, 'LongFast', 1700000000000000, 1700000400000000, NULL);
         INSERT INTO node VALUES ('!0000000c', 12, 'Legacy', 'L', 'RAK4631', NULL, 'CLIENT', NULL, NULL, 'LongFast', NULL, NULL, NULL);
         INSERT INTO packet VALUES (1, 1, 10, 4294967295, {p1}, 1700000100000000, 'LongFast');
         INSERT INTO packet VALUES (2, 70, 10, 11, {p2}, 1700000200000000, 'LongFast');
         INSERT INTO packet VALUES (3, 67, 12, 4294967295, {p3}, 1690000000000000, 'LongFast');
         INSERT INTO packet VALUES (4, 3, 11, 4294967295, {p3}, NULL, 'LongFast');
         INSERT INTO packet_seen VALUES (1, 20, 1700000100, 3, 7, 'LongFast', 5.5, -90, 't', 1700000100000001);
         INSERT INTO packet_seen VALUES (1, 21, 1700000100, 2, 7, 'LongFast', -3.25, -110, 't', 1700000100000002);
         INSERT INTO packet_seen VALUES (2, 20, 1700000200, 3, 3, 'LongFast', 1.0, -80, 't', NULL);
         INSERT INTO packet_seen VALUES (999, 20, 1690000000, 3, 3, 'LongFast', 1.0, -80, 't', 1690000000000000);
         INSERT INTO packet_seen VALUES (998, 21, 1690000000, 3, 3, 'LongFast', 1.0, -80, 't', 1690000000000000);
         INSERT INTO traceroute (packet_id, gateway_node_id, done, route, import_time_us, route_return) VALUES (2, 20, FALSE, {p2}, 1700000200000001, NULL);
         INSERT INTO traceroute (packet_id, gateway_node_id, done, route, import_time_us, route_return) VALUES (2, 21, TRUE, {p2}, 1700000200000002, NULL);
         INSERT INTO traceroute (packet_id, gateway_node_id, done, route, import_time_us, route_return) VALUES (997, 20, TRUE, {p2}, 1690000000000000, NULL);
         INSERT INTO node_public_key (node_id, public_key, first_seen_us, last_seen_us) VALUES (10, 'aa', 5, 6);
         INSERT INTO node_public_key (node_id, public_key, first_seen_us, last_seen_us) VALUES (10, 'aa', 1, 9);
         INSERT INTO node_public_key (node_id, public_key, first_seen_us, last_seen_us) VALUES (10, 'bb', 2, 3);
         INSERT INTO example (name, description, value) VALUES ('tutorial', 'left over', 1.5);
         {post}",
        p1 = blob(b, "0801"),
        p2 = blob(b, "0a020b0c"),
        p3 = blob(b, "ff00"),
    ))
    .await;
}

/// MeshView's first Alembic revision (c88468b7ab0b): DateTime columns beside (or instead
/// of) the microsecond ones, no node_public_key, no first/last-seen.
pub async fn create_initial(db: &TestDb) {
    db.exec(&meshview_db::initial_schema(dialect(db.backend)))
        .await;
    let b = db.backend;
    db.exec(&format!(
        "INSERT INTO node VALUES ('!0000000a', 10, 'Alpha', 'A', 'HELTEC_V3', '2.3.0', 'CLIENT', 373000000, -1224000000, 'LongFast', '2025-10-20 12:00:00.123456');
         INSERT INTO node VALUES ('!0000000d', 13, 'Quiet', 'Q', 'TBEAM', NULL, 'CLIENT', NULL, NULL, 'LongFast', NULL);
         INSERT INTO packet VALUES (1, 1, 10, 4294967295, {p}, '2025-10-20 12:00:00.123456', NULL, 'LongFast');
         INSERT INTO packet VALUES (2, 3, 13, 4294967295, {p}, '2025-10-21 08:30:00.000001', NULL, 'LongFast');
         INSERT INTO packet_seen VALUES (1, 20, 1760961600, 3, 7, 'LongFast', 2.5, -99, 't', '2025-10-20 12:00:01.000000');
         INSERT INTO traceroute (packet_id, gateway_node_id, done, route, import_time) VALUES (1, 20, TRUE, {p}, '2025-10-20 12:00:02.500000');",
        p = blob(b, "0801")
    ))
    .await;
}

/// `n` more packets from node 10, each heard by gateways 20 and 21 (relayed and direct),
/// so an adoption and the link backfill take long enough to be interrupted.
pub async fn fill_bulk(db: &TestDb, n: i64) {
    db.exec(&format!(
        "INSERT INTO packet (id, portnum, from_node_id, to_node_id, payload, import_time_us, channel)
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
         SELECT 100000 + i, 1, 10, 4294967295, NULL, 1700001000000000 + i * 1000, 'LongFast' FROM s;
         INSERT INTO packet_seen (packet_id, node_id, rx_time, hop_limit, hop_start, channel, rx_snr, rx_rssi, topic, import_time_us)
         WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n})
         SELECT 100000 + i, 20 + (i % 2), 1700001000 + i, 3 - (i % 2), 3, 'LongFast', -4.5, -100, 't', 1700001000000000 + i * 1000 + 1 FROM s;"
    ))
    .await;
}
