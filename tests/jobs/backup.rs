//! Backups: a SQLite snapshot restores to identical tables, stays consistent while the
//! writer writes, rotates; PostgreSQL gets pg_dump advice.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use meshview::config::DatabaseUrl;
use meshview_store::backup::{
    BackupOptions, BackupReport, SqliteBackup, backup, backup_file_name, restore, rotate,
};
use meshview_store::{Db, Role};

use crate::common::Backend;
use crate::fixtures::{NEW, OLD, head, open, packets_sql, strings};
use crate::retention::insert_packet;

/// Every table (and the schema) of a SQLite database as text, row by row in rowid order;
/// `quote()` renders each value exactly (blobs as X'..', reals in full).
async fn dump(db: &Db) -> Vec<String> {
    let mut out = strings(db, "SELECT type || ' ' || name || ' ' || COALESCE(sql, '') FROM sqlite_master ORDER BY type, name").await;
    let tables = strings(
        db,
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name",
    )
    .await;
    for t in tables {
        let cols = strings(
            db,
            &format!("SELECT name FROM pragma_table_info('{t}') ORDER BY cid"),
        )
        .await;
        let expr = cols
            .iter()
            .map(|c| format!("quote(\"{c}\")"))
            .collect::<Vec<_>>()
            .join(" || ',' || ");
        // Ordered by the rendered row: tables WITHOUT ROWID (packet_text) have no rowid.
        for row in strings(db, &format!("SELECT {expr} AS r FROM \"{t}\" ORDER BY r")).await {
            out.push(format!("{t}: {row}"));
        }
    }
    out
}

async fn open_file(path: &Path) -> Db {
    Db::open(
        &DatabaseUrl::Sqlite {
            path: path.to_path_buf(),
        },
        Role::Reader,
    )
    .await
    .expect("open restored backup")
}

fn sqlite(r: BackupReport) -> SqliteBackup {
    match r {
        BackupReport::Sqlite(b) => b,
        other => panic!("expected a SQLite backup, got {other:?}"),
    }
}

fn files(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

async fn seed_all_tables(tdb: &crate::common::TestDb, packets: i64) {
    let mut sql = packets_sql(Backend::Sqlite, 1, packets, 3, OLD);
    sql.push_str(&format!(
        "INSERT INTO traceroute (packet_id, gateway_node_id, done, route, import_time_us, route_return) \
         VALUES (1, 5, TRUE, X'0102', {OLD}, X'03');
         INSERT INTO node (id, node_id, long_name, short_name, hw_model, last_lat, last_long, first_seen_us, last_seen_us, is_mqtt_gateway) \
         VALUES ('!00000007', 7, 'Seven ü', 'S7', 'HELTEC_V3', 373000000, -1224000000, {OLD}, {NEW}, TRUE);
         INSERT INTO node_public_key (node_id, public_key, first_seen_us, last_seen_us) VALUES (7, 'abcd', {OLD}, {NEW});"
    ));
    tdb.exec(&sql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_restores_identical_tables() {
    let tdb = head(Backend::Sqlite).await;
    seed_all_tables(&tdb, 300).await;
    let db = open(&tdb).await;
    let dir = tdb.dir.path().join("backups");

    let b = sqlite(backup(&db, &BackupOptions::new(&dir)).await.unwrap());
    let name = b.path.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("packets_backup_") && name.ends_with(".db.gz"),
        "{name}"
    );
    assert_eq!(b.path.parent().unwrap(), dir.as_path());
    assert_eq!(
        std::fs::metadata(&b.path).unwrap().len(),
        b.compressed_bytes
    );
    assert!(
        b.compressed_bytes > 0 && b.compressed_bytes < b.raw_bytes,
        "{b:?}"
    );
    // Only the finished backup is left: no snapshot or partial files.
    assert_eq!(files(&dir), [name]);

    let restored = tdb.dir.path().join("restored.db");
    let n = restore(&b.path, &restored).await.unwrap();
    assert_eq!(n, b.raw_bytes);
    assert!(
        matches!(
            restore(&b.path, &restored).await,
            Err(meshview_store::StoreError::Refused(_))
        ),
        "restore never overwrites"
    );
    let copy = open_file(&restored).await;
    assert_eq!(strings(&copy, "PRAGMA integrity_check").await, ["ok"]);
    let (orig, back) = (dump(&db).await, dump(&copy).await);
    assert!(orig.iter().any(|l| l.starts_with("node_public_key: ")));
    assert!(orig.iter().any(|l| l.starts_with("schema_migrations: ")));
    assert_eq!(orig, back);
    copy.close().await;
    db.close().await;
}

/// The writer keeps inserting (a packet and its receptions per transaction) while the
/// backup runs: the snapshot holds whole transactions only, a prefix of what was written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_backup_is_consistent_under_writes() {
    let tdb = head(Backend::Sqlite).await;
    seed_all_tables(&tdb, 3000).await;
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
                    .expect("insert during backup");
                inserted.fetch_add(1, Ordering::SeqCst);
                id += 1;
            }
        })
    };
    // Let the writer get going first.
    while inserted.load(Ordering::SeqCst) < 20 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let dir = tdb.dir.path().join("backups");
    let b = sqlite(backup(&db, &BackupOptions::new(&dir)).await.unwrap());
    let during = inserted.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.store(true, Ordering::SeqCst);
    writer.await.unwrap();
    let total = inserted.load(Ordering::SeqCst);
    assert!(total > during, "the writer kept writing after the snapshot");

    let restored = tdb.dir.path().join("restored.db");
    restore(&b.path, &restored).await.unwrap();
    let copy = open_file(&restored).await;
    assert_eq!(strings(&copy, "PRAGMA integrity_check").await, ["ok"]);
    assert!(
        strings(
            &copy,
            "SELECT CAST(parent AS TEXT) FROM pragma_foreign_key_check"
        )
        .await
        .is_empty()
    );

    let live: Vec<String> = strings(
        &copy,
        "SELECT CAST(id AS TEXT) FROM packet WHERE id >= 1000000 ORDER BY id",
    )
    .await;
    let k = live.len() as i64;
    assert!(
        k >= 20 && k <= total,
        "snapshot holds {k} of {total} concurrent packets"
    );
    // A prefix: ids 1000000 .. 1000000+k, each packet with both receptions.
    let expected: Vec<String> = (1_000_000..1_000_000 + k).map(|i| i.to_string()).collect();
    assert_eq!(live, expected);
    let seen = strings(
        &copy,
        "SELECT CAST(count(*) AS TEXT) FROM packet_seen WHERE packet_id >= 1000000",
    )
    .await;
    assert_eq!(seen, [(2 * k).to_string()]);
    // Everything written before the writer started is there, row for row.
    let old_orig = strings(&db, "SELECT CAST(packet_id AS TEXT) || '/' || CAST(node_id AS TEXT) FROM packet_seen WHERE packet_id < 1000000 ORDER BY 1").await;
    let old_copy = strings(&copy, "SELECT CAST(packet_id AS TEXT) || '/' || CAST(node_id AS TEXT) FROM packet_seen WHERE packet_id < 1000000 ORDER BY 1").await;
    assert_eq!(old_orig.len(), 9000);
    assert_eq!(old_orig, old_copy);
    copy.close().await;
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_the_newest_backups_only() {
    let tdb = head(Backend::Sqlite).await;
    let db = open(&tdb).await;
    let dir = tdb.dir.path().join("backups");
    std::fs::create_dir_all(&dir).unwrap();
    let old: Vec<String> = [
        "2020-01-01T00:00:00Z",
        "2020-01-02T00:00:00Z",
        "2021-06-30T23:59:59Z",
        "2022-03-04T05:06:07Z",
    ]
    .iter()
    .map(|t| {
        let t = chrono::DateTime::parse_from_rfc3339(t)
            .unwrap()
            .with_timezone(&chrono::Utc);
        backup_file_name("packets", t)
    })
    .collect();
    // Files rotation must never touch: other databases, other names, temporaries.
    let foreign = [
        "other_backup_20200101_000000.db.gz",
        "packets_backup_latest.db.gz",
        "packets_backup_20200101_000000.db",
        ".packets_backup_20200101_000000.db.gz.partial",
        "notes.txt",
    ];
    for f in old.iter().map(String::as_str).chain(foreign) {
        std::fs::write(dir.join(f), b"x").unwrap();
    }

    let opts = BackupOptions {
        keep: 3,
        ..BackupOptions::new(&dir)
    };
    let first = sqlite(backup(&db, &opts).await.unwrap());
    // Two backups within the same second still get distinct, ordered names.
    let second = sqlite(backup(&db, &opts).await.unwrap());
    assert_ne!(first.path, second.path);
    assert!(second.path > first.path);
    let removed: Vec<PathBuf> = first
        .removed
        .iter()
        .chain(&second.removed)
        .cloned()
        .collect();
    assert_eq!(removed.len(), 3);

    let mut expected: Vec<String> = foreign.iter().map(|s| s.to_string()).collect();
    expected.push(old[3].clone());
    expected.push(
        first
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
    );
    expected.push(
        second
            .path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned(),
    );
    expected.sort();
    assert_eq!(files(&dir), expected);

    // keep = 0 keeps everything; keep = 1 leaves the newest only.
    assert!(rotate(&dir, "packets", 0).unwrap().is_empty());
    let gone = rotate(&dir, "packets", 1).unwrap();
    assert_eq!(gone.len(), 2);
    assert!(dir.join(second.path.file_name().unwrap()).exists());
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_backup_points_to_pg_dump() {
    let tdb = head(Backend::Postgres).await;
    let db = open(&tdb).await;
    let dir = tdb.dir.path().join("backups");
    match backup(&db, &BackupOptions::new(&dir)).await.unwrap() {
        BackupReport::Postgres { advice } => {
            assert!(advice.contains("pg_dump -Fc"), "{advice}");
            assert!(advice.contains("pg_restore"), "{advice}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(!dir.exists(), "no file backup for PostgreSQL");
    db.close().await;
}
