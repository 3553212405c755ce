//! Storage: the only module that speaks SQL.
//!
//! - [`migrations`]: the versioned schema chain, its runner, and adoption of Python
//!   MeshView databases.
//! - [`coordination`]: the writer/reader handshake (`migration_status`, the migration
//!   lock, the reader's wait for a current schema).
//! - [`connect`]: opening pools and dedicated connections for each backend and role.
//! - [`read`], [`write`]: the web side's queries and the writer's batches; [`rollups`]
//!   and [`text`]: tables the writer keeps beside the raw rows for fast reads.

pub mod connect;
pub mod coordination;
pub mod migrations;
pub mod read;
pub mod rollups;
pub mod text;
pub mod write;

use std::path::PathBuf;

pub use connect::{Db, Role};

/// Which SQL dialect a database speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        }
    }
}

/// A storage failure, phrased for an operator.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open SQLite database {path}: {cause}")]
    OpenSqlite { path: PathBuf, cause: String },
    #[error("cannot connect to PostgreSQL at {url}: {cause}")]
    ConnectPostgres { url: String, cause: String },
    #[error("{context}: {source}")]
    Sql {
        context: String,
        #[source]
        source: sqlx::Error,
    },
    #[error("{0}")]
    Schema(String),
}

/// Adds an operator-facing context to sqlx errors.
pub(crate) trait SqlContext<T> {
    fn context(self, what: impl Into<String>) -> Result<T, StoreError>;
}

impl<T> SqlContext<T> for Result<T, sqlx::Error> {
    fn context(self, what: impl Into<String>) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Sql {
            context: what.into(),
            source,
        })
    }
}

/// Microseconds since the Unix epoch, the unit of every `*_us` column.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
