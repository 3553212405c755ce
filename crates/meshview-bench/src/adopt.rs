//! `meshview-bench adopt`: an operator switching from the Python MeshView with a big
//! database. Builds a MeshView 3.0.5 database (its schema, `meshview_sim::meshview_db`)
//! from a database `seed` made, then times `meshview db upgrade` on a copy of it — the
//! adoption and every migration after it, exactly what the writer does on its first
//! start — with the upgrade's peak memory, each step's time, and a check that every row
//! arrived.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tokio::io::AsyncBufReadExt;

use meshview::config::{Config, DatabaseUrl};
use meshview_sim::meshview_db::{self, Dialect};
use meshview_store::connect::{Conn, Role};

#[derive(clap::Args, Debug, Clone)]
pub struct AdoptArgs {
    /// A database `meshview-bench seed` built (SQLite URL): when the MeshView database
    /// (--database) does not exist yet, it is made from this one's rows.
    #[arg(long, value_name = "URL")]
    pub source: Option<String>,
    /// Where the copy that is adopted goes (default: beside the MeshView database, with
    /// `.adopting.db` added). The MeshView database itself is never changed, so runs repeat.
    #[arg(long)]
    pub work: Option<PathBuf>,
    /// Keep the adopted copy afterwards.
    #[arg(long)]
    pub keep: bool,
    /// Adopt without the pre-adoption copy (`database.backup_before_adoption = false`).
    #[arg(long)]
    pub no_backup: bool,
}

/// One step of the upgrade as its log announced it.
struct Step {
    what: String,
    seconds: f64,
    /// The upgrade's peak RSS when the step ended (MB): the step that raised it shows.
    peak_mb: f64,
}

pub struct AdoptReport {
    meshview_bytes: u64,
    packets: i64,
    receptions: i64,
    backup: bool,
    steps: Vec<Step>,
    seconds: f64,
    peak_rss_mb: f64,
    adopted_bytes: u64,
    free_bytes: u64,
}

impl std::fmt::Display for AdoptReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "| step | time | peak RSS so far |")?;
        writeln!(f, "|---|---|---|")?;
        for s in &self.steps {
            writeln!(
                f,
                "| {} | {:.1} s | {:.1} MB |",
                s.what, s.seconds, s.peak_mb
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "| MeshView database | packets | receptions | pre-adoption copy | upgrade time | peak RSS | adopted file | of it free |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|")?;
        write!(
            f,
            "| {:.2} GB | {} | {} | {} | {:.1} s | {:.1} MB | {:.2} GB | {:.2} GB |",
            gb(self.meshview_bytes),
            self.packets,
            self.receptions,
            if self.backup { "yes" } else { "no" },
            self.seconds,
            self.peak_rss_mb,
            gb(self.adopted_bytes),
            gb(self.free_bytes),
        )
    }
}

fn gb(bytes: u64) -> f64 {
    bytes as f64 / 1e9
}

pub async fn run(config: &Config, a: &AdoptArgs) -> anyhow::Result<AdoptReport> {
    let DatabaseUrl::Sqlite { path: meshview } = &config.database.url else {
        bail!(
            "the adoption benchmark builds SQLite MeshView databases: give --database sqlite:///path"
        );
    };
    if !meshview.exists() {
        let Some(source) = &a.source else {
            bail!(
                "{} does not exist: give --source (a database `meshview-bench seed` made) to build it",
                meshview.display()
            );
        };
        let source = DatabaseUrl::parse(source).map_err(anyhow::Error::msg)?;
        let DatabaseUrl::Sqlite { path: source } = source else {
            bail!("--source must be a SQLite database");
        };
        build(&source, meshview).await?;
    }
    let work = a.work.clone().unwrap_or_else(|| {
        let mut p = meshview.clone().into_os_string();
        p.push(".adopting.db");
        PathBuf::from(p)
    });
    if work == *meshview {
        bail!("--work must not be the MeshView database itself: it is replaced on every run");
    }
    remove_db(&work);
    let meshview_bytes = std::fs::metadata(meshview)?.len();
    eprintln!(
        "adopt: copying the MeshView database ({:.2} GB) to {}…",
        gb(meshview_bytes),
        work.display()
    );
    std::fs::copy(meshview, &work).with_context(|| format!("copying to {}", work.display()))?;
    let (packets, receptions) = {
        let mut c = Conn::open(&sqlite_url(meshview), Role::Reader).await?;
        let counts = (
            c.scalar_i64("SELECT count(*) FROM packet").await?,
            c.scalar_i64("SELECT count(*) FROM packet_seen").await?,
        );
        c.close().await;
        counts
    };

    eprintln!("adopt: meshview db upgrade on the copy…");
    let mut cmd = crate::meshview_command()?;
    cmd.args(["db", "upgrade"])
        .env(
            "MESHVIEW_DATABASE__CONNECTION_STRING",
            format!("sqlite://{}", work.display()),
        )
        .env(
            "MESHVIEW_DATABASE__BACKUP_BEFORE_ADOPTION",
            if a.no_backup { "false" } else { "true" },
        )
        .env("MESHVIEW_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn().context("starting meshview db upgrade")?;
    let pid = child.id().context("the upgrade's pid")?;
    let stderr = child.stderr.take().context("the upgrade's stderr")?;
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let peak_at_step = peak.clone();
    let log = tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stderr).lines();
        // (seconds since start, step, peak kB when it began) for every step announced;
        // the last lines for errors.
        let mut starts: Vec<(f64, String, u64)> = Vec::new();
        let mut tail = std::collections::VecDeque::new();
        while let Ok(Some(l)) = lines.next_line().await {
            eprintln!("  {l}");
            if let Some(what) = step_of(&l)
                && starts.last().is_none_or(|(_, w, _)| *w != what)
            {
                let kb = crate::status_kb(pid, "VmHWM:")
                    .unwrap_or(0)
                    .max(peak_at_step.load(std::sync::atomic::Ordering::Relaxed));
                starts.push((started.elapsed().as_secs_f64(), what, kb));
            }
            if tail.len() == 20 {
                tail.pop_front();
            }
            tail.push_back(l);
        }
        (starts, Vec::from(tail).join("\n"))
    });
    let status = loop {
        if let Some(kb) = crate::status_kb(pid, "VmHWM:") {
            peak.fetch_max(kb, std::sync::atomic::Ordering::Relaxed);
        }
        tokio::select! {
            s = child.wait() => break s?,
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    };
    let seconds = started.elapsed().as_secs_f64();
    let (starts, tail) = log.await?;
    if !status.success() {
        bail!("meshview db upgrade failed ({status}):\n{tail}");
    }
    let peak_kb = peak.load(std::sync::atomic::Ordering::Relaxed);
    let mb = |kb: u64| kb as f64 / 1024.0;
    let mut steps = Vec::new();
    // Whatever ran before the first step (opening, reading the schema) is its own row.
    let (first, first_kb) = starts
        .first()
        .map_or((seconds, peak_kb), |(t, _, kb)| (*t, *kb));
    steps.push(Step {
        what: "start-up".into(),
        seconds: first,
        peak_mb: mb(first_kb),
    });
    for (i, (t, what, _)) in starts.iter().enumerate() {
        let (end, kb) = starts
            .get(i + 1)
            .map_or((seconds, peak_kb), |(t, _, kb)| (*t, *kb));
        steps.push(Step {
            what: what.clone(),
            seconds: end - t,
            peak_mb: mb(kb),
        });
    }

    let mut c = Conn::open(&sqlite_url(&work), Role::Writer).await?;
    let kept = (
        c.scalar_i64("SELECT count(*) FROM packet").await?,
        c.scalar_i64("SELECT count(*) FROM packet_seen").await?,
    );
    if kept != (packets, receptions) {
        bail!(
            "the adopted database holds {} packets and {} receptions, the MeshView one {packets} and {receptions}",
            kept.0,
            kept.1
        );
    }
    let free_pages = c.scalar_i64("PRAGMA freelist_count").await?;
    let page_size = c.scalar_i64("PRAGMA page_size").await?;
    c.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    c.close().await;
    let adopted_bytes = std::fs::metadata(&work)?.len();
    if !a.keep {
        remove_db(&work);
    }
    Ok(AdoptReport {
        meshview_bytes,
        packets,
        receptions,
        backup: !a.no_backup,
        steps,
        seconds,
        peak_rss_mb: mb(peak_kb),
        adopted_bytes,
        free_bytes: (free_pages * page_size) as u64,
    })
}

/// "upgrading: step 3 of 8 (link quality), 41 %" → "3 of 8: link quality".
fn step_of(line: &str) -> Option<String> {
    let rest = &line[line.find("upgrading: step ")? + "upgrading: step ".len()..];
    let open = rest.find(" (")?;
    let close = rest.rfind(')')?;
    (close > open).then(|| format!("{}: {}", &rest[..open], &rest[open + 2..close]))
}

fn sqlite_url(path: &Path) -> DatabaseUrl {
    DatabaseUrl::Sqlite {
        path: path.to_path_buf(),
    }
}

/// Removes a SQLite database, its WAL files, lock file and pre-adoption copies.
fn remove_db(path: &Path) {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let dir = path.parent().unwrap_or(Path::new("."));
    if let (Some(name), Ok(entries)) = (name, std::fs::read_dir(dir)) {
        for e in entries.flatten() {
            let n = e.file_name().to_string_lossy().into_owned();
            if n == name
                || n.strip_prefix(&name)
                    .is_some_and(|rest| rest.starts_with(['-', '.']))
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Makes a MeshView 3.0.5 database at `target` from the rows of a seeded one: its tables,
/// the rows (MeshView's columns only), then its indexes, as a MeshView that had stored the
/// same traffic would hold them.
async fn build(source: &Path, target: &Path) -> anyhow::Result<()> {
    let started = Instant::now();
    eprintln!(
        "adopt: building a MeshView 3.0.5 database at {} from {}…",
        target.display(),
        source.display()
    );
    let partial = target.with_extension("partial");
    remove_db(&partial);
    let mut c = Conn::open(&sqlite_url(&partial), Role::Writer).await?;
    // A scratch file made in one go: nothing to protect against a crash (it is rebuilt),
    // and a big cache keeps the primary keys' pages in memory while rows arrive.
    c.execute(
        "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA cache_size = -1000000; \
         PRAGMA foreign_keys = OFF",
    )
    .await?;
    // MeshView never set a journal mode: its files are in rollback-journal mode.
    c.execute(&meshview_db::head_tables(Dialect::Sqlite))
        .await?;
    let literal = source.display().to_string().replace('\'', "''");
    c.execute(&format!("ATTACH DATABASE 'file:{literal}?mode=ro' AS src"))
        .await
        .with_context(|| format!("opening {}", source.display()))?;
    for (table, cols) in meshview_db::HEAD_TABLES {
        let (lo, hi) = (
            c.scalar_i64(&format!("SELECT COALESCE(MIN(rowid), 0) FROM src.{table}"))
                .await?,
            c.scalar_i64(&format!("SELECT COALESCE(MAX(rowid), 0) FROM src.{table}"))
                .await?,
        );
        // In slices of the source's rowids, so a long copy shows how far it is.
        const SLICE: i64 = 500_000;
        let mut at = lo;
        while at <= hi {
            c.execute(&format!(
                "INSERT INTO main.{table} ({cols}) SELECT {cols} FROM src.{table} \
                 WHERE rowid >= {at} AND rowid < {}",
                at + SLICE
            ))
            .await
            .with_context(|| format!("copying {table}"))?;
            at += SLICE;
            let done = (at.min(hi + 1) - lo) as f64 / (hi + 1 - lo).max(1) as f64;
            eprintln!(
                "adopt: {table}: {:.0} % ({:.0} s)",
                done * 100.0,
                started.elapsed().as_secs_f64()
            );
        }
    }
    c.execute("DETACH DATABASE src").await?;
    for stmt in meshview_db::head_indexes().split(';') {
        let stmt = stmt.trim();
        if stmt.is_empty() {
            continue;
        }
        eprintln!("adopt: {stmt} ({:.0} s)", started.elapsed().as_secs_f64());
        c.execute(stmt).await?;
    }
    c.execute("PRAGMA journal_mode = DELETE").await?;
    c.close().await;
    std::fs::rename(&partial, target)?;
    eprintln!(
        "adopt: MeshView database ready in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_are_read_from_the_upgrade_log() {
        assert_eq!(
            step_of(
                "2026-12-06T11:00:00Z  INFO meshview_store::progress: upgrading: step 3 of 8 (hourly traffic (rollups)), 41 %"
            )
            .as_deref(),
            Some("3 of 8: hourly traffic (rollups)")
        );
        assert_eq!(step_of("INFO adoption complete"), None);
    }
}
