//! The migration lock: only one writer migrates at a time; the others wait for it.
//!
//! PostgreSQL: a session advisory lock on the migration connection. SQLite: an OS file
//! lock on `<database>.migrate-lock` beside the database (released by the OS if the
//! writer dies, so a crash never leaves a stale lock). Readers only test the lock, to
//! tell "a writer is migrating" from "no writer is running".

use std::fs::{File, OpenOptions, TryLockError};
use std::path::{Path, PathBuf};

use sqlx::Row;

use crate::connect::Conn;
use crate::{SqlContext, StoreError};

/// The advisory lock key: "MeshView" as a big-endian i64.
pub const PG_LOCK_KEY: i64 = i64::from_be_bytes(*b"MeshView");

/// Held while migrating; dropping it releases the SQLite file lock. The PostgreSQL lock
/// belongs to the session and is released by [`MigrationLock::release`] or when the
/// connection closes.
pub struct MigrationLock {
    _file: Option<File>,
}

pub fn sqlite_lock_path(db: &Path) -> PathBuf {
    let mut s = db.as_os_str().to_owned();
    s.push(".migrate-lock");
    PathBuf::from(s)
}

impl MigrationLock {
    /// Takes the lock, waiting (and saying so) while another writer holds it. On SQLite
    /// this happens before the database is opened, so two writers never race to create
    /// the file or switch it to WAL.
    pub async fn acquire(target: LockTarget<'_>) -> Result<Self, StoreError> {
        match target {
            LockTarget::Sqlite(db_path) => {
                let path = sqlite_lock_path(db_path);
                let file = OpenOptions::new()
                    .create(true)
                    .truncate(false)
                    .write(true)
                    .open(&path)
                    .map_err(|e| StoreError::OpenSqlite {
                        path: db_path.to_path_buf(),
                        cause: format!(
                            "cannot create its migration lock file {}: {e} (is the directory writable by this user?)",
                            path.display()
                        ),
                    })?;
                let file = match file.try_lock() {
                    Ok(()) => file,
                    Err(TryLockError::WouldBlock) => {
                        tracing::info!(
                            lock = %path.display(),
                            "another writer is migrating this database; waiting for it to finish"
                        );
                        tokio::task::spawn_blocking(move || file.lock().map(|_| file))
                            .await
                            .map_err(|e| StoreError::Schema(e.to_string()))?
                            .map_err(|e| {
                                StoreError::Schema(format!("cannot lock {}: {e}", path.display()))
                            })?
                    }
                    Err(TryLockError::Error(e)) => {
                        return Err(StoreError::Schema(format!(
                            "cannot lock {}: {e}",
                            path.display()
                        )));
                    }
                };
                Ok(MigrationLock { _file: Some(file) })
            }
            LockTarget::Postgres(conn) => {
                let Conn::Postgres(c) = conn else {
                    unreachable!("a PostgreSQL lock needs a PostgreSQL connection")
                };
                let got: bool = sqlx::query("SELECT pg_try_advisory_lock($1)")
                    .bind(PG_LOCK_KEY)
                    .fetch_one(&mut *c)
                    .await
                    .context("taking the migration lock")?
                    .get(0);
                if !got {
                    tracing::info!(
                        "another writer is migrating this database; waiting for it to finish"
                    );
                    sqlx::query("SELECT pg_advisory_lock($1)")
                        .bind(PG_LOCK_KEY)
                        .execute(&mut *c)
                        .await
                        .context("waiting for the migration lock")?;
                }
                Ok(MigrationLock { _file: None })
            }
        }
    }

    pub async fn release(self, conn: &mut Conn) {
        if let Conn::Postgres(c) = conn {
            let _ = sqlx::query("SELECT pg_advisory_unlock($1)")
                .bind(PG_LOCK_KEY)
                .execute(&mut *c)
                .await;
        }
        // The file lock is released when `self` drops.
    }
}

/// What to lock: a SQLite file (by path), or a PostgreSQL session.
pub enum LockTarget<'a> {
    Sqlite(&'a Path),
    Postgres(&'a mut Conn),
}

/// Is some writer holding the migration lock right now? (Readers ask; never blocks.)
pub async fn is_held(conn: &mut Conn, sqlite_path: Option<&Path>) -> Result<bool, StoreError> {
    match conn {
        Conn::Sqlite(_) => {
            let path = sqlite_lock_path(sqlite_path.expect("SQLite connection has a path"));
            let Ok(file) = File::open(&path) else {
                return Ok(false);
            };
            Ok(match file.try_lock_shared() {
                Ok(()) => false,
                Err(TryLockError::WouldBlock) => true,
                Err(TryLockError::Error(_)) => false,
            })
        }
        Conn::Postgres(c) => {
            // A bigint advisory key shows as classid = high half, objid = low half.
            let held: bool = sqlx::query(
                "SELECT EXISTS (SELECT 1 FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
                 WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database() \
                 AND l.classid::bigint = ($1 >> 32) AND l.objid::bigint = ($1 & 4294967295) \
                 AND l.objsubid = 1)",
            )
            .bind(PG_LOCK_KEY)
            .fetch_one(&mut *c)
            .await
            .context("checking the migration lock")?
            .get(0);
            Ok(held)
        }
    }
}
