//! The scheduler: start-up and shutdown, and one maintenance round (backup, then purge)
//! with its log file.

use std::sync::Arc;
use std::time::Duration;

use meshview::config::Config;
use meshview::jobs::{run, run_once};
use meshview_store::backup::BackupReport;
use meshview_store::joblog::JobLog;
use meshview_store::now_us;
use tokio_util::sync::CancellationToken;

use crate::both_backends;
use crate::common::{Backend, TestDb};
use crate::fixtures::{count, head, open, packets_sql};

fn config(tdb: &TestDb) -> Config {
    let mut c = Config::defaults();
    c.database.url = tdb.url.clone();
    c.cleanup.enabled = true;
    c.cleanup.days_to_keep = 14;
    c.cleanup.backup_enabled = true;
    c.cleanup.backup_dir = tdb.dir.path().join("backups");
    c.logging.db_cleanup_logfile = Some(tdb.dir.path().join("logs/dbcleanup.log"));
    c
}

async fn disabled_scheduler_returns_at_once(backend: Backend) {
    let tdb = head(backend).await;
    let db = open(&tdb).await;
    let mut c = config(&tdb);
    c.cleanup.enabled = false;
    c.cleanup.backup_enabled = false;
    let log_path = c.logging.db_cleanup_logfile.clone().unwrap();
    tokio::time::timeout(
        Duration::from_secs(5),
        run(Arc::new(c), db.clone(), CancellationToken::new()),
    )
    .await
    .expect("nothing to schedule: returns");
    assert!(!log_path.exists(), "no log file when nothing is scheduled");
    db.close().await;
}

async fn scheduler_logs_its_plan_and_stops_on_shutdown(backend: Backend) {
    let tdb = head(backend).await;
    let db = open(&tdb).await;
    let c = config(&tdb);
    let log_path = c.logging.db_cleanup_logfile.clone().unwrap();
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(run(Arc::new(c), db.clone(), shutdown.clone()));
    // The plan is logged as soon as the scheduler starts.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log_path).unwrap_or_default();
        if text.contains("cleanup scheduled") && text.contains("backup scheduled") {
            assert!(text.contains("keeping 14 days"), "{text}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no plan in the log: {text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stops promptly on shutdown")
        .unwrap();
    db.close().await;
}

async fn one_round_backs_up_then_purges(backend: Backend) {
    let tdb = head(backend).await;
    let day = 86_400_000_000i64;
    let mut sql = packets_sql(backend, 1, 5, 2, now_us() - 30 * day);
    sql.push_str(&packets_sql(backend, 100, 2, 2, now_us() - day));
    tdb.exec(&sql).await;
    let db = open(&tdb).await;
    let c = config(&tdb);
    let log = JobLog::open(c.logging.db_cleanup_logfile.as_ref().unwrap()).unwrap();
    assert!(log.path().unwrap().is_absolute());

    let out = run_once(&c, &db, &log, true, true, &CancellationToken::new()).await;
    let purge = out.purge.expect("purge ran").expect("purge succeeded");
    assert_eq!((purge.packets, purge.packet_seen), (5, 10));
    assert_eq!(count(&db, "SELECT count(*) FROM packet").await, 2);

    let text = std::fs::read_to_string(log.path().unwrap()).unwrap();
    let backup_at = text.find("backup").expect("backup logged");
    let purge_at = text.find("purge: deleted 5 packets").expect("purge logged");
    assert!(
        backup_at < purge_at,
        "backup runs before the purge:\n{text}"
    );

    match out.backup.expect("backup ran").expect("backup succeeded") {
        BackupReport::Sqlite(b) => {
            assert!(text.contains("compressed"), "{text}");
            // The backup holds the data as it was before the purge.
            let restored = tdb.dir.path().join("restored.db");
            meshview_store::backup::restore(&b.path, &restored)
                .await
                .unwrap();
            let copy = meshview_store::Db::open(
                &meshview::config::DatabaseUrl::Sqlite { path: restored },
                meshview_store::Role::Reader,
            )
            .await
            .unwrap();
            assert_eq!(count(&copy, "SELECT count(*) FROM packet").await, 7);
            copy.close().await;
        }
        BackupReport::Postgres { advice } => {
            assert_eq!(backend, Backend::Postgres);
            assert!(text.contains("pg_dump"), "{text}");
            assert!(advice.contains("pg_dump"));
        }
    }
    db.close().await;
}

/// A failing job is reported and logged, never raised: the writer keeps running.
async fn failures_are_logged_not_raised(backend: Backend) {
    let tdb = head(backend).await;
    let db = open(&tdb).await;
    let mut c = config(&tdb);
    // A file where the backup folder should be; and a purge on a closed pool.
    std::fs::write(tdb.dir.path().join("blocker"), b"x").unwrap();
    c.cleanup.backup_dir = tdb.dir.path().join("blocker");
    let log = JobLog::open(c.logging.db_cleanup_logfile.as_ref().unwrap()).unwrap();
    db.close().await;
    let out = run_once(&c, &db, &log, true, true, &CancellationToken::new()).await;
    if backend == Backend::Sqlite {
        assert!(out.backup.unwrap().is_err());
    }
    assert!(out.purge.unwrap().is_err());
    let text = std::fs::read_to_string(log.path().unwrap()).unwrap();
    assert!(text.contains("ERROR cleanup failed"), "{text}");
    assert!(
        text.contains("tried again at the next scheduled time"),
        "{text}"
    );
}

both_backends!(
    disabled_scheduler_returns_at_once,
    scheduler_logs_its_plan_and_stops_on_shutdown,
    one_round_backs_up_then_purges,
    failures_are_logged_not_raised,
);
