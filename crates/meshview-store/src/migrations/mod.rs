//! Versioned schema migrations: MeshView's Alembic workflow, in Rust.
//!
//! - [`chain`]: the embedded migrations, ordered by parent links, and their checks.
//! - this module: the runner (`upgrade`, `downgrade`, `status`), one transaction per
//!   migration, bookkeeping in `schema_migrations` (revision, checksum, when).
//! - [`adopt`]: taking over a Python MeshView database at any of its revisions.
//! - [`lock`]: one migrating writer at a time.
//! - [`revision`]: `meshview db revision -m …` writes a new migration's files.

pub mod adopt;
pub mod chain;
pub mod hooks;
pub mod lock;
pub mod revision;

use std::sync::Arc;

use crate::progress;
use std::time::Instant;

use sqlx::Row;

pub use chain::{Chain, ChainProblem, Migration};

use crate::DatabaseUrl;
use crate::connect::{Conn, Role};
use crate::{Backend, SqlContext, StoreError, now_us};

/// Bookkeeping tables live outside the chain: they must exist before any migration runs
/// (like Alembic's `alembic_version`). `migration_status` has MeshView's exact DDL.
const BOOKKEEPING: &str = "
CREATE TABLE IF NOT EXISTS schema_migrations (
    revision VARCHAR(32) NOT NULL PRIMARY KEY,
    parent VARCHAR(32),
    message VARCHAR NOT NULL,
    checksum VARCHAR(64) NOT NULL,
    applied_at_us BIGINT NOT NULL,
    note VARCHAR
);
CREATE TABLE IF NOT EXISTS migration_status (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    in_progress BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP
);
INSERT INTO migration_status (id, in_progress) VALUES (1, FALSE) ON CONFLICT (id) DO NOTHING;
";

/// A migration that has been applied, as recorded in the database.
#[derive(Debug, Clone)]
pub struct Applied {
    pub revision: String,
    pub checksum: String,
    pub applied_at_us: i64,
    pub note: Option<String>,
}

/// Where a database stands relative to this binary's chain.
#[derive(Debug, Clone, Default)]
pub struct SchemaState {
    /// Applied migrations, in chain order.
    pub applied: Vec<Applied>,
    /// MeshView's `alembic_version`, when the database came from (or still is) MeshView.
    pub meshview_revision: Option<String>,
    /// MeshView's tables exist but our bookkeeping says nothing: adoption is pending.
    pub needs_adoption: bool,
    /// `migration_status.in_progress` and its `updated_at`.
    pub in_progress: bool,
    pub status_updated_at: Option<String>,
}

impl SchemaState {
    pub fn current(&self) -> Option<&str> {
        self.applied.last().map(|a| a.revision.as_str())
    }

    pub fn is_at_head(&self, chain: &Chain) -> bool {
        !self.needs_adoption && self.current() == chain.head_revision()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "the database is at revision {revision}, which this binary does not know (its head is {head}); \
         it was migrated by a newer MeshView — upgrade this binary, or downgrade the database with the newer one"
    )]
    NewerDatabase { revision: String, head: String },
    #[error(
        "migration {revision} ({dir}) was edited after it was applied to this database \
         (checksum recorded {recorded}, now {current}); restore the original files and put the change in a new migration"
    )]
    Edited {
        revision: String,
        dir: String,
        recorded: String,
        current: String,
    },
    #[error(
        "migration {revision} ({message}) failed on {backend}; the database is still at {previous}: {cause}"
    )]
    Failed {
        revision: String,
        message: String,
        backend: &'static str,
        previous: String,
        cause: String,
    },
    #[error("{0}")]
    Target(String),
    #[error("broken migration chain: {}", .0.iter().map(|p| p.0.as_str()).collect::<Vec<_>>().join("; "))]
    Chain(Vec<ChainProblem>),
}

/// One migration step that ran.
#[derive(Debug, Clone)]
pub struct Step {
    pub revision: String,
    pub message: String,
    pub millis: u128,
}

/// What an upgrade or downgrade did.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub adopted_from: Option<String>,
    pub steps: Vec<Step>,
    pub from: Option<String>,
    pub to: Option<String>,
    /// SQLite, after an upgrade that changed something: the file's size and the free pages
    /// in it (table rebuilds leave their old pages free; SQLite reuses them for new rows,
    /// `meshview db vacuum` returns them to the file system).
    pub free: Option<FreeSpace>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FreeSpace {
    pub file_bytes: u64,
    pub free_bytes: u64,
}

impl FreeSpace {
    /// Worth telling the operator: at least 64 MiB and a tenth of the file.
    pub fn is_large(&self) -> bool {
        self.free_bytes >= 64 << 20 && self.free_bytes * 10 >= self.file_bytes
    }

    /// The advice, in one line.
    pub fn advice(&self) -> String {
        format!(
            "the upgrade left {} MB of free pages in the {} MB database file: SQLite reuses \
             them for new rows; `meshview db vacuum` (with the writer stopped, and about {} MB \
             of free disk while it runs) returns them to the file system",
            self.free_bytes >> 20,
            self.file_bytes >> 20,
            (self.file_bytes - self.free_bytes) >> 20
        )
    }
}

/// The file's size and free pages (SQLite; `None` on PostgreSQL).
async fn free_space(conn: &mut Conn) -> Option<FreeSpace> {
    if conn.backend() != crate::Backend::Sqlite {
        return None;
    }
    let page = conn.scalar_i64("PRAGMA page_size").await.ok()? as u64;
    let pages = conn.scalar_i64("PRAGMA page_count").await.ok()? as u64;
    let free = conn.scalar_i64("PRAGMA freelist_count").await.ok()? as u64;
    Some(FreeSpace {
        file_bytes: page * pages,
        free_bytes: page * free,
    })
}

pub(crate) async fn exec(conn: &mut Conn, sql: &str) -> Result<(), sqlx::Error> {
    conn.execute(sql).await
}

pub(crate) async fn table_exists(conn: &mut Conn, table: &str) -> Result<bool, StoreError> {
    let n: i64 = match conn {
        Conn::Sqlite(c) => {
            sqlx::query("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1")
                .bind(table)
                .fetch_one(&mut *c)
                .await
                .context("reading the schema")?
                .get(0)
        }
        Conn::Postgres(c) => sqlx::query(
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_schema = current_schema() AND table_name = $1",
        )
        .bind(table)
        .fetch_one(&mut *c)
        .await
        .context("reading the schema")?
        .get(0),
    };
    Ok(n > 0)
}

/// How a schema change's transaction treats SQLite's foreign keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ForeignKeys {
    /// Enforced statement by statement, as on every connection: a change that would
    /// orphan a row fails there, and nothing is left to check at commit.
    Enforced,
    /// Paused for the table-rebuild pattern (dropping or renaming a parent table would
    /// otherwise cascade or repoint its children; the pragma only changes outside a
    /// transaction), and the whole database checked with `PRAGMA foreign_key_check`
    /// before commit. That check reads every child row (12 s on the 3-million-packet
    /// database), so only steps that rebuild tables pay it.
    CheckedAtCommit,
}

impl ForeignKeys {
    /// What a migration's SQL needs: rebuilds (`DROP TABLE`, `RENAME`) are checked at
    /// commit, everything else is enforced as it runs.
    pub(crate) fn for_sql(sql: &str) -> ForeignKeys {
        let upper = sql.to_ascii_uppercase();
        if upper.contains("DROP TABLE") || upper.contains("RENAME") {
            ForeignKeys::CheckedAtCommit
        } else {
            ForeignKeys::Enforced
        }
    }
}

/// Opens a transaction for one schema change (see [`ForeignKeys`]).
async fn begin(conn: &mut Conn, fk: ForeignKeys) -> Result<(), sqlx::Error> {
    match conn.backend() {
        Backend::Sqlite => {
            if fk == ForeignKeys::CheckedAtCommit {
                exec(conn, "PRAGMA foreign_keys = OFF").await?;
            }
            exec(conn, "BEGIN IMMEDIATE").await
        }
        Backend::Postgres => exec(conn, "BEGIN").await,
    }
}

async fn commit(conn: &mut Conn, fk: ForeignKeys) -> Result<(), StoreError> {
    let check = fk == ForeignKeys::CheckedAtCommit;
    if let (Conn::Sqlite(c), true) = (&mut *conn, check) {
        let violations = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(&mut *c)
            .await
            .context("checking foreign keys")?;
        if let Some(row) = violations.first() {
            let table: String = row.get(0);
            let parent: String = row.get(2);
            return Err(StoreError::Schema(format!(
                "{} row(s) would violate foreign keys (first: a {table} row whose {parent} row is missing)",
                violations.len()
            )));
        }
    }
    exec(conn, "COMMIT").await.context("committing")?;
    if conn.backend() == Backend::Sqlite && check {
        exec(conn, "PRAGMA foreign_keys = ON")
            .await
            .context("re-enabling foreign keys")?;
    }
    Ok(())
}

async fn rollback(conn: &mut Conn) {
    if let Err(e) = exec(conn, "ROLLBACK").await {
        tracing::warn!(error = %e, "rollback failed");
    }
    if conn.backend() == Backend::Sqlite {
        let _ = exec(conn, "PRAGMA foreign_keys = ON").await;
    }
}

/// Runs `body` inside [`begin`]/[`commit`], rolling back on any error.
macro_rules! in_transaction {
    ($conn:expr, $fk:expr, $body:expr) => {{
        begin($conn, $fk).await.context("starting a transaction")?;
        let result: Result<_, StoreError> = async { $body }.await;
        match result {
            Ok(v) => match commit($conn, $fk).await {
                Ok(()) => Ok(v),
                Err(e) => {
                    rollback($conn).await;
                    Err(e)
                }
            },
            Err(e) => {
                rollback($conn).await;
                Err(e)
            }
        }
    }};
}
pub(crate) use in_transaction;

async fn ensure_bookkeeping(conn: &mut Conn) -> Result<(), StoreError> {
    exec(conn, BOOKKEEPING)
        .await
        .context("creating the schema_migrations and migration_status tables")
}

async fn fetch_applied(conn: &mut Conn) -> Result<Vec<Applied>, StoreError> {
    const Q: &str = "SELECT revision, checksum, applied_at_us, note FROM schema_migrations ORDER BY applied_at_us";
    let rows: Vec<(String, String, i64, Option<String>)> = match conn {
        Conn::Sqlite(c) => sqlx::query_as(Q).fetch_all(&mut *c).await,
        Conn::Postgres(c) => sqlx::query_as(Q).fetch_all(&mut *c).await,
    }
    .context("reading schema_migrations")?;
    Ok(rows
        .into_iter()
        .map(|(revision, checksum, applied_at_us, note)| Applied {
            revision,
            checksum,
            applied_at_us,
            note,
        })
        .collect())
}

async fn fetch_meshview_revision(conn: &mut Conn) -> Result<Option<String>, StoreError> {
    if !table_exists(conn, "alembic_version").await? {
        return Ok(None);
    }
    const Q: &str = "SELECT version_num FROM alembic_version";
    let rows: Vec<(String,)> = match conn {
        Conn::Sqlite(c) => sqlx::query_as(Q).fetch_all(&mut *c).await,
        Conn::Postgres(c) => sqlx::query_as(Q).fetch_all(&mut *c).await,
    }
    .context("reading alembic_version")?;
    Ok(rows.into_iter().next().map(|r| r.0))
}

async fn fetch_status_row(conn: &mut Conn) -> Result<(bool, Option<String>), StoreError> {
    if !table_exists(conn, "migration_status").await? {
        return Ok((false, None));
    }
    const Q: &str =
        "SELECT in_progress, CAST(updated_at AS VARCHAR) FROM migration_status WHERE id = 1";
    let row: Option<(bool, Option<String>)> = match conn {
        Conn::Sqlite(c) => sqlx::query_as(Q).fetch_optional(&mut *c).await,
        Conn::Postgres(c) => sqlx::query_as(Q).fetch_optional(&mut *c).await,
    }
    .context("reading migration_status")?;
    Ok(row.unwrap_or((false, None)))
}

/// Reads the schema state and checks it against the chain: unknown (newer) revisions
/// and edited applied migrations are errors.
pub async fn read_state(conn: &mut Conn, chain: &Chain) -> Result<SchemaState, MigrateError> {
    let has_bookkeeping = table_exists(conn, "schema_migrations").await?;
    let mut applied = if has_bookkeeping {
        fetch_applied(conn).await?
    } else {
        Vec::new()
    };
    let head = chain.head_revision().unwrap_or("base").to_string();
    for a in &applied {
        let Some(m) = chain.get(&a.revision) else {
            return Err(MigrateError::NewerDatabase {
                revision: a.revision.clone(),
                head,
            });
        };
        let current = m.checksum();
        if current != a.checksum {
            return Err(MigrateError::Edited {
                revision: a.revision.clone(),
                dir: m.dir.clone(),
                recorded: a.checksum.clone(),
                current,
            });
        }
    }
    applied.sort_by_key(|a| chain.position(&a.revision));
    // Applied revisions must be exactly the first N of the chain.
    for (i, a) in applied.iter().enumerate() {
        if chain.migrations()[i].revision != a.revision {
            return Err(MigrateError::Store(StoreError::Schema(format!(
                "schema_migrations is inconsistent: revision {} is recorded but its ancestor {} is not",
                a.revision,
                chain.migrations()[i].revision
            ))));
        }
    }
    let meshview_revision = fetch_meshview_revision(conn).await?;
    // MeshView's tables without our bookkeeping: a MeshView database (any revision, or
    // pre-Alembic 2.x when alembic_version is absent) waiting to be adopted.
    let needs_adoption = applied.is_empty()
        && table_exists(conn, "packet").await?
        && table_exists(conn, "node").await?;
    let (in_progress, status_updated_at) = fetch_status_row(conn).await?;
    Ok(SchemaState {
        applied,
        meshview_revision,
        needs_adoption,
        in_progress,
        status_updated_at,
    })
}

/// Reads the state of the database at `url` without changing anything.
pub async fn status(url: &DatabaseUrl, chain: &Chain) -> Result<SchemaState, MigrateError> {
    let mut conn = Conn::open(url, Role::Reader).await?;
    let state = read_state(&mut conn, chain).await;
    conn.close().await;
    state
}

async fn record(conn: &mut Conn, m: &Migration, note: Option<&str>) -> Result<(), StoreError> {
    const Q: &str = "INSERT INTO schema_migrations \
        (revision, parent, message, checksum, applied_at_us, note) VALUES ($1, $2, $3, $4, $5, $6)";
    // Strictly increasing timestamps keep the applied order readable even for fast steps.
    let at = now_us();
    match conn {
        Conn::Sqlite(c) => sqlx::query(Q)
            .bind(&m.revision)
            .bind(&m.parent)
            .bind(&m.message)
            .bind(m.checksum())
            .bind(at)
            .bind(note)
            .execute(&mut *c)
            .await
            .map(|_| ()),
        Conn::Postgres(c) => sqlx::query(Q)
            .bind(&m.revision)
            .bind(&m.parent)
            .bind(&m.message)
            .bind(m.checksum())
            .bind(at)
            .bind(note)
            .execute(&mut *c)
            .await
            .map(|_| ()),
    }
    .context(format!("recording revision {}", m.revision))
}

async fn unrecord(conn: &mut Conn, revision: &str) -> Result<(), StoreError> {
    const Q: &str = "DELETE FROM schema_migrations WHERE revision = $1";
    match conn {
        Conn::Sqlite(c) => sqlx::query(Q)
            .bind(revision)
            .execute(&mut *c)
            .await
            .map(|_| ()),
        Conn::Postgres(c) => sqlx::query(Q)
            .bind(revision)
            .execute(&mut *c)
            .await
            .map(|_| ()),
    }
    .context(format!("unrecording revision {revision}"))
}

async fn set_in_progress(conn: &mut Conn, on: bool) -> Result<(), StoreError> {
    let sql = if on {
        "UPDATE migration_status SET in_progress = TRUE, updated_at = CURRENT_TIMESTAMP WHERE id = 1"
    } else {
        "UPDATE migration_status SET in_progress = FALSE, updated_at = CURRENT_TIMESTAMP WHERE id = 1"
    };
    exec(conn, sql).await.context("updating migration_status")
}

/// Applies (or reverts) one migration in its own transaction.
async fn run_step(
    conn: &mut Conn,
    m: &Migration,
    up: bool,
    previous: &str,
) -> Result<Step, MigrateError> {
    let backend = conn.backend();
    let started = Instant::now();
    tracing::info!(
        revision = %m.revision,
        "{} {} — {}",
        if up { "upgrading to" } else { "downgrading from" },
        m.revision,
        m.message
    );
    let sql = if up { m.up(backend) } else { m.down(backend) };
    let result: Result<(), StoreError> = in_transaction!(conn, ForeignKeys::for_sql(sql), {
        exec(conn, sql)
            .await
            .context(format!("running {}/{}", m.dir, file_name(backend, up)))?;
        if up && let Some(hook) = &m.hook {
            hooks::run(hook, conn).await?;
        }
        if up {
            record(conn, m, None).await?;
        } else {
            unrecord(conn, &m.revision).await?;
        }
        Ok(())
    });
    if let Err(e) = result {
        return Err(MigrateError::Failed {
            revision: m.revision.clone(),
            message: m.message.clone(),
            backend: backend.name(),
            previous: previous.to_string(),
            cause: e.to_string(),
        });
    }
    let millis = started.elapsed().as_millis();
    tracing::info!(revision = %m.revision, millis, "done");
    Ok(Step {
        revision: m.revision.clone(),
        message: m.message.clone(),
        millis,
    })
}

fn file_name(backend: Backend, up: bool) -> &'static str {
    match (backend, up) {
        (Backend::Sqlite, true) => "sqlite.up.sql",
        (Backend::Sqlite, false) => "sqlite.down.sql",
        (Backend::Postgres, true) => "postgres.up.sql",
        (Backend::Postgres, false) => "postgres.down.sql",
    }
}

/// Options of an upgrade.
#[derive(Debug, Clone, Default)]
pub struct UpgradeOptions {
    /// SQLite: copy the file before adopting a MeshView database.
    pub backup_before_adoption: bool,
}

/// The SQLite migration lock file (where upgrade progress is published).
fn sqlite_lock(url: &DatabaseUrl) -> Option<std::path::PathBuf> {
    match url {
        DatabaseUrl::Sqlite { path } => Some(lock::sqlite_lock_path(path)),
        DatabaseUrl::Postgres { .. } => None,
    }
}

/// The page cache of the connection upgrades run on (SQLite; negative = KiB).
const UPGRADE_SQLITE_CACHE: &str = "PRAGMA cache_size = -16384";

/// Takes the migration lock and opens the connection migrations run on.
async fn lock_and_open(url: &DatabaseUrl) -> Result<(lock::MigrationLock, Conn), MigrateError> {
    Ok(match url {
        DatabaseUrl::Sqlite { path } => {
            let lock = lock::MigrationLock::acquire(lock::LockTarget::Sqlite(path)).await?;
            let mut conn = Conn::open(url, Role::Writer).await?;
            // Upgrades join millions of receptions to their packets and build indexes
            // over them: a bigger cache than the writer's 6 MiB (sized for its batches;
            // it starts after the upgrade) saves re-reading index pages. SQLite's sorter
            // takes as much again while it builds an index, so 16 MiB keeps an adoption of
            // 3 million packets within 128 MB (docs/benchmarks.md).
            conn.execute(UPGRADE_SQLITE_CACHE)
                .await
                .context("sizing the upgrade's page cache")?;
            (lock, conn)
        }
        DatabaseUrl::Postgres { .. } => {
            let mut conn = Conn::open(url, Role::Writer).await?;
            let lock = lock::MigrationLock::acquire(lock::LockTarget::Postgres(&mut conn)).await?;
            (lock, conn)
        }
    })
}

/// Upgrades to `target` (`None` = head), adopting a MeshView database first if needed.
/// This is exactly what the writer does at start-up: lock, mark `migration_status` in
/// progress, migrate, clear the mark (also on failure).
pub async fn upgrade(
    url: &DatabaseUrl,
    chain: &Chain,
    target: Option<&str>,
    opts: &UpgradeOptions,
) -> Result<Report, MigrateError> {
    let target_pos = match target {
        None | Some("head") => chain.migrations().len().checked_sub(1),
        Some(rev) => Some(
            chain
                .position(&chain.resolve(rev).map_err(MigrateError::Target)?.revision)
                .expect("resolved"),
        ),
    };
    let (lock, mut conn) = lock_and_open(url).await?;
    let mut result = upgrade_locked(&mut conn, url, chain, target_pos, opts).await;
    if let Ok(r) = &mut result
        && (r.adopted_from.is_some() || !r.steps.is_empty())
    {
        r.free = free_space(&mut conn).await;
    }
    lock.release(&mut conn).await;
    conn.close().await;
    result
}

async fn upgrade_locked(
    conn: &mut Conn,
    url: &DatabaseUrl,
    chain: &Chain,
    target_pos: Option<usize>,
    opts: &UpgradeOptions,
) -> Result<Report, MigrateError> {
    ensure_bookkeeping(conn).await?;
    let state = read_state(conn, chain).await?;
    let current_pos = state.current().and_then(|r| chain.position(r));
    let mut report = Report {
        from: state.current().map(str::to_string),
        ..Report::default()
    };
    let first_pending = current_pos.map_or(0, |p| p + 1);
    let pending: Vec<&Migration> = match target_pos {
        Some(t) if t + 1 > first_pending => chain.migrations()[first_pending..=t].iter().collect(),
        _ => Vec::new(),
    };
    if let (Some(t), Some(c)) = (target_pos, current_pos)
        && t < c
    {
        return Err(MigrateError::Target(format!(
            "the database is at {}, past the requested revision {}; use `meshview db downgrade`",
            chain.migrations()[c].revision,
            chain.migrations()[t].revision
        )));
    }
    if pending.is_empty() && !state.needs_adoption {
        report.to = report.from.clone();
        return Ok(report);
    }

    set_in_progress(conn, true).await?;
    // Adoption itself brings the database to its point of the chain; only the migrations
    // after it remain.
    let adoption_pos = chain.position(adopt::ADOPTION_POINT);
    let after_adoption =
        |m: &Migration| !state.needs_adoption || chain.position(&m.revision) > adoption_pos;
    let steps =
        usize::from(state.needs_adoption) + pending.iter().filter(|m| after_adoption(m)).count();
    let reporter = Arc::new(tokio::sync::Mutex::new(
        progress::Reporter::start(url, sqlite_lock(url), steps).await,
    ));
    let outcome = async {
        let mut previous = state.current().unwrap_or("base").to_string();
        let mut pending = pending;
        if state.needs_adoption {
            reporter
                .lock()
                .await
                .step("adopting the MeshView database")
                .await;
            let adopted_at = progress::scope(
                reporter.clone(),
                adopt::adopt(conn, url, chain, &state, opts),
            )
            .await?;
            report.adopted_from = Some(
                state
                    .meshview_revision
                    .clone()
                    .unwrap_or_else(|| "pre-Alembic".into()),
            );
            pending.retain(|m| after_adoption(m));
            previous = adopted_at;
        }
        for m in pending {
            reporter.lock().await.step(&m.message).await;
            let step = progress::scope(reporter.clone(), run_step(conn, m, true, &previous));
            report.steps.push(step.await?);
            previous = m.revision.clone();
        }
        report.to = Some(previous);
        Ok::<_, MigrateError>(())
    }
    .await;
    if let Ok(r) = Arc::try_unwrap(reporter) {
        r.into_inner().finish().await;
    }
    if let Err(e) = set_in_progress(conn, false).await {
        tracing::error!(error = %e, "could not clear migration_status.in_progress");
    }
    outcome.map(|()| report)
}

/// Where to downgrade to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DowngradeTarget {
    /// Undo every migration.
    Base,
    /// Undo the last N migrations (`-1`).
    Relative(usize),
    /// Undo migrations until this revision is the current one.
    Revision(String),
}

impl DowngradeTarget {
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "base" {
            return Ok(DowngradeTarget::Base);
        }
        if let Some(n) = s.strip_prefix('-') {
            return n
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .map(DowngradeTarget::Relative)
                .ok_or_else(|| format!("{s:?} is not a relative step like -1"));
        }
        if s.is_empty() {
            return Err("empty revision".into());
        }
        Ok(DowngradeTarget::Revision(s.to_string()))
    }
}

/// Reverts migrations, newest first, one transaction each, under the migration lock.
pub async fn downgrade(
    url: &DatabaseUrl,
    chain: &Chain,
    target: &DowngradeTarget,
) -> Result<Report, MigrateError> {
    let (lock, mut conn) = lock_and_open(url).await?;
    let result = async {
        ensure_bookkeeping(&mut conn).await?;
        let state = read_state(&mut conn, chain).await?;
        let Some(current) = state.current().map(str::to_string) else {
            return Err(MigrateError::Target("the database is already at base".into()));
        };
        let cur_pos = chain.position(&current).expect("checked by read_state");
        // Index of the migration that stays as the new current one (None = base).
        let keep: Option<usize> = match target {
            DowngradeTarget::Base => None,
            DowngradeTarget::Relative(n) => cur_pos.checked_sub(*n),
            DowngradeTarget::Revision(r) => {
                let p = chain
                    .position(&chain.resolve(r).map_err(MigrateError::Target)?.revision)
                    .expect("resolved");
                if p > cur_pos {
                    return Err(MigrateError::Target(format!(
                        "{r} is newer than the current revision {current}; use `meshview db upgrade`"
                    )));
                }
                Some(p)
            }
        };
        if let DowngradeTarget::Relative(n) = target
            && *n > cur_pos + 1
        {
            return Err(MigrateError::Target(format!(
                "cannot go back {n} steps: only {} migration(s) are applied",
                cur_pos + 1
            )));
        }
        let mut report = Report {
            from: Some(current.clone()),
            ..Report::default()
        };
        set_in_progress(&mut conn, true).await?;
        let outcome = async {
            let stop = keep.map_or(0, |k| k + 1);
            for i in (stop..=cur_pos).rev() {
                let m = &chain.migrations()[i];
                report.steps.push(run_step(&mut conn, m, false, &m.revision).await?);
            }
            Ok::<_, MigrateError>(())
        }
        .await;
        if let Err(e) = set_in_progress(&mut conn, false).await {
            tracing::error!(error = %e, "could not clear migration_status.in_progress");
        }
        outcome?;
        report.to = keep.map(|k| chain.migrations()[k].revision.clone());
        Ok(report)
    }
    .await;
    lock.release(&mut conn).await;
    conn.close().await;
    result
}

/// The migration lock, held for a long maintenance run (`meshview db rebuild`): a writer
/// that starts meanwhile waits at its start-up upgrade.
pub struct Held {
    lock: lock::MigrationLock,
    conn: Conn,
}

impl Held {
    pub async fn release(mut self) {
        self.lock.release(&mut self.conn).await;
        self.conn.close().await;
    }
}

/// Takes the migration lock; refuses a schema that is not current.
pub async fn hold(url: &DatabaseUrl, chain: &Chain) -> Result<Held, MigrateError> {
    let (lock, mut conn) = lock_and_open(url).await?;
    match read_state(&mut conn, chain).await {
        Ok(state) if state.is_at_head(chain) => Ok(Held { lock, conn }),
        other => {
            lock.release(&mut conn).await;
            conn.close().await;
            other?;
            Err(MigrateError::Target(
                "the schema is not current; run `meshview db upgrade` first".into(),
            ))
        }
    }
}

/// What `db rebuild-rollups` recomputed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rebuilt {
    /// Rows of `node_link` (links per source, as `/api/edges` draws them).
    pub edges: u64,
    /// Directed links of the link-quality model.
    pub links: u64,
}

/// Recomputes the rollup tables from the raw rows in one transaction, under the migration
/// lock (so no migration runs meanwhile).
pub async fn rebuild_rollups(url: &DatabaseUrl, chain: &Chain) -> Result<Rebuilt, MigrateError> {
    let (lock, mut conn) = lock_and_open(url).await?;
    let result = async {
        let state = read_state(&mut conn, chain).await?;
        if !state.is_at_head(chain) {
            return Err(MigrateError::Target(
                "the schema is not current; run `meshview db upgrade` first".into(),
            ));
        }
        let conn = &mut conn;
        let reporter = Arc::new(tokio::sync::Mutex::new(progress::Reporter::log_only(
            "rebuilding rollups",
            3,
        )));
        let r = reporter.clone();
        let rebuilt = in_transaction!(conn, ForeignKeys::Enforced, {
            r.lock().await.step("hourly traffic").await;
            crate::rollups::rebuild_traffic_hourly(conn).await?;
            r.lock().await.step("the link-quality model").await;
            let links = progress::scope(
                r.clone(),
                crate::rollups::links::rebuild(conn, crate::rollups::links::Ranked::Yes),
            )
            .await?;
            r.lock().await.step("links per source (edges)").await;
            let edges = crate::rollups::rebuild_node_link(conn).await?;
            Ok(Rebuilt { edges, links })
        })?;
        Ok(rebuilt)
    }
    .await;
    lock.release(&mut conn).await;
    conn.close().await;
    result
}

#[cfg(test)]
mod tests {
    use super::{ForeignKeys, FreeSpace};

    #[test]
    fn free_space_worth_telling_is_big_and_a_tenth_of_the_file() {
        let mb = 1u64 << 20;
        let f = |file, free| FreeSpace {
            file_bytes: file * mb,
            free_bytes: free * mb,
        };
        assert!(f(4900, 1200).is_large());
        assert!(!f(4900, 300).is_large(), "under a tenth");
        assert!(!f(100, 50).is_large(), "under 64 MB");
        assert!(
            f(4900, 1200)
                .advice()
                .contains("1200 MB of free pages in the 4900 MB")
        );
        assert!(
            f(4900, 1200)
                .advice()
                .contains("about 3700 MB of free disk")
        );
    }

    #[test]
    fn only_table_rebuilds_pause_foreign_keys() {
        let rebuild = "CREATE TABLE t_new (id INTEGER);\nINSERT INTO t_new SELECT id FROM t;\n\
                       drop table t;\nALTER TABLE t_new RENAME TO t;";
        assert_eq!(ForeignKeys::for_sql(rebuild), ForeignKeys::CheckedAtCommit);
        assert_eq!(
            ForeignKeys::for_sql("ALTER TABLE node RENAME COLUMN a TO b;"),
            ForeignKeys::CheckedAtCommit
        );
        for plain in [
            "CREATE INDEX idx_x ON packet (portnum);",
            "DELETE FROM traceroute WHERE id NOT IN (SELECT MIN(id) FROM traceroute GROUP BY packet_id);",
            "ALTER TABLE link_quality ADD COLUMN rank FLOAT NOT NULL DEFAULT 0;",
            "DROP INDEX idx_packet_to_node_id;",
        ] {
            assert_eq!(
                ForeignKeys::for_sql(plain),
                ForeignKeys::Enforced,
                "{plain}"
            );
        }
    }
}
