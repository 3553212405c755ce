//! Writer/reader coordination: readers wait for the schema (indefinitely while a writer
//! migrates), refuse a newer database, and two writers never migrate at once.

use std::time::Duration;

use meshview_store::migrations::{self, Chain, UpgradeOptions, lock};

use crate::both_backends;
use crate::common::{Backend, Spawned, TestDb, get_json};

fn serve(db: &TestDb, wait_timeout: &str) -> Spawned {
    let mut cmd = db.command(&["serve"]);
    cmd.env("MESHVIEW_SERVER__BIND", "127.0.0.1")
        .env("MESHVIEW_SERVER__PORT", "0")
        .env("MESHVIEW_DATABASE__SCHEMA_WAIT_TIMEOUT", wait_timeout);
    Spawned::start(cmd)
}

/// Holds the migration lock the way a migrating writer does.
enum HeldLock {
    File(std::fs::File),
    Pg(meshview_store::connect::Conn),
}

async fn hold_lock(db: &TestDb) -> HeldLock {
    match db.sqlite_path() {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(lock::sqlite_lock_path(path))
                .unwrap();
            f.lock().unwrap();
            HeldLock::File(f)
        }
        None => {
            let mut c = db.conn().await;
            c.execute(&format!("SELECT pg_advisory_lock({})", lock::PG_LOCK_KEY))
                .await
                .unwrap();
            HeldLock::Pg(c)
        }
    }
}

async fn release(l: HeldLock) {
    match l {
        HeldLock::File(f) => drop(f),
        HeldLock::Pg(c) => c.close().await,
    }
}

async fn reader_waits_while_a_migration_is_in_progress(backend: Backend) {
    let db = TestDb::new(backend).await;
    let chain = Chain::embedded().unwrap();
    // The database is two revisions behind and a writer is (apparently) migrating it.
    let behind = &chain.migrations()[chain.migrations().len() - 3].revision;
    migrations::upgrade(&db.url, &chain, Some(behind), &UpgradeOptions::default())
        .await
        .unwrap();
    let held = hold_lock(&db).await;
    db.exec("UPDATE migration_status SET in_progress = TRUE, updated_at = CURRENT_TIMESTAMP WHERE id = 1")
        .await;

    // A 1-second give-up limit must not apply while the writer holds the lock.
    let mut reader = serve(&db, "1");
    let base = reader.base_url().await;
    reader
        .wait_for_line("a writer is migrating", Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        reader.child.try_wait().unwrap().is_none(),
        "reader gave up: {}",
        reader.log()
    );
    let (status, body) = get_json(&format!("{base}/health")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["status"], "starting");
    let detail = body["detail"].as_str().unwrap();
    assert!(
        detail.contains(behind) && detail.contains("a writer is migrating"),
        "{detail}"
    );

    // The writer publishes its progress: /health, the API and the pages say how far.
    let mut progress = meshview_store::progress::Reporter::start(
        &db.url,
        db.sqlite_path().map(lock::sqlite_lock_path),
        8,
    )
    .await;
    progress.step("the link-quality model").await;
    progress.rows(41, 100).await;
    let expected = "upgrading: step 1 of 8 (the link-quality model), 41 %";
    reader
        .wait_for_line(expected, Duration::from_secs(20))
        .await;
    let (status, body) = get_json(&format!("{base}/health")).await;
    assert_eq!(status, 503, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains(expected),
        "{body}"
    );
    let (status, body) = get_json(&format!("{base}/api/nodes")).await;
    assert_eq!(status, 503, "{body}");
    assert!(body["error"].as_str().unwrap().contains(expected), "{body}");
    let page = crate::common::http()
        .get(format!("{base}/nodelist"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status().as_u16(), 503);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("step 1 of 8") && html.contains("41 %"),
        "{html}"
    );
    progress.finish().await;

    // The writer finishes: the reader starts serving without a restart.
    release(held).await;
    migrations::upgrade(&db.url, &chain, None, &UpgradeOptions::default())
        .await
        .unwrap();
    reader
        .wait_for_line("schema is current", Duration::from_secs(20))
        .await;
    let mut healthy = false;
    for _ in 0..100 {
        let (status, body) = get_json(&format!("{base}/health")).await;
        if status == 200 {
            assert_eq!(body["status"], "healthy");
            assert_eq!(body["database"], "connected");
            assert_eq!(body["schema_revision"], chain.head_revision().unwrap());
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "reader never became healthy: {}", reader.log());
    reader.terminate();
    assert_eq!(
        reader.wait_exit(Duration::from_secs(20)).await,
        Some(0),
        "{}",
        reader.log()
    );
}

async fn reader_gives_up_when_no_writer_comes(backend: Backend) {
    let db = TestDb::new(backend).await;
    let chain = Chain::embedded().unwrap();
    migrations::upgrade(
        &db.url,
        &chain,
        Some(&chain.migrations()[0].revision),
        &UpgradeOptions::default(),
    )
    .await
    .unwrap();
    let mut reader = serve(&db, "2");
    let code = reader.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(1), "{}", reader.log());
    assert!(
        reader.log().contains("no writer is migrating"),
        "{}",
        reader.log()
    );
    assert!(
        reader.log().contains("gave up after 2 s"),
        "{}",
        reader.log()
    );
}

async fn reader_refuses_a_newer_database(backend: Backend) {
    let db = TestDb::new(backend).await;
    let chain = Chain::embedded().unwrap();
    migrations::upgrade(&db.url, &chain, None, &UpgradeOptions::default())
        .await
        .unwrap();
    db.exec(&format!(
        "INSERT INTO schema_migrations (revision, parent, message, checksum, applied_at_us) \
         VALUES ('0a1b2c3d4e5f', '{}', 'from the future', 'x', 9999999999999999)",
        chain.head_revision().unwrap()
    ))
    .await;
    let mut reader = serve(&db, "0");
    let code = reader.wait_exit(Duration::from_secs(30)).await;
    assert_eq!(code, Some(1), "{}", reader.log());
    assert!(
        reader
            .log()
            .contains("0a1b2c3d4e5f, which this binary does not know"),
        "{}",
        reader.log()
    );
    // The writer refuses too, and changes nothing.
    let out = db.run(&["db", "upgrade"]).await;
    assert_eq!(out.code, Some(1));
    assert!(out.stderr.contains("newer MeshView"), "{}", out.stderr);
}

async fn two_writers_start_at_once(backend: Backend) {
    let db = TestDb::new(backend).await;
    let a = db.command(&["db", "upgrade"]).spawn().unwrap();
    let b = db.command(&["db", "upgrade"]).spawn().unwrap();
    let (a, b) = tokio::join!(a.wait_with_output(), b.wait_with_output());
    let (a, b) = (a.unwrap(), b.unwrap());
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(a.status.success(), "{}", text(&a));
    assert!(b.status.success(), "{}", text(&b));
    // Exactly one of them ran the migrations; the other found the schema current.
    let ran = |o: &std::process::Output| {
        String::from_utf8_lossy(&o.stdout)
            .matches("upgraded to")
            .count()
    };
    let chain = Chain::embedded().unwrap();
    let mut counts = [ran(&a), ran(&b)];
    counts.sort();
    assert_eq!(
        counts,
        [0, chain.migrations().len()],
        "a: {}\nb: {}",
        text(&a),
        text(&b)
    );
    assert_eq!(
        db.count("schema_migrations").await,
        chain.migrations().len() as i64
    );
}

async fn run_migrates_then_serves(backend: Backend) {
    let db = TestDb::new(backend).await;
    let mut cmd = db.command(&["run"]);
    let pid_file = db.dir.path().join("meshview.pid");
    cmd.args(["--pid-file", pid_file.to_str().unwrap()])
        .env("MESHVIEW_SERVER__BIND", "127.0.0.1")
        .env("MESHVIEW_SERVER__PORT", "0")
        .env("MESHVIEW_MQTT__SERVER", "127.0.0.1")
        .env("MESHVIEW_MQTT__TOPICS", "[\"msh/test/#\"]");
    let mut app = Spawned::start(cmd);
    let base = app.base_url().await;
    let mut healthy = false;
    for _ in 0..100 {
        let (status, _) = get_json(&format!("{base}/health")).await;
        if status == 200 {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(healthy, "{}", app.log());
    assert!(pid_file.exists());
    let (status, version) = get_json(&format!("{base}/version")).await;
    assert_eq!(status, 200);
    assert_eq!(version["version"], env!("CARGO_PKG_VERSION"));
    app.terminate();
    assert_eq!(
        app.wait_exit(Duration::from_secs(20)).await,
        Some(0),
        "{}",
        app.log()
    );
    assert!(!pid_file.exists(), "pid file left behind");
}

both_backends!(
    reader_waits_while_a_migration_is_in_progress,
    reader_gives_up_when_no_writer_comes,
    reader_refuses_a_newer_database,
    two_writers_start_at_once,
    run_migrates_then_serves,
);
