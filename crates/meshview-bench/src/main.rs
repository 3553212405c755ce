//! `meshview-bench`: MeshView's shipped benchmarks, kept out of the production binary and
//! library. Results and how to reproduce them: docs/benchmarks.md.
//!
//! The benchmarks start MeshView itself (`serve` for the reader benchmark, `ingest` for the
//! writer's) as a child process, so its memory is measured alone. The child is this binary
//! running MeshView's own command line (`meshview-bench meshview …`, hidden): the same
//! library code as the `meshview` binary, with no second executable to find or keep in step.

mod adopt;
mod api;
mod ingest;
mod seed;
mod soak;
mod terrain;

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "meshview-bench",
    version,
    about = "MeshView's benchmarks: writer throughput, a big seeded database, the reader under load, a soak of both, adopting a big MeshView database"
)]
struct Cli {
    /// MeshView config file (the database, the broker for --mqtt).
    #[arg(long, global = true, env = "MESHVIEW_CONFIG")]
    config: Option<PathBuf>,
    /// Database URL, overriding database.connection_string.
    #[arg(long, global = true, value_name = "URL")]
    database: Option<String>,
    /// Log filter (tracing syntax).
    #[arg(
        long,
        global = true,
        env = "MESHVIEW_LOG",
        default_value = "info,sqlx=warn"
    )]
    log: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Simulated traffic through decode → decrypt → store in a separate writer process,
    /// into a fresh database on the configured backend (SQLite: a temporary file;
    /// PostgreSQL: a scratch database created on that server and dropped afterwards).
    Ingest(ingest::IngestBench),
    /// Builds a big realistic database on the configured backend (--database): the
    /// simulated mesh through the real pipeline and batch writer, import times spread
    /// over the last --days days. Refuses a database that already holds packets.
    Seed(seed::SeedBench),
    /// Measures the reader: every API endpoint and page, sequentially (latency
    /// percentiles) and as a mixed load (requests/s), against --url or a `meshview serve`
    /// it starts on the configured database (then also its memory).
    Api(api::ApiArgs),
    /// The writer (MQTT at a steady rate) and the reader (the API mix on many
    /// connections) together for a long run on a fresh database: memory over time, API
    /// latency and errors per window, and whether everything published was stored.
    Soak(soak::SoakArgs),
    /// Adoption of a big Python MeshView database: builds one with MeshView 3.0.5's
    /// schema (--database, SQLite) from a seeded database (--source) unless it exists,
    /// then times `meshview db upgrade` on a copy: each step, the peak memory, and every
    /// row checked.
    Adopt(adopt::AdoptArgs),
    /// MeshView's own command line (how the benchmarks start the server and the writer).
    #[command(hide = true)]
    Meshview {
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

/// A field of `/proc/<pid>/status` counted in kB (`VmRSS:`, `VmHWM:`): how the benchmarks
/// read their children's memory.
pub(crate) fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// A child process running MeshView's command line: `meshview-bench meshview …`.
pub(crate) fn meshview_command() -> anyhow::Result<tokio::process::Command> {
    use anyhow::Context as _;
    let exe = std::env::current_exe().context("own executable")?;
    let mut cmd = tokio::process::Command::new(exe);
    cmd.arg("meshview");
    Ok(cmd)
}

fn main() -> ExitCode {
    // MeshView's own malloc settings (the load generator gets them too): the memory
    // measured is what `meshview` itself would use.
    meshview::cli::tune_malloc();
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt.block_on(async_main()),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn async_main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Meshview { args } = cli.command {
        let argv = std::iter::once(OsString::from("meshview")).chain(args);
        return meshview::cli::main(<meshview::cli::Cli as Parser>::parse_from(argv)).await;
    }
    meshview::cli::init_logging(&cli.log);
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = meshview::cli::load_config(cli.config.as_deref(), cli.database.as_deref())?;
    match cli.command {
        Command::Ingest(b) => {
            let r = ingest::run(&config, cli.config.as_deref(), &b).await?;
            println!(
                "| mode | backend | envelopes | packets | receptions | time | throughput | writer peak RSS |"
            );
            println!("|---|---|---|---|---|---|---|---|");
            println!("{r}");
        }
        Command::Seed(b) => {
            let chain = meshview_store::migrations::Chain::embedded()
                .map_err(meshview_store::migrations::MigrateError::Chain)?;
            let r = seed::run(&config, &chain, &b).await?;
            println!("{r}");
        }
        Command::Api(args) => {
            let report = api::run(&config, cli.config.as_deref(), &args).await?;
            println!("{report}");
        }
        Command::Soak(args) => {
            let report = soak::run(&config, cli.config.as_deref(), &args).await?;
            println!("{report}");
        }
        Command::Adopt(args) => {
            let report = adopt::run(&config, &args).await?;
            println!("{report}");
        }
        Command::Meshview { .. } => unreachable!("handled in main"),
    }
    Ok(())
}
