//! The writer/reader handshake over the database.
//!
//! The writer migrates at start-up (under the migration lock, with
//! `migration_status.in_progress` set while it works). Readers never migrate: they wait
//! until the schema is at this binary's head, saying why every few seconds. While a writer
//! holds the migration lock they wait as long as it takes (a big SQLite rebuild can take
//! hours); otherwise they give up after `database.schema_wait_timeout` seconds without
//! progress. A database at a revision this binary does not know is refused at once.

use std::time::{Duration, Instant};

use super::connect::{Conn, Role};
use super::migrations::{self, Chain, MigrateError, Report, SchemaState, UpgradeOptions};
use crate::DatabaseUrl;

/// What the writer does before ingesting: bring the schema to head, logging each step.
pub async fn writer_startup(
    url: &DatabaseUrl,
    chain: &Chain,
    opts: &UpgradeOptions,
) -> Result<Report, MigrateError> {
    let head = chain.head_revision().unwrap_or("base");
    tracing::info!(database = %url.redacted(), head, "checking the database schema");
    let started = Instant::now();
    let report = migrations::upgrade(url, chain, None, opts).await?;
    let millis = started.elapsed().as_millis() as u64;
    if report.steps.is_empty() && report.adopted_from.is_none() {
        tracing::info!(revision = head, millis, "schema is current");
    } else {
        tracing::info!(
            from = report.from.as_deref().unwrap_or("base"),
            to = report.to.as_deref().unwrap_or("base"),
            migrations = report.steps.len(),
            adopted_from = report.adopted_from.as_deref().unwrap_or("-"),
            millis,
            "schema upgraded"
        );
        if let Some(free) = report.free.filter(|f| f.is_large()) {
            tracing::warn!("{}", free.advice());
        }
    }
    Ok(report)
}

/// How a reader waits.
#[derive(Debug, Clone)]
pub struct WaitOptions {
    /// Give up after this long without progress and without a migrating writer
    /// (`None` = never).
    pub no_progress_limit: Option<Duration>,
    pub log_every: Duration,
    pub poll: Duration,
}

impl WaitOptions {
    /// `schema_wait_timeout` in seconds, 0 meaning wait forever.
    pub fn with_timeout_secs(schema_wait_timeout: u64) -> Self {
        WaitOptions {
            no_progress_limit: match schema_wait_timeout {
                0 => None,
                s => Some(Duration::from_secs(s)),
            },
            log_every: Duration::from_secs(5),
            poll: Duration::from_millis(500),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    #[error(transparent)]
    Refused(MigrateError),
    #[error("gave up after {secs} s without progress: {last}")]
    TimedOut { secs: u64, last: String },
}

/// One look at the database: its schema state and whether a writer holds the lock.
/// The schema's state, whether a writer holds the migration lock, and the progress it
/// published.
type Probe = (SchemaState, bool, Option<crate::progress::Progress>);

async fn probe(url: &DatabaseUrl, chain: &Chain) -> Result<Probe, MigrateError> {
    let mut conn = Conn::open(url, Role::Reader).await?;
    let result = async {
        let state = migrations::read_state(&mut conn, chain).await?;
        let sqlite_path = match url {
            DatabaseUrl::Sqlite { path } => Some(path.as_path()),
            DatabaseUrl::Postgres { .. } => None,
        };
        let held = migrations::lock::is_held(&mut conn, sqlite_path).await?;
        let progress = if held {
            let lock = sqlite_path.map(migrations::lock::sqlite_lock_path);
            crate::progress::read(&mut conn, lock.as_deref()).await
        } else {
            None
        };
        Ok((state, held, progress))
    }
    .await;
    conn.close().await;
    result
}

/// Waits until the schema is at head. `on_status` hears every change of the wait message
/// (the web server shows it on `/health` while starting).
pub async fn wait_for_schema(
    url: &DatabaseUrl,
    chain: &Chain,
    opts: &WaitOptions,
    mut on_status: impl FnMut(&str),
) -> Result<(), WaitError> {
    let head = chain.head_revision().unwrap_or("base");
    let mut last_progress = Instant::now();
    let mut last_log: Option<Instant> = None;
    let mut last_current: Option<Option<String>> = None;
    let mut last_message = String::new();
    loop {
        let message = match probe(url, chain).await {
            Ok((state, _, _)) if state.is_at_head(chain) => {
                tracing::info!(revision = head, "schema is current");
                return Ok(());
            }
            Ok((_, true, Some(progress))) => {
                // Each new report is progress: the wait's no-progress limit restarts.
                last_progress = Instant::now();
                format!("{}; head {head}", progress.describe())
            }
            Ok((state, lock_held, _)) => {
                let current = state.current().map(str::to_string);
                if lock_held || last_current.as_ref() != Some(&current) {
                    last_progress = Instant::now();
                }
                last_current = Some(current.clone());
                let current = current.as_deref().unwrap_or(if state.needs_adoption {
                    "a MeshView database not yet adopted"
                } else {
                    "empty"
                });
                if lock_held {
                    let since = state
                        .status_updated_at
                        .as_deref()
                        .map(|t| format!(" since {t} UTC"))
                        .unwrap_or_default();
                    format!(
                        "waiting for the schema: current {current}, head {head}; a writer is migrating{since}"
                    )
                } else {
                    format!(
                        "waiting for the schema: current {current}, head {head}; no writer is migrating yet (start `meshview ingest` or `meshview db upgrade`)"
                    )
                }
            }
            Err(e @ (MigrateError::NewerDatabase { .. } | MigrateError::Edited { .. })) => {
                return Err(WaitError::Refused(e));
            }
            Err(e) => format!("waiting for the database: {e}"),
        };
        if message != last_message {
            on_status(&message);
        }
        if last_log.is_none_or(|t| t.elapsed() >= opts.log_every) || message != last_message {
            tracing::info!("{message}");
            last_log = Some(Instant::now());
        }
        last_message = message;
        if let Some(limit) = opts.no_progress_limit
            && last_progress.elapsed() >= limit
        {
            return Err(WaitError::TimedOut {
                secs: limit.as_secs(),
                last: last_message,
            });
        }
        tokio::time::sleep(opts.poll).await;
    }
}
