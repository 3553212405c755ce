//! Retention purge on both backends: what goes, what stays, batching, concurrent ingest.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use meshview_store::retention::{PurgeOptions, purge, purge_before};
use meshview_store::{Db, now_us};

use crate::both_backends;
use crate::common::Backend;
use crate::fixtures::{CUTOFF, NEW, OLD, blob, count, head, keys, n, open, orphans, packets_sql};

/// Rows on both sides of the cutoff (and exactly at it, and NULL) in every table.
async fn seed_scenario(db: &crate::common::TestDb) {
    let b = db.backend;
    let mut sql = String::new();
    for (id, t) in [
        (1, Some(OLD)),
        (2, Some(NEW)),
        (3, None),
        (4, Some(OLD)),
        (5, Some(CUTOFF)),
    ] {
        sql.push_str(&format!(
            "INSERT INTO packet (id, portnum, from_node_id, to_node_id, payload, import_time_us, channel) \
             VALUES ({id}, 1, 10, 11, {}, {}, 'LongFast');\n",
            blob(b, "0102"),
            n(t)
        ));
    }
    for (p, node, t) in [
        (1, 101, Some(OLD)),
        (1, 102, Some(NEW)), // a late reception of an old packet: goes with its packet
        (2, 101, Some(OLD)), // an old reception of a packet seen again later
        (2, 102, Some(NEW)),
        (2, 103, None),
        (3, 101, None),
        (3, 102, Some(OLD)),
        (5, 101, Some(CUTOFF)),
    ] {
        sql.push_str(&format!(
            "INSERT INTO packet_seen (packet_id, node_id, rx_time, import_time_us) VALUES ({p}, {node}, 1, {});\n",
            n(t)
        ));
    }
    for (p, gw, t) in [
        (Some(1), 201, Some(OLD)),
        (Some(1), 202, Some(NEW)),
        (Some(2), 201, Some(OLD)),
        (Some(2), 202, Some(NEW)),
        (Some(2), 203, None),
        (None, 204, Some(OLD)),
        (None, 205, Some(NEW)),
        (Some(3), 206, None),
    ] {
        sql.push_str(&format!(
            "INSERT INTO traceroute (packet_id, gateway_node_id, done, route, import_time_us) \
             VALUES ({}, {gw}, TRUE, {}, {});\n",
            n(p),
            blob(b, "01"),
            n(t)
        ));
    }
    for (id, num, t) in [
        ("!a", 10, Some(OLD)),
        ("!b", 11, Some(NEW)),
        ("!c", 12, None),
        ("!d", 13, Some(CUTOFF)),
        ("!e", 14, Some(OLD - 1)),
    ] {
        sql.push_str(&format!(
            "INSERT INTO node (id, node_id, long_name, first_seen_us, last_seen_us) VALUES ('{id}', {num}, 'n', {}, {});\n",
            n(t),
            n(t)
        ));
    }
    // Searchable texts go with their packets.
    for (p, t) in [(1, OLD), (2, NEW), (4, OLD), (5, CUTOFF)] {
        sql.push_str(&format!(
            "INSERT INTO packet_text (packet_id, import_time_us, text_lower) VALUES ({p}, {t}, 'text {p}');\n"
        ));
    }
    sql.push_str(&format!(
        "INSERT INTO node_public_key (node_id, public_key, first_seen_us, last_seen_us) VALUES \
         (10, 'k1', {OLD}, {OLD}), (11, 'k2', {NEW}, {NEW}), (12, 'k3', NULL, NULL);\n"
    ));
    db.exec(&sql).await;
}

async fn purge_removes_exactly_the_old_rows(backend: Backend) {
    let tdb = head(backend).await;
    seed_scenario(&tdb).await;
    let db = open(&tdb).await;

    let r = purge_before(&db, CUTOFF, &PurgeOptions::default())
        .await
        .unwrap();
    assert_eq!(
        (r.packets, r.packet_seen, r.traceroute, r.nodes),
        (2, 4, 4, 2),
        "{r:?}"
    );
    assert!(!r.interrupted);
    assert!(r.maintenance.is_none());

    assert_eq!(keys(&db, "packet", &["id"]).await, ["2", "3", "5"]);
    assert_eq!(keys(&db, "packet_text", &["packet_id"]).await, ["2", "5"]);
    assert_eq!(
        keys(&db, "packet_seen", &["packet_id", "node_id"]).await,
        ["2/102", "2/103", "3/101", "5/101"]
    );
    assert_eq!(
        keys(&db, "traceroute", &["packet_id", "gateway_node_id"]).await,
        ["2/202", "2/203", "3/206", "null/205"]
    );
    assert_eq!(
        keys(&db, "node", &["node_id", "last_seen_us"]).await,
        [
            format!("11/{NEW}"),
            "12/null".to_string(),
            format!("13/{CUTOFF}")
        ]
    );
    // The impersonation history is never purged, even for deleted nodes.
    assert_eq!(
        keys(&db, "node_public_key", &["node_id", "first_seen_us"]).await,
        [
            format!("10/{OLD}"),
            format!("11/{NEW}"),
            "12/null".to_string()
        ]
    );
    assert_eq!(orphans(&db).await, 0);

    // Nothing left to do: a second purge deletes nothing.
    let again = purge_before(&db, CUTOFF, &PurgeOptions::default())
        .await
        .unwrap();
    assert_eq!(again.total_rows(), 0);
    db.close().await;
}

async fn tiny_batches_delete_everything_old(backend: Backend) {
    let tdb = head(backend).await;
    let b = backend;
    let mut sql = packets_sql(b, 1000, 57, 2, OLD);
    sql.push_str(&packets_sql(b, 2000, 23, 1, NEW));
    for id in 1000..1057 {
        sql.push_str(&format!(
            "INSERT INTO traceroute (packet_id, gateway_node_id, import_time_us) VALUES ({id}, 1, {OLD});\n"
        ));
    }
    for id in 2000..2023 {
        // One old reception per new packet.
        sql.push_str(&format!(
            "INSERT INTO packet_seen (packet_id, node_id, rx_time, import_time_us) VALUES ({id}, 99, 1, {OLD});\n"
        ));
    }
    for id in 2000..2011 {
        sql.push_str(&format!(
            "INSERT INTO traceroute (packet_id, gateway_node_id, import_time_us) VALUES ({id}, 2, {OLD});\n"
        ));
    }
    for i in 0..40 {
        let t = if i < 31 { OLD } else { NEW };
        sql.push_str(&format!(
            "INSERT INTO node (id, node_id, last_seen_us) VALUES ('!n{i}', {i}, {t});\n"
        ));
    }
    tdb.exec(&sql).await;
    let db = open(&tdb).await;

    let opts = PurgeOptions {
        batch_size: 5,
        pause: Duration::ZERO,
        progress_every: 3,
        ..PurgeOptions::default()
    };
    let r = purge_before(&db, CUTOFF, &opts).await.unwrap();
    assert_eq!(r.packets, 57);
    assert_eq!(r.packet_seen, 57 * 2 + 23);
    assert_eq!(r.traceroute, 57 + 11);
    assert_eq!(r.nodes, 31);
    // 57 packets: 12 batches; 23 receptions: 5; 11 traceroutes: 3; 31 nodes: 7.
    assert_eq!(r.batches, 12 + 5 + 3 + 7);

    assert_eq!(count(&db, "SELECT count(*) FROM packet").await, 23);
    assert_eq!(count(&db, "SELECT count(*) FROM packet_seen").await, 23);
    assert_eq!(count(&db, "SELECT count(*) FROM traceroute").await, 0);
    assert_eq!(count(&db, "SELECT count(*) FROM node").await, 9);
    assert_eq!(
        count(
            &db,
            &format!("SELECT count(*) FROM packet_seen WHERE import_time_us < {CUTOFF}")
        )
        .await,
        0
    );
    assert_eq!(orphans(&db).await, 0);
    db.close().await;
}

async fn purge_by_days_keeps_recent_rows(backend: Backend) {
    let tdb = head(backend).await;
    let day = 86_400_000_000i64;
    let now = now_us();
    let mut sql = packets_sql(backend, 1, 3, 2, now - 20 * day);
    sql.push_str(&packets_sql(backend, 10, 4, 2, now - 13 * day));
    tdb.exec(&sql).await;
    let db = open(&tdb).await;

    assert!(
        matches!(
            purge(&db, 0, &PurgeOptions::default()).await,
            Err(meshview_store::StoreError::Refused(_))
        ),
        "0 days must be refused"
    );
    assert_eq!(count(&db, "SELECT count(*) FROM packet").await, 7);

    let opts = PurgeOptions {
        vacuum: true,
        ..PurgeOptions::default()
    };
    let r = purge(&db, 14, &opts).await.unwrap();
    assert_eq!((r.packets, r.packet_seen), (3, 6));
    let m = r.maintenance.expect("maintenance ran");
    match backend {
        Backend::Sqlite => {
            assert_eq!(m.command, "VACUUM");
            assert!(m.size_after.unwrap() <= m.size_before.unwrap());
        }
        Backend::Postgres => assert_eq!(m.command, "ANALYZE"),
    }
    assert_eq!(keys(&db, "packet", &["id"]).await, ["10", "11", "12", "13"]);
    db.close().await;
}

/// One row in each time-bucketed rollup at `at` (bucket start), sender or gateway `node`.
fn rollups_sql(at: i64, node: i64) -> String {
    format!(
        "INSERT INTO traffic_hourly (hour_us, from_node_id, portnum, channel, packets, receptions) \
         VALUES ({at}, {node}, 1, 'LongFast', 2, 5);\n\
         INSERT INTO traffic_hourly_total (hour_us, portnum, channel, packets, receptions) \
         VALUES ({at}, {node}, 'LongFast', 2, 5);\n\
         INSERT INTO gateway_hourly (hour_us, gateway_node_id, receptions) VALUES ({at}, {node}, 5);\n\
         INSERT INTO node_daily (day_us, node_id, packets) VALUES ({at}, {node}, 2);\n\
         INSERT INTO traffic_daily (day_us, from_node_id, channel, packets, receptions) \
         VALUES ({at}, {node}, 'LongFast', 2, 5);\n\
         INSERT INTO link_hourly (from_node_id, to_node_id, hour_us, samples, snr_samples, snr_sum) \
         VALUES ({node}, 1, {at}, 1, 1, -5.0);\n"
    )
}

/// The rollups and the column `rollups_sql` puts its `node` in.
const ROLLUPS: [(&str, &str); 6] = [
    ("traffic_hourly", "from_node_id"),
    ("traffic_hourly_total", "portnum"),
    ("traffic_daily", "from_node_id"),
    ("gateway_hourly", "gateway_node_id"),
    ("node_daily", "node_id"),
    ("link_hourly", "from_node_id"),
];

/// Tiered retention: the raw rows go after `days_to_keep`, the rollups stay until
/// `rollup_days`, then go bucket by bucket.
async fn rollups_outlive_the_raw_rows(backend: Backend) {
    let tdb = head(backend).await;
    let day = 86_400_000_000i64;
    let now = now_us();
    let mut sql = packets_sql(backend, 1, 3, 2, now - 20 * day);
    sql.push_str(&packets_sql(backend, 10, 2, 2, now - day));
    let hour = |us: i64| us.div_euclid(3_600_000_000) * 3_600_000_000;
    // Two years, 300 days and 20 days old, and yesterday.
    for (i, age) in [730, 300, 20, 1].into_iter().enumerate() {
        sql.push_str(&rollups_sql(hour(now - age * day), 100 + i as i64));
    }
    tdb.exec(&sql).await;
    let db = open(&tdb).await;

    // Kept for ever (0): only the raw rows go.
    let r = purge(&db, 14, &PurgeOptions::default()).await.unwrap();
    assert_eq!((r.packets, r.rollups), (3, 0));
    for (t, _) in ROLLUPS {
        assert_eq!(
            count(&db, &format!("SELECT count(*) FROM {t}")).await,
            4,
            "{t}"
        );
    }
    assert_eq!(count(&db, "SELECT count(*) FROM packet").await, 2);

    // A year: the two-year-old buckets go, the 300-day-old ones stay.
    let opts = PurgeOptions {
        rollup_days: 365,
        ..PurgeOptions::default()
    };
    let r = purge(&db, 14, &opts).await.unwrap();
    assert_eq!((r.packets, r.rollups), (0, ROLLUPS.len() as u64));
    for (t, node) in ROLLUPS {
        assert_eq!(keys(&db, t, &[node]).await, ["101", "102", "103"], "{t}");
    }
    // Nothing more to do.
    let r = purge(&db, 14, &opts).await.unwrap();
    assert_eq!(r.rollups, 0);
    db.close().await;
}

/// Ingest-like transactions keep succeeding while a purge runs batch by batch.
async fn purge_interleaves_with_ingest(backend: Backend) {
    let tdb = head(backend).await;
    tdb.exec(&packets_sql(backend, 1, 1500, 2, OLD)).await;
    let db = open(&tdb).await;

    let stop = Arc::new(AtomicBool::new(false));
    let inserted = Arc::new(AtomicI64::new(0));
    let writer = {
        let (db, stop, inserted) = (db.clone(), stop.clone(), inserted.clone());
        tokio::spawn(async move {
            let mut id = 1_000_000i64;
            while !stop.load(Ordering::SeqCst) {
                insert_packet(&db, id, NEW)
                    .await
                    .expect("ingest during purge");
                inserted.fetch_add(1, Ordering::SeqCst);
                id += 1;
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let opts = PurgeOptions {
        batch_size: 50,
        ..PurgeOptions::default()
    };
    let r = purge_before(&db, CUTOFF, &opts).await.unwrap();
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();

    assert_eq!((r.packets, r.packet_seen), (1500, 3000));
    let n = inserted.load(Ordering::SeqCst);
    assert!(n > 0, "the ingest task never got a turn");
    assert_eq!(count(&db, "SELECT count(*) FROM packet").await, n);
    assert_eq!(count(&db, "SELECT count(*) FROM packet_seen").await, n * 2);
    assert_eq!(orphans(&db).await, 0);
    db.close().await;
}

/// A packet and two receptions in one transaction, as the writer stores them.
pub async fn insert_packet(db: &Db, id: i64, time: i64) -> Result<(), sqlx::Error> {
    match db {
        Db::Sqlite(p, _) => {
            let mut tx = p.begin().await?;
            sqlx::query("INSERT INTO packet (id, portnum, import_time_us) VALUES (?1, 1, ?2)")
                .bind(id)
                .bind(time)
                .execute(&mut *tx)
                .await?;
            for node in [1i64, 2] {
                sqlx::query(
                    "INSERT INTO packet_seen (packet_id, node_id, rx_time, import_time_us) VALUES (?1, ?2, 1, ?3)",
                )
                .bind(id)
                .bind(node)
                .bind(time)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        }
        Db::Postgres(p) => {
            let mut tx = p.begin().await?;
            sqlx::query("INSERT INTO packet (id, portnum, import_time_us) VALUES ($1, 1, $2)")
                .bind(id)
                .bind(time)
                .execute(&mut *tx)
                .await?;
            for node in [1i64, 2] {
                sqlx::query(
                    "INSERT INTO packet_seen (packet_id, node_id, rx_time, import_time_us) VALUES ($1, $2, 1, $3)",
                )
                .bind(id)
                .bind(node)
                .bind(time)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await
        }
    }
}

/// Cancelling stops between batches; what was deleted stays deleted, FKs stay intact.
async fn cancelled_purge_stops_cleanly(backend: Backend) {
    let tdb = head(backend).await;
    tdb.exec(&packets_sql(backend, 1, 200, 1, OLD)).await;
    let db = open(&tdb).await;
    let opts = PurgeOptions {
        batch_size: 10,
        pause: Duration::from_millis(50),
        ..PurgeOptions::default()
    };
    let cancel = opts.cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(120)).await;
        cancel.cancel();
    });
    let r = purge_before(&db, CUTOFF, &opts).await.unwrap();
    assert!(r.interrupted);
    assert!(r.packets > 0 && r.packets < 200, "{r:?}");
    assert_eq!(r.packets % 10, 0, "whole batches only");
    assert_eq!(
        count(&db, "SELECT count(*) FROM packet").await,
        200 - r.packets as i64
    );
    assert_eq!(orphans(&db).await, 0);
    db.close().await;
}

both_backends!(
    purge_removes_exactly_the_old_rows,
    tiny_batches_delete_everything_old,
    purge_by_days_keeps_recent_rows,
    rollups_outlive_the_raw_rows,
    purge_interleaves_with_ingest,
    cancelled_purge_stops_cleanly,
);
