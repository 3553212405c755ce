//! The chain on a real database: up, down, every intermediate revision, failures.

use std::collections::BTreeMap;

use meshview_store::migrations::{
    self, Chain, DowngradeTarget, MigrateError, UpgradeOptions, chain::SQL_FILES,
};

use crate::both_backends;
use crate::common::{Backend, TestDb, copy_dir, migrations_dir};

fn chain() -> Chain {
    Chain::embedded().unwrap()
}

async fn upgrade(
    db: &TestDb,
    chain: &Chain,
    target: Option<&str>,
) -> Result<migrations::Report, MigrateError> {
    migrations::upgrade(&db.url, chain, target, &UpgradeOptions::default()).await
}

async fn current(db: &TestDb, chain: &Chain) -> Option<String> {
    migrations::status(&db.url, chain)
        .await
        .unwrap()
        .current()
        .map(str::to_string)
}

pub fn blob(backend: Backend, hex: &str) -> String {
    match backend {
        Backend::Sqlite => format!("X'{hex}'"),
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
    }
}

/// One row in every table of the head schema.
async fn seed_head_rows(db: &TestDb) {
    let b = db.backend;
    db.exec(&format!(
        "INSERT INTO node (id, node_id, long_name, short_name, hw_model, firmware, role, last_lat, last_long, channel, first_seen_us, last_seen_us, is_mqtt_gateway) \
         VALUES ('!0000000a', 10, 'Alpha', 'A', 'HELTEC_V3', '2.5.0', 'CLIENT', 373000000, -1224000000, 'LongFast', 1, 2, TRUE);
         INSERT INTO packet (id, portnum, from_node_id, to_node_id, payload, import_time_us, channel) \
         VALUES (1001, 1, 10, 4294967295, {}, 1700000000000000, 'LongFast');
         INSERT INTO packet_seen (packet_id, node_id, rx_time, hop_limit, hop_start, channel, rx_snr, rx_rssi, topic, import_time_us) \
         VALUES (1001, 20, 1700000000, 3, 7, 'LongFast', 5.5, -90, 'msh/US/bayarea/2/e/LongFast/!00000014', 1700000000000001);
         INSERT INTO traceroute (packet_id, gateway_node_id, done, route, import_time_us, route_return) \
         VALUES (1001, 20, TRUE, {}, 1700000000000002, {});
         INSERT INTO node_public_key (node_id, public_key, first_seen_us, last_seen_us) VALUES (10, 'abcd', 1, 2);
         INSERT INTO archive_segment (first_us, last_us, messages, raw_bytes, data) VALUES (1, 2, 1, 3, {});",
        blob(b, "0a0b"),
        blob(b, "01"),
        blob(b, "02"),
        blob(b, "03")
    ))
    .await;
}

async fn head_to_base_and_back(backend: Backend) {
    let db = TestDb::new(backend).await;
    let chain = chain();
    let report = upgrade(&db, &chain, None).await.unwrap();
    assert_eq!(report.steps.len(), chain.migrations().len());
    // The file's free space is measured after an upgrade on SQLite.
    let free = report.free;
    assert_eq!(free.is_some(), backend == Backend::Sqlite, "{free:?}");
    assert!(free.is_none_or(|f| f.free_bytes <= f.file_bytes && f.file_bytes > 0));
    assert_eq!(current(&db, &chain).await.as_deref(), chain.head_revision());
    seed_head_rows(&db).await;

    // Step down one migration at a time; every surviving table keeps its row.
    let tables = [
        "node",
        "packet",
        "packet_seen",
        "traceroute",
        "node_public_key",
        "archive_segment",
    ];
    for m in chain.migrations().iter().rev() {
        migrations::downgrade(&db.url, &chain, &DowngradeTarget::Relative(1))
            .await
            .unwrap();
        assert_eq!(current(&db, &chain).await, m.parent.clone());
        for t in tables {
            if db.table_exists(t).await {
                assert_eq!(
                    db.count(t).await,
                    1,
                    "{t} lost its row after reverting {}",
                    m.revision
                );
            }
        }
        match m.message.as_str() {
            "add is_mqtt_gateway to node" => {
                assert!(!db.column_exists("node", "is_mqtt_gateway").await)
            }
            "create node_public_key" => assert!(!db.table_exists("node_public_key").await),
            "raw archive of accepted MQTT messages in compressed segments" => {
                assert!(!db.table_exists("archive_segment").await)
            }
            "add first_seen_us and last_seen_us to node" => {
                assert!(!db.column_exists("node", "last_seen_us").await)
            }
            "add route_return to traceroute" => {
                assert!(!db.column_exists("traceroute", "route_return").await);
                assert_eq!(db.count("traceroute").await, 1);
            }
            _ => {}
        }
    }
    assert_eq!(current(&db, &chain).await, None);
    for t in tables {
        assert!(!db.table_exists(t).await, "{t} survived downgrade to base");
    }
    // And back up again.
    upgrade(&db, &chain, None).await.unwrap();
    assert_eq!(current(&db, &chain).await.as_deref(), chain.head_revision());
    seed_head_rows(&db).await;
    assert!(db.index_exists("idx_traceroute_packet_id").await);
    assert!(db.index_exists("idx_packet_portnum_import_time_us").await);
}

async fn every_intermediate_revision(backend: Backend) {
    let db = TestDb::new(backend).await;
    let chain = chain();
    for m in chain.migrations() {
        upgrade(&db, &chain, Some(&m.revision)).await.unwrap();
        assert_eq!(
            current(&db, &chain).await.as_deref(),
            Some(m.revision.as_str())
        );
    }
    // A prefix of a revision works as in Alembic; asking for an older one is refused.
    let first = &chain.migrations()[0].revision;
    let err = upgrade(&db, &chain, Some(first)).await.unwrap_err();
    assert!(err.to_string().contains("db downgrade"), "{err}");
    for m in chain.migrations().iter().rev().skip(1) {
        migrations::downgrade(
            &db.url,
            &chain,
            &DowngradeTarget::Revision(m.revision[..6].to_string()),
        )
        .await
        .unwrap();
        assert_eq!(
            current(&db, &chain).await.as_deref(),
            Some(m.revision.as_str())
        );
    }
    migrations::downgrade(&db.url, &chain, &DowngradeTarget::Base)
        .await
        .unwrap();
    assert_eq!(current(&db, &chain).await, None);
    let err = migrations::downgrade(&db.url, &chain, &DowngradeTarget::Relative(1))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already at base"), "{err}");
}

/// Builds a chain from (revision, parent, up, down) with the same SQL on both backends.
pub fn test_chain(specs: &[(&str, Option<&str>, &str, &str)]) -> Chain {
    let mut files = BTreeMap::new();
    for (i, (rev, parent, up, down)) in specs.iter().enumerate() {
        let mut f = BTreeMap::new();
        let parent = parent
            .map(|p| format!("parent = \"{p}\"\n"))
            .unwrap_or_default();
        f.insert(
            "migration.toml".to_string(),
            format!(
                "revision = \"{rev}\"\n{parent}message = \"test {rev}\"\ncreated = \"2026-11-21\"\n"
            ),
        );
        for name in SQL_FILES {
            let sql = if name.contains(".up.") { up } else { down };
            f.insert(name.to_string(), sql.to_string());
        }
        files.insert(format!("{:04}_{rev}", i + 1), f);
    }
    Chain::from_files(files).unwrap()
}

async fn failed_migration_leaves_previous_revision(backend: Backend) {
    let db = TestDb::new(backend).await;
    let chain = test_chain(&[
        (
            "aaaaaaaaaaaa",
            None,
            "CREATE TABLE t1 (id INTEGER);",
            "DROP TABLE t1;",
        ),
        (
            "bbbbbbbbbbbb",
            Some("aaaaaaaaaaaa"),
            "CREATE TABLE t2 (id INTEGER); INSERT INTO t1 VALUES (1); INSERT INTO no_such_table VALUES (1);",
            "DROP TABLE t2;",
        ),
    ]);
    let err = upgrade(&db, &chain, None).await.unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("bbbbbbbbbbbb")
            && msg.contains("still at aaaaaaaaaaaa")
            && msg.contains("no_such_table"),
        "{msg}"
    );
    assert_eq!(current(&db, &chain).await.as_deref(), Some("aaaaaaaaaaaa"));
    assert!(
        !db.table_exists("t2").await,
        "half-applied migration left t2 behind"
    );
    assert_eq!(db.count("t1").await, 0, "half-applied migration left a row");
    assert_eq!(
        db.scalar("SELECT count(*) FROM migration_status WHERE in_progress")
            .await,
        0
    );
}

/// SQLite cannot ALTER a column's constraints: the table-rebuild pattern, inside the
/// migration's transaction, keeps rows and foreign keys; a rebuild that would orphan
/// rows is rolled back.
async fn sqlite_table_rebuild(backend: Backend) {
    assert_eq!(backend, Backend::Sqlite);
    let db = TestDb::new(backend).await;
    let create = "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT);
                  CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent (id));";
    let rebuild = "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
                   INSERT INTO parent_new (id, name) SELECT id, COALESCE(name, '') FROM parent;
                   DROP TABLE parent;
                   ALTER TABLE parent_new RENAME TO parent;
                   CREATE INDEX idx_parent_name ON parent (name);";
    // Orphaning by a plain statement (enforced as it runs) and by a rebuild (enforcement
    // paused, the whole database checked before commit).
    let orphaning = "DELETE FROM parent WHERE id = 1;";
    let orphaning_rebuild =
        "CREATE TABLE parent_new (id INTEGER PRIMARY KEY, name TEXT NOT NULL DEFAULT '');
                   INSERT INTO parent_new (id, name) SELECT id, name FROM parent WHERE id <> 1;
                   DROP TABLE parent;
                   ALTER TABLE parent_new RENAME TO parent;";
    let chain_to = |last: &'static str| {
        test_chain(&[
            (
                "aaaaaaaaaaaa",
                None,
                create,
                "DROP TABLE child; DROP TABLE parent;",
            ),
            (
                "bbbbbbbbbbbb",
                Some("aaaaaaaaaaaa"),
                rebuild,
                "DROP INDEX idx_parent_name;",
            ),
            ("cccccccccccc", Some("bbbbbbbbbbbb"), last, "SELECT 1;"),
        ])
    };
    let chain = chain_to(orphaning);
    upgrade(&db, &chain, Some("aaaaaaaaaaaa")).await.unwrap();
    db.exec("INSERT INTO parent VALUES (1, NULL), (2, 'two'); INSERT INTO child VALUES (10, 1), (20, 2);")
        .await;
    upgrade(&db, &chain, Some("bbbbbbbbbbbb")).await.unwrap();
    assert_eq!(db.count("parent").await, 2);
    assert_eq!(db.count("child").await, 2);
    assert_eq!(
        db.scalar("SELECT count(*) FROM parent WHERE name = ''")
            .await,
        1
    );
    // Foreign keys are still declared and enforced after the rebuild.
    let mut c = db.conn().await;
    assert!(
        c.execute("INSERT INTO child VALUES (30, 99)")
            .await
            .is_err()
    );
    c.close().await;
    // A migration that would leave orphans fails as a whole, either way.
    for chain in [chain, chain_to(orphaning_rebuild)] {
        let err = upgrade(&db, &chain, None).await.unwrap_err();
        assert!(
            err.to_string().to_lowercase().contains("foreign key"),
            "{err}"
        );
        assert_eq!(current(&db, &chain).await.as_deref(), Some("bbbbbbbbbbbb"));
        assert_eq!(db.count("parent").await, 2);
        assert_eq!(db.count("child").await, 2);
    }
}

mod sqlite_only {
    #[tokio::test]
    async fn sqlite_table_rebuild() {
        super::sqlite_table_rebuild(crate::common::Backend::Sqlite).await
    }
}

async fn check_catches_edited_applied_migration(backend: Backend) {
    let db = TestDb::new(backend).await;
    let out = db.run(&["db", "upgrade"]).await;
    assert!(out.success, "{}", out.all());
    let ok = db.run(&["db", "check"]).await;
    assert!(ok.success, "{}", ok.all());
    assert!(ok.stdout.contains("match their files"), "{}", ok.stdout);
    // Simulate an applied migration whose file changed since.
    db.exec("UPDATE schema_migrations SET checksum = 'feedface' WHERE revision = '306425627a81'")
        .await;
    let bad = db.run(&["db", "check"]).await;
    assert_eq!(bad.code, Some(1), "{}", bad.all());
    assert!(
        bad.stderr.contains("306425627a81") && bad.stderr.contains("edited"),
        "{}",
        bad.stderr
    );
    // The writer refuses to run on it too.
    let up = db.run(&["db", "upgrade"]).await;
    assert!(!up.success);
    assert!(
        up.stderr.contains("edited after it was applied"),
        "{}",
        up.stderr
    );
}

/// Migration 0015: a stored (0, 0) is a radio without a fix and is cleared; a node on the
/// equator or the prime meridian keeps its position. Migration 0014's backfill builds the
/// link model from rows stored before it, and 0016 ranks its links.
async fn data_migrations_zero_positions_and_link_backfill(backend: Backend) {
    let db = TestDb::new(backend).await;
    let chain = chain();
    upgrade(&db, &chain, Some("5c7dbbf4643f")).await.unwrap();
    db.exec(
        "INSERT INTO node (id, node_id, long_name, last_lat, last_long) VALUES \
         ('!0000000a', 10, 'no fix', 0, 0), ('!0000000b', 11, 'equator', 0, 325000000), \
         ('!0000000c', 12, 'greenwich', 515000000, 0);
         INSERT INTO packet (id, portnum, from_node_id, to_node_id, import_time_us, channel) \
         VALUES (1001, 1, 10, 4294967295, 1700000000000000, 'LongFast');
         INSERT INTO packet_seen (packet_id, node_id, rx_time, hop_limit, hop_start, channel, rx_snr, rx_rssi, topic, import_time_us) \
         VALUES (1001, 20, 1700000000, 3, 3, 'LongFast', -6.5, -101, 't', 1700000000000001), \
                (1001, 21, 1700000000, 1, 3, 'LongFast', -2.0, -90, 't', 1700000000000002);",
    )
    .await;
    upgrade(&db, &chain, None).await.unwrap();
    let pos = |id: i64| {
        format!(
            "SELECT COUNT(*) FROM node WHERE node_id = {id} AND last_lat IS NOT NULL AND last_long IS NOT NULL"
        )
    };
    assert_eq!(db.scalar(&pos(10)).await, 0);
    assert_eq!(db.scalar(&pos(11)).await, 1);
    assert_eq!(db.scalar(&pos(12)).await, 1);
    // The direct reception became a link with its SNR; the relayed one names nobody.
    assert_eq!(db.count("link_quality").await, 1);
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM link_quality WHERE from_node_id = 10 AND to_node_id = 20 \
             AND reception_samples = 1 AND median_snr = -6.5 AND rssi_sum = -101"
        )
        .await,
        1
    );
    assert_eq!(db.count("link_hourly").await, 1);
    // Migration 0016 ranked it (0014's backfill ran before the column existed).
    assert!(db.index_exists("idx_link_quality_rank").await);
    let rank = meshview_store::rollups::links::rank(0, 0, 1, 0, 1700000000000001);
    assert_eq!(
        db.scalar(&format!(
            "SELECT COUNT(*) FROM link_quality WHERE abs(rank - ({rank})) < 1e-9"
        ))
        .await,
        1,
        "rank {rank}"
    );
    // Migration 0018 counted both receptions, each for its gateway, in their UTC hour.
    assert_eq!(
        db.scalar(
            "SELECT COUNT(*) FROM gateway_hourly WHERE hour_us = 1699999200000000 \
             AND gateway_node_id IN (20, 21) AND receptions = 1"
        )
        .await,
        2
    );
}

/// Migrations 0019 and 0023 sum `traffic_hourly` (which outlives the raw rows) per UTC
/// day and sender into `node_daily`, and per day, sender and channel into
/// `traffic_daily`.
async fn node_daily_backfill(backend: Backend) {
    let db = TestDb::new(backend).await;
    let chain = chain();
    upgrade(&db, &chain, Some("d6a09b29a4f0")).await.unwrap();
    let day = 1_699_920_000_000_000i64;
    let hour = 3_600_000_000i64;
    db.exec(&format!(
        "INSERT INTO traffic_hourly (hour_us, from_node_id, portnum, channel, packets, receptions) VALUES \
         ({day}, 10, 1, 'LongFast', 2, 5), ({}, 10, 3, 'LongFast', 3, 3), \
         ({}, 10, 1, 'LongFast', 0, 4), ({}, 11, 1, 'LongFast', 1, 1);",
        day + 5 * hour,
        day + 86_400_000_000,
        day + 86_400_000_000 + hour
    ))
    .await;
    upgrade(&db, &chain, None).await.unwrap();
    let row = |d: i64, n: i64, p: i64| {
        format!(
            "SELECT COUNT(*) FROM node_daily WHERE day_us = {d} AND node_id = {n} AND packets = {p}"
        )
    };
    assert_eq!(db.scalar(&row(day, 10, 5)).await, 1);
    // Receptions alone are no packet: node 10 sent nothing the next day.
    assert_eq!(db.scalar(&row(day + 86_400_000_000, 11, 1)).await, 1);
    assert_eq!(db.count("node_daily").await, 2);
    // Migration 0023 sums the same rows per UTC day, sender and channel, receptions too.
    let daily = |d: i64, n: i64, p: i64, r: i64| {
        format!(
            "SELECT COUNT(*) FROM traffic_daily WHERE day_us = {d} AND from_node_id = {n} \
             AND channel = 'LongFast' AND packets = {p} AND receptions = {r}"
        )
    };
    assert_eq!(db.scalar(&daily(day, 10, 5, 8)).await, 1);
    assert_eq!(db.scalar(&daily(day + 86_400_000_000, 10, 0, 4)).await, 1);
    assert_eq!(db.scalar(&daily(day + 86_400_000_000, 11, 1, 1)).await, 1);
    assert_eq!(db.count("traffic_daily").await, 3);
}

both_backends!(
    node_daily_backfill,
    head_to_base_and_back,
    every_intermediate_revision,
    failed_migration_leaves_previous_revision,
    check_catches_edited_applied_migration,
    data_migrations_zero_positions_and_link_backfill,
);

fn edit(path: &std::path::Path, from: &str, to: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(from), "{} lacks {from}", path.display());
    std::fs::write(path, text.replace(from, to)).unwrap();
}

fn find_dir(root: &std::path::Path, prefix: &str) -> std::path::PathBuf {
    std::fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(prefix))
        .unwrap()
}

#[tokio::test]
async fn check_catches_missing_parent_and_fork() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let ok = dir.path().join("ok");
    copy_dir(&migrations_dir(), &ok);
    let out = db
        .run(&["db", "check", "--dir", ok.to_str().unwrap()])
        .await;
    assert!(out.success, "{}", out.all());

    let missing = dir.path().join("missing");
    copy_dir(&migrations_dir(), &missing);
    edit(
        &find_dir(&missing, "0004_").join("migration.toml"),
        "parent = \"306425627a81\"",
        "parent = \"0123456789ab\"",
    );
    let out = db
        .run(&["db", "check", "--dir", missing.to_str().unwrap()])
        .await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr
            .contains("0123456789ab does not exist (missing parent)"),
        "{}",
        out.stderr
    );

    let fork = dir.path().join("fork");
    copy_dir(&migrations_dir(), &fork);
    let twin = fork.join("0007_aaaaaaaaaaaa_twin");
    copy_dir(&find_dir(&fork, "0006_"), &twin);
    edit(
        &twin.join("migration.toml"),
        "revision = \"f8661143b0da\"",
        "revision = \"aaaaaaaaaaaa\"",
    );
    let out = db
        .run(&["db", "check", "--dir", fork.to_str().unwrap()])
        .await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains("fork:") && out.stderr.contains("88604a24d7a7"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn revision_writes_a_new_migration_on_the_head() {
    let db = TestDb::new(Backend::Sqlite).await;
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("migrations");
    copy_dir(&migrations_dir(), &m);
    let before = Chain::from_dir(&m).unwrap();
    let old_head = before.head_revision().unwrap().to_string();
    let out = db
        .run(&[
            "db",
            "revision",
            "-m",
            "Add foo to bar!",
            "--dir",
            m.to_str().unwrap(),
        ])
        .await;
    assert!(out.success, "{}", out.all());
    let created = find_dir(&m, &format!("{:04}_", before.migrations().len() + 1));
    let name = created.file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.ends_with("_add_foo_to_bar"), "{name}");
    let meta = std::fs::read_to_string(created.join("migration.toml")).unwrap();
    assert!(meta.contains(&format!("parent = \"{old_head}\"")), "{meta}");
    assert!(meta.contains("message = \"Add foo to bar!\""), "{meta}");
    for f in SQL_FILES {
        assert!(created.join(f).exists(), "{f} not written");
    }
    let chain = Chain::from_dir(&m).unwrap();
    assert_eq!(chain.migrations().len(), before.migrations().len() + 1);
    assert_eq!(chain.head().unwrap().dir, name);
    // An empty message is refused.
    let out = db
        .run(&["db", "revision", "-m", " ", "--dir", m.to_str().unwrap()])
        .await;
    assert!(!out.success);
}
