//! `meshview-bench ingest`: simulated traffic through decode → decrypt → store, in a
//! separate writer process (so its peak memory is the writer's alone), from a capture file
//! or end to end through an MQTT broker.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::AsyncBufReadExt;

use meshview::config::{Config, DatabaseUrl};
use meshview_sim::{DEFAULT_SECONDARY_KEY_B64, SimConfig, Simulator, capture_line};
use meshview_store::connect::{Conn, Role};

#[derive(clap::Args, Debug, Clone)]
pub struct IngestBench {
    /// Envelopes to generate (approximately; whole packets with all their receptions).
    #[arg(long, default_value_t = 300_000)]
    pub messages: usize,
    #[arg(long, default_value_t = 500)]
    pub nodes: usize,
    #[arg(long, default_value_t = 40)]
    pub gateways: usize,
    /// End to end through the broker in [mqtt] instead of a capture file.
    #[arg(long)]
    pub mqtt: bool,
    /// With --mqtt: messages per second to publish (0 = as fast as possible). A sustained
    /// rate the writer keeps up with, with nothing lost, is the result.
    #[arg(long, default_value_t = 20_000.0)]
    pub rate: f64,
    /// With --mqtt: kill the writer with SIGKILL this many times at random moments while
    /// publishing, restarting it each time (a persistent session, as operators run it);
    /// the database must still hold exactly the simulator's packets and receptions.
    #[arg(long, default_value_t = 0)]
    pub kills: usize,
    /// The simulated mesh's seed (nodes, packet ids, times).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Clone)]
pub struct IngestResult {
    pub mode: String,
    pub backend: &'static str,
    pub messages: usize,
    pub packets: usize,
    pub receptions: usize,
    pub seconds: f64,
    pub per_second: f64,
    pub peak_rss_mb: f64,
}

impl std::fmt::Display for IngestResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "| {} | {} | {} | {} | {} | {:.2} s | {:.0} envelopes/s | {:.1} MB |",
            self.mode,
            self.backend,
            self.messages,
            self.packets,
            self.receptions,
            self.seconds,
            self.per_second,
            self.peak_rss_mb
        )
    }
}

/// A database created for one run and dropped afterwards (PostgreSQL), or a temporary
/// SQLite file.
pub(crate) struct Scratch {
    /// The connection string the writer and reader are given.
    pub(crate) url: String,
    admin: Option<(DatabaseUrl, String)>,
}

impl Scratch {
    pub(crate) async fn create(base: &DatabaseUrl, dir: &Path) -> anyhow::Result<Scratch> {
        match base {
            DatabaseUrl::Sqlite { .. } => Ok(Scratch {
                // Three slashes and an absolute path: SQLAlchemy's absolute form.
                url: format!("sqlite+aiosqlite:///{}", dir.join("bench.db").display()),
                admin: None,
            }),
            DatabaseUrl::Postgres { url } => {
                let name = format!("meshview_bench_{}", std::process::id());
                let mut admin = Conn::open(base, Role::Writer).await?;
                admin
                    .execute(&format!("DROP DATABASE IF EXISTS {name}"))
                    .await?;
                admin.execute(&format!("CREATE DATABASE {name}")).await?;
                admin.close().await;
                let (server, _) = url
                    .rsplit_once('/')
                    .context("a PostgreSQL URL with a database")?;
                let server = server.to_string();
                Ok(Scratch {
                    url: format!("{server}/{name}"),
                    admin: Some((base.clone(), name)),
                })
            }
        }
    }

    pub(crate) async fn drop_db(self) {
        if let Some((admin_url, name)) = self.admin
            && let Ok(mut admin) = Conn::open(&admin_url, Role::Writer).await
        {
            let _ = admin
                .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await;
            admin.close().await;
        }
    }
}

/// Peak resident memory of a process (VmHWM), in kB.
pub(crate) fn peak_rss_kb(pid: u32) -> Option<u64> {
    crate::status_kb(pid, "VmHWM:")
}

pub(crate) fn writer_command(config_path: Option<&Path>, url: &str) -> tokio::process::Command {
    let mut cmd = crate::meshview_command().expect("own executable");
    if let Some(p) = config_path {
        cmd.arg("--config").arg(p);
    }
    cmd.env("MESHVIEW_DATABASE__CONNECTION_STRING", url)
        // The benchmark floods on purpose: every sender sends far faster than any radio.
        .env("MESHVIEW_MQTT__FLOOD_PER_MINUTE", "0")
        .env("MESHVIEW_MQTT__FLOOD_PER_HOUR", "0")
        .env("MESHVIEW_MQTT__SECONDARY_KEYS", DEFAULT_SECONDARY_KEY_B64)
        .env(
            "MESHVIEW_LOG",
            "warn,meshview::ingest=info,meshview::app=info",
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

/// Generates the traffic; returns the simulator (for its truth) and a capture file.
pub(crate) fn generate(
    b: &IngestBench,
    prefix: &str,
    dir: &Path,
) -> anyhow::Result<(SimConfig, meshview_sim::GroundTruth, PathBuf, usize)> {
    use std::io::Write;
    // About 2.4 envelopes per packet with 1-5 gateways hearing each.
    let sim_cfg = SimConfig {
        nodes: b.nodes,
        gateways: b.gateways,
        packets: (b.messages as f64 / 2.4).ceil() as usize,
        region_topic: prefix.to_string(),
        seed: b.seed,
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(sim_cfg.clone())?;
    let path = dir.join("bench.jsonl");
    let mut out = std::io::BufWriter::new(std::fs::File::create(&path)?);
    let mut n = 0usize;
    for msg in sim.by_ref() {
        writeln!(out, "{}", capture_line(&msg))?;
        n += 1;
        if n.is_multiple_of(100_000) {
            eprintln!("  generated {n} messages");
        }
    }
    out.flush()?;
    Ok((sim_cfg, sim.truth().clone(), path, n))
}

pub async fn run(
    cfg: &Config,
    config_path: Option<&Path>,
    b: &IngestBench,
) -> anyhow::Result<IngestResult> {
    if b.kills > 0 && !b.mqtt {
        bail!(
            "--kills needs --mqtt (a replayed capture has no broker to keep what a killed writer lost)"
        );
    }
    let dir = tempfile_dir()?;
    let prefix = format!("msh/bench-{}", std::process::id());
    eprintln!("generating ~{} simulated envelopes…", b.messages);
    let (_, truth, capture, n) = generate(b, &prefix, &dir)?;
    let scratch = Scratch::create(&cfg.database.url, &dir).await?;
    let backend = if cfg.database.url.is_sqlite() {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    let result = async {
        let (seconds, peak_kb) = if b.mqtt {
            through_broker(cfg, config_path, &scratch.url, &prefix, &capture, &truth, b).await?
        } else {
            eprintln!("replaying {n} envelopes into a fresh {backend} database…");
            let mut cmd = writer_command(config_path, &scratch.url);
            cmd.arg("ingest").arg("--replay").arg(&capture);
            let started = Instant::now();
            let mut child = cmd.spawn().context("starting the writer")?;
            let pid = child.id().unwrap_or(0);
            let log = keep_tail(child.stderr.take().expect("piped"));
            let mut peak = 0;
            let status = loop {
                if let Some(kb) = peak_rss_kb(pid) {
                    peak = peak.max(kb);
                }
                tokio::select! {
                    s = child.wait() => break s?,
                    _ = tokio::time::sleep(Duration::from_millis(20)) => {}
                }
            };
            if !status.success() {
                let tail = log.await.unwrap_or_default();
                bail!("the writer failed ({status}):\n{tail}");
            }
            (started.elapsed().as_secs_f64(), peak)
        };
        // Check the database holds exactly what the simulator sent.
        let url = DatabaseUrl::parse(&scratch.url).map_err(anyhow::Error::msg)?;
        let mut conn = Conn::open(&url, Role::Reader).await?;
        let packets = conn.scalar_i64("SELECT count(*) FROM packet").await? as usize;
        let receptions = conn.scalar_i64("SELECT count(*) FROM packet_seen").await? as usize;
        conn.close().await;
        if packets != truth.packets || receptions != truth.receptions {
            bail!(
                "stored {packets} packets / {receptions} receptions, expected {} / {}",
                truth.packets,
                truth.receptions
            );
        }
        Ok(IngestResult {
            mode: match (b.mqtt, b.kills) {
                (false, _) => "capture replay".to_string(),
                (true, 0) => "MQTT end to end".to_string(),
                (true, k) => format!("MQTT, writer killed {k} times"),
            },
            backend,
            messages: n,
            packets,
            receptions,
            seconds,
            per_second: n as f64 / seconds,
            peak_rss_mb: peak_kb as f64 / 1024.0,
        })
    }
    .await;
    scratch.drop_db().await;
    let _ = std::fs::remove_dir_all(&dir);
    result
}

/// Starts a writer subscribed to `prefix` and waits until it is connected. Its session is
/// clean unless `persistent`: a persistent one stays behind in the broker after the run
/// (harmless here, as nothing is published to the run's own topics afterwards).
pub(crate) async fn start_mqtt_writer(
    config_path: Option<&Path>,
    url: &str,
    prefix: &str,
    persistent: bool,
) -> anyhow::Result<tokio::process::Child> {
    let mut cmd = writer_command(config_path, url);
    cmd.arg("ingest")
        .env("MESHVIEW_MQTT__TOPICS", format!("[\"{prefix}/#\"]"))
        .env(
            "MESHVIEW_MQTT__PERSISTENT_SESSION",
            if persistent { "true" } else { "false" },
        );
    let mut child = cmd.spawn().context("starting the writer")?;
    let mut lines = tokio::io::BufReader::new(child.stderr.take().expect("piped")).lines();
    let connected = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(l) = lines.next_line().await? {
            if l.contains("MQTT connected") {
                return Ok::<_, std::io::Error>(true);
            }
        }
        Ok(false)
    })
    .await;
    if !matches!(connected, Ok(Ok(true))) {
        bail!("the writer did not connect to the broker");
    }
    tokio::spawn(async move {
        while let Ok(Some(l)) = lines.next_line().await {
            if l.contains(" WARN ") || l.contains(" ERROR ") {
                eprintln!("  writer: {l}");
            }
        }
    });
    Ok(child)
}

/// The capture's messages, loaded into memory (so parsing is not part of any timing).
pub(crate) fn load_capture(capture: &Path) -> anyhow::Result<Vec<(String, Vec<u8>)>> {
    std::fs::read_to_string(capture)?
        .lines()
        .map(meshview_sim::parse_capture_line)
        .collect::<Result<Vec<_>, _>>()
        .map_err(anyhow::Error::msg)
}

/// Waits until the database holds `receptions` receptions; fails when nothing new arrives
/// for 10 s (the rest was lost) or after 10 minutes. Returns the writer's peak RSS (kB)
/// seen meanwhile.
pub(crate) async fn wait_stored(url: &str, receptions: usize, pid: u32) -> anyhow::Result<u64> {
    let db_url = DatabaseUrl::parse(url).map_err(anyhow::Error::msg)?;
    let mut peak = 0;
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut last_report = Instant::now();
    let (mut last_n, mut last_change) = (0usize, Instant::now());
    loop {
        if let Some(kb) = peak_rss_kb(pid) {
            peak = peak.max(kb);
        }
        let mut conn = Conn::open(&db_url, Role::Reader).await?;
        let n = conn.scalar_i64("SELECT count(*) FROM packet_seen").await? as usize;
        conn.close().await;
        if n >= receptions {
            return Ok(peak);
        }
        if last_report.elapsed() > Duration::from_secs(5) {
            eprintln!("  stored {n} of {receptions} receptions");
            last_report = Instant::now();
        }
        if n != last_n {
            last_n = n;
            last_change = Instant::now();
        } else if last_change.elapsed() > Duration::from_secs(10) || Instant::now() > deadline {
            bail!(
                "only {n} of {receptions} receptions were stored: the writer (or the broker) \
                 dropped messages at this rate; try a lower --rate"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts a writer subscribed to `prefix`, publishes everything, and times until the
/// last packet is stored.
async fn through_broker(
    cfg: &Config,
    config_path: Option<&Path>,
    url: &str,
    prefix: &str,
    capture: &Path,
    truth: &meshview_sim::GroundTruth,
    b: &IngestBench,
) -> anyhow::Result<(f64, u64)> {
    let (rate, kills) = (b.rate, b.kills);
    cfg.require_mqtt_server()?;
    let mut child = start_mqtt_writer(config_path, url, prefix, kills > 0).await?;
    let settings = meshview::ingest::mqtt::MqttSettings::from_config(&cfg.mqtt)?;
    let messages = load_capture(capture)?;
    eprintln!(
        "publishing {} messages to {}:{}…",
        messages.len(),
        settings.host,
        settings.port
    );
    let started = Instant::now();
    // Published at QoS 1 to the broker, which keeps what a killed writer had not
    // acknowledged and delivers it to the next one.
    let expected = messages.len() as f64 / rate.max(1.0);
    let publisher = tokio::spawn(async move {
        meshview::ingest::publish::publish(messages.into_iter(), &settings, rate, |n| {
            if n.is_multiple_of(100_000) {
                eprintln!("  published {n}")
            }
        })
        .await
    });
    let mut peak = 0;
    for k in 0..kills {
        // Random moments spread over the publishing time.
        let wait = rand::random_range(0.2..1.8) * expected / kills as f64;
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
        if let Some(kb) = child.id().and_then(peak_rss_kb) {
            peak = peak.max(kb);
        }
        child.start_kill()?; // SIGKILL: no flush, no acknowledgement
        let _ = child.wait().await;
        eprintln!("  writer killed ({} of {kills}); restarting", k + 1);
        child = start_mqtt_writer(config_path, url, prefix, true).await?;
    }
    publisher.await.context("publisher")??;
    let pid = child.id().unwrap_or(0);
    let stored = wait_stored(url, truth.receptions, pid).await;
    let seconds = started.elapsed().as_secs_f64();
    let _ = child.start_kill();
    let _ = child.wait().await;
    Ok((seconds, stored?.max(peak)))
}

/// Drains a child's stderr, keeping the last lines for an error message.
pub(crate) fn keep_tail(stderr: tokio::process::ChildStderr) -> tokio::task::JoinHandle<String> {
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        let mut tail = std::collections::VecDeque::new();
        while let Ok(Some(l)) = lines.next_line().await {
            if tail.len() == 20 {
                tail.pop_front();
            }
            tail.push_back(l);
        }
        Vec::from(tail).join("\n")
    })
}

pub(crate) fn tempfile_dir() -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("meshview-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
