//! The raw archive: a replay of a simulated capture (junk included) leaves exactly the
//! messages the writer accepted in `archive_segment`, in arrival order and byte for byte,
//! and `meshview db archive` reports them; with `archive.enabled = false` nothing is kept.

use meshview_sim::{SimConfig, Simulator};
use meshview_store::Role;
use meshview_store::archive::{self, Message};
use meshview_store::connect::Conn;

use crate::both_backends;
use crate::common::{Backend, TestDb, run_command};
use crate::helpers::{keys, write_capture};

/// The writer's settings in these tests: no flood guard, the archive on or off, the
/// simulator's private channel key or not.
fn writer(cmd: &mut tokio::process::Command, archive_on: bool, with_key: bool) {
    cmd.env("MESHVIEW_MQTT__FLOOD_PER_MINUTE", "0")
        .env("MESHVIEW_MQTT__FLOOD_PER_HOUR", "0")
        .env("MESHVIEW_ARCHIVE__ENABLED", archive_on.to_string());
    if with_key {
        let (k, v) = keys();
        cmd.env(k, v);
    }
}

/// Replays the simulator's messages; returns them and how many were junk.
async fn replay(db: &TestDb, archive_on: bool, with_key: bool) -> (Vec<(String, Vec<u8>)>, usize) {
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

/// Every archived message, in order.
async fn archived(db: &TestDb) -> Vec<Message> {
    let mut conn = Conn::open(&db.url, Role::Reader).await.unwrap();
    let mut all = Vec::new();
    archive::replay(&mut conn, i64::MIN + 1, async |mut m| {
        all.append(&mut m);
        Ok(())
    })
    .await
    .unwrap();
    conn.close().await;
    all
}

async fn archive_keeps_every_accepted_message(backend: Backend) {
    let db = TestDb::new(backend).await;
    let (sent, junk) = replay(&db, true, true).await;
    let kept = archived(&db).await;
    assert!(junk > 0, "the capture has junk");
    // Junk is refused by the pipeline; everything else is accepted and archived.
    assert_eq!(kept.len(), sent.len() - junk, "archived messages");
    // In arrival order, byte for byte: the archive is a subsequence of the capture.
    let mut i = 0;
    for m in &kept {
        while i < sent.len() && (sent[i].0 != m.topic || sent[i].1 != m.payload) {
            i += 1;
        }
        assert!(
            i < sent.len(),
            "an archived message is not in the capture, or out of order"
        );
        i += 1;
    }
    assert!(
        kept.windows(2).all(|w| w[0].at_us <= w[1].at_us),
        "times in order"
    );
    let raw: usize = kept.iter().map(|m| m.topic.len() + m.payload.len()).sum();

    let out = db.run(&["db", "archive"]).await;
    assert!(out.success, "{}", out.all());
    assert!(out.stdout.contains("archive: on"), "{}", out.stdout);
    assert!(
        out.stdout
            .contains(&format!("messages: {} in ", kept.len())),
        "{}",
        out.stdout
    );
    assert!(
        out.stdout.contains(&format!("received: {raw} bytes")),
        "{}",
        out.stdout
    );
}

async fn archive_off_keeps_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    replay(&db, false, true).await;
    assert_eq!(db.count("archive_segment").await, 0);
    assert!(db.count("packet").await > 0);
}

/// Every row of `table` as text, sorted, leaving out the columns `skip`.
async fn dump(db: &TestDb, table: &str, skip: &[&str]) -> Vec<String> {
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
async fn derived(db: &TestDb, times: bool) -> Vec<(String, Vec<String>)> {
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
        // The rollups and the link model: recomputed by the rebuild, kept up batch by
        // batch by the writer; the same either way.
        for table in [
            "traffic_hourly",
            "traffic_hourly_total",
            "gateway_hourly",
            "node_daily",
            "node_link",
            "link_quality",
            "link_snr",
            "link_hourly",
        ] {
            out.push((table.to_string(), dump(db, table, &[]).await));
        }
    }
    out
}

fn assert_same(a: &[(String, Vec<String>)], b: &[(String, Vec<String>)]) {
    for ((table, x), (_, y)) in a.iter().zip(b) {
        assert!(!x.is_empty(), "{table} is empty");
        assert_eq!(x.len(), y.len(), "{table}: row counts");
        for (r, s) in x.iter().zip(y) {
            assert_eq!(r, s, "{table}: a row differs");
        }
    }
}

async fn rebuild(db: &TestDb, with_key: bool) {
    let mut cmd = db.command(&["db", "rebuild"]);
    writer(&mut cmd, true, with_key);
    let out = run_command(cmd).await;
    assert!(out.success, "rebuild failed:\n{}", out.all());
    // "rebuilt from N archived messages in S s: P packets and R receptions stored again
    // (had P0 and R0), …": everything was deleted and stored again.
    let n: Vec<u64> = out
        .stdout
        .split(|c: char| !c.is_ascii_digit() && c != '.')
        // (The seconds, with their decimal point, are not whole numbers.)
        .filter_map(|w| w.parse().ok())
        .collect();
    assert!(out.stdout.starts_with("rebuilt from "), "{}", out.all());
    let (messages, packets, receptions, had_packets, had_receptions) =
        (n[0], n[1], n[2], n[3], n[4]);
    assert!(
        messages > 0 && packets > 0 && receptions > 0,
        "{}",
        out.stdout
    );
    assert_eq!(
        (packets, receptions),
        (had_packets, had_receptions),
        "{}",
        out.stdout
    );
}

/// A rebuild of a database from its own archive yields the same rows, rollups included.
async fn rebuild_from_the_archive_yields_the_same_rows(backend: Backend) {
    let db = TestDb::new(backend).await;
    replay(&db, true, true).await;
    let before = derived(&db, true).await;
    rebuild(&db, true).await;
    assert_same(&before, &derived(&db, true).await);
}

/// A capture stored without the private channel's key, then rebuilt with it, ends up as
/// the capture stored by a writer that had the key from the start.
async fn a_key_known_later_decodes_the_archived_packets(backend: Backend) {
    let late = TestDb::new(backend).await;
    replay(&late, true, false).await;
    let undecoded = late
        .scalar("SELECT COUNT(*) FROM packet WHERE portnum = 0 OR portnum IS NULL")
        .await;
    let early = TestDb::new(backend).await;
    replay(&early, true, true).await;
    let want = derived(&early, false).await;
    assert_ne!(
        derived(&late, false).await,
        want,
        "the key makes a difference"
    );
    rebuild(&late, true).await;
    assert_same(&derived(&late, false).await, &want);
    let now_undecoded = late
        .scalar("SELECT COUNT(*) FROM packet WHERE portnum = 0 OR portnum IS NULL")
        .await;
    assert!(
        now_undecoded < undecoded,
        "undecryptable packets: {undecoded} before, {now_undecoded} after"
    );
}

both_backends!(
    archive_keeps_every_accepted_message,
    archive_off_keeps_nothing,
    rebuild_from_the_archive_yields_the_same_rows,
    a_key_known_later_decodes_the_archived_packets
);
