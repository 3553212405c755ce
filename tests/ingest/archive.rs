//! The raw archive: a replay of a simulated capture (junk included) leaves exactly the
//! messages the writer accepted in `archive_segment`, in arrival order and byte for byte,
//! and `meshview db archive` reports them; with `archive.enabled = false` nothing is kept.

use meshview_sim::{SimConfig, Simulator, capture_line};
use meshview_store::Role;
use meshview_store::archive::{self, Message};
use meshview_store::connect::Conn;

use crate::both_backends;
use crate::common::{Backend, TestDb, run_command};
use crate::helpers::keys;

/// Replays the simulator's messages; returns them and how many were junk.
async fn replay(db: &TestDb, archive_on: bool) -> (Vec<(String, Vec<u8>)>, usize) {
    let mut sim = Simulator::new(SimConfig {
        packets: 1500,
        ..SimConfig::default()
    })
    .expect("simulator");
    let mut text = String::new();
    let mut msgs = Vec::new();
    for m in sim.by_ref() {
        text.push_str(&capture_line(&m));
        text.push('\n');
        msgs.push((m.topic, m.payload));
    }
    let junk: usize = sim.truth().junk.values().sum();
    let file = db.dir.path().join("capture.jsonl");
    std::fs::write(&file, text).unwrap();
    let mut cmd = db.command(&["ingest", "--replay", file.to_str().unwrap()]);
    let (k, v) = keys();
    cmd.env(k, v)
        .env("MESHVIEW_MQTT__FLOOD_PER_MINUTE", "0")
        .env("MESHVIEW_MQTT__FLOOD_PER_HOUR", "0")
        .env(
            "MESHVIEW_ARCHIVE__ENABLED",
            if archive_on { "true" } else { "false" },
        );
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
    let (sent, junk) = replay(&db, true).await;
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
    replay(&db, false).await;
    assert_eq!(db.count("archive_segment").await, 0);
    assert!(db.count("packet").await > 0);
}

both_backends!(
    archive_keeps_every_accepted_message,
    archive_off_keeps_nothing
);
