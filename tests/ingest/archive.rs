//! The raw archive: a replay of a simulated capture (junk included) leaves exactly the
//! messages the writer accepted in `archive_segment`, in arrival order and byte for byte,
//! and `meshview db archive` reports them; with `archive.enabled = false` nothing is kept.

use meshview_store::Role;
use meshview_store::archive::{self, Message};
use meshview_store::connect::Conn;

use crate::both_backends;
use crate::common::{Backend, TestDb, run_command};
use crate::helpers::{assert_same, derived, replay_sim, writer};

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
    let (sent, junk) = replay_sim(&db, true, true).await;
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
    replay_sim(&db, false, true).await;
    assert_eq!(db.count("archive_segment").await, 0);
    assert!(db.count("packet").await > 0);
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
    replay_sim(&db, true, true).await;
    let before = derived(&db, true).await;
    rebuild(&db, true).await;
    assert_same(&before, &derived(&db, true).await);
}

/// A capture stored without the private channel's key, then rebuilt with it, ends up as
/// the capture stored by a writer that had the key from the start.
async fn a_key_known_later_decodes_the_archived_packets(backend: Backend) {
    let late = TestDb::new(backend).await;
    replay_sim(&late, true, false).await;
    let undecoded = late
        .scalar("SELECT COUNT(*) FROM packet WHERE portnum = 0 OR portnum IS NULL")
        .await;
    let early = TestDb::new(backend).await;
    replay_sim(&early, true, true).await;
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
