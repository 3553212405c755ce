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
