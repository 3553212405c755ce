//! MeshView's storage: the only crate that speaks SQL. It knows the protocol crate's
//! types and nothing of ingest, the web or the command line.
//!
//! - [`migrations`]: the versioned schema chain, its runner, and adoption of Python
//!   MeshView databases.
//! - [`coordination`]: the writer/reader handshake (`migration_status`, the migration
//!   lock, the reader's wait for a current schema).
//! - [`connect`]: opening pools and dedicated connections for each backend and role.
//! - [`database_url`]: connection strings (MeshView's SQLAlchemy URLs and sqlx-style ones).
//! - [`ops`]: what the writer is asked to store; [`write`]: the batch writer;
//!   [`archive`]: the raw messages it stored, compressed, for replays.
//! - [`retention`], [`backup`]: the maintenance jobs' SQL (purges in small batches,
//!   `VACUUM INTO` snapshots), reporting to a [`joblog::JobLog`].
//! - [`read`]: the reader's queries; [`rollups`] and [`text`]: tables the writer keeps
//!   beside the raw rows for fast reads.
#![forbid(unsafe_code)]

pub mod archive;
pub mod backup;
pub mod connect;
pub mod coordination;
pub mod database_url;
mod error;
pub mod joblog;
pub mod migrations;
pub mod ops;
pub mod progress;
pub mod read;
pub mod retention;
pub mod rollups;
mod row;
pub mod text;
pub mod write;

pub use connect::{Db, Role};
pub use database_url::{DatabaseUrl, redact_url};
pub use error::{Cause, StoreError};
pub(crate) use error::{FileContext, SqlContext};

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

/// Microseconds since the Unix epoch, the unit of every `*_us` column.
pub fn now_us() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// A `*_us` time as commands and logs show it: `YYYY-MM-DD HH:MM:SS UTC` (the number
/// itself if it is out of chrono's range).
pub fn utc_text(us: i64) -> String {
    chrono::DateTime::from_timestamp_micros(us)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_else(|| us.to_string())
}
