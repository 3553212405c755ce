//! Helpers of the ingest tests: capture files, envelopes built by hand, writers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use meshview_protocol::pb;
use prost::Message;

use crate::common::{Spawned, TestDb};

/// The real captured envelopes (base64 lines).
pub fn real_envelopes() -> Vec<Vec<u8>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/real-traffic/friendlydev_meshtastic-decode_messages.txt");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| meshview_sim::b64_decode(l.trim()).expect("base64"))
        .collect()
}

/// Writes a capture file (JSON lines) from (topic, payload) pairs.
pub fn write_capture(dir: &Path, name: &str, msgs: &[(String, Vec<u8>)]) -> PathBuf {
    let path = dir.join(name);
    let mut text = String::new();
    for (topic, payload) in msgs {
        text.push_str(
            &serde_json::json!({"topic": topic, "payload_b64": meshview_sim::b64_encode(payload)})
                .to_string(),
        );
        text.push('\n');
    }
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `meshview ingest --replay FILE` to completion; returns its stderr.
pub async fn replay(db: &TestDb, capture: &Path) -> String {
    let out = db
        .run(&["ingest", "--replay", capture.to_str().unwrap()])
        .await;
    assert!(out.success, "replay failed:\n{}", out.all());
    out.stderr
}

/// A plaintext ("already decoded by the gateway") envelope.
pub fn plain_envelope(
    from: u32,
    to: u32,
    id: u32,
    gateway: u32,
    portnum: pb::PortNum,
    payload: Vec<u8>,
    rx_time: u32,
) -> Vec<u8> {
    let packet = pb::MeshPacket {
        from,
        to,
        id,
        rx_time,
        rx_snr: 4.25,
        rx_rssi: -97,
        hop_limit: 2,
        hop_start: 3,
        payload_variant: Some(pb::mesh_packet::PayloadVariant::Decoded(pb::Data {
            portnum: portnum as i32,
            payload,
            ..Default::default()
        })),
        ..Default::default()
    };
    pb::ServiceEnvelope {
        packet: Some(packet),
        channel_id: "LongFast".into(),
        gateway_id: format!("!{gateway:08x}"),
    }
    .encode_to_vec()
}

pub fn topic_for(gateway: u32) -> String {
    format!("msh/test/2/e/LongFast/!{gateway:08x}")
}

/// Starts `meshview ingest` on the given broker and topic filter.
pub fn start_ingest(db: &TestDb, port: u16, topics: &str, extra: &[(&str, &str)]) -> Spawned {
    let mut cmd = db.command(&["ingest"]);
    cmd.env("MESHVIEW_MQTT__SERVER", "127.0.0.1")
        .env("MESHVIEW_MQTT__PORT", port.to_string())
        .env("MESHVIEW_MQTT__TOPICS", topics);
    for (k, v) in extra {
        cmd.env(k, v);
    }
    Spawned::start(cmd)
}

/// `meshview run` (writer and web, the web on a free port) subscribed to `prefix/#` on the
/// broker at `port`.
pub fn run_cmd(db: &TestDb, port: u16, prefix: &str) -> tokio::process::Command {
    let mut cmd = db.command(&["run"]);
    cmd.env("MESHVIEW_MQTT__SERVER", "127.0.0.1")
        .env("MESHVIEW_MQTT__PORT", port.to_string())
        .env("MESHVIEW_MQTT__TOPICS", format!("[\"{prefix}/#\"]"))
        .env("MESHVIEW_SERVER__BIND", "127.0.0.1")
        .env("MESHVIEW_SERVER__PORT", "0");
    cmd
}

/// Polls `sql` until it returns `want` (or times out with the last value).
pub async fn wait_for_count(db: &TestDb, sql: &str, want: i64, timeout: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let n = db.scalar(sql).await;
        if n == want || tokio::time::Instant::now() > deadline {
            return n;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A traceroute row joined with its packet's header.
#[derive(Debug, Clone)]
pub struct TraceRow {
    pub from: i64,
    pub to: i64,
    pub route: Vec<u8>,
    pub route_return: Option<Vec<u8>>,
    pub request_id: Option<i64>,
    pub done: bool,
}

pub async fn traceroutes(db: &TestDb) -> Vec<TraceRow> {
    const Q: &str = "SELECT p.from_node_id, p.to_node_id, t.route, t.route_return, t.request_id, t.done \
                     FROM traceroute t JOIN packet p ON p.id = t.packet_id";
    type Row = (i64, i64, Vec<u8>, Option<Vec<u8>>, Option<i64>, bool);
    let mut conn = db.conn().await;
    let rows: Vec<Row> = match &mut conn {
        meshview_store::connect::Conn::Sqlite(c) => sqlx::query_as(Q).fetch_all(&mut *c).await,
        meshview_store::connect::Conn::Postgres(c) => sqlx::query_as(Q).fetch_all(&mut *c).await,
    }
    .unwrap();
    conn.close().await;
    rows.into_iter()
        .map(
            |(from, to, route, route_return, request_id, done)| TraceRow {
                from,
                to,
                route,
                route_return,
                request_id,
                done,
            },
        )
        .collect()
}

/// `SELECT key, value` pairs (both as text/integers) into a map.
pub async fn pairs(db: &TestDb, sql: &str) -> std::collections::BTreeMap<String, i64> {
    let mut conn = db.conn().await;
    let rows: Vec<(String, i64)> = match &mut conn {
        meshview_store::connect::Conn::Sqlite(c) => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *c)
                .await
        }
        meshview_store::connect::Conn::Postgres(c) => {
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *c)
                .await
        }
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"));
    conn.close().await;
    rows.into_iter().collect()
}

/// A unique topic root per test, so tests sharing the broker never see each other.
pub fn unique_prefix(tag: &str) -> String {
    format!(
        "msh/test-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// Packets and receptions of the small simulated mesh the outage tests publish.
pub fn truth_packets(prefix: &str, seed: u64, packets: usize) -> (usize, usize) {
    let mut sim = meshview_sim::Simulator::new(meshview_sim::SimConfig {
        nodes: 20,
        gateways: 4,
        packets,
        seed,
        region_topic: prefix.to_string(),
        ..meshview_sim::SimConfig::default()
    })
    .unwrap();
    for _ in sim.by_ref() {}
    (sim.truth().packets, sim.truth().receptions)
}

/// `meshview simulate --publish` of that mesh, as fast as possible (set the broker with
/// `MESHVIEW_MQTT__…` variables on the returned command).
pub fn publish_cmd(
    db: &TestDb,
    prefix: &str,
    seed: u64,
    packets: usize,
) -> tokio::process::Command {
    db.command(&[
        "simulate",
        "--publish",
        "--rate",
        "0",
        "--topic-prefix",
        prefix,
        "--nodes",
        "20",
        "--gateways",
        "4",
        "--packets",
        &packets.to_string(),
        "--seed",
        &seed.to_string(),
    ])
}

/// Publishes that mesh to the plain broker on 127.0.0.1:`port`.
pub async fn publish(db: &TestDb, port: u16, prefix: &str, seed: u64, packets: usize) {
    let mut cmd = publish_cmd(db, prefix, seed, packets);
    cmd.env("MESHVIEW_MQTT__SERVER", "127.0.0.1")
        .env("MESHVIEW_MQTT__PORT", port.to_string());
    let out = crate::common::run_command(cmd).await;
    assert!(out.success, "{}", out.all());
}

/// The simulator's private-channel key, for writers that must decrypt all of it.
pub fn keys() -> (&'static str, &'static str) {
    (
        "MESHVIEW_MQTT__SECONDARY_KEYS",
        meshview_sim::DEFAULT_SECONDARY_KEY_B64,
    )
}
