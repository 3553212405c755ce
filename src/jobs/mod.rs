//! Scheduled writer jobs: retention cleanup and backups (see `docs/operations.md`).
//!
//! The work itself is the store's (`meshview_store::retention`: deletes rows older than
//! `cleanup.days_to_keep` in small, separate transactions, then optionally `VACUUM` or
//! `ANALYZE`; `meshview_store::backup`: a consistent online SQLite snapshot, compressed and
//! rotated). Here: [`schedule`], the writer's daily timer for both, in local time,
//! DST-safe; failures are logged and retried the next day, never fatal.

pub mod schedule;

pub use schedule::{JobOutcome, next_occurrence, run, run_once};
