//! `meshview-bench soak`: the writer and the reader together for a long run, as a busy
//! site runs them: simulated traffic published through the broker at a steady rate
//! (`--rate`, default 1,000 envelopes/s) while `--concurrency` connections (16) send the
//! API benchmark's weighted mix back to back. Before publishing, the API load runs for
//! `--quiet` seconds on the preloaded database: the reader's SQLite page caches fill only
//! while nothing is written (each write empties them), as they do in a site's first
//! quiet spell. Every `--window` seconds it records the most RSS each process held in
//! the window (sampled every second; the reader's split into heap and file pages, with
//! what its answer caches keep) and the window's requests/s, p95 and errors. The API load
//! goes on for `--tail` seconds after publishing ends; then it waits until every
//! published reception is stored (nothing lost) and says whether memory stayed flat:
//! the writer's over the second half of publishing, the reader's against its quiet
//! warm-up.
//!
//! Both processes are started here on a fresh database (SQLite: a temporary file;
//! PostgreSQL: a scratch database dropped afterwards), first filled with another
//! simulated mesh (`--preload`), the reader with its caches on and without elevation
//! tiles (coverage in area mode).

use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
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
    /// (as fast as the writer goes): a database at least as big as the run makes it, so
    /// that the reader's page caches fill in the quiet warm-up (to what the API load
    /// touches then) instead of showing as growth later.
    #[arg(long, default_value_t = 900_000)]
    pub preload: usize,
    /// API load on the preloaded database before publishing starts, in seconds (0: none).
    /// A reader's SQLite page caches fill only while the database stands still (every
    /// write empties them), so a site's first quiet minute is where they reach their
    /// size; the memory verdict is taken against what the reader held by then.
    #[arg(long, default_value_t = 60.0)]
    pub quiet: f64,
    /// API load kept up after publishing ends, in seconds: tells a step that comes with
    /// the end of the traffic from growth that would go on.
    #[arg(long, default_value_t = 120.0)]
    pub tail: f64,
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
    reader: ReaderMemory,
    requests_per_s: f64,
    requests: u64,
    p95_ms: f64,
    errors: u64,
    published: usize,
    phase: Phase,
}

/// Runs the API load window after window and records what each measured.
struct Meter {
    addr: String,
    cases: Arc<Vec<api::Case>>,
    concurrency: usize,
    /// For `/metrics` between windows.
    http: Http,
    /// The most RSS the sampler saw since the last window (writer, reader).
    peaks: Arc<std::sync::Mutex<(f64, ReaderMemory)>>,
    windows: Vec<Window>,
}

impl Meter {
    /// One window of `seconds`; its end is said in seconds since `started`, or, without
    /// one (before publishing), as its length; `published`: envelopes sent so far.
    async fn window(
        &mut self,
        sample: Arc<api::Sample>,
        seconds: f64,
        seed: u64,
        phase: Phase,
        started: Option<Instant>,
        published: &AtomicUsize,
    ) -> anyhow::Result<()> {
        let mix = api::mixed(
            &self.addr,
            self.cases.clone(),
            sample,
            self.concurrency,
            seconds,
            seed,
        )
        .await?;
        let cache_mb = cache_mb(&mut self.http)
            .await
            .context("the reader's /metrics")?;
        let (writer_max, reader_max) = std::mem::take(&mut *self.peaks.lock().unwrap());
        let w = Window {
            end_s: started.map_or(-mix.seconds, |t| t.elapsed().as_secs_f64()),
            writer_rss_mb: writer_max,
            reader: ReaderMemory {
                cache_mb,
                ..reader_max
            },
            requests_per_s: mix.requests as f64 / mix.seconds,
            requests: mix.requests,
            p95_ms: mix.latency.p95,
            errors: mix.errors,
            published: published.load(Ordering::Relaxed),
            phase,
        };
        eprintln!("  {}", w.row());
        self.windows.push(w);
        Ok(())
    }
}

/// When a window ran.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Before publishing, on the preloaded database.
    Quiet,
    /// It began while envelopes were still being published.
    Publishing,
    /// After publishing ended.
    After,
}

impl Window {
    /// The window as a row of the report's table (also printed as the run goes).
    fn row(&self) -> String {
        format!(
            "| {} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {:.0} | {:.1} | {} | {} |",
            match self.phase {
                Phase::Quiet => format!("before publishing ({:.0} s)", -self.end_s),
                _ => format!("{:.0} s", self.end_s),
            },
            self.writer_rss_mb,
            self.reader.rss_mb,
            self.reader.anon_mb,
            self.reader.file_mb,
            self.reader.cache_mb,
            self.requests_per_s,
            self.p95_ms,
            self.errors,
            self.published
        )
    }
}

/// VmRSS of a process, in MB.
fn rss_mb(pid: u32) -> Option<f64> {
    status_mb(pid, "VmRSS:")
}

fn status_mb(pid: u32, field: &str) -> Option<f64> {
    crate::status_kb(pid, field).map(|kb| kb as f64 / 1024.0)
}

/// The most the reader held in a window, and of what: its heap (`RssAnon`), the pages
/// of files it maps (`RssFile`: the binary, SQLite's shared WAL index), and what its
/// answer caches said they kept at the window's end (`meshview_cache_bytes`).
#[derive(Debug, Default, Clone, Copy)]
struct ReaderMemory {
    rss_mb: f64,
    anon_mb: f64,
    file_mb: f64,
    cache_mb: f64,
}

impl ReaderMemory {
    fn sample(pid: u32) -> Option<ReaderMemory> {
        Some(ReaderMemory {
            rss_mb: status_mb(pid, "VmRSS:")?,
            anon_mb: status_mb(pid, "RssAnon:")?,
            file_mb: status_mb(pid, "RssFile:")? + status_mb(pid, "RssShmem:")?,
            cache_mb: 0.0,
        })
    }

    fn max(self, o: ReaderMemory) -> ReaderMemory {
        ReaderMemory {
            rss_mb: self.rss_mb.max(o.rss_mb),
            anon_mb: self.anon_mb.max(o.anon_mb),
            file_mb: self.file_mb.max(o.file_mb),
            cache_mb: self.cache_mb.max(o.cache_mb),
        }
    }
}

/// What the reader's answer caches keep, in MB, from its `/metrics`.
async fn cache_mb(http: &mut Http) -> anyhow::Result<f64> {
    let r = http.get("/metrics").await?;
    if r.status != 200 {
        bail!("/metrics answered {}", r.status);
    }
    let text = String::from_utf8_lossy(&r.body);
    let bytes: f64 = text
        .lines()
        .filter(|l| l.starts_with("meshview_cache_bytes{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    Ok(bytes / (1024.0 * 1024.0))
}

/// Memory counts as flat when the windows it is judged over show no trend: the median
/// of their last third is at most this share above the median of their first third.
/// (Medians of thirds, not two single windows: a window's peak depends on which big
/// answers happened to be computed at once, and one window can differ from the next by
/// a few MB either way.)
const FLAT_TOLERANCE: f64 = 0.05;

/// The trend of one measure over some windows.
struct Trend {
    first: f64,
    last: f64,
    growth: f64,
    most: f64,
}

fn trend(ws: &[&Window], f: fn(&Window) -> f64) -> Option<Trend> {
    let third = ws.len() / 3;
    if third == 0 {
        return None;
    }
    let median = |part: &[&Window]| {
        let mut v: Vec<f64> = part.iter().map(|w| f(w)).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        }
    };
    let (first, last) = (median(&ws[..third]), median(&ws[ws.len() - third..]));
    Some(Trend {
        first,
        last,
        growth: (last - first) / first,
        most: ws.iter().map(|w| f(w)).fold(f64::NAN, f64::max),
    })
}

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

    let mut rng = StdRng::seed_from_u64(a.seed);
    let mut k = 0u64;
    // RSS sampled every second; a window reports the most each process held in it.
    let peaks = Arc::new(std::sync::Mutex::new((0.0f64, ReaderMemory::default())));
    let sampler = {
        let peaks = peaks.clone();
        tokio::spawn(async move {
            loop {
                if let (Some(w), Some(r)) = (rss_mb(writer_pid), ReaderMemory::sample(reader_pid)) {
                    let mut p = peaks.lock().unwrap();
                    p.0 = p.0.max(w);
                    p.1 = p.1.max(r);
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        })
    };
    let mut meter = Meter {
        addr: reader.addr.clone(),
        cases: Arc::new(api::api_cases()),
        concurrency: a.concurrency,
        http: Http::new(&reader.addr),
        peaks,
        windows: Vec::new(),
    };
    // The quiet warm-up: the API load on the preloaded database, nothing being written.
    if a.quiet > 0.0 && preloaded > 0 {
        let sample = Arc::new(api::sample(&mut meter.http, 1.0, Some(false), &mut rng).await?);
        let seed = a.seed.wrapping_add(u64::MAX / 2);
        let none = AtomicUsize::new(0);
        meter
            .window(sample, a.quiet, seed, Phase::Quiet, None, &none)
            .await?;
    }

    let settings = meshview::ingest::mqtt::MqttSettings::from_config(&cfg.mqtt)?;
    let published = Arc::new(AtomicUsize::new(0));
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
    // The run's own nodes, packets and traceroutes, once there are some.
    let sample = Arc::new(api::sample(&mut meter.http, 1.0, Some(false), &mut rng).await?);
    // Windows end with publishing (n envelopes at the rate), then `--tail` more follow.
    let publish_s = n as f64 / a.rate;
    let mut tail_end: Option<Instant> = None;
    let mut published_s = publish_s;
    loop {
        if tail_end.is_none() && done.load(Ordering::Relaxed) {
            published_s = started.elapsed().as_secs_f64();
            tail_end = Some(Instant::now() + Duration::from_secs_f64(a.tail));
        }
        let left = match tail_end {
            None => publish_s - started.elapsed().as_secs_f64(),
            Some(end) => end.saturating_duration_since(Instant::now()).as_secs_f64(),
        };
        if left < 1.0 {
            if tail_end.is_some() {
                break;
            }
            // The publisher is running late: no window until it is done.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        let phase = match tail_end {
            None => Phase::Publishing,
            Some(_) => Phase::After,
        };
        let seed = a.seed.wrapping_add(k);
        k += 1;
        let seconds = a.window.min(left);
        meter
            .window(
                sample.clone(),
                seconds,
                seed,
                phase,
                Some(started),
                &published,
            )
            .await?;
        rss_mb(writer_pid).context("the writer has exited")?;
        rss_mb(reader_pid).context("the reader has exited")?;
    }
    sampler.abort();
    let windows = meter.windows;
    let requests: u64 = windows.iter().map(|w| w.requests).sum();
    let errors: u64 = windows.iter().map(|w| w.errors).sum();
    let sent = publisher.await.context("publisher")??;
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
        "| until | writer RSS MB | reader RSS MB | reader heap (RssAnon) MB | reader file pages MB | reader caches MB | API req/s | API p95 ms | errors | published |"
    )?;
    writeln!(out, "|---|---|---|---|---|---|---|---|---|---|")?;
    for w in &windows {
        writeln!(out, "{}", w.row())?;
    }
    let quiet: Vec<&Window> = windows.iter().filter(|w| w.phase == Phase::Quiet).collect();
    let during: Vec<&Window> = windows
        .iter()
        .filter(|w| w.phase == Phase::Publishing)
        .collect();
    let after: Vec<&Window> = windows.iter().filter(|w| w.phase == Phase::After).collect();
    // What each process is judged over. The writer warms up while the database grows
    // (its page cache fills with it): from half-time on. The reader's caches filled in
    // the quiet warm-up, if there was one: from the start of publishing on.
    let from_half: Vec<&Window> = windows
        .iter()
        .filter(|w| w.phase != Phase::Quiet && w.end_s >= published_s / 2.0)
        .collect();
    let reader_span = if quiet.is_empty() {
        from_half.clone()
    } else {
        windows.iter().filter(|w| w.phase != Phase::Quiet).collect()
    };
    let verdict = |ws: &[&Window], f: fn(&Window) -> f64| match trend(ws, f) {
        Some(t) => format!(
            "{} (median of the first third of its windows {:.1} MB, of the last third {:.1} MB, \
             {:+.1} %; at most {:.1} MB)",
            if t.growth <= FLAT_TOLERANCE {
                "flat"
            } else {
                "**grew**"
            },
            t.first,
            t.last,
            t.growth * 100.0,
            t.most
        ),
        None => "too few windows to judge".into(),
    };
    let most =
        |ws: &[&Window], f: fn(&Window) -> f64| ws.iter().map(|w| f(w)).fold(f64::NAN, f64::max);
    let worst_p95 = windows.iter().map(|w| w.p95_ms).fold(f64::NAN, f64::max);
    writeln!(
        out,
        "\nWriter from half-time on: {}, peak {writer_peak:.1} MB (target {} MB). \
         Reader {}: {}, peak {reader_peak:.1} MB (target {} MB). API: {requests} requests, \
         {errors} errors, worst window p95 {worst_p95:.1} ms. Stored: {}.",
        verdict(&from_half, |w| w.writer_rss_mb),
        64,
        if quiet.is_empty() {
            "from half-time on"
        } else {
            "after the quiet warm-up"
        },
        verdict(&reader_span, |w| w.reader.rss_mb),
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
    if !after.is_empty() {
        writeln!(
            out,
            "\nAfter publishing ({:.0} s of API load, nothing new stored): writer at most \
             {:.1} MB, reader at most {:.1} MB (heap {:.1} MB; caches {:.1} MB) against \
             {:.1} MB (heap {:.1} MB) while publishing.",
            a.tail,
            most(&after, |w| w.writer_rss_mb),
            most(&after, |w| w.reader.rss_mb),
            most(&after, |w| w.reader.anon_mb),
            most(&after, |w| w.reader.cache_mb),
            most(&during, |w| w.reader.rss_mb),
            most(&during, |w| w.reader.anon_mb),
        )?;
    }
    stored?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn windows(rss: &[f64]) -> Vec<Window> {
        rss.iter()
            .enumerate()
            .map(|(i, &r)| Window {
                end_s: i as f64 * 60.0,
                writer_rss_mb: r,
                reader: ReaderMemory::default(),
                requests_per_s: 0.0,
                requests: 0,
                p95_ms: 0.0,
                errors: 0,
                published: 0,
                phase: Phase::Publishing,
            })
            .collect()
    }

    fn judge(rss: &[f64]) -> Option<Trend> {
        let ws = windows(rss);
        let refs: Vec<&Window> = ws.iter().collect();
        trend(&refs, |w| w.writer_rss_mb)
    }

    #[test]
    fn one_high_window_is_not_a_trend_but_a_climb_is() {
        // Noise around 78 MB with one window at 83: flat.
        let t = judge(&[
            78.5, 77.8, 77.2, 77.3, 76.5, 79.6, 77.8, 78.1, 80.4, 82.9, 79.1,
        ])
        .unwrap();
        assert!(t.growth <= FLAT_TOLERANCE, "{}", t.growth);
        assert_eq!(t.most, 82.9);
        // A steady 1 MB a window: 70 → 80 MB grows.
        let climb: Vec<f64> = (0..11).map(|i| 70.0 + i as f64).collect();
        let t = judge(&climb).unwrap();
        assert!(t.growth > FLAT_TOLERANCE, "{}", t.growth);
        assert_eq!((t.first, t.last), (71.0, 79.0));
        // Two windows are too few to tell.
        assert!(judge(&[70.0, 90.0]).is_none());
    }
}
