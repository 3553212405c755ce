//! The raw archive's upkeep on both backends: compaction joins runs of small segments
//! (smaller, same messages in the same order) and leaves young ones alone; the purge
//! deletes segments older than its cutoff and nothing newer; `meshview db vacuum` gives
//! the freed pages back.

use meshview_sim::{SimConfig, Simulator};
use meshview_store::archive::{self, Message, Segment};
use meshview_store::connect::Conn;
use meshview_store::{Db, Role, migrations};

use crate::both_backends;
use crate::common::{Backend, TestDb};

async fn everything(conn: &mut Conn) -> Vec<Message> {
    let mut all = Vec::new();
    archive::replay(conn, i64::MIN + 1, async |mut m| {
        all.append(&mut m);
        Ok(())
    })
    .await
    .unwrap();
    all
}

async fn compaction_and_purge(backend: Backend) {
    let test = TestDb::new(backend).await;
    let chain = migrations::Chain::embedded().unwrap();
    migrations::upgrade(
        &test.url,
        &chain,
        None,
        &migrations::UpgradeOptions::default(),
    )
    .await
    .unwrap();
    let db = Db::open(&test.url, Role::Writer).await.unwrap();
    let mut conn = Conn::open(&test.url, Role::Writer).await.unwrap();
    // A quiet mesh's archive: a segment per one to three messages, a day ago.
    let day_ago = meshview_store::now_us() - 86_400_000_000;
    let msgs: Vec<Message> = Simulator::new(SimConfig {
        packets: 300,
        junk_percent: 0.0,
        ..SimConfig::default()
    })
    .unwrap()
    .enumerate()
    .map(|(i, m)| Message {
        at_us: day_ago + i as i64 * 1000,
        topic: m.topic,
        payload: m.payload,
    })
    .collect();
    let mut small = 0;
    for chunk in msgs.chunks(3) {
        for part in chunk.chunks(if small % 2 == 0 { 1 } else { 3 }) {
            archive::insert(&db, &Segment::seal(part.to_vec(), archive::BATCH_LEVEL))
                .await
                .unwrap();
            small += 1;
        }
    }
    // And one young segment the compaction must leave alone.
    let young = Message {
        at_us: meshview_store::now_us(),
        ..msgs[0].clone()
    };
    archive::insert(&db, &Segment::seal(vec![young.clone()], 3))
        .await
        .unwrap();
    let before = archive::stats(&mut conn).await.unwrap();
    assert_eq!(before.segments, small + 1);
    assert_eq!(before.messages, msgs.len() as i64 + 1);

    let done = archive::compact(&mut conn, meshview_store::now_us() - 60_000_000)
        .await
        .unwrap();
    let after = archive::stats(&mut conn).await.unwrap();
    let want_joined = msgs.len().div_ceil(archive::COMPACT_MESSAGES as usize) as i64;
    assert_eq!(done.joined, small as u64, "{done:?}");
    assert_eq!(after.segments, want_joined + 1, "joined, and the young one");
    assert_eq!(after.messages, before.messages);
    assert_eq!(after.raw_bytes, before.raw_bytes);
    assert!(
        after.stored_bytes * 2 < before.stored_bytes,
        "compaction shrinks: {} -> {} bytes",
        before.stored_bytes,
        after.stored_bytes
    );
    let mut want = msgs.clone();
    want.push(young.clone());
    assert_eq!(
        everything(&mut conn).await,
        want,
        "same messages, same order"
    );
    // Nothing left to join.
    let again = archive::compact(&mut conn, meshview_store::now_us() - 60_000_000)
        .await
        .unwrap();
    assert_eq!(again.joined, 0);

    // The purge: the day-old messages go, the young one stays.
    let gone = archive::purge_before(&mut conn, meshview_store::now_us() - 3_600_000_000)
        .await
        .unwrap();
    assert_eq!(gone, msgs.len() as u64);
    assert_eq!(everything(&mut conn).await, vec![young]);
    conn.close().await;
    db.close().await;
}

/// `meshview db vacuum` returns a deleted archive's pages to the file system (SQLite),
/// and refreshes statistics on PostgreSQL.
async fn vacuum_returns_free_pages(backend: Backend) {
    let test = TestDb::new(backend).await;
    let out = test.run(&["db", "upgrade"]).await;
    assert!(out.success, "{}", out.all());
    // 16 MB of incompressible segments, then gone: their pages are free.
    let db = Db::open(&test.url, Role::Writer).await.unwrap();
    let mut noise = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..16 {
        let payload: Vec<u8> = (0..1 << 20)
            .map(|_| {
                noise ^= noise << 13;
                noise ^= noise >> 7;
                noise ^= noise << 17;
                noise as u8
            })
            .collect();
        let m = Message {
            at_us: i,
            topic: "t".into(),
            payload,
        };
        archive::insert(&db, &Segment::seal(vec![m], 1))
            .await
            .unwrap();
    }
    db.close().await;
    test.exec("DELETE FROM archive_segment").await;
    let out = test.run(&["db", "vacuum"]).await;
    assert!(out.success, "{}", out.all());
    match backend {
        Backend::Sqlite => {
            // "VACUUM done in 0.1 s: 17 MB -> 0 MB"
            let sizes: Vec<u64> = out
                .stdout
                .rsplit(':')
                .next()
                .unwrap()
                .split(|c: char| !c.is_ascii_digit())
                .filter_map(|w| w.parse().ok())
                .collect();
            assert!(out.stdout.starts_with("VACUUM done"), "{}", out.all());
            assert!(sizes[0] >= 16 && sizes[1] < 4, "{}", out.stdout);
        }
        Backend::Postgres => assert!(out.stdout.starts_with("ANALYZE done"), "{}", out.all()),
    }
}

both_backends!(compaction_and_purge, vacuum_returns_free_pages);
