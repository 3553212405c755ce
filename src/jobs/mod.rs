//! Scheduled writer jobs: retention cleanup and backups (see `docs/operations.md`).
//!
//! The work itself is the store's (`meshview_store::retention`: deletes rows older than
//! `cleanup.days_to_keep` in small, separate transactions, then optionally `VACUUM` or
//! `ANALYZE`; `meshview_store::backup`: a consistent online SQLite snapshot, compressed and
//! rotated). Here: [`schedule`], the writer's daily timer for both, in local time,
//! DST-safe; failures are logged and retried the next day, never fatal.

pub mod schedule;

pub use meshview_store::{backup, joblog as log, retention};

pub use meshview_store::backup::{
    BackupOptions, BackupReport, DEFAULT_BACKUP_KEEP, SqliteBackup, backup, backup_file_name,
    restore, rotate,
};
pub use meshview_store::joblog::JobLog;
pub use meshview_store::retention::{
    DEFAULT_BATCH_SIZE, Maintenance, PurgeOptions, PurgeReport, purge, purge_before,
};
pub use schedule::{JobOutcome, next_occurrence, run, run_once};
