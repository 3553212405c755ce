//! `meshview-bench soak`: the writer and the reader together for a long run, as a busy
//! site runs them: simulated traffic published through the broker at a steady rate
//! (`--rate`, default 1,000 envelopes/s) while `--concurrency` connections (16) send the
//! API benchmark's weighted mix back to back. Every `--window` seconds it records the most
//! RSS each process held in the window (sampled every second) and the window's
//! requests/s, p95 and errors; at the end it waits until
//! every published reception is stored (nothing lost) and says whether memory stayed flat
//! after the warm-up.
//!
//! Both processes are started here on a fresh database (SQLite: a temporary file;
//! PostgreSQL: a scratch database dropped afterwards), first filled with another
//! simulated mesh (`--preload`), the reader with its caches on and without elevation
//! tiles (coverage in area mode).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use rand::SeedableRng;
use rand::rngs::StdRng;

use meshview::config::{Config, DatabaseUrl};

use crate::api::{self, Http};
use crate::ingest::{self, IngestBench, Scratch};

#[derive(clap::Args, Debug, Clone)]
pub struct SoakArgs {
    /// Envelopes published per second.
    #[arg(long, default_value_t = 1000.0)]
    pub rate: f64,
    /// Length of the run (publishing), in seconds.
    #[arg(long, default_value_t = 600.0)]
    pub seconds: f64,
    /// Publishing before the API load starts (the database fills, the caches warm up);
    /// part of `--seconds`. Memory is judged after it.
    #[arg(long, default_value_t = 60.0)]
    pub warmup: f64,
    /// Envelopes of another simulated capture replayed into the database before the run
    /// (as fast as the writer goes): a database bigger than the reader's page caches, so
    /// that they fill during the warm-up instead of showing as growth during the run.
    #[arg(long, default_value_t = 300_000)]
    pub preload: usize,
    /// Length of one measuring window, in seconds.
    #[arg(long, default_value_t = 60.0)]
    pub window: f64,
    /// API connections.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    #[arg(long, default_value_t = 500)]
    pub nodes: usize,
    #[arg(long, default_value_t = 40)]
    pub gateways: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What the soak measured in one window.
struct Window {
    end_s: f64,
    writer_rss_mb: f64,
    reader_rss_mb: f64,
    requests_per_s: f64,
    p95_ms: f64,
    errors: u64,
    published: usize,
}

impl Window {
    /// The window as a row of the report's table (also printed as the run goes).
    fn row(&self) -> String {
        format!(
            "| {:.0} s | {:.1} | {:.1} | {:.0} | {:.1} | {} | {} |",
            self.end_s,
            self.writer_rss_mb,
            self.reader_rss_mb,
            self.requests_per_s,
            self.p95_ms,
            self.errors,
            self.published
        )
    }
}

/// VmRSS of a process, in MB.
fn rss_mb(pid: u32) -> Option<f64> {
    crate::status_kb(pid, "VmRSS:").map(|kb| kb as f64 / 1024.0)
}

/// Memory counts as flat when, over the second half of the run, RSS grew by at most
/// this share. The first half is left out of the verdict (not of the table): the
/// database grows from empty, and the reader's page caches (four connections, 8 MiB
/// each) and answer caches fill as it does.
const FLAT_TOLERANCE: f64 = 0.05;

pub async fn run(cfg: &Config, config_path: Option<&Path>, a: &SoakArgs) -> anyhow::Result<String> {
    cfg.require_mqtt_server()?;
    if a.warmup >= a.seconds || a.window <= 0.0 || a.rate <= 0.0 {
        bail!("--warmup must be shorter than --seconds, and --window and --rate positive");
    }
    let dir = ingest::tempfile_dir()?;
    let prefix = format!("msh/soak-{}", std::process::id());
    let messages_wanted = (a.rate * a.seconds).ceil() as usize;
    eprintln!("soak: generating ~{messages_wanted} simulated envelopes…");
    let traffic = IngestBench {
        messages: messages_wanted,
        nodes: a.nodes,
        gateways: a.gateways,
        mqtt: true,
        rate: a.rate,
        kills: 0,
        seed: a.seed,
    };
    let (_, truth, capture, n) = ingest::generate(&traffic, &prefix, &dir)?;
    let messages = ingest::load_capture(&capture)?;
    std::fs::remove_file(&capture)?;
    let scratch = Scratch::create(&cfg.database.url, &dir).await?;
    let preloaded = match a.preload {
        0 => Ok(0),
        n => preload(config_path, &scratch.url, n, a, &dir).await,
    };
    let result = match preloaded {
        Ok(before) => {
            soak(
                cfg,
                config_path,
                a,
                &scratch.url,
                &prefix,
                messages,
                &truth,
                n,
                before,
            )
            .await
        }
        Err(e) => Err(e),
    };
    scratch.drop_db().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Replays `n` envelopes of another simulated mesh into the database; returns the
/// receptions it then holds.
async fn preload(
    config_path: Option<&Path>,
    url: &str,
    n: usize,
    a: &SoakArgs,
    dir: &Path,
) -> anyhow::Result<usize> {
    eprintln!("soak: preloading ~{n} envelopes…");
    let traffic = IngestBench {
        messages: n,
        nodes: a.nodes,
        gateways: a.gateways,
        mqtt: false,
        rate: 0.0,
        kills: 0,
        // Another mesh than the run's: the same seed would repeat its packets, which
        // the writer (rightly) stores once.
        seed: a.seed.wrapping_add(1_000),
    };
    let pre = dir.join("preload");
    std::fs::create_dir_all(&pre)?;
    let (_, truth, capture, _) = ingest::generate(&traffic, "msh/soak-preload", &pre)?;
    let status = ingest::writer_command(config_path, url)
        .arg("ingest")
        .arg("--replay")
        .arg(&capture)
        .stderr(std::process::Stdio::null())
        .status()
        .await?;
    std::fs::remove_dir_all(&pre)?;
    if !status.success() {
        bail!("preloading the database failed ({status})");
    }
    Ok(truth.receptions)
}

#[allow(clippy::too_many_arguments)]
async fn soak(
    cfg: &Config,
    config_path: Option<&Path>,
    a: &SoakArgs,
    url: &str,
    prefix: &str,
    messages: Vec<(String, Vec<u8>)>,
    truth: &meshview_sim::GroundTruth,
    n: usize,
    preloaded: usize,
) -> anyhow::Result<String> {
    let backend = if cfg.database.url.is_sqlite() {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    // The writer first: it creates the schema the reader waits for.
    let mut writer = ingest::start_mqtt_writer(config_path, url, prefix, false).await?;
    let writer_pid = writer.id().context("writer pid")?;
    let mut reader_cfg = cfg.clone();
    reader_cfg.database.url = DatabaseUrl::parse(url).map_err(anyhow::Error::msg)?;
    let reader = api::start_server(&reader_cfg, config_path, true, None).await?;
    let reader_pid = reader.pid().context("reader pid")?;
    eprintln!(
        "soak: {backend}, writer pid {writer_pid}, reader {} (pid {reader_pid}); publishing {n} \
         envelopes at {}/s for {:.0} s, {} API connections after {:.0} s",
        reader.addr, a.rate, a.seconds, a.concurrency, a.warmup
    );

    let settings = meshview::ingest::mqtt::MqttSettings::from_config(&cfg.mqtt)?;
    let published = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let publisher = {
        let (published, done, rate) = (published.clone(), done.clone(), a.rate);
        tokio::spawn(async move {
            let r =
                meshview::ingest::publish::publish(messages.into_iter(), &settings, rate, |k| {
                    published.store(k, Ordering::Relaxed)
                })
                .await;
            done.store(true, Ordering::Relaxed);
            r
        })
    };

    tokio::time::sleep(Duration::from_secs_f64(a.warmup)).await;
    let mut rng = StdRng::seed_from_u64(a.seed);
    let mut http = Http::new(&reader.addr);
    let sample = Arc::new(api::sample(&mut http, 1.0, Some(false), &mut rng).await?);
    let cases = Arc::new(api::api_cases());
    let mut windows = Vec::new();
    let (mut requests, mut errors) = (0u64, 0u64);
    let mut k = 0u64;
    // RSS sampled every second; a window reports the most each process held in it.
    let peaks = Arc::new(std::sync::Mutex::new((0.0f64, 0.0f64)));
    let sampler = {
        let peaks = peaks.clone();
        tokio::spawn(async move {
            loop {
                if let (Some(w), Some(r)) = (rss_mb(writer_pid), rss_mb(reader_pid)) {
                    let mut p = peaks.lock().unwrap();
                    p.0 = p.0.max(w);
                    p.1 = p.1.max(r);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    while !done.load(Ordering::Relaxed) {
        let left = a.seconds - started.elapsed().as_secs_f64();
        if left < 1.0 {
            break;
        }
        let mix = api::mixed(
            &reader.addr,
            cases.clone(),
            sample.clone(),
            a.concurrency,
            a.window.min(left),
            a.seed.wrapping_add(k),
        )
        .await?;
        k += 1;
        rss_mb(writer_pid).context("the writer has exited")?;
        rss_mb(reader_pid).context("the reader has exited")?;
        let (writer_max, reader_max) = std::mem::take(&mut *peaks.lock().unwrap());
        let w = Window {
            end_s: started.elapsed().as_secs_f64(),
            writer_rss_mb: writer_max,
            reader_rss_mb: reader_max,
            requests_per_s: mix.requests as f64 / mix.seconds,
            p95_ms: mix.latency.p95,
            errors: mix.errors,
            published: published.load(Ordering::Relaxed),
        };
        eprintln!("  {}", w.row());
        requests += mix.requests;
        errors += mix.errors;
        windows.push(w);
    }
    sampler.abort();
    let sent = publisher.await.context("publisher")??;
    let published_s = started.elapsed().as_secs_f64();
    eprintln!("soak: published {sent} in {published_s:.0} s; waiting for the writer to store all…");
    let stored = ingest::wait_stored(url, preloaded + truth.receptions, writer_pid).await;
    let writer_peak = ingest::peak_rss_kb(writer_pid).unwrap_or(0) as f64 / 1024.0;
    let reader_peak = reader.memory_mb().map_or(f64::NAN, |m| m.0);
    let _ = writer.start_kill();
    let _ = writer.wait().await;
    drop(reader);

    let mut out = String::new();
    let date = chrono::Utc::now().format("%Y-%m-%d %H:%M UTC");
    writeln!(
        out,
        "`meshview-bench soak` {date}: {backend}, {preloaded} receptions preloaded, then {sent} \
         envelopes ({} packets, {} receptions) published at {}/s over {published_s:.0} s, {} API \
         connections after a {:.0} s warm-up.\n",
        truth.packets, truth.receptions, a.rate, a.concurrency, a.warmup
    )?;
    writeln!(
        out,
        "| until | writer RSS MB (most in the window) | reader RSS MB (most in the window) | API req/s | API p95 ms | errors | published |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|")?;
    for w in &windows {
        writeln!(out, "{}", w.row())?;
    }
    // From the window closest to half-time to the last.
    let half = windows
        .iter()
        .position(|w| w.end_s >= published_s / 2.0)
        .unwrap_or(0);
    let growth = |f: fn(&Window) -> f64| -> Option<(f64, f64, f64)> {
        let (mid, last) = (windows.get(half)?, windows.last()?);
        Some((f(mid), f(last), (f(last) - f(mid)) / f(mid)))
    };
    let flat = |g: Option<(f64, f64, f64)>| match g {
        Some((a, b, g)) if g <= FLAT_TOLERANCE => {
            format!(
                "flat over the second half ({a:.1} → {b:.1} MB, {:+.1} %)",
                g * 100.0
            )
        }
        Some((a, b, g)) => format!(
            "**grew over the second half** ({a:.1} → {b:.1} MB, {:+.1} %)",
            g * 100.0
        ),
        None => "no window".into(),
    };
    let worst_p95 = windows.iter().map(|w| w.p95_ms).fold(f64::NAN, f64::max);
    writeln!(
        out,
        "\nWriter: {}, peak {writer_peak:.1} MB (target {} MB). \
         Reader: {}, peak {reader_peak:.1} MB (target {} MB). API: {requests} requests, \
         {errors} errors, worst window p95 {worst_p95:.1} ms. Stored: {}.",
        flat(growth(|w| w.writer_rss_mb)),
        64,
        flat(growth(|w| w.reader_rss_mb)),
        api::RSS_TARGET_MB,
        match &stored {
            Ok(_) => format!(
                "all {} receptions published, nothing lost ({} with the preload)",
                truth.receptions,
                preloaded + truth.receptions
            ),
            Err(e) => format!("**{e}**"),
        }
    )?;
    stored?;
    Ok(out)
}
