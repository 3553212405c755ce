//! Scheduled writer jobs: retention cleanup and backups (see `docs/operations.md`).
//!
//! - [`retention`]: deletes rows older than `cleanup.days_to_keep` in small, separate
//!   transactions (children before their packets, as the foreign keys require), then
//!   optionally `VACUUM` (SQLite) or `ANALYZE` (PostgreSQL).
//! - [`backup`]: a consistent online SQLite snapshot (`VACUUM INTO`), gzip-compressed and
//!   rotated; for PostgreSQL, advice to use `pg_dump`.
//! - [`schedule`]: the writer's daily timer for both, in local time, DST-safe; failures
//!   are logged and retried the next day, never fatal.
//! - [`log`]: the maintenance log (`tracing`, plus `logging.db_cleanup_logfile` when set).

pub mod backup;
pub mod log;
pub mod retention;
pub mod schedule;

pub use backup::{
    BackupOptions, BackupReport, DEFAULT_BACKUP_KEEP, SqliteBackup, backup, backup_file_name,
    restore, rotate,
};
pub use log::JobLog;
pub use retention::{
    DEFAULT_BATCH_SIZE, Maintenance, PurgeOptions, PurgeReport, purge, purge_before,
};
pub use schedule::{JobOutcome, next_occurrence, run, run_once};
