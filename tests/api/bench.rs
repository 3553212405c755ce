//! `meshview-bench api`, the shipped reader benchmark, end to end on a small database: it
//! starts its own server, measures every row with the caches off, restarts the server
//! with the caches on for the mixed load, and reports both servers' memory.

use crate::common::Backend;
use crate::helpers::Served;

const QUICK: [&str; 10] = [
    "--requests",
    "2",
    "--page-requests",
    "1",
    "--seconds",
    "1",
    "--concurrency",
    "2",
    "--days",
    "1",
];

/// The benchmark binary, built beside `meshview` by `cargo test --workspace` (the test
/// suite's command); its own crate keeps it out of the production binary.
fn bench_exe() -> std::path::PathBuf {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_meshview")).with_file_name("meshview-bench");
    assert!(
        exe.is_file(),
        "{} is missing: run the tests with `cargo test --workspace` (or `cargo build -p meshview-bench` first)",
        exe.display()
    );
    exe
}

async fn bench(s: &Served, extra: &[&str]) -> (String, String) {
    let mut args = vec!["api"];
    args.extend(QUICK);
    args.extend(extra);
    let out = crate::common::run_command(s.db.command_of(&bench_exe(), &args)).await;
    assert!(out.success, "{}", out.all());
    // Every row got the status it expects; the mixed load had no errors.
    assert!(!out.stdout.contains("unexpected answers"), "{}", out.stdout);
    let row = out
        .stdout
        .lines()
        .find(|l| l.starts_with("| weighted"))
        .unwrap_or_else(|| panic!("no mixed-load row: {}", out.stdout));
    let fields: Vec<&str> = row.split('|').map(str::trim).collect();
    assert_eq!(fields[10], "0", "mixed-load errors: {row}");
    (out.stdout, out.stderr)
}

async fn bench_api_runs_as_shipped(backend: Backend) {
    let s = Served::start(backend).await;

    let (report, log) = bench(&s, &[]).await;
    assert!(
        report.contains("caches off for the sequential pass, on for the mixed load"),
        "{report}"
    );
    assert!(
        log.contains("restarting meshview serve (caches on)"),
        "{log}"
    );
    for row in [
        "| sequential pass, caches off |",
        "| mixed load, caches on |",
    ] {
        assert!(report.contains(row), "{row} missing: {report}");
    }

    // One server throughout when both passes want the same caches.
    let (report, log) = bench(&s, &["--cache"]).await;
    assert!(!log.contains("restarting"), "{log}");
    assert!(report.contains("| whole run |"), "{report}");
}

crate::both_backends!(bench_api_runs_as_shipped);

/// `meshview-bench adopt` end to end on a small seeded database: it builds the MeshView
/// database once, adopts a copy (every row checked by the benchmark itself), reuses the
/// MeshView database on the next run, and refuses what would destroy it.
#[tokio::test]
async fn bench_adopt_runs_as_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let url = |name: &str| format!("sqlite://{}", dir.path().join(name).display());
    let run = |args: Vec<String>| {
        let mut cmd = tokio::process::Command::new(bench_exe());
        cmd.args(args)
            .current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default());
        crate::common::run_command(cmd)
    };
    let seed = run(vec![
        "--database".into(),
        url("seed.db"),
        "seed".into(),
        "--packets".into(),
        "3000".into(),
        "--nodes".into(),
        "40".into(),
        "--gateways".into(),
        "6".into(),
        "--days".into(),
        "1".into(),
    ])
    .await;
    assert!(seed.success, "{}", seed.all());

    let adopt = |extra: &[&str]| {
        let mut args = vec!["--database".into(), url("meshview.db"), "adopt".into()];
        args.extend(extra.iter().map(|s| s.to_string()));
        run(args)
    };
    // No MeshView database yet and no source to build it from.
    let missing = adopt(&[]).await;
    assert!(!missing.success);
    assert!(missing.all().contains("give --source"), "{}", missing.all());

    let first = adopt(&["--source", &url("seed.db")]).await;
    assert!(first.success, "{}", first.all());
    assert!(
        first.stderr.contains("building a MeshView 3.0.5 database"),
        "{}",
        first.stderr
    );
    for row in [
        "adopting the MeshView database |",
        "link quality: a rank the writer keeps",
        "| MeshView database | packets | receptions |",
    ] {
        assert!(
            first.stdout.contains(row),
            "{row} missing: {}",
            first.stdout
        );
    }
    // The adopted copy is removed; the MeshView database stays for the next run.
    assert!(!dir.path().join("meshview.db.adopting.db").exists());
    let again = adopt(&[]).await;
    assert!(again.success, "{}", again.all());
    assert!(
        !again.stderr.contains("building a MeshView"),
        "{}",
        again.stderr
    );

    let work = dir.path().join("meshview.db").display().to_string();
    let refused = adopt(&["--work", &work]).await;
    assert!(!refused.success);
    assert!(
        refused.all().contains("must not be the MeshView database"),
        "{}",
        refused.all()
    );
    assert!(dir.path().join("meshview.db").exists());
}

/// `meshview-bench soak` as shipped, shortened: preload, quiet minute (seconds here),
/// publishing through the machine's Mosquitto with the API load, the tail, the verdicts
/// and nothing lost.
#[tokio::test]
async fn bench_soak_runs_as_shipped() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("unused.db").display());
    let mut cmd = tokio::process::Command::new(bench_exe());
    cmd.args(["--database", &db, "soak"])
        .args([
            "--seconds",
            "24",
            "--rate",
            "100",
            "--warmup",
            "4",
            "--window",
            "4",
        ])
        .args(["--quiet", "4", "--tail", "8", "--preload", "3000"])
        .args(["--nodes", "30", "--gateways", "4", "--concurrency", "2"])
        .current_dir(dir.path())
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("MESHVIEW_MQTT__SERVER", "127.0.0.1")
        .env("MESHVIEW_MQTT__PORT", "1883");
    let out = crate::common::run_command(cmd).await;
    assert!(out.success, "{}", out.all());
    for want in [
        "| before publishing (4 s) |",
        "Writer from half-time on: ",
        "Reader after the quiet warm-up: ",
        "nothing lost",
        "After publishing (8 s of API load",
    ] {
        assert!(out.stdout.contains(want), "{want} missing: {}", out.stdout);
    }
    // Every window answered without errors.
    let windows: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split('|').map(str::trim).collect::<Vec<_>>())
        .filter(|f| f.len() == 12 && (f[1].ends_with(" s") || f[1].starts_with("before")))
        .collect();
    assert!(windows.len() >= 6, "{}", out.stdout);
    for f in &windows {
        assert_eq!(f[9], "0", "errors in {f:?}");
    }
}
