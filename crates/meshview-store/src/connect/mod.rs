//! Opening databases: pools for the writer and reader roles, and the dedicated
//! connection that migrations run on.

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool, PgPoolOptions, PgSslMode};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use sqlx::{ConnectOptions, Connection};

use crate::{Backend, DatabaseUrl, StoreError};

mod lite;
pub use lite::LitePool;
#[cfg(test)]
pub(crate) use lite::query_plan as lite_query_plan;

/// How long SQLite waits for another connection's lock before failing a statement.
/// Long enough to ride out a batch commit or a cleanup step, short enough to surface a
/// stuck writer.
pub(crate) const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// What the process does with the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Owns the schema and writes; creates a missing SQLite file.
    Writer,
    /// Only reads; SQLite is opened read-only.
    Reader,
}

/// A connection pool on either backend.
#[derive(Clone, Debug)]
pub enum Db {
    /// sqlx's pool (the writer, jobs, migrations) and the rusqlite pool the web reader
    /// queries through ([`LitePool`]). The latter opens read-only
    /// connections on its first query, so a database the reader never reads (the
    /// writer's) never opens one.
    Sqlite(SqlitePool, LitePool),
    Postgres(PgPool),
}

impl Db {
    pub async fn open(url: &DatabaseUrl, role: Role) -> Result<Db, StoreError> {
        match url {
            DatabaseUrl::Sqlite { path } => {
                let opts = sqlite_options(path, role);
                let pool = SqlitePoolOptions::new()
                    // SQLite has one writer at a time anyway: the batch writer and the
                    // jobs need no more, and each connection holds its own page cache.
                    // The web reader queries through the rusqlite pool instead; a
                    // reader's sqlx pool only checks the file here (and serves tools
                    // that read a copy, such as a restored backup).
                    .max_connections(2)
                    .acquire_timeout(Duration::from_secs(30))
                    .connect_with(opts)
                    .await
                    .map_err(|e| sqlite_open_error(path, role, &e))?;
                // Touch the schema so a corrupt or foreign file fails here, clearly.
                sqlx::query("SELECT count(*) FROM sqlite_master")
                    .execute(&pool)
                    .await
                    .map_err(|e| sqlite_open_error(path, role, &e))?;
                Ok(Db::Sqlite(pool, LitePool::new(path)))
            }
            DatabaseUrl::Postgres { url: u } => {
                let opts = pg_options(url, u)?;
                let pool = PgPoolOptions::new()
                    .max_connections(match role {
                        Role::Writer => 4,
                        Role::Reader => 16,
                    })
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(opts)
                    .await
                    .map_err(|e| StoreError::ConnectPostgres {
                        url: url.redacted(),
                        cause: e.to_string(),
                    })?;
                Ok(Db::Postgres(pool))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Sqlite(..) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    pub async fn close(&self) {
        match self {
            Db::Sqlite(p, lite) => {
                lite.close();
                p.close().await
            }
            Db::Postgres(p) => p.close().await,
        }
    }
}

/// A single session's statements are the long jobs (migrations, adoption, rollup
/// rebuilds, retention): a statement over a million rows is expected there, and sqlx's
/// default "slow statement" warning would read as a fault. They are logged at debug level;
/// the jobs report their own progress.
const SESSION_SLOW_LEVEL: log::LevelFilter = log::LevelFilter::Debug;
const SESSION_SLOW_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// One connection, for work that must stay on a single session (migrations, advisory
/// locks, `PRAGMA foreign_keys` around a table rebuild).
#[derive(Debug)]
pub enum Conn {
    Sqlite(SqliteConnection),
    Postgres(PgConnection),
}

impl Conn {
    pub async fn open(url: &DatabaseUrl, role: Role) -> Result<Conn, StoreError> {
        match url {
            DatabaseUrl::Sqlite { path } => {
                let mut c = sqlite_options(path, role)
                    .log_slow_statements(SESSION_SLOW_LEVEL, SESSION_SLOW_AFTER)
                    .connect()
                    .await
                    .map_err(|e| sqlite_open_error(path, role, &e))?;
                sqlx::query("SELECT count(*) FROM sqlite_master")
                    .execute(&mut c)
                    .await
                    .map_err(|e| sqlite_open_error(path, role, &e))?;
                Ok(Conn::Sqlite(c))
            }
            DatabaseUrl::Postgres { url: u } => {
                let options =
                    pg_options(url, u)?.log_slow_statements(SESSION_SLOW_LEVEL, SESSION_SLOW_AFTER);
                let c = PgConnection::connect_with(&options).await.map_err(|e| {
                    StoreError::ConnectPostgres {
                        url: url.redacted(),
                        cause: e.to_string(),
                    }
                })?;
                Ok(Conn::Postgres(c))
            }
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Conn::Sqlite(_) => Backend::Sqlite,
            Conn::Postgres(_) => Backend::Postgres,
        }
    }

    /// Runs one or more SQL statements (no parameters, no results).
    pub async fn execute(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Conn::Sqlite(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()),
            Conn::Postgres(c) => sqlx::raw_sql(sql).execute(&mut *c).await.map(|_| ()),
        }
    }

    /// Runs one statement and returns the number of rows it changed.
    pub async fn execute_count(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql);
        match self {
            Conn::Sqlite(c) => sqlx::query(sql)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected()),
            Conn::Postgres(c) => sqlx::query(sql)
                .execute(&mut *c)
                .await
                .map(|r| r.rows_affected()),
        }
    }

    /// Runs a query returning one integer (counts, sums; NULL reads as 0).
    pub async fn scalar_i64(&mut self, sql: &str) -> Result<i64, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(sql);
        let v: Option<i64> = match self {
            Conn::Sqlite(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await?,
            Conn::Postgres(c) => sqlx::query_scalar(sql).fetch_one(&mut *c).await?,
        };
        Ok(v.unwrap_or(0))
    }

    pub async fn close(self) {
        let _ = match self {
            Conn::Sqlite(c) => c.close().await,
            Conn::Postgres(c) => c.close().await,
        };
    }
}

pub(crate) fn sqlite_options(path: &Path, role: Role) -> SqliteConnectOptions {
    let base = SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true);
    match role {
        Role::Writer => base
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            // 6 MiB of page cache (default 2): index pages of big tables stay hot between
            // batches instead of being re-read for every insert. 8 MiB was 2-7 % faster
            // but, with the covering sender index migration 0012 had (0022 slimmed it),
            // took the writer's peak RSS past its 64 MB budget (docs/benchmarks.md).
            .pragma("cache_size", "-6144"),
        // The journal mode is a property of the file (set by the writer); a read-only
        // connection cannot change it.
        Role::Reader => base.read_only(true),
    }
}

fn pg_options(url: &DatabaseUrl, raw: &str) -> Result<PgConnectOptions, StoreError> {
    let options = PgConnectOptions::from_str(raw)
        .map(|o| o.application_name("meshview"))
        .map_err(|e| StoreError::ConnectPostgres {
            url: url.redacted(),
            cause: e.to_string(),
        })?;
    let env_sslmode = std::env::var_os("PGSSLMODE").is_some_and(|v| !v.is_empty());
    Ok(without_local_tls(options, raw, env_sslmode))
}

/// `options` without TLS when they reach this machine and nothing (`sslmode` in `raw`,
/// or `PGSSLMODE` when `env_sslmode`) chose a mode.
fn without_local_tls(options: PgConnectOptions, raw: &str, env_sslmode: bool) -> PgConnectOptions {
    let sslmode_given = env_sslmode || sslmode_in_url(raw);
    if !sslmode_given && is_local_host(options.get_host()) {
        // libpq's default (`prefer`) encrypts even a connection that never leaves the
        // machine; on the loopback interface TLS protects nothing and costs both ends
        // CPU on every row (~5 % of the machine under the reader's mixed load).
        options.ssl_mode(PgSslMode::Disable)
    } else {
        options
    }
}

/// Whether the connection string names an `sslmode` (URL query or key=value form).
fn sslmode_in_url(raw: &str) -> bool {
    match url::Url::parse(raw) {
        Ok(u) => u.query_pairs().any(|(k, _)| k == "sslmode"),
        Err(_) => raw.contains("sslmode"),
    }
}

/// A Unix socket directory or a loopback address: the connection stays on this machine.
fn is_local_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host.starts_with('/')
        || host.eq_ignore_ascii_case("localhost")
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn sqlite_open_error(path: &Path, role: Role, e: &sqlx::Error) -> StoreError {
    let mut cause = e.to_string();
    let dir_exists = path
        .parent()
        .map(|p| p.as_os_str().is_empty() || p.exists())
        .unwrap_or(true);
    if cause.contains("unable to open database file") {
        cause.push_str(match (role, dir_exists) {
            (Role::Writer, true) => {
                " (is the directory writable by this user? SQLite also needs to create the -wal and -shm files beside the database)"
            }
            (Role::Writer, false) => " (the directory does not exist)",
            (Role::Reader, _) => " (the file does not exist yet or is not readable; start the writer first)",
        });
    } else if cause.contains("file is not a database") {
        cause.push_str(" (the file is corrupt or is not a SQLite database)");
    }
    StoreError::OpenSqlite {
        path: path.to_path_buf(),
        cause,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`pg_options`] decides, with `PGSSLMODE` set or not (passed in, so the test
    /// does not depend on its own process's environment).
    fn options(raw: &str, env_sslmode: bool) -> PgConnectOptions {
        let parsed = PgConnectOptions::from_str(raw).unwrap();
        without_local_tls(parsed, raw, env_sslmode)
    }

    fn no_tls(o: &PgConnectOptions) -> bool {
        matches!(o.get_ssl_mode(), PgSslMode::Disable)
    }

    #[test]
    fn loopback_connections_skip_tls_unless_asked() {
        for raw in [
            "postgresql://u@127.0.0.1/db",
            "postgresql://u@localhost:5433/db",
            "postgresql://u@[::1]/db",
        ] {
            assert!(no_tls(&options(raw, false)), "{raw}");
            // PGSSLMODE chose: what it chose stands.
            assert_eq!(
                format!("{:?}", options(raw, true).get_ssl_mode()),
                format!(
                    "{:?}",
                    PgConnectOptions::from_str(raw).unwrap().get_ssl_mode()
                ),
                "{raw}"
            );
        }
        // A remote server keeps its mode, and an explicit sslmode always wins.
        assert!(!no_tls(&options("postgresql://u@db.example.org/db", false)));
        assert!(matches!(
            options("postgresql://u@127.0.0.1/db?sslmode=require", false).get_ssl_mode(),
            PgSslMode::Require
        ));
        assert!(is_local_host("/var/run/postgresql"));
        assert!(!is_local_host("10.0.0.5"));
    }
}
