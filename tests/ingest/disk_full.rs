//! A full disk mid-stream: the database lives on a small filesystem (SQLite: its folder;
//! PostgreSQL: a tablespace) that a ballast file fills while a simulated mesh publishes.
//! The writer stops storing, retries, says so on `/health` (503, `storing: failing`, the
//! error), acknowledges nothing it could not commit, and once the ballast is gone stores
//! everything: the database equals the ground truth.
//!
//! Mounting a filesystem needs root (as on the project's machines and CI) or password-less
//! sudo; without either the test says it was skipped and passes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::both_backends;
use crate::common::{Backend, Broker, Spawned, TestDb, free_port, get_json};
use crate::helpers::{keys, publish, run_cmd, truth_packets, unique_prefix, wait_for_count};

/// A tmpfs of `size_mb` at `dir`, unmounted on drop.
struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    fn mount(dir: &Path, size_mb: u32) -> Option<SmallFs> {
        std::fs::create_dir_all(dir).ok()?;
        let opts = format!("size={size_mb}m,mode=0777");
        let ok = privileged(&["mount", "-t", "tmpfs", "-o", &opts, "tmpfs"], dir);
        ok.then(|| SmallFs {
            dir: dir.to_path_buf(),
        })
    }

    /// Fills what is left with a ballast file; returns its path.
    fn fill(&self) -> PathBuf {
        use std::io::Write;
        let path = self.dir.join("ballast");
        let mut f = std::fs::File::create(&path).expect("ballast");
        let chunk = vec![0u8; 64 * 1024];
        while f.write_all(&chunk).is_ok() {}
        // The last bytes, in smaller pieces.
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.flush();
        path
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        privileged(&["umount", "-l"], &self.dir);
    }
}

/// Runs `args` then `path` as root: directly, or through `sudo -n` (no password prompt)
/// for a user who may.
fn privileged(args: &[&str], path: &Path) -> bool {
    let run = |prefix: &[&str]| {
        let all: Vec<&str> = prefix.iter().chain(args).copied().collect();
        std::process::Command::new(all[0])
            .args(&all[1..])
            .arg(path)
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    run(&[]) || run(&["sudo", "-n"])
}

fn skip(why: &str) {
    eprintln!("disk_full: skipped: {why}");
}

async fn health(base: &str) -> (u16, serde_json::Value) {
    get_json(&format!("{base}/health")).await
}

/// Publishes chunks of the simulated mesh (seed after seed) until `/health` says the
/// writer cannot store; returns the packets and receptions published.
async fn publish_until_failing(
    db: &TestDb,
    port: u16,
    prefix: &str,
    base: &str,
    writer: &Spawned,
) -> (usize, usize, serde_json::Value) {
    let (mut packets, mut receptions) = (0, 0);
    for seed in 100..140u64 {
        let topic = format!("{prefix}/s{seed}");
        let (p, r) = truth_packets(&topic, seed, 300);
        publish(db, port, &topic, seed, 300).await;
        packets += p;
        receptions += r;
        // The writer retries with backoff and `/health` turns after 5 s of failing.
        for _ in 0..20 {
            let (status, body) = health(base).await;
            if status == 503 && body["writer"]["storing"] == "failing" {
                return (packets, receptions, body);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
    panic!("the writer never reported failing:\n{}", writer.log());
}

async fn disk_full_pauses_and_loses_nothing(backend: Backend) {
    let db = TestDb::new(backend).await;
    // The small filesystem: over the SQLite database's folder, or a tablespace the test
    // database moves into.
    let mount_at = match backend {
        Backend::Sqlite => db.dir.path().to_path_buf(),
        Backend::Postgres => db.dir.path().join("tablespace"),
    };
    let Some(fs) = SmallFs::mount(&mount_at, 48) else {
        return skip("mounting a tmpfs needs root or password-less sudo");
    };
    let tablespace = format!("mv_full_{}", std::process::id());
    if backend == Backend::Postgres {
        let ts_dir = mount_at.join("pg");
        std::fs::create_dir_all(&ts_dir).unwrap();
        let chown = std::process::Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&ts_dir)
            .status();
        // The server must reach the folder: its own user must own it, and the test's temp
        // folders must be searchable.
        let _ = std::process::Command::new("chmod")
            .args(["o+x"])
            .arg(db.dir.path())
            .status();
        if !chown.is_ok_and(|s| s.success()) {
            return skip("no postgres user to own a tablespace folder");
        }
        let mut admin = crate::common::admin_conn().await;
        let created = admin
            .execute(&format!(
                "CREATE TABLESPACE {tablespace} LOCATION '{}'",
                ts_dir.display()
            ))
            .await;
        if let Err(e) = created {
            admin.close().await;
            return skip(&format!("the server cannot use a tablespace there: {e}"));
        }
        let name = db.url_string.rsplit('/').next().unwrap();
        admin
            .execute(&format!(
                "ALTER DATABASE {name} SET TABLESPACE {tablespace}"
            ))
            .await
            .expect("move the test database to the small tablespace");
        admin.close().await;
    }

    let port = free_port();
    let _broker = Broker::start(port).await;
    let prefix = unique_prefix("full");
    let mut cmd = run_cmd(&db, port, &prefix);
    cmd.env("MESHVIEW_MQTT__FLOOD_PER_MINUTE", "0")
        .env("MESHVIEW_MQTT__FLOOD_PER_HOUR", "0")
        // No backups or retention jobs writing beside the database.
        .env("MESHVIEW_CLEANUP__BACKUP_ENABLED", "False")
        .env("MESHVIEW_CLEANUP__ENABLED", "False");
    let (k, v) = keys();
    cmd.env(k, v);
    let mut writer = Spawned::start(cmd);
    writer
        .wait_for_line("MQTT subscribed", Duration::from_secs(30))
        .await;
    let base = writer.base_url().await;

    // Stored normally first.
    let (a, a_rx) = truth_packets(&format!("{prefix}/a"), 1, 200);
    publish(&db, port, &format!("{prefix}/a"), 1, 200).await;
    assert_eq!(
        wait_for_count(
            &db,
            "SELECT count(*) FROM packet_seen",
            a_rx as i64,
            Duration::from_secs(60)
        )
        .await,
        a_rx as i64,
        "{}",
        writer.log()
    );

    // The disk fills up; the stream goes on.
    let ballast = fs.fill();
    let (b, b_rx, failing) = publish_until_failing(&db, port, &prefix, &base, &writer).await;
    assert_eq!(failing["status"], "unhealthy", "{failing}");
    assert!(
        failing["detail"]
            .as_str()
            .is_some_and(|d| d.contains("cannot store")),
        "{failing}"
    );
    assert!(
        failing["writer"]["store_error"].as_str().is_some(),
        "{failing}"
    );
    assert!(
        writer.log().contains("database unavailable; retrying"),
        "{}",
        writer.log()
    );
    // The writer is paused, not gone: it still answers, and nothing crashed.
    assert!(
        writer.child.try_wait().unwrap().is_none(),
        "the writer exited"
    );

    // Space again: everything published is stored, exactly once.
    std::fs::remove_file(&ballast).unwrap();
    let want = (a_rx + b_rx) as i64;
    let stored = wait_for_count(
        &db,
        "SELECT count(*) FROM packet_seen",
        want,
        Duration::from_secs(120),
    )
    .await;
    assert_eq!(stored, want, "receptions after recovery\n{}", writer.log());
    assert_eq!(db.count("packet").await, (a + b) as i64);
    let mut healthy = false;
    for _ in 0..40 {
        let (status, body) = health(&base).await;
        if status == 200 && body["writer"]["storing"] == "ok" {
            healthy = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(
        healthy,
        "/health did not recover: {:?}",
        health(&base).await
    );
    writer.terminate();
    assert_eq!(
        writer.wait_exit(Duration::from_secs(30)).await,
        Some(0),
        "{}",
        writer.log()
    );
    if backend == Backend::Postgres {
        // The test database goes first (its drop), then the tablespace.
        let name = db.url_string.rsplit('/').next().unwrap().to_string();
        let mut admin = crate::common::admin_conn().await;
        let _ = admin
            .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await;
        let _ = admin
            .execute(&format!("DROP TABLESPACE IF EXISTS {tablespace}"))
            .await;
        admin.close().await;
    }
    drop(fs);
}

both_backends!(disk_full_pauses_and_loses_nothing);
