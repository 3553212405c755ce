//! The one error type of the store, and the one place that tells an outage from a
//! problem with the data or the query. Callers see no driver type: the write path retries
//! what [`StoreError::is_transient`] calls transient, the web answers it with 503.

use std::path::PathBuf;

/// A failure's cause, type-erased: drivers stay behind this crate's boundary.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A storage failure, phrased for an operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open SQLite database {path}: {cause}")]
    OpenSqlite { path: PathBuf, cause: String },
    #[error("cannot connect to PostgreSQL at {url}: {cause}")]
    ConnectPostgres { url: String, cause: String },
    /// The database is unreachable, busy, shutting down or out of resources, or another
    /// writer raced this one: waiting and retrying can help.
    #[error("{context}: {cause}")]
    Transient {
        context: String,
        #[source]
        cause: Cause,
    },
    /// A statement failed for a reason retrying will not change (a constraint, a bad
    /// query, a value that does not decode).
    #[error("{context}: {cause}")]
    Sql {
        context: String,
        #[source]
        cause: Cause,
    },
    /// A query that always returns a row returned none.
    #[error("{0}: no row")]
    NoRow(String),
    #[error("{0}")]
    Schema(String),
    /// A request the store declines, said why (a purge of everything, a restore over an
    /// existing file).
    #[error("{0}")]
    Refused(String),
    /// Stored bytes that do not decode (an archive segment).
    #[error("{0}")]
    Corrupt(String),
    /// Reading or writing a file beside the database (backups).
    #[error("{context}: {cause}")]
    File {
        context: String,
        #[source]
        cause: std::io::Error,
    },
}

impl StoreError {
    /// Whether waiting and retrying can help (the database is away, busy or racing).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Transient { .. }
                | StoreError::OpenSqlite { .. }
                | StoreError::ConnectPostgres { .. }
        )
    }

    /// Classifies a sqlx failure.
    pub(crate) fn sqlx(context: impl Into<String>, e: sqlx::Error) -> StoreError {
        let context = context.into();
        if sqlx_is_transient(&e) {
            StoreError::Transient {
                context,
                cause: Box::new(e),
            }
        } else {
            StoreError::Sql {
                context,
                cause: Box::new(e),
            }
        }
    }

    /// Classifies a failure of the reader's rusqlite connections.
    pub(crate) fn rusqlite(context: impl Into<String>, e: rusqlite::Error) -> StoreError {
        let context = context.into();
        let transient = match &e {
            rusqlite::Error::SqliteFailure(err, _) => sqlite_code_is_transient(err.extended_code),
            _ => false,
        };
        let cause: Cause = match e {
            // SQLite's wording when the failure came without a message.
            rusqlite::Error::SqliteFailure(err, None) => match errstr(err.code) {
                Some(m) => format!("{m} (code {})", err.extended_code).into(),
                None => Box::new(rusqlite::Error::SqliteFailure(err, None)),
            },
            other => Box::new(other),
        };
        if transient {
            StoreError::Transient { context, cause }
        } else {
            StoreError::Sql { context, cause }
        }
    }

    /// A transient failure of our own making (a pool closed or full, a writer race).
    pub(crate) fn transient(context: impl Into<String>, why: impl Into<String>) -> StoreError {
        StoreError::Transient {
            context: context.into(),
            cause: why.into().into(),
        }
    }
}

/// SQLite's primary result codes that mean "not now" rather than "never": busy, locked,
/// I/O error, cannot open, full disk, protocol (lock) failure.
fn sqlite_code_is_transient(extended_code: i32) -> bool {
    const BUSY: i32 = 5;
    const LOCKED: i32 = 6;
    const IOERR: i32 = 10;
    const FULL: i32 = 13;
    const CANTOPEN: i32 = 14;
    const PROTOCOL: i32 = 15;
    matches!(
        extended_code & 0xff,
        BUSY | LOCKED | IOERR | FULL | CANTOPEN | PROTOCOL
    )
}

/// Connection and pool failures, SQLite busy/locked/I/O errors, and PostgreSQL's
/// connection exceptions (08), operator intervention (57P: shutdown, cannot connect now),
/// insufficient resources (53), a database that is gone (3D000) or closed to connections
/// (55000 with that message), serialization failures (40001) and deadlocks (40P01).
fn sqlx_is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => match db.try_downcast_ref::<sqlx::sqlite::SqliteError>() {
            Some(_) => db
                .code()
                .and_then(|c| c.parse::<i32>().ok())
                .is_some_and(sqlite_code_is_transient),
            None => db.code().is_some_and(|c| {
                c.starts_with("08")
                    || c.starts_with("57P")
                    || c.starts_with("53")
                    || c == "3D000"
                    || c == "40001"
                    || c == "40P01"
                    // 55000 is broad; only its "ALLOW_CONNECTIONS false" case is an outage.
                    || (c == "55000" && db.message().contains("not currently accepting connections"))
            }),
        },
        _ => false,
    }
}

/// SQLite's own wording for the failures an operator reads about (`sqlite3_errstr`), for
/// the rare error that comes without a message.
fn errstr(code: rusqlite::ErrorCode) -> Option<&'static str> {
    use rusqlite::ErrorCode as C;
    Some(match code {
        C::DatabaseBusy => "database is locked",
        C::DatabaseLocked => "database table is locked",
        C::CannotOpen => "unable to open database file",
        C::SystemIoFailure => "disk I/O error",
        C::DatabaseCorrupt => "database disk image is malformed",
        C::NotADatabase => "file is not a database",
        C::ReadOnly => "attempt to write a readonly database",
        _ => return None,
    })
}

/// Adds an operator-facing context to file errors.
pub(crate) trait FileContext<T> {
    fn file_context(self, what: impl FnOnce() -> String) -> Result<T, StoreError>;
}

impl<T> FileContext<T> for std::io::Result<T> {
    fn file_context(self, what: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|cause| StoreError::File {
            context: what(),
            cause,
        })
    }
}

/// Adds an operator-facing context to sqlx errors, classifying them.
pub(crate) trait SqlContext<T> {
    fn context(self, what: impl Into<String>) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for Result<T, sqlx::Error> {
    fn context(self, what: impl Into<String>) -> Result<T, StoreError> {
        self.map_err(|e| StoreError::sqlx(what, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_busy_locked_io_and_cantopen_are_transient_constraints_are_not() {
        for code in [5, 6, 10, 14, 5 | (1 << 8), 10 | (13 << 8)] {
            let e = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
            assert!(StoreError::rusqlite("q", e).is_transient(), "code {code}");
        }
        // SQLITE_CONSTRAINT_UNIQUE, SQLITE_ERROR (a bad query).
        for code in [19 | (8 << 8), 1] {
            let e = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None);
            assert!(!StoreError::rusqlite("q", e).is_transient(), "code {code}");
        }
        let e = rusqlite::Error::InvalidColumnIndex(3);
        assert!(!StoreError::rusqlite("q", e).is_transient());
    }

    #[test]
    fn a_failure_without_message_reads_as_sqlite_words_it() {
        let e = rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(5), None);
        let text = StoreError::rusqlite("reading nodes", e).to_string();
        assert!(
            text.starts_with("reading nodes: database is locked"),
            "{text}"
        );
    }

    #[test]
    fn sqlx_pool_and_io_failures_are_transient() {
        assert!(StoreError::sqlx("q", sqlx::Error::PoolTimedOut).is_transient());
        assert!(StoreError::sqlx("q", sqlx::Error::PoolClosed).is_transient());
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, "reset");
        assert!(StoreError::sqlx("q", sqlx::Error::Io(io)).is_transient());
        assert!(!StoreError::sqlx("q", sqlx::Error::RowNotFound).is_transient());
        assert!(!StoreError::sqlx("q", sqlx::Error::Protocol("x".into())).is_transient());
    }

    #[tokio::test]
    async fn sqlx_sqlite_constraint_is_not_transient_busy_is() {
        use sqlx::Connection;
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let mut c = sqlx::SqliteConnection::connect(&url).await.unwrap();
        sqlx::query("CREATE TABLE t (id INTEGER PRIMARY KEY)")
            .execute(&mut c)
            .await
            .unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut c)
            .await
            .unwrap();
        let e = sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut c)
            .await
            .unwrap_err();
        assert!(!StoreError::sqlx("q", e).is_transient());

        // A second connection's write while the first holds the write lock: SQLITE_BUSY.
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut c)
            .await
            .unwrap();
        let opts: sqlx::sqlite::SqliteConnectOptions = url.parse().unwrap();
        let mut other = sqlx::SqliteConnection::connect_with(
            &opts.busy_timeout(std::time::Duration::from_millis(10)),
        )
        .await
        .unwrap();
        let e = sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut other)
            .await
            .unwrap_err();
        assert!(StoreError::sqlx("q", e).is_transient());
    }
}
