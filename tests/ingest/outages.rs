//! Outages: the broker restarts, the database goes away, the writer is stopped mid-stream.
//! Nothing accepted is lost.

use std::time::Duration;

use crate::common::{Backend, Broker, Spawned, TestDb, free_port};
use crate::helpers::{keys, publish, start_ingest, truth_packets, unique_prefix, wait_for_count};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_restart_mid_stream() {
    let db = TestDb::new(Backend::Sqlite).await;
    let port = free_port();
    let broker = Broker::start(port).await;
    let prefix = unique_prefix("restart");
    let mut writer = start_ingest(&db, port, &format!("[\"{prefix}/#\"]"), &[keys()]);
    writer
        .wait_for_line("MQTT connected", Duration::from_secs(30))
        .await;

    let (a, _) = truth_packets(&format!("{prefix}/a"), 1, 150);
    publish(&db, port, &format!("{prefix}/a"), 1, 150).await;
    assert_eq!(
        wait_for_count(
            &db,
            "SELECT count(*) FROM packet",
            a as i64,
            Duration::from_secs(30)
        )
        .await,
        a as i64
    );

    broker.stop();
    writer
        .wait_for_line("MQTT connection lost", Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let broker = Broker::start(port).await;
    // Reconnected and resubscribed by itself.
    writer
        .wait_for_lines("MQTT connected", 2, Duration::from_secs(60))
        .await;

    let (b, _) = truth_packets(&format!("{prefix}/b"), 2, 150);
    publish(&db, port, &format!("{prefix}/b"), 2, 150).await;
    let total = wait_for_count(
        &db,
        "SELECT count(*) FROM packet",
        (a + b) as i64,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(total, (a + b) as i64, "{}", writer.log());
    assert_eq!(
        writer.log().matches("MQTT connection lost").count(),
        1,
        "state changes are logged once"
    );
    writer.terminate();
    assert_eq!(writer.wait_exit(Duration::from_secs(30)).await, Some(0));
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_outage_is_retried_and_nothing_is_lost() {
    let db = TestDb::new(Backend::Postgres).await;
    let prefix = unique_prefix("dbdown");
    // A private broker that queues enough: while the database is away the writer
    // acknowledges nothing, so the broker keeps the stream (docs/ingest.md).
    let port = free_port();
    let _broker = Broker::start(port).await;
    let mut writer = start_ingest(&db, port, &format!("[\"{prefix}/#\"]"), &[keys()]);
    writer
        .wait_for_line("MQTT connected", Duration::from_secs(30))
        .await;
    let name = db.url_string.rsplit('/').next().unwrap().to_string();

    // The database goes away: no new connections, existing ones killed.
    let admin_url = meshview::config::DatabaseUrl::parse(&crate::common::pg_admin_url()).unwrap();
    let mut admin = meshview_store::connect::Conn::open(&admin_url, meshview_store::Role::Writer)
        .await
        .unwrap();
    admin
        .execute(&format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS false; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
        ))
        .await
        .unwrap();
    let (n, receptions) = truth_packets(&prefix, 3, 200);
    publish(&db, port, &prefix, 3, 200).await;
    writer
        .wait_for_line("database unavailable; retrying", Duration::from_secs(30))
        .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    admin
        .execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .await
        .unwrap();
    admin.close().await;
    // Everything queued meanwhile arrives.
    assert_eq!(
        wait_for_count(
            &db,
            "SELECT count(*) FROM packet",
            n as i64,
            Duration::from_secs(60)
        )
        .await,
        n as i64,
        "{}",
        writer.log()
    );
    assert_eq!(
        wait_for_count(
            &db,
            "SELECT count(*) FROM packet_seen",
            receptions as i64,
            Duration::from_secs(30)
        )
        .await,
        receptions as i64
    );
    writer.terminate();
    assert_eq!(
        writer.wait_exit(Duration::from_secs(30)).await,
        Some(0),
        "{}",
        writer.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_flushes_what_was_accepted() {
    let db = TestDb::new(Backend::Sqlite).await;
    let prefix = unique_prefix("term");
    let port = free_port();
    let _broker = Broker::start(port).await;
    let writer: Spawned = start_ingest(&db, port, &format!("[\"{prefix}/#\"]"), &[keys()]);
    writer
        .wait_for_line("MQTT connected", Duration::from_secs(30))
        .await;
    publish(&db, port, &prefix, 4, 1500).await;
    // Stop right away, with messages still queued or in the current batch.
    let mut writer = writer;
    writer.terminate();
    assert_eq!(
        writer.wait_exit(Duration::from_secs(30)).await,
        Some(0),
        "{}",
        writer.log()
    );
    let log = writer.log();
    let line = log
        .lines()
        .find(|l| l.contains("everything accepted is stored"))
        .unwrap_or_else(|| panic!("{log}"));
    let field = |name: &str| -> i64 {
        let at = line.find(&format!("{name}=")).unwrap() + name.len() + 1;
        line[at..]
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let accepted = field("accepted");
    assert!(accepted > 0);
    // Every accepted reception is in the database.
    assert_eq!(db.count("packet_seen").await, field("receptions_stored"));
    assert_eq!(db.count("packet").await, field("packets_stored"));
    // Every accepted message went through a committed batch, none failed.
    assert_eq!(field("written"), accepted, "{line}");
    assert_eq!(field("write_failures"), 0, "{line}");
}
