//! Bad input: a clear one-line error, a non-zero exit, and nothing half-applied.

use std::os::unix::fs::PermissionsExt;

use crate::common::{Backend, TestDb, run_command};

#[tokio::test]
async fn corrupt_sqlite_file_is_refused_and_left_alone() {
    let db = TestDb::new(Backend::Sqlite).await;
    let path = db.sqlite_path().unwrap().to_path_buf();
    let junk: Vec<u8> = (0..8192u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    std::fs::write(&path, &junk).unwrap();
    for args in [&["db", "upgrade"][..], &["db", "current"][..]] {
        let out = db.run(args).await;
        assert_eq!(out.code, Some(1), "{}", out.all());
        assert!(
            out.stderr.contains("not a SQLite database"),
            "{}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&path.display().to_string()),
            "{}",
            out.stderr
        );
    }
    assert_eq!(
        std::fs::read(&path).unwrap(),
        junk,
        "the corrupt file was modified"
    );
}

#[tokio::test]
async fn unreachable_postgresql_is_a_clear_error() {
    let db = TestDb::new(Backend::Sqlite).await;
    let out = db
        .run(&[
            "--database",
            "postgresql+asyncpg://meshview:s3cret@127.0.0.1:1/meshview",
            "db",
            "upgrade",
        ])
        .await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains(
            "cannot connect to PostgreSQL at postgres://meshview:***@127.0.0.1:1/meshview"
        ),
        "{}",
        out.stderr
    );
    assert!(
        !out.all().contains("s3cret"),
        "password leaked: {}",
        out.all()
    );
}

#[tokio::test]
async fn read_only_directory_is_a_clear_error() {
    let db = TestDb::new(Backend::Sqlite).await;
    let ro = db.dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(db.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let target = ro.join("packets.db");
    let url = format!("sqlite+aiosqlite:///{}", target.display());
    // Root writes anywhere: run as an unprivileged user, as a service would.
    let mut cmd = if nix_is_root() {
        let mut c = tokio::process::Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_meshview"),
        ]);
        c
    } else {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_meshview"))
    };
    cmd.args(["--database", &url, "db", "upgrade"])
        .current_dir(&ro)
        .env("MESHVIEW_LOG", "warn");
    let out = run_command(cmd).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains("cannot open SQLite database"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("writable"), "{}", out.stderr);
    assert!(!target.exists(), "a database file was created");
}

fn nix_is_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

#[tokio::test]
async fn bad_config_value_stops_start_up_with_one_line() {
    let db = TestDb::new(Backend::Sqlite).await;
    let cfg = db.dir.path().join("bad.ini");
    std::fs::write(
        &cfg,
        "[server]\nport = eighty\n[site]\nmessage = 100% uptime\n",
    )
    .unwrap();
    for cmd in ["serve", "ingest", "run"] {
        let out = db.run(&["--config", cfg.to_str().unwrap(), cmd]).await;
        assert_eq!(out.code, Some(1), "{}", out.all());
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| l.contains("server.port"))
            .collect();
        assert_eq!(
            lines,
            ["error: config error: server.port = \"eighty\": expected a TCP port number (1-65535)"],
            "{}",
            out.stderr
        );
    }
    let out = db
        .run(&["--config", "/nonexistent/config.ini", "db", "current"])
        .await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("/nonexistent/config.ini"),
        "{}",
        out.stderr
    );
    let out = db
        .run(&["--database", "mysql://root@localhost/mesh", "db", "current"])
        .await;
    assert_eq!(out.code, Some(1));
    assert!(
        out.stderr.contains("database.connection_string"),
        "{}",
        out.stderr
    );
}

#[tokio::test]
async fn ingest_names_a_missing_required_key() {
    let db = TestDb::new(Backend::Sqlite).await;
    let out = db.run(&["ingest"]).await;
    assert_eq!(out.code, Some(1), "{}", out.all());
    assert!(
        out.stderr.contains("mqtt.server is missing"),
        "{}",
        out.stderr
    );
}

/// `sqlite:///abs/path` is sqlx's absolute path, not SQLAlchemy's relative one: the file is
/// created where the operator said, not under the working directory.
#[tokio::test]
async fn plain_sqlite_url_with_three_slashes_is_absolute() {
    let db = TestDb::new(Backend::Sqlite).await;
    let target = db.dir.path().join("abs").join("packets.db");
    std::fs::create_dir(target.parent().unwrap()).unwrap();
    let url = format!("sqlite://{}", target.display());
    assert!(url.starts_with("sqlite:///"), "{url}");
    let out = db.run(&["db", "upgrade", "--database", &url]).await;
    assert!(out.success, "{}", out.all());
    assert!(target.is_file(), "{} was not created", target.display());
    // Nothing under the working directory's relative reading of the path.
    let relative = db.dir.path().join(target.strip_prefix("/").unwrap());
    assert!(!relative.exists(), "{} exists", relative.display());
}
