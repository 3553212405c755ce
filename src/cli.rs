//! Command line: parses arguments, loads configuration, sets up logging and dispatches.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::app::{self, Context};
use crate::config::{Config, LoadOptions};
use crate::ingest::Source;
use crate::ingest::stats::IngestStats;
use meshview_sim::SimConfig;
use meshview_store::connect::{Conn, Role};
use meshview_store::migrations::{self, Chain, DowngradeTarget, MigrateError, UpgradeOptions};

#[derive(Parser, Debug)]
#[command(
    name = "meshview",
    version,
    about = "Monitoring for Meshtastic mesh networks"
)]
pub struct Cli {
    /// MeshView config file (the Python MeshView's config.ini works as it is).
    #[arg(long, global = true, env = "MESHVIEW_CONFIG")]
    pub config: Option<PathBuf>,
    /// Database URL, overriding database.connection_string.
    #[arg(long, global = true, value_name = "URL")]
    pub database: Option<String>,
    /// Log filter (tracing syntax), e.g. "debug" or "info,meshview=debug".
    #[arg(
        long,
        global = true,
        env = "MESHVIEW_LOG",
        default_value = "info,sqlx=warn"
    )]
    pub log: String,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Writer and web server in one supervised process (migrates first).
    Run {
        /// Write the process id here while running.
        #[arg(long)]
        pid_file: Option<PathBuf>,
        /// Feed simulated mesh traffic instead of connecting to a broker.
        #[arg(long)]
        demo: bool,
    },
    /// The writer: migrate the schema, then ingest from MQTT (or a capture file).
    Ingest {
        /// Feed this capture file (JSON lines: topic, base64 payload) instead of MQTT,
        /// then exit.
        #[arg(long, value_name = "FILE")]
        replay: Option<PathBuf>,
    },
    /// The reader: wait for a current schema, then serve the web UI and API.
    Serve,
    /// Simulated mesh traffic: publish it to the broker in `[mqtt]`, or write a capture
    /// file; prints the ground truth a correct writer must end up storing.
    Simulate(SimulateArgs),
    /// Schema migrations.
    #[command(subcommand)]
    Db(DbCommand),
    /// Configuration helpers.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Channel keys: add one (the stored packets it opens are decoded in place), list them.
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand, Debug)]
pub enum KeysCommand {
    /// Add a channel key (base64 PSK, as in `[mqtt] secondary_keys`): it is appended to
    /// `secondary_keys` in the config file, and the stored packets that were undecryptable
    /// and open with it are decrypted and decoded in place. Restart the writer so that new
    /// packets are decrypted with it too (it decrypts those stored meanwhile as it starts).
    Add {
        key: String,
        /// Only decrypt the stored packets; leave the config file as it is.
        #[arg(long)]
        no_config: bool,
    },
    /// The configured keys by fingerprint (never the keys themselves), how far back each
    /// has been tried on the stored packets and how many it decrypted, and how many
    /// packets are stored undecryptable.
    List,
}

#[derive(clap::Args, Debug)]
pub struct SimulateArgs {
    /// Radios in the mesh.
    #[arg(long, default_value_t = 60)]
    pub nodes: usize,
    /// How many of them uplink to MQTT.
    #[arg(long, default_value_t = 8)]
    pub gateways: usize,
    /// Distinct packets to generate.
    #[arg(long, default_value_t = 2000)]
    pub packets: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Share of junk messages, in percent.
    #[arg(long, default_value_t = 2.0)]
    pub junk: f64,
    /// Topic root of the simulated gateways.
    #[arg(long, default_value = "msh/US/bayarea")]
    pub topic_prefix: String,
    /// Area as NORTH,WEST,SOUTH,EAST degrees.
    #[arg(long, value_parser = parse_bbox, default_value = "38.0,-122.6,37.2,-121.7")]
    pub bbox: (f64, f64, f64, f64),
    /// Publish to the broker in [mqtt].
    #[arg(long, conflicts_with = "capture")]
    pub publish: bool,
    /// Messages per second when publishing (0 = as fast as possible).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// Write a capture file (JSON lines: topic, payload_b64) instead.
    #[arg(long, value_name = "FILE")]
    pub capture: Option<PathBuf>,
    /// Write the ground truth as JSON here (else a summary goes to standard output).
    #[arg(long, value_name = "FILE")]
    pub truth: Option<PathBuf>,
}

fn parse_bbox(s: &str) -> Result<(f64, f64, f64, f64), String> {
    let v: Vec<f64> = s
        .split(',')
        .map(|x| x.trim().parse::<f64>())
        .collect::<Result<_, _>>()
        .map_err(|_| format!("{s:?}: expected four numbers NORTH,WEST,SOUTH,EAST"))?;
    match v.as_slice() {
        [n, w, so, e] if n > so && e > w => Ok((*n, *w, *so, *e)),
        _ => Err(format!(
            "{s:?}: expected NORTH,WEST,SOUTH,EAST with north > south and east > west"
        )),
    }
}

#[derive(Subcommand, Debug)]
pub enum DbCommand {
    /// Upgrade to head (or to REV), adopting a Python MeshView database if needed —
    /// exactly what the writer does at start-up.
    Upgrade {
        #[arg(default_value = "head")]
        revision: String,
    },
    /// Downgrade to REV, by N steps (-1), or to base.
    Downgrade {
        #[arg(allow_hyphen_values = true)]
        target: String,
    },
    /// Show the database's current revision.
    Current,
    /// List the migration chain and what is applied.
    History,
    /// Check the chain (linear, no missing or duplicate parents) and, if the database
    /// exists, that no applied migration was edited.
    Check {
        /// Check the migrations in this folder instead of the embedded ones.
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// Recompute the rollup tables (traffic_hourly, traffic_hourly_total, node_daily,
    /// gateway_hourly, node_link, the link model) from the raw rows, e.g. after a decoder fix. Takes the
    /// migration lock; stop the writer first or expect it to wait.
    RebuildRollups,
    /// Return free pages to the file system (SQLite `VACUUM`, e.g. after an adoption's
    /// table rebuilds; needs about the database's size of free disk while it runs) or
    /// refresh the planner's statistics (PostgreSQL `ANALYZE`). Takes the migration lock;
    /// stop the writer first (it would wait for the whole VACUUM).
    Vacuum,
    /// Show the raw archive (`[archive]`): its messages, the time they span, and their
    /// bytes as received and as stored.
    Archive,
    /// Derive the stored rows again from the raw archive, with today's decoder and keys
    /// (`mqtt.secondary_keys`): the rows stored since the archive's first message (or
    /// --since) are deleted, the archived messages replayed at their own times, and the
    /// rollups recomputed. Stop the writer first: it waits for the rebuild if it starts.
    /// The reader keeps serving, showing what has been replayed so far.
    Rebuild {
        /// Derive again from this UTC date (YYYY-MM-DD) or time (RFC 3339) on.
        #[arg(long)]
        since: Option<String>,
    },
    /// Write a new migration's files with a fresh revision id and the head as parent.
    Revision {
        #[arg(short, long)]
        message: String,
        /// The migrations folder of the source tree.
        #[arg(long, default_value = "crates/meshview-store/migrations")]
        dir: PathBuf,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print a fully commented example configuration.
    Example,
    /// Print the effective configuration (secrets hidden) and any warnings.
    Show,
}

/// Entry point used by `main`.
pub async fn main(cli: Cli) -> ExitCode {
    init_logging(&cli.log);
    match dispatch(cli).await {
        Ok(code) => code,
        Err(e) => {
            // One line, on stderr, whatever the log filter.
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The environment variables through which glibc's malloc takes its settings, and ours.
const MALLOC_ENV: [(&str, &str); 2] = [
    ("MALLOC_ARENA_MAX", "2"),
    ("MALLOC_MMAP_THRESHOLD_", "262144"),
];

/// Starts this process again with our malloc settings, where the environment does not
/// set them already. Call it first thing in `main`, before any thread starts.
///
/// - At most two arenas: glibc's malloc gives threads their own arenas (up to eight per
///   core) and each keeps its high-water mark. Measured on the 3-million-packet benchmark
///   (docs/benchmarks.md): the reader's RSS under the mixed load was 167 MB with glibc's
///   default and 115 MB with two arenas, at the same requests/s; the writer's peak went
///   from 64.5 to 62 MB.
/// - Blocks of 256 KiB and more from `mmap`, always: glibc's default threshold grows to
///   the size of any such block freed (up to 32 MiB), so the megabyte bodies of big
///   answers (every link, every node, a past window) then come from the arenas, whose
///   fragments stay resident. Measured on the same benchmark: the reader's peak under the
///   mixed load went from 133.9–137.3 MB to 110.1–119.7 MB, at the same requests/s.
///
/// glibc reads these once, from the environment, as the process starts (setting them
/// afterwards, or calling `mallopt`, needs `unsafe`), so the process replaces itself with
/// the same program, arguments and pid, the variables set. If that fails (the executable
/// was replaced on disk, say) it goes on with glibc's defaults.
pub fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        use std::os::unix::process::CommandExt;
        let missing: Vec<_> = MALLOC_ENV
            .iter()
            .filter(|(k, _)| std::env::var_os(k).is_none())
            .collect();
        if missing.is_empty() {
            return;
        }
        let Ok(exe) = std::env::current_exe() else {
            return;
        };
        let mut args = std::env::args_os();
        let mut cmd = std::process::Command::new(exe);
        if let Some(arg0) = args.next() {
            cmd.arg0(arg0);
        }
        cmd.args(args);
        for (k, v) in missing {
            cmd.env(k, v);
        }
        // `exec` returns only if it failed.
        let err = cmd.exec();
        eprintln!("note: could not restart with our malloc settings ({err}); going on without");
    }
}

/// Logs to standard error through `tracing`, with `filter` (falls back to `info`).
pub fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

/// Loads `config` (default `config.ini`, optional then) with a `--database` override and
/// the environment, logging where it came from and its warnings.
pub fn load_config(
    config: Option<&std::path::Path>,
    database: Option<&str>,
) -> anyhow::Result<Config> {
    let default = PathBuf::from("config.ini");
    let cfg = Config::load(LoadOptions {
        path: config.unwrap_or(&default),
        explicit: config.is_some(),
        database_override: database,
        env: std::env::vars().collect(),
    })?;
    match &cfg.source {
        Some(p) => tracing::debug!(file = %p.display(), "configuration loaded"),
        None => {
            tracing::info!("no config.ini found; using defaults (see `meshview config example`)")
        }
    }
    for w in &cfg.warnings {
        tracing::warn!("{w}");
    }
    Ok(cfg)
}

fn embedded_chain() -> anyhow::Result<Chain> {
    Chain::embedded().map_err(|p| MigrateError::Chain(p).into())
}

async fn dispatch(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::Config(ConfigCommand::Example) = cli.command {
        print!("{}", crate::config::EXAMPLE);
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Db(DbCommand::Revision { message, dir }) = &cli.command {
        let folder = migrations::revision::create(dir, message).map_err(anyhow::Error::msg)?;
        println!("created {}", folder.display());
        println!("fill in its four SQL files, then rebuild; see docs/database-migrations.md");
        return Ok(ExitCode::SUCCESS);
    }
    let mut config = load_config(cli.config.as_deref(), cli.database.as_deref())?;
    if let Command::Run { demo: true, .. } = cli.command {
        // The demo's mesh is simulated in a box of its own: the maps open on it.
        let (top, left, bottom, right) = SimConfig::default().bbox;
        let site = &mut config.site;
        (site.map_top_left_lat, site.map_top_left_lon) = (top, left);
        (site.map_bottom_right_lat, site.map_bottom_right_lon) = (bottom, right);
    }
    if let Command::Config(ConfigCommand::Show) = cli.command {
        println!("{config:#?}");
        return Ok(ExitCode::SUCCESS);
    }
    let chain = embedded_chain()?;
    let shutdown = CancellationToken::new();
    let ctx = Context {
        config: Arc::new(config),
        chain: Arc::new(chain),
        shutdown: shutdown.clone(),
        stats: Arc::new(IngestStats::default()),
        live: None,
    };
    match cli.command {
        Command::Run { pid_file, demo } => {
            app::cancel_on_signals(shutdown);
            let _pid = pid_file.map(PidFile::create).transpose()?;
            let source = if demo {
                Source::Demo(SimConfig::default())
            } else {
                Source::Mqtt
            };
            app::run(ctx, source).await?;
        }
        Command::Ingest { replay } => {
            app::cancel_on_signals(shutdown);
            let source = replay.map(Source::Replay).unwrap_or(Source::Mqtt);
            app::ingest(ctx, source).await?;
        }
        Command::Serve => {
            app::cancel_on_signals(shutdown);
            app::serve(ctx, None).await?;
        }
        Command::Db(cmd) => return db_command(&ctx, cmd).await,
        Command::Keys(cmd) => keys_command(&ctx, cmd).await?,
        Command::Simulate(args) => simulate(&ctx, args).await?,
        Command::Config(_) => unreachable!("handled above"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn db_command(ctx: &Context, cmd: DbCommand) -> anyhow::Result<ExitCode> {
    let url = &ctx.config.database.url;
    let chain = &ctx.chain;
    match cmd {
        DbCommand::Upgrade { revision } => {
            let target = (revision != "head").then_some(revision.as_str());
            let opts = UpgradeOptions {
                backup_before_adoption: ctx.config.database.backup_before_adoption,
            };
            let report = if target.is_none() {
                meshview_store::coordination::writer_startup(
                    &ctx.config.database.url,
                    chain,
                    &ctx.config.upgrade_options(),
                )
                .await?
            } else {
                migrations::upgrade(url, chain, target, &opts).await?
            };
            if let Some(from) = &report.adopted_from {
                println!("adopted MeshView database (was at {from})");
            }
            for s in &report.steps {
                println!(
                    "upgraded to {} — {} ({} ms)",
                    s.revision, s.message, s.millis
                );
            }
            println!(
                "current revision: {}",
                describe(chain, report.to.as_deref())
            );
            if let Some(free) = report.free.filter(|f| f.is_large()) {
                println!("note: {}", free.advice());
            }
        }
        DbCommand::Downgrade { target } => {
            let target = DowngradeTarget::parse(&target).map_err(anyhow::Error::msg)?;
            let report = migrations::downgrade(url, chain, &target).await?;
            for s in &report.steps {
                println!("reverted {} — {} ({} ms)", s.revision, s.message, s.millis);
            }
            println!(
                "current revision: {}",
                describe(chain, report.to.as_deref())
            );
        }
        DbCommand::Current => {
            let state = migrations::status(url, chain).await?;
            println!("{}", describe(chain, state.current()));
            if state.needs_adoption {
                println!(
                    "a Python MeshView database (alembic revision {}) waiting to be adopted by `meshview db upgrade`",
                    state.meshview_revision.as_deref().unwrap_or("none")
                );
            }
            if state.in_progress {
                println!(
                    "migration_status: in progress since {}",
                    state.status_updated_at.as_deref().unwrap_or("?")
                );
            }
        }
        DbCommand::History => {
            let applied = match migrations::status(url, chain).await {
                Ok(s) => s.applied,
                Err(e) => {
                    eprintln!("note: cannot read the database ({e}); showing the chain only");
                    Vec::new()
                }
            };
            for m in chain.migrations().iter().rev() {
                let mark = if Some(m.revision.as_str()) == chain.head_revision() {
                    " (head)"
                } else {
                    ""
                };
                let status = applied
                    .iter()
                    .find(|a| a.revision == m.revision)
                    .map(|a| {
                        let when = meshview_store::utc_text(a.applied_at_us);
                        match &a.note {
                            Some(n) => format!("applied {when}, {n}"),
                            None => format!("applied {when}"),
                        }
                    })
                    .unwrap_or_else(|| "pending".to_string());
                println!(
                    "{} -> {}{mark}, {} [{}; created {}]",
                    m.parent.as_deref().unwrap_or("<base>"),
                    m.revision,
                    m.message,
                    status,
                    m.created
                );
            }
        }
        DbCommand::Check { dir } => return db_check(ctx, dir).await,
        DbCommand::RebuildRollups => {
            let started = std::time::Instant::now();
            let r = migrations::rebuild_rollups(url, chain).await?;
            println!(
                "rebuilt traffic_hourly, traffic_hourly_total, node_daily, gateway_hourly, node_link ({} rows) and the \
                 link-quality model ({} links) in {} ms",
                r.edges,
                r.links,
                started.elapsed().as_millis()
            );
        }
        DbCommand::Vacuum => {
            let held = migrations::hold(url, chain).await?;
            let result = async {
                let db = meshview_store::Db::open(url, meshview_store::Role::Writer).await?;
                // VACUUM reports nothing until it ends: say that it is still running.
                let started = std::time::Instant::now();
                let ticker = tokio::spawn(async move {
                    let mut tick = tokio::time::interval(std::time::Duration::from_secs(5));
                    tick.tick().await;
                    loop {
                        tick.tick().await;
                        eprintln!("vacuum: still running ({} s)", started.elapsed().as_secs());
                    }
                });
                let log = meshview_store::joblog::JobLog::stderr_only();
                let m = meshview_store::retention::maintain(&db, &log).await;
                ticker.abort();
                db.close().await;
                anyhow::Ok(m?)
            }
            .await;
            held.release().await;
            let m = result?;
            match (m.size_before, m.size_after) {
                (Some(b), Some(a)) => println!(
                    "{} done in {:.1} s: {} MB -> {} MB",
                    m.command,
                    m.elapsed.as_secs_f64(),
                    b >> 20,
                    a >> 20
                ),
                _ => println!("{} done in {:.1} s", m.command, m.elapsed.as_secs_f64()),
            }
        }
        DbCommand::Archive => {
            let mut conn =
                meshview_store::connect::Conn::open(url, meshview_store::Role::Reader).await?;
            let s = meshview_store::archive::stats(&mut conn).await;
            conn.close().await;
            print!("{}", describe_archive(&s?, ctx.config.archive.enabled));
        }
        DbCommand::Rebuild { since } => {
            let since = since.as_deref().map(parse_since).transpose()?;
            let r = crate::ingest::rebuild::run(ctx.writer(), chain, since).await?;
            println!(
                "rebuilt from {} archived messages in {:.1} s: {} packets and {} receptions stored again (had {} and {}), {} links in the link model",
                r.messages,
                r.seconds,
                r.packets,
                r.receptions,
                r.deleted.packets,
                r.deleted.receptions,
                r.links
            );
        }
        DbCommand::Revision { .. } => unreachable!("handled before loading config"),
    }
    Ok(ExitCode::SUCCESS)
}

async fn keys_command(ctx: &Context, cmd: KeysCommand) -> anyhow::Result<()> {
    let config = &ctx.config;
    // Like the writer: the schema is brought to head first.
    meshview_store::coordination::writer_startup(
        &config.database.url,
        &ctx.chain,
        &config.upgrade_options(),
    )
    .await?;
    let configured =
        meshview_protocol::Keyring::with_secondary(&config.mqtt.secondary_keys.join(","))?;
    match cmd {
        KeysCommand::Add { key, no_config } => {
            let parsed = meshview_protocol::parse_keys(&key)?;
            let [new] = parsed.as_slice() else {
                anyhow::bail!("expected one channel key (base64), got {}", parsed.len());
            };
            let key = key.trim().to_owned();
            let known = configured.keys().contains(new);
            if known {
                println!("the key is configured already ({})", new.fingerprint());
            } else if no_config {
                println!("config file left as it is (--no-config)");
            } else if let Some(path) = &config.source {
                let text = std::fs::read_to_string(path)?;
                let edited = crate::config::edit::add_secondary_key(&text, &key);
                crate::config::edit::replace_file(path, &edited)
                    .with_context(|| format!("writing {}", path.display()))?;
                println!(
                    "added the key ({}) to [mqtt] secondary_keys in {}",
                    new.fingerprint(),
                    path.display()
                );
            } else {
                println!(
                    "no config file: add the key to [mqtt] secondary_keys (or MESHVIEW_MQTT__SECONDARY_KEYS) for the writer"
                );
            }
            if std::env::var_os("MESHVIEW_MQTT__SECONDARY_KEYS").is_some() && !known {
                println!(
                    "note: MESHVIEW_MQTT__SECONDARY_KEYS is set and overrides the file: add the key there too"
                );
            }
            let mut with_key = (**config).clone();
            if !known {
                with_key.mqtt.secondary_keys.push(key);
            }
            let pass =
                crate::ingest::retro::run(&with_key, &CancellationToken::new(), |tried, total| {
                    eprintln!("keys: tried {tried} of {total} undecryptable packets")
                })
                .await?;
            println!(
                "decrypted {} of {} stored undecryptable packets{}",
                pass.decrypted,
                pass.tried,
                match pass.from_us {
                    Some(from) if from > i64::MIN =>
                        format!(" received since {}", meshview_store::utc_text(from)),
                    _ => String::new(),
                }
            );
            if !known {
                println!(
                    "restart the writer so that it decrypts new packets with the key; it decrypts those stored meanwhile as it starts"
                );
            }
        }
        KeysCommand::List => {
            let mut conn = Conn::open(&config.database.url, Role::Reader).await?;
            let marks = meshview_store::write::retro::key_marks(&mut conn).await?;
            let undecrypted =
                meshview_store::write::retro::count_undecrypted(&mut conn, i64::MIN).await?;
            conn.close().await;
            for (i, k) in configured.keys().iter().enumerate() {
                let f = k.fingerprint();
                let what = if i == 0 {
                    "default key"
                } else {
                    "secondary key"
                };
                match marks.iter().find(|m| m.fingerprint == f) {
                    Some(m) => println!(
                        "{f}  {what}: tried on the packets received before {}, decrypted {}",
                        meshview_store::utc_text(m.decrypted_through_us),
                        m.packets_decrypted
                    ),
                    None => println!(
                        "{f}  {what}: not yet tried on the stored packets (the writer does at start-up)"
                    ),
                }
            }
            println!("stored undecryptable packets: {undecrypted}");
        }
    }
    Ok(())
}

/// `--since`: a UTC date or an RFC 3339 time, as µs.
fn parse_since(v: &str) -> anyhow::Result<i64> {
    if let Ok(t) = chrono::DateTime::parse_from_rfc3339(v) {
        return Ok(t.timestamp_micros());
    }
    chrono::NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc().timestamp_micros())
        .ok_or_else(|| {
            anyhow::anyhow!("--since {v:?}: expected a date (2026-12-01) or an RFC 3339 time")
        })
}

/// `meshview db archive`'s lines.
fn describe_archive(s: &meshview_store::archive::ArchiveStats, enabled: bool) -> String {
    let when = |us: Option<i64>| us.map_or_else(|| "-".into(), meshview_store::utc_text);
    let per = |bytes: i64| {
        if s.messages > 0 {
            format!("{:.1}", bytes as f64 / s.messages as f64)
        } else {
            "-".into()
        }
    };
    let share = if s.raw_bytes > 0 {
        format!(
            "{:.1} %",
            s.stored_bytes as f64 * 100.0 / s.raw_bytes as f64
        )
    } else {
        "-".into()
    };
    format!(
        "archive: {}\n\
         messages: {} in {} segments\n\
         from {} to {}\n\
         received: {} bytes ({} per message)\n\
         stored: {} bytes ({} per message, {share} of received)\n",
        if enabled {
            "on"
        } else {
            "off (archive.enabled = false)"
        },
        s.messages,
        s.segments,
        when(s.first_us),
        when(s.last_us),
        s.raw_bytes,
        per(s.raw_bytes),
        s.stored_bytes,
        per(s.stored_bytes),
    )
}

async fn simulate(ctx: &Context, a: SimulateArgs) -> anyhow::Result<()> {
    use meshview_sim::{Simulator, capture_line};
    let cfg = SimConfig {
        nodes: a.nodes,
        gateways: a.gateways,
        bbox: a.bbox,
        packets: a.packets,
        seed: a.seed,
        region_topic: a.topic_prefix.clone(),
        junk_percent: a.junk,
        ..SimConfig::default()
    };
    let mut sim = Simulator::new(cfg)?;
    if let Some(path) = &a.capture {
        use std::io::Write;
        let file = std::fs::File::create(path)
            .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        let mut n = 0usize;
        for msg in sim.by_ref() {
            writeln!(out, "{}", capture_line(&msg))?;
            n += 1;
        }
        out.flush()?;
        eprintln!("wrote {n} messages to {}", path.display());
    } else if a.publish {
        ctx.config.require_mqtt_server()?;
        let settings = crate::ingest::mqtt::MqttSettings::from_config(&ctx.config.mqtt)?;
        let messages = sim.by_ref().map(|m| (m.topic, m.payload));
        let n = crate::ingest::publish::publish(messages, &settings, a.rate, |n| {
            tracing::info!(published = n, "publishing")
        })
        .await?;
        eprintln!(
            "published {n} messages to {}:{} under {}",
            settings.host, settings.port, a.topic_prefix
        );
    } else {
        anyhow::bail!(
            "say where the traffic goes: --publish (to the broker in [mqtt]) or --capture FILE"
        );
    }
    let truth = sim.truth();
    match &a.truth {
        Some(p) => std::fs::write(p, truth.to_json())
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", p.display()))?,
        None => println!(
            "ground truth: {} messages, {} packets ({} undecryptable), {} receptions, {} nodes, {} gateways, {} traceroutes, junk {:?}; per port {:?}",
            truth.messages,
            truth.packets,
            truth.undecryptable,
            truth.receptions,
            truth.nodes.len(),
            truth.gateways.len(),
            truth.traceroutes.len(),
            truth.junk,
            truth.packets_by_port
        ),
    }
    Ok(())
}

fn describe(chain: &Chain, rev: Option<&str>) -> String {
    match rev {
        None => "base (no migrations applied)".to_string(),
        Some(r) if Some(r) == chain.head_revision() => format!("{r} (head)"),
        Some(r) => format!("{r} (head is {})", chain.head_revision().unwrap_or("base")),
    }
}

async fn db_check(ctx: &Context, dir: Option<PathBuf>) -> anyhow::Result<ExitCode> {
    let chain = match &dir {
        Some(d) => Chain::from_dir(d),
        None => Chain::embedded(),
    };
    let chain = match chain {
        Ok(c) => c,
        Err(problems) => {
            for p in &problems {
                eprintln!("problem: {p}");
            }
            eprintln!(
                "db check: {} problem(s) in the migration chain",
                problems.len()
            );
            return Ok(ExitCode::FAILURE);
        }
    };
    println!(
        "chain: {} migrations, linear, head {}",
        chain.migrations().len(),
        chain.head_revision().unwrap_or("base")
    );
    let url = &ctx.config.database.url;
    if let crate::config::DatabaseUrl::Sqlite { path } = url
        && !path.exists()
    {
        println!(
            "database {} does not exist; applied-migration checks skipped",
            path.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut conn = Conn::open(url, Role::Reader).await?;
    let state = migrations::read_state(&mut conn, &chain).await;
    conn.close().await;
    match state {
        Ok(s) => {
            println!(
                "database: {} applied migration(s) match their files; current {}",
                s.applied.len(),
                describe(&chain, s.current())
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("problem: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// Removes the pid file when the process ends normally.
struct PidFile(PathBuf);

impl PidFile {
    fn create(path: PathBuf) -> anyhow::Result<PidFile> {
        std::fs::write(&path, format!("{}\n", std::process::id()))
            .map_err(|e| anyhow::anyhow!("cannot write pid file {}: {e}", path.display()))?;
        Ok(PidFile(path))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}
