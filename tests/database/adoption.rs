//! Adopting Python MeshView databases: every valid row kept, orphans set aside and
//! counted, legacy times folded into the `_us` columns, schema at our head.

use chrono::NaiveDateTime;

use crate::both_backends;
use crate::common::{Backend, TestDb};
use crate::meshview_fixture;

fn us(s: &str) -> i64 {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.f")
        .unwrap()
        .and_utc()
        .timestamp_micros()
}

async fn adopt_meshview_head(backend: Backend) {
    let db = TestDb::new(backend).await;
    meshview_fixture::create_head(&db).await;
    meshview_fixture::fill_head(&db).await;

    // The writer's start-up path, run by hand.
    let out = db.run(&["db", "upgrade"]).await;
    assert!(out.success, "{}", out.all());
    assert!(
        out.stdout
            .contains("adopted MeshView database (was at 23dad03d2e42)"),
        "{}",
        out.stdout
    );
    let chain = meshview_store::migrations::Chain::embedded().unwrap();
    let head = format!("{} (head)", chain.head_revision().unwrap());
    assert!(out.stdout.contains(&head), "{}", out.stdout);
    assert!(
        out.stderr.contains("set aside orphaned rows"),
        "{}",
        out.stderr
    );

    // Every valid row is there, with its values.
    assert_eq!(db.count("node").await, 3);
    assert_eq!(db.count("packet").await, 4);
    assert_eq!(db.count("packet_seen").await, 3);
    assert_eq!(db.count("traceroute").await, 2);
    assert_eq!(
        db.scalar("SELECT count(*) FROM node WHERE long_name = '<img src=x onerror=alert(1)>' AND role = 'ROUTER'").await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM node WHERE long_name = 'Alpha ☠️🐮' AND is_mqtt_gateway")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM packet_seen WHERE rx_snr = -3.25 AND rx_rssi = -110")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM packet WHERE id = 4 AND import_time_us IS NULL")
            .await,
        1
    );
    let payload_len = match backend {
        Backend::Sqlite => "SELECT length(payload) FROM packet WHERE id = 2",
        Backend::Postgres => {
            "SELECT CAST(octet_length(payload) AS BIGINT) FROM packet WHERE id = 2"
        }
    };
    assert_eq!(db.scalar(payload_len).await, 4);

    // Orphans (their packet was purged first by MeshView's cleanup) are kept aside.
    assert_eq!(db.count("adopted_orphan_packet_seen").await, 2);
    assert_eq!(db.count("adopted_orphan_traceroute").await, 1);

    // A pre-3.0 node without times gets them from its packets.
    assert_eq!(
        db.scalar("SELECT last_seen_us FROM node WHERE node_id = 12")
            .await,
        1_690_000_000_000_000
    );
    assert_eq!(
        db.scalar("SELECT first_seen_us FROM node WHERE node_id = 12")
            .await,
        1_690_000_000_000_000
    );
    // Duplicate key rows were merged with the widest span; the pair is now unique.
    assert_eq!(db.count("node_public_key").await, 2);
    assert_eq!(
        db.scalar("SELECT first_seen_us FROM node_public_key WHERE public_key = 'aa'")
            .await,
        1
    );
    assert_eq!(
        db.scalar("SELECT last_seen_us FROM node_public_key WHERE public_key = 'aa'")
            .await,
        9
    );

    // Schema at our head: tutorial table gone, defects fixed, FKs enforced.
    assert!(!db.table_exists("example").await);
    assert!(db.index_exists("idx_traceroute_packet_id").await);
    assert!(
        db.index_exists("uq_node_public_key_node_id_public_key")
            .await
    );
    assert_eq!(
        db.count("schema_migrations").await,
        chain.migrations().len() as i64
    );
    assert_eq!(
        db.scalar("SELECT count(*) FROM schema_migrations WHERE note = 'adopted from MeshView 23dad03d2e42'").await,
        5
    );
    let mut c = db.conn().await;
    assert!(
        c.execute("INSERT INTO packet_seen (packet_id, node_id, rx_time) VALUES (12345, 1, 1)")
            .await
            .is_err(),
        "foreign key not enforced after adoption"
    );
    assert!(
        c.execute("INSERT INTO node_public_key (node_id, public_key) VALUES (10, 'aa')")
            .await
            .is_err(),
        "(node_id, public_key) not unique"
    );
    // Ids keep counting after every id MeshView gave, the orphan's set aside (3) included.
    c.execute("INSERT INTO traceroute (packet_id, gateway_node_id, done) VALUES (1, 20, FALSE)")
        .await
        .unwrap();
    c.close().await;
    assert_eq!(
        db.scalar("SELECT max(id) FROM adopted_orphan_traceroute")
            .await,
        3
    );
    assert_eq!(db.scalar("SELECT max(id) FROM traceroute").await, 4);

    // A second start is a no-op.
    let again = db.run(&["db", "upgrade"]).await;
    assert!(again.success, "{}", again.all());
    assert!(!again.stdout.contains("adopted"), "{}", again.stdout);
    assert_eq!(db.count("packet").await, 4);

    // SQLite: the original file was copied before adoption.
    if let Some(path) = db.sqlite_path() {
        let backups: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_name().to_string_lossy().contains(".pre-adoption-"))
            .collect();
        assert_eq!(backups.len(), 1, "one pre-adoption copy expected");
    }
}

async fn adopt_meshview_initial_revision(backend: Backend) {
    let db = TestDb::new(backend).await;
    meshview_fixture::create_initial(&db).await;
    let out = db.run(&["db", "upgrade"]).await;
    assert!(out.success, "{}", out.all());
    assert!(out.stdout.contains("was at c88468b7ab0b"), "{}", out.stdout);

    assert_eq!(db.count("node").await, 2);
    assert_eq!(db.count("packet").await, 2);
    assert_eq!(db.count("packet_seen").await, 1);
    assert_eq!(db.count("traceroute").await, 1);
    // Legacy DateTime columns became microseconds (UTC), exactly.
    assert_eq!(
        db.scalar("SELECT import_time_us FROM packet WHERE id = 1")
            .await,
        us("2025-10-20 12:00:00.123456")
    );
    assert_eq!(
        db.scalar("SELECT import_time_us FROM packet WHERE id = 2")
            .await,
        us("2025-10-21 08:30:00.000001")
    );
    assert_eq!(
        db.scalar("SELECT import_time_us FROM packet_seen").await,
        us("2025-10-20 12:00:01")
    );
    assert_eq!(
        db.scalar("SELECT import_time_us FROM traceroute").await,
        us("2025-10-20 12:00:02.5")
    );
    assert_eq!(
        db.scalar("SELECT last_seen_us FROM node WHERE node_id = 10")
            .await,
        us("2025-10-20 12:00:00.123456")
    );
    assert_eq!(
        db.scalar("SELECT last_seen_us FROM node WHERE node_id = 13")
            .await,
        us("2025-10-21 08:30:00.000001")
    );
    for (table, col) in [
        ("packet", "import_time"),
        ("node", "last_update"),
        ("traceroute", "import_time"),
    ] {
        assert!(
            !db.column_exists(table, col).await,
            "{table}.{col} should be folded away"
        );
    }
    assert!(db.column_exists("traceroute", "route_return").await);
    assert!(db.table_exists("node_public_key").await);
    assert!(
        out.stderr.contains("no orphaned receptions"),
        "{}",
        out.stderr
    );
}

async fn unknown_meshview_revision_is_refused(backend: Backend) {
    let db = TestDb::new(backend).await;
    meshview_fixture::create_head(&db).await;
    meshview_fixture::fill_head(&db).await;
    db.exec("UPDATE alembic_version SET version_num = '0000deadbeef'")
        .await;
    let out = db.run(&["db", "upgrade"]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains("0000deadbeef") && out.stderr.contains("not a MeshView revision"),
        "{}",
        out.stderr
    );
    // Untouched.
    assert_eq!(db.count("packet_seen").await, 5);
    assert!(db.table_exists("example").await);
    assert_eq!(db.count("schema_migrations").await, 0);
}

/// The tables' contents, for comparing two databases.
async fn fingerprint(db: &TestDb) -> Vec<(String, i64)> {
    let mut out = Vec::new();
    for (t, sql) in [
        (
            "node",
            "SELECT COUNT(*) + COALESCE(SUM(node_id), 0) FROM node",
        ),
        (
            "packet",
            "SELECT COUNT(*) + COALESCE(SUM(id), 0) FROM packet",
        ),
        (
            "packet_seen",
            "SELECT COUNT(*) + COALESCE(SUM(packet_id + node_id), 0) FROM packet_seen",
        ),
        ("traceroute", "SELECT COUNT(*) FROM traceroute"),
        ("node_public_key", "SELECT COUNT(*) FROM node_public_key"),
        ("packet_text", "SELECT COUNT(*) FROM packet_text"),
        (
            "link_quality",
            "SELECT COUNT(*) + COALESCE(SUM(reception_samples), 0) FROM link_quality",
        ),
        (
            "schema_migrations",
            "SELECT COUNT(*) FROM schema_migrations",
        ),
    ] {
        out.push((t.to_string(), db.scalar(sql).await));
    }
    out
}

/// `kill -9` at any moment of an adoption and its migrations leaves a database the next
/// start completes, ending exactly where an uninterrupted upgrade ends.
async fn kill_during_adoption_then_complete(backend: Backend) {
    let prepare = |db: TestDb| async move {
        meshview_fixture::create_head(&db).await;
        meshview_fixture::fill_head(&db).await;
        meshview_fixture::fill_bulk(&db, 20_000).await;
        db
    };
    // The reference: one uninterrupted upgrade, timed.
    let clean = prepare(TestDb::new(backend).await).await;
    let started = std::time::Instant::now();
    let out = clean.run(&["db", "upgrade"]).await;
    assert!(out.success, "{}", out.all());
    let took = started.elapsed();
    let want = fingerprint(&clean).await;

    let db = prepare(TestDb::new(backend).await).await;
    let chain = meshview_store::migrations::Chain::embedded().unwrap();
    let mut interrupted = 0;
    for tenth in [1u32, 3, 5, 7, 9] {
        let mut cmd = db.command(&["db", "upgrade"]);
        cmd.kill_on_drop(true);
        let mut child = crate::common::Spawned::start(cmd);
        tokio::time::sleep(took * tenth / 10).await;
        if child.child.try_wait().unwrap().is_none() {
            child.child.start_kill().unwrap(); // SIGKILL
            interrupted += 1;
        }
        child.child.wait().await.unwrap();
        // Whatever the moment, the database is at a revision it knows (or still
        // MeshView's), never half-migrated.
        let status = meshview_store::migrations::status(&db.url, &chain)
            .await
            .unwrap();
        if let Some(rev) = status.current() {
            assert!(chain.position(rev).is_some(), "unknown revision {rev}");
        }
        eprintln!(
            "killed at {}/10 of {took:?}: at {:?}",
            tenth,
            status.current()
        );
    }
    assert!(
        interrupted > 0,
        "the upgrade ({took:?}) always finished before the kill"
    );
    let out = db.run(&["db", "upgrade"]).await;
    assert!(out.success, "{}", out.all());
    assert_eq!(fingerprint(&db).await, want);
}

both_backends!(
    adopt_meshview_head,
    adopt_meshview_initial_revision,
    unknown_meshview_revision_is_refused,
    kill_during_adoption_then_complete,
);
