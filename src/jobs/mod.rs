//! Scheduled writer jobs: retention cleanup and backups (see `docs/operations.md`), and
//! the raw archive's upkeep.
//!
//! The work itself is the store's (`meshview_store::retention`: deletes rows older than
//! `cleanup.days_to_keep` in small, separate transactions, then optionally `VACUUM` or
//! `ANALYZE`; `meshview_store::backup`: a consistent online SQLite snapshot, compressed and
//! rotated). Here: [`schedule`], the writer's daily timer for both, in local time,
//! DST-safe; failures are logged and retried the next day, never fatal. [`archive`]:
//! every 10 minutes, joins the archive's small segments and deletes its old messages.

pub mod archive;
pub mod schedule;

pub use schedule::{JobOutcome, next_occurrence, run, run_once};
