//! The reader's SQLite access: a few threads, each owning one read-only rusqlite
//! connection, take queries from one queue and collect their rows.
//!
//! sqlx's SQLite driver runs every connection on a worker thread and hands each row
//! to the async side through a channel; on big results that hand-off (context
//! switches, futex wake-ups) cost a quarter or more of the reader's time. Here a query
//! runs start to finish on one thread and crosses over once, as a `Vec`. The threads
//! are fixed rather than tokio's blocking pool: a connection's page cache then lives in
//! one thread's malloc arena instead of being spread over a dozen short-lived threads'
//! (each arena keeps its high-water mark: ~15 MB apiece, measured).
//!
//! Errors are [`StoreError`]s like the rest of the store's, classified by SQLite's result
//! code (busy, locked, I/O, cannot open: transient, so the web answers 503); a wait for a
//! connection that runs out and a closed pool are transient too.

use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use tokio::sync::oneshot;

use super::SQLITE_BUSY_TIMEOUT;
use crate::StoreError;
use crate::row::{Arg, Cell, OwnedRow};

/// Connections (and threads) the reader keeps. Each query holds one for its whole run;
/// with two cores, four keep both busy while others wait on disk, and more would only
/// add page caches (each up to [`CACHE_KIB`]) and contention.
const CONNECTIONS: usize = 4;

/// Page cache per connection (KiB, as `PRAGMA cache_size = -N` takes it): 8 MiB each,
/// 32 MiB for the pool, keeping the reader well under its 128 MB budget while the hot
/// index pages of a big database stay cached.
const CACHE_KIB: i64 = 8192;

/// Prepared statements kept per connection. The reader's SQL varies with filters and
/// `IN` list lengths; a few dozen distinct texts cover the common requests.
const STATEMENT_CACHE: usize = 64;

/// Statements with more values than this (long `IN` lists, each length its own text)
/// are prepared afresh rather than cached: they are rarely repeated exactly, and many
/// big cached statements add up (the writer saw ~150 MB from caching its batches).
const MAX_CACHED_ARGS: usize = 16;

/// How long a query waits in the queue before failing (as sqlx's reader pool did): an
/// overloaded reader answers 503 rather than queueing forever.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(30);

/// A read slower than this is logged (sqlx's threshold for its own statements).
const SLOW_QUERY: Duration = Duration::from_secs(1);

/// Read-only rusqlite connections to one SQLite file, each on its own thread; threads
/// start and connections open on first use.
#[derive(Clone)]
pub struct LitePool {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    /// The queue's sending side: `None` once closed (the threads then finish what is
    /// queued, close their connections and end).
    queue: Mutex<Option<flume::Sender<Job>>>,
    /// The receiving side, handed to the threads when they start.
    jobs: flume::Receiver<Job>,
    /// How many reader threads started (on the first query).
    threads: std::sync::OnceLock<usize>,
}

/// One query and where its rows go.
struct Job {
    sql: String,
    args: Vec<Arg>,
    queued: Instant,
    reply: oneshot::Sender<Result<Vec<OwnedRow>, StoreError>>,
}

impl std::fmt::Debug for LitePool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LitePool")
            .field("path", &self.inner.path)
            .field("queued", &self.inner.jobs.len())
            .finish()
    }
}

impl LitePool {
    /// A pool for `path`; nothing is opened (and no thread started) until the first query.
    pub fn new(path: &Path) -> LitePool {
        let (tx, rx) = flume::unbounded();
        LitePool {
            inner: Arc::new(Inner {
                path: path.to_path_buf(),
                queue: Mutex::new(Some(tx)),
                jobs: rx,
                threads: std::sync::OnceLock::new(),
            }),
        }
    }

    /// Runs `sql` (with `$1…$n` placeholders bound to `args`) and returns every row.
    pub(crate) async fn fetch_all(
        &self,
        sql: String,
        args: Vec<Arg>,
    ) -> Result<Vec<OwnedRow>, StoreError> {
        // Without a thread, a queued query would wait forever.
        if *self.inner.threads.get_or_init(|| self.start()) == 0 {
            return Err(StoreError::transient(
                READ,
                "cannot start the SQLite reader threads",
            ));
        }
        let (reply, answer) = oneshot::channel();
        let job = Job {
            sql,
            args,
            queued: Instant::now(),
            reply,
        };
        let sent = match &*self.inner.queue() {
            Some(tx) => tx.send(job).is_ok(),
            None => false,
        };
        if !sent {
            return Err(StoreError::transient(READ, "the SQLite reader is closed"));
        }
        // A thread that panicked drops the job's reply: that is an error, not a hang.
        answer.await.unwrap_or_else(|_| Err(panicked()))
    }

    /// Starts the reader threads; returns how many started.
    fn start(&self) -> usize {
        let mut started = 0;
        for i in 0..CONNECTIONS {
            let jobs = self.inner.jobs.clone();
            let path = self.inner.path.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("sqlite-read-{i}"))
                .spawn(move || serve(&path, &jobs));
            match spawned {
                Ok(_) => started += 1,
                Err(e) => tracing::error!(error = %e, "cannot start a SQLite reader thread"),
            }
        }
        started
    }

    /// Fails later queries with `PoolClosed`; the threads finish the queries already
    /// queued, then close their connections and end.
    pub fn close(&self) {
        self.inner.queue().take();
    }
}

impl Inner {
    fn queue(&self) -> std::sync::MutexGuard<'_, Option<flume::Sender<Job>>> {
        // A panic while holding the lock leaves the sender itself intact.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One reader thread: runs queued queries on its connection until the queue closes.
fn serve(path: &Path, jobs: &flume::Receiver<Job>) {
    let mut conn: Option<Connection> = None;
    while let Ok(job) = jobs.recv() {
        // The caller stopped waiting (a client gone, a probe's timeout): skip its query.
        if job.reply.is_closed() {
            continue;
        }
        if job.queued.elapsed() >= ACQUIRE_TIMEOUT {
            let _ = job.reply.send(Err(StoreError::transient(
                READ,
                "no SQLite reader connection was free in time",
            )));
            continue;
        }
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let c = match conn.take() {
                Some(c) => c,
                None => open(path)?,
            };
            let started = Instant::now();
            let result = run(&c, &job.sql, &job.args);
            let elapsed = started.elapsed();
            if elapsed >= SLOW_QUERY {
                // As sqlx logs its slow statements (the writer's still do).
                tracing::warn!(
                    elapsed_ms = elapsed.as_millis() as u64,
                    rows = result.as_ref().map_or(0, Vec::len),
                    sql = %job.sql.chars().take(300).collect::<String>(),
                    "slow SQLite read"
                );
            }
            // A connection that failed is dropped: the next query opens a fresh one
            // (a replaced or repaired file, a connection in an odd state).
            if result.is_ok() {
                conn = Some(c);
            }
            result
        }));
        let result = match result {
            Ok(r) => r.map_err(|e| StoreError::rusqlite(READ, e)),
            Err(_) => Err(panicked()),
        };
        let _ = job.reply.send(result);
    }
}

fn open(path: &Path) -> rusqlite::Result<Connection> {
    // NO_MUTEX: a connection is used by one thread at a time (the pool hands it out).
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(SQLITE_BUSY_TIMEOUT)?;
    conn.execute_batch(&format!(
        "PRAGMA query_only = ON; PRAGMA cache_size = -{CACHE_KIB};"
    ))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// Prepares (cached), binds and collects one query.
fn run(conn: &Connection, sql: &str, args: &[Arg]) -> rusqlite::Result<Vec<OwnedRow>> {
    if args.len() > MAX_CACHED_ARGS {
        let mut stmt = conn.prepare(sql)?;
        bind(&mut stmt, args)?;
        collect(&mut stmt)
    } else {
        let mut stmt = conn.prepare_cached(sql)?;
        bind(&mut stmt, args)?;
        collect(&mut stmt)
    }
}

fn collect(stmt: &mut rusqlite::Statement<'_>) -> rusqlite::Result<Vec<OwnedRow>> {
    let columns: Arc<[String]> = stmt.column_names().into_iter().map(String::from).collect();
    let n = columns.len();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let mut cells = Vec::with_capacity(n);
        for i in 0..n {
            cells.push(match row.get_ref(i)? {
                ValueRef::Null => Cell::Null,
                ValueRef::Integer(v) => Cell::Int(v),
                ValueRef::Real(v) => Cell::Real(v),
                // Invalid UTF-8 (a name stored by a broken client) reads with U+FFFD
                // rather than failing the whole page.
                ValueRef::Text(b) => Cell::Text(String::from_utf8_lossy(b).into_owned()),
                ValueRef::Blob(b) => Cell::Blob(b.to_vec()),
            });
        }
        out.push(OwnedRow::new(columns.clone(), cells));
    }
    Ok(out)
}

/// Binds `$n` to `args[n - 1]`. SQLite treats `$1` as a *named* parameter and numbers
/// distinct names in order of first appearance; binding by each parameter's name
/// rather than by that order keeps a reused or out-of-order placeholder right.
fn bind(stmt: &mut rusqlite::Statement<'_>, args: &[Arg]) -> rusqlite::Result<()> {
    for i in 1..=stmt.parameter_count() {
        let name = stmt.parameter_name(i).unwrap_or("?");
        let arg = name
            .strip_prefix('$')
            .and_then(|n| n.parse::<usize>().ok())
            .and_then(|n| n.checked_sub(1))
            .and_then(|n| args.get(n))
            .ok_or_else(|| rusqlite::Error::InvalidParameterName(name.to_string()))?;
        match arg {
            Arg::I64(v) => stmt.raw_bind_parameter(i, *v)?,
            Arg::F64(v) => stmt.raw_bind_parameter(i, *v)?,
            Arg::Str(v) => stmt.raw_bind_parameter(i, v.as_str())?,
        }
    }
    Ok(())
}

/// The `EXPLAIN QUERY PLAN` lines of `sql` bound to `args`, on a connection to `path`:
/// tests check that the reader's queries walk the indexes they were written for.
/// The context of the reader's SQLite failures.
const READ: &str = "reading the SQLite database";

fn panicked() -> StoreError {
    StoreError::Sql {
        context: READ.into(),
        cause: "a SQLite read panicked".into(),
    }
}

#[cfg(test)]
pub(crate) fn query_plan(path: &Path, sql: &str, args: &[Arg]) -> rusqlite::Result<Vec<String>> {
    let conn = open(path)?;
    let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
    bind(&mut stmt, args)?;
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(row.get::<_, String>(3)?);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let c = Connection::open(&path).unwrap();
        c.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, snr REAL, data BLOB, flag INTEGER);
             INSERT INTO t VALUES (1, 'one', 1.5, x'0102', 1), (2, NULL, NULL, NULL, 0),
                                  (3, 'three', -7, x'', NULL);",
        )
        .unwrap();
        (dir, path)
    }

    #[tokio::test]
    async fn binds_by_placeholder_number() {
        let (_dir, path) = db();
        let pool = LitePool::new(&path);
        // In order, reused, and out of order: each `$n` takes args[n - 1].
        for (sql, args, want) in [
            (
                "SELECT id FROM t WHERE id >= $1 AND name <> $2 ORDER BY id",
                vec![Arg::I64(1), Arg::Str("one".into())],
                vec![3],
            ),
            (
                "SELECT id FROM t WHERE id = $1 OR id + 1 = $1 ORDER BY id",
                vec![Arg::I64(2)],
                vec![1, 2],
            ),
            (
                "SELECT id FROM t WHERE name = $2 OR id = $1 ORDER BY id",
                vec![Arg::I64(2), Arg::Str("three".into())],
                vec![2, 3],
            ),
        ] {
            let rows = pool.fetch_all(sql.into(), args).await.unwrap();
            let ids: Vec<i64> = rows
                .into_iter()
                .map(|mut r| r.take("id").unwrap())
                .collect();
            assert_eq!(ids, want, "{sql}");
        }
        // A placeholder without a value is an error, not a NULL.
        let e = pool
            .fetch_all("SELECT $2".into(), vec![Arg::I64(1)])
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Sql { .. }), "{e:?}");
    }

    #[tokio::test]
    async fn reads_each_storage_class() {
        let (_dir, path) = db();
        let pool = LitePool::new(&path);
        let mut rows = pool
            .fetch_all(
                "SELECT id, name, snr, data, flag, SUM(snr) OVER () AS s FROM t ORDER BY id".into(),
                vec![],
            )
            .await
            .unwrap();
        let r = &mut rows[0];
        assert_eq!(r.take::<i64>("id").unwrap(), 1);
        assert_eq!(
            r.take::<Option<String>>("name").unwrap().as_deref(),
            Some("one")
        );
        assert_eq!(r.take::<Option<f64>>("snr").unwrap(), Some(1.5));
        assert_eq!(r.take::<Option<Vec<u8>>>("data").unwrap(), Some(vec![1, 2]));
        assert_eq!(r.take::<Option<bool>>("flag").unwrap(), Some(true));
        assert_eq!(r.take::<f64>("s").unwrap(), -5.5);
        let r = &mut rows[1];
        assert_eq!(r.take::<Option<String>>("name").unwrap(), None);
        assert_eq!(r.take::<Option<bool>>("flag").unwrap(), Some(false));
        // An integer stored in a REAL column reads as REAL.
        assert_eq!(rows[2].take::<Option<f64>>("snr").unwrap(), Some(-7.0));
    }

    #[tokio::test]
    async fn is_read_only_and_maps_errors() {
        let (dir, path) = db();
        let pool = LitePool::new(&path);
        let e = pool
            .fetch_all("DELETE FROM t".into(), vec![])
            .await
            .unwrap_err();
        assert!(e.to_string().contains("readonly"), "{e}");
        assert!(!e.is_transient(), "{e:?}");
        let e = pool
            .fetch_all("SELECT nope FROM t".into(), vec![])
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::Sql { .. }), "{e:?}");
        // A file that is not there: SQLite's "unable to open", an outage (503 on the web).
        let gone = LitePool::new(&dir.path().join("missing.db"));
        let e = gone.fetch_all("SELECT 1".into(), vec![]).await.unwrap_err();
        assert!(e.to_string().contains("unable to open"), "{e}");
        assert!(e.is_transient(), "{e:?}");
        pool.close();
        let e = pool.fetch_all("SELECT 1".into(), vec![]).await.unwrap_err();
        assert!(e.is_transient(), "{e:?}");
    }

    #[tokio::test]
    async fn many_queries_share_the_threads() {
        let (_dir, path) = db();
        let pool = LitePool::new(&path);
        let tasks: Vec<_> = (0..32)
            .map(|_| {
                let pool = pool.clone();
                tokio::spawn(async move {
                    pool.fetch_all("SELECT count(*) FROM t".into(), vec![])
                        .await
                        .unwrap()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap()[0].take::<i64>(0).unwrap(), 3);
        }
        assert_eq!(pool.inner.jobs.len(), 0);
        // The reader threads end once the pool is closed.
        pool.close();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.inner.jobs.receiver_count() > 1 {
            assert!(Instant::now() < deadline, "reader threads did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}
