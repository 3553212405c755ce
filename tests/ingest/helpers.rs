//! Helpers of the ingest tests: capture files, envelopes built by hand, writers.

use std::path::{Path, PathBuf};
use std::time::Duration;

use meshview_protocol::pb;
use prost::Message;

use meshview_sim::{SimConfig, Simulator};
use meshview_store::connect::Conn;

use crate::common::{Spawned, TestDb, run_command};

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

// Stored rows compared between writers (the archive, rebuild and retroactive decryption
// tests).

/// The writer's settings in these tests: no flood guard, the archive on or off, the
/// simulator's private channel key or not.
pub fn writer(cmd: &mut tokio::process::Command, archive_on: bool, with_key: bool) {
    cmd.env("MESHVIEW_MQTT__FLOOD_PER_MINUTE", "0")
        .env("MESHVIEW_MQTT__FLOOD_PER_HOUR", "0")
        .env("MESHVIEW_ARCHIVE__ENABLED", archive_on.to_string());
    if with_key {
        let (k, v) = keys();
        cmd.env(k, v);
    }
}

/// Replays the simulator's messages; returns them and how many were junk.
pub async fn replay_sim(
    db: &TestDb,
    archive_on: bool,
    with_key: bool,
) -> (Vec<(String, Vec<u8>)>, usize) {
    let mut sim = Simulator::new(SimConfig {
        packets: 1500,
        ..SimConfig::default()
    })
    .expect("simulator");
    let msgs: Vec<(String, Vec<u8>)> = sim.by_ref().map(|m| (m.topic, m.payload)).collect();
    let junk: usize = sim.truth().junk.values().sum();
    let file = write_capture(db.dir.path(), "capture.jsonl", &msgs);
    let mut cmd = db.command(&["ingest", "--replay", file.to_str().unwrap()]);
    writer(&mut cmd, archive_on, with_key);
    let out = run_command(cmd).await;
    assert!(out.success, "replay failed:\n{}", out.all());
    (msgs, junk)
}

/// Every row of `table` as text, sorted, leaving out the columns `skip`.
pub async fn dump(db: &TestDb, table: &str, skip: &[&str]) -> Vec<String> {
    use sqlx::{Column, Row, ValueRef};
    // One rendering for both backends' rows: the first type the value decodes as.
    macro_rules! cells {
        ($row:expr) => {{
            let row = $row;
            let mut out = Vec::new();
            for (i, col) in row.columns().iter().enumerate() {
                if skip.contains(&col.name()) {
                    continue;
                }
                let raw = row.try_get_raw(i).unwrap();
                let v = if raw.is_null() {
                    "NULL".to_string()
                } else if let Ok(v) = row.try_get::<i64, _>(i) {
                    v.to_string()
                } else if let Ok(v) = row.try_get::<i32, _>(i) {
                    v.to_string()
                } else if let Ok(v) = row.try_get::<bool, _>(i) {
                    v.to_string()
                } else if let Ok(v) = row.try_get::<f64, _>(i) {
                    format!("{v:.9}")
                } else if let Ok(v) = row.try_get::<f32, _>(i) {
                    format!("{v:.6}")
                } else if let Ok(v) = row.try_get::<String, _>(i) {
                    v
                } else if let Ok(v) = row.try_get::<Vec<u8>, _>(i) {
                    meshview_sim::b64_encode(&v)
                } else {
                    panic!("{table}.{}: a type the dump does not know", col.name())
                };
                out.push(format!("{}={v}", col.name()));
            }
            out.join("|")
        }};
    }
    let sql = format!("SELECT * FROM {table}");
    let mut rows: Vec<String> = match db.conn().await {
        Conn::Sqlite(mut c) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut c)
            .await
            .unwrap()
            .iter()
            .map(|r| cells!(r))
            .collect(),
        Conn::Postgres(mut c) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut c)
            .await
            .unwrap()
            .iter()
            .map(|r| cells!(r))
            .collect(),
    };
    rows.sort();
    rows
}

/// The tables a writer derives, and the columns that may differ between two writers of
/// the same messages: surrogate ids and, with `times`, every time column.
pub async fn derived(db: &TestDb, times: bool) -> Vec<(String, Vec<String>)> {
    let t: &[&'static str] = if times {
        &[]
    } else {
        &["import_time_us", "first_seen_us", "last_seen_us"]
    };
    let with =
        |extra: &[&'static str]| -> Vec<&'static str> { t.iter().chain(extra).copied().collect() };
    let mut out = Vec::new();
    for (table, skip) in [
        ("packet", with(&[])),
        ("packet_seen", with(&[])),
        ("traceroute", with(&["id"])),
        ("packet_text", with(&[])),
        ("node", with(&[])),
        ("node_public_key", with(&["id"])),
    ] {
        out.push((table.to_string(), dump(db, table, &skip).await));
    }
    if times {
        out.extend(rollups(db).await);
    }
    out
}

/// The rollups and the link model's evidence, as kept batch by batch by the writer and
/// recomputed by `rebuild-rollups` alike. Left out: what the link model attributes to
/// relays (`relay_samples`, and the SNR and RSSI figures and times they add to). The writer
/// names a relayer from the direct links known when the reception is stored, a
/// recomputation from all of them, so the two differ where a relayed reception came in
/// before its relayer's first direct one (depending on batch boundaries).
pub async fn rollups(db: &TestDb) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for table in [
        "traffic_hourly",
        "traffic_hourly_total",
        "traffic_daily",
        "gateway_hourly",
        "node_daily",
        "node_link",
        "(SELECT from_node_id, to_node_id, traceroute_samples, neighbor_samples, \
         reception_samples FROM link_quality \
         WHERE traceroute_samples + neighbor_samples + reception_samples > 0) AS link_evidence",
    ] {
        out.push((table.to_string(), dump(db, table, &[]).await));
    }
    out
}

pub fn assert_same(a: &[(String, Vec<String>)], b: &[(String, Vec<String>)]) {
    for ((table, x), (_, y)) in a.iter().zip(b) {
        assert!(!x.is_empty(), "{table} is empty");
        // The rows only one side has (both are sorted), a few of each.
        let only = |p: &[String], q: &[String]| -> Vec<String> {
            p.iter()
                .filter(|r| q.binary_search(r).is_err())
                .take(5)
                .cloned()
                .collect()
        };
        assert!(
            x == y,
            "{table}: {} rows and {} rows; only in the first: {:#?}; only in the second: {:#?}",
            x.len(),
            y.len(),
            only(x, y),
            only(y, x)
        );
    }
}
