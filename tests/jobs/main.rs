//! Jobs area: retention purge, backups and the maintenance scheduler, on SQLite and
//! PostgreSQL.

#[path = "../common/mod.rs"]
mod common;

mod backup;
mod fixtures;
mod retention;
mod schedule;
