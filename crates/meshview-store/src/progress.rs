//! Progress of a running upgrade, for the terminal and for readers.
//!
//! The upgrade names its steps (adoption, then each pending migration); long steps report
//! rows done of rows to do through [`rows`], from wherever they run (hooks, rebuilds):
//! the reporter is task-local, so a rebuild run outside an upgrade reports to the log
//! only. Readers cannot see inside the migration's transaction, so progress is published
//! beside it: on SQLite into the migration lock file the writer holds (readers already
//! test that lock), on PostgreSQL into the one-row table `meshview_upgrade_progress`,
//! written by a second connection outside the transaction.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::connect::{Conn, Role};
use crate::database_url::DatabaseUrl;
use crate::{SqlContext, StoreError};

/// What an upgrade is doing now.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// "upgrading", "rebuilding rollups".
    pub task: String,
    /// 1-based.
    pub step: usize,
    pub steps: usize,
    /// What the step does ("adopting the MeshView database", a migration's message).
    pub what: String,
    /// Rows done of the step's rows, when the step counts them.
    pub percent: Option<u8>,
    /// Unix seconds of this report.
    pub at: i64,
}

impl Progress {
    /// "upgrading: step 3 of 8 (link quality…), 41 %".
    ///
    /// (The same words serve a rebuild's log.)
    pub fn describe(&self) -> String {
        let pct = self.percent.map(|p| format!(", {p} %")).unwrap_or_default();
        format!(
            "{}: step {} of {} ({}){pct}",
            self.task, self.step, self.steps, self.what
        )
    }
}

/// Where readers find progress.
enum Sink {
    /// The SQLite migration lock file (its content; the lock is on the open file).
    File(PathBuf),
    /// A second PostgreSQL session, outside the migration's transaction.
    Table(Box<Conn>),
    /// Nowhere but the log (a publisher that could not be set up).
    LogOnly,
}

/// Publishes one upgrade's progress.
pub struct Reporter {
    sink: Sink,
    current: Progress,
    last_sent: Option<Instant>,
    last_logged_tenth: Option<u8>,
}

/// How often row progress is published at most, besides each step's start and each
/// tenth of its rows.
const EVERY: Duration = Duration::from_secs(1);

const PG_TABLE: &str = "CREATE TABLE IF NOT EXISTS meshview_upgrade_progress (\
     id INTEGER PRIMARY KEY, progress TEXT NOT NULL, updated_at BIGINT NOT NULL)";

impl Reporter {
    /// Sets up publishing for an upgrade of `steps` steps. Failing to publish never fails
    /// the upgrade: it is logged and progress goes to the log only.
    /// `sqlite_lock` is the SQLite migration lock file the upgrade holds (where readers
    /// look); ignored on PostgreSQL.
    pub async fn start(url: &DatabaseUrl, sqlite_lock: Option<PathBuf>, steps: usize) -> Reporter {
        let sink = match (url, sqlite_lock) {
            (DatabaseUrl::Sqlite { .. }, Some(lock)) => Sink::File(lock),
            (DatabaseUrl::Sqlite { .. }, None) => Sink::LogOnly,
            (DatabaseUrl::Postgres { .. }, _) => match Conn::open(url, Role::Writer).await {
                Ok(mut c) => match c.execute(PG_TABLE).await {
                    Ok(()) => Sink::Table(Box::new(c)),
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot publish upgrade progress to readers");
                        Sink::LogOnly
                    }
                },
                Err(e) => {
                    tracing::warn!(error = %e, "cannot publish upgrade progress to readers");
                    Sink::LogOnly
                }
            },
        };
        Reporter::new(sink, "upgrading", steps)
    }

    /// Progress for the log only (a rebuild from the command line: no reader waits).
    pub fn log_only(task: &str, steps: usize) -> Reporter {
        Reporter::new(Sink::LogOnly, task, steps)
    }

    fn new(sink: Sink, task: &str, steps: usize) -> Reporter {
        Reporter {
            sink,
            current: Progress {
                task: task.to_string(),
                step: 0,
                steps,
                what: String::new(),
                percent: None,
                at: 0,
            },
            last_sent: None,
            last_logged_tenth: None,
        }
    }

    /// A new step begins.
    pub async fn step(&mut self, what: &str) {
        self.current.step += 1;
        self.current.what = what.to_string();
        self.current.percent = None;
        self.last_logged_tenth = None;
        tracing::info!("{}", self.current.describe());
        self.publish().await;
    }

    /// `done` of `total` rows of the current step.
    pub async fn rows(&mut self, done: u64, total: u64) {
        let pct = (done.min(total) * 100)
            .checked_div(total)
            .map_or(100, |p| p as u8);
        if self.current.percent == Some(pct) {
            return;
        }
        self.current.percent = Some(pct);
        let tenth = pct / 10;
        let new_tenth = self.last_logged_tenth != Some(tenth);
        if new_tenth {
            self.last_logged_tenth = Some(tenth);
            tracing::info!("{}", self.current.describe());
        }
        if new_tenth || self.last_sent.is_none_or(|t| t.elapsed() >= EVERY) {
            self.publish().await;
        }
    }

    async fn publish(&mut self) {
        self.current.at = chrono::Utc::now().timestamp();
        self.last_sent = Some(Instant::now());
        let json = serde_json::to_string(&self.current).unwrap_or_default();
        let result = match &mut self.sink {
            Sink::File(path) => std::fs::write(path, &json).map_err(|e| e.to_string()),
            Sink::Table(conn) => write_row(conn, Some(&json))
                .await
                .map_err(|e| e.to_string()),
            Sink::LogOnly => Ok(()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "cannot publish upgrade progress; continuing without");
            self.sink = Sink::LogOnly;
        }
    }

    /// The upgrade ended (either way): readers stop seeing progress.
    pub async fn finish(self) {
        match self.sink {
            Sink::File(path) => {
                let _ = std::fs::write(path, "");
            }
            Sink::Table(mut conn) => {
                let _ = write_row(&mut conn, None).await;
                conn.close().await;
            }
            Sink::LogOnly => {}
        }
    }
}

async fn write_row(conn: &mut Conn, json: Option<&str>) -> Result<(), StoreError> {
    let now = chrono::Utc::now().timestamp();
    match (conn, json) {
        (Conn::Postgres(c), Some(j)) => sqlx::query(
            "INSERT INTO meshview_upgrade_progress (id, progress, updated_at) VALUES (1, $1, $2) \
             ON CONFLICT (id) DO UPDATE SET progress = excluded.progress, updated_at = excluded.updated_at",
        )
        .bind(j)
        .bind(now)
        .execute(&mut *c)
        .await
        .map(|_| ()),
        (Conn::Postgres(c), None) => sqlx::query("DELETE FROM meshview_upgrade_progress")
            .execute(&mut *c)
            .await
            .map(|_| ()),
        (Conn::Sqlite(_), _) => Ok(()),
    }
    .context("publishing upgrade progress")
}

/// The progress a running upgrade published, if any (readers, while the lock is held;
/// `sqlite_lock` is the SQLite migration lock file).
pub async fn read(conn: &mut Conn, sqlite_lock: Option<&std::path::Path>) -> Option<Progress> {
    let text = match conn {
        Conn::Sqlite(_) => std::fs::read_to_string(sqlite_lock?).ok()?,
        Conn::Postgres(c) => {
            let exists: Option<String> =
                sqlx::query_scalar("SELECT to_regclass('meshview_upgrade_progress')::text")
                    .fetch_one(&mut *c)
                    .await
                    .ok()?;
            exists?;
            sqlx::query_scalar("SELECT progress FROM meshview_upgrade_progress WHERE id = 1")
                .fetch_optional(&mut *c)
                .await
                .ok()??
        }
    };
    serde_json::from_str(&text).ok()
}

tokio::task_local! {
    static REPORTER: std::sync::Arc<tokio::sync::Mutex<Reporter>>;
}

/// Runs `f` with `reporter` receiving the [`rows`] calls made inside it.
pub async fn scope<F: std::future::Future>(
    reporter: std::sync::Arc<tokio::sync::Mutex<Reporter>>,
    f: F,
) -> F::Output {
    REPORTER.scope(reporter, f).await
}

/// Reports rows done of the running step to the reporter of the surrounding [`scope`]
/// (an upgrade, or a rebuild from the command line); nothing outside one.
pub async fn rows(done: u64, total: u64) {
    if let Ok(r) = REPORTER.try_with(|r| r.clone()) {
        r.lock().await.rows(done, total).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_as_the_reader_shows_it() {
        let p = Progress {
            task: "upgrading".into(),
            step: 3,
            steps: 8,
            what: "link quality".into(),
            percent: Some(41),
            at: 0,
        };
        assert_eq!(p.describe(), "upgrading: step 3 of 8 (link quality), 41 %");
        let q = Progress {
            percent: None,
            ..p.clone()
        };
        assert_eq!(q.describe(), "upgrading: step 3 of 8 (link quality)");
        let json = serde_json::to_string(&p).unwrap();
        assert_eq!(serde_json::from_str::<Progress>(&json).unwrap(), p);
    }
}
