//! Retention: deletes rows older than `cleanup.days_to_keep`, in small batches so the
//! writer's ingest transactions interleave with the purge instead of waiting for it.
//!
//! Order matters because foreign keys are enforced: receptions (`packet_seen`) and
//! traceroutes of a doomed packet are deleted in the same short transaction as the
//! packet, before it. Rows whose time is NULL are never deleted; `node_public_key` is
//! never purged (it is the impersonation history).

use std::time::{Duration, Instant};

use sqlx::{PgPool, SqlitePool};
use tokio_util::sync::CancellationToken;

use crate::joblog::JobLog;
use crate::{Db, SqlContext, StoreError, now_us};

/// Rows per batch (each batch is one transaction).
pub const DEFAULT_BATCH_SIZE: u32 = 5_000;

const MICROS_PER_DAY: i64 = 86_400 * 1_000_000;

/// How a purge runs.
#[derive(Clone)]
pub struct PurgeOptions {
    /// Rows per batch; each batch is its own short transaction. Clamped to 1..=50 000.
    pub batch_size: u32,
    /// Afterwards, `VACUUM` (SQLite: returns free pages to the file system, blocks other
    /// writers meanwhile) or `ANALYZE` (PostgreSQL: refreshes planner statistics).
    pub vacuum: bool,
    /// Pause after each batch so a waiting writer gets the SQLite write lock (SQLite's
    /// busy handler is not fair: without a pause the purge could take it again at once).
    pub pause: Duration,
    /// Log progress every this many batches of one table (0 = never).
    pub progress_every: u32,
    /// Stops the purge between batches (e.g. at shutdown); what was deleted stays deleted.
    pub cancel: CancellationToken,
    /// [`purge`] also deletes the time-bucketed rollups older than this many days (see
    /// [`purge_rollups_before`]); 0 keeps them for ever.
    pub rollup_days: u32,
    pub log: JobLog,
}

impl Default for PurgeOptions {
    fn default() -> Self {
        PurgeOptions {
            batch_size: DEFAULT_BATCH_SIZE,
            vacuum: false,
            pause: Duration::from_millis(20),
            progress_every: 20,
            cancel: CancellationToken::new(),
            rollup_days: 0,
            log: JobLog::default(),
        }
    }
}

/// What a purge did.
#[derive(Debug, Clone, Default)]
pub struct PurgeReport {
    /// Rows strictly older than this (microseconds since the epoch, UTC) were deleted.
    pub cutoff_us: i64,
    pub packets: u64,
    /// Receptions deleted with their packet, plus those older than the cutoff themselves.
    pub packet_seen: u64,
    pub traceroute: u64,
    pub nodes: u64,
    /// Rollup rows older than `rollup_days` ([`purge`] only).
    pub rollups: u64,
    pub batches: u64,
    /// Time spent deleting.
    pub delete_time: Duration,
    /// `VACUUM` or `ANALYZE`, when requested and the purge was not interrupted.
    pub maintenance: Option<Maintenance>,
    /// The purge stopped early because it was cancelled.
    pub interrupted: bool,
    pub total_time: Duration,
}

impl PurgeReport {
    pub fn total_rows(&self) -> u64 {
        self.packets + self.packet_seen + self.traceroute + self.nodes
    }
}

/// The optional step after deleting.
#[derive(Debug, Clone)]
pub struct Maintenance {
    /// `"VACUUM"` or `"ANALYZE"`.
    pub command: &'static str,
    pub elapsed: Duration,
    /// SQLite file size (pages × page size) before and after `VACUUM`.
    pub size_before: Option<u64>,
    pub size_after: Option<u64>,
}

/// Deletes what is older than `days_to_keep` days (from now, UTC).
pub async fn purge(
    db: &Db,
    days_to_keep: u32,
    opts: &PurgeOptions,
) -> Result<PurgeReport, StoreError> {
    if days_to_keep == 0 {
        // Zero would delete everything up to this instant, which is never what an
        // operator meant; refuse rather than empty the database.
        return Err(StoreError::Refused(
            "cleanup.days_to_keep is 0: refusing to delete all data (use 1 or more days)".into(),
        ));
    }
    let now = now_us();
    let mut report = purge_before(db, now - i64::from(days_to_keep) * MICROS_PER_DAY, opts).await?;
    if opts.rollup_days > 0 && !report.interrupted {
        report.rollups = purge_rollups_before(
            db,
            now - i64::from(opts.rollup_days) * MICROS_PER_DAY,
            &opts.log,
        )
        .await?;
    }
    Ok(report)
}

/// The rollups that keep history beyond the raw rows, by time bucket: what stats, top
/// talkers, node pages and the daily snapshots read for long windows. (`node_link` and
/// the link model's totals are per link, not per time: they stay.)
const ROLLUPS: [(&str, &str); 6] = [
    ("traffic_hourly", "hour_us"),
    ("traffic_hourly_total", "hour_us"),
    ("traffic_daily", "day_us"),
    ("gateway_hourly", "hour_us"),
    ("node_daily", "day_us"),
    ("link_hourly", "hour_us"),
];

/// Deletes the rollup buckets that start before `cutoff_us`, a day of buckets per
/// statement (each its own short transaction); returns the rows deleted.
pub async fn purge_rollups_before(
    db: &Db,
    cutoff_us: i64,
    log: &JobLog,
) -> Result<u64, StoreError> {
    let mut deleted = 0u64;
    for (table, column) in ROLLUPS {
        let oldest = match db {
            Db::Sqlite(p, _) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT MIN({column}) FROM {table}"
                )))
                .fetch_one(p)
                .await
            }
            Db::Postgres(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT MIN({column}) FROM {table}"
                )))
                .fetch_one(p)
                .await
            }
        };
        let oldest: Option<i64> = oldest.context(format!("reading {table}'s oldest bucket"))?;
        let Some(mut upto) = oldest else { continue };
        while upto < cutoff_us {
            upto = (upto + MICROS_PER_DAY).min(cutoff_us);
            let sql = format!("DELETE FROM {table} WHERE {column} < {upto}");
            let n = match db {
                Db::Sqlite(p, _) => sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()),
                Db::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(p)
                    .await
                    .map(|r| r.rows_affected()),
            }
            .context(format!("purging {table}"))?;
            deleted += n;
        }
    }
    if deleted > 0 {
        log.info(format!(
            "purge: deleted {deleted} rollup rows older than {}",
            crate::utc_text(cutoff_us)
        ));
    }
    Ok(deleted)
}

/// Deletes every row whose time is strictly before `cutoff_us` (microseconds, UTC).
pub async fn purge_before(
    db: &Db,
    cutoff_us: i64,
    opts: &PurgeOptions,
) -> Result<PurgeReport, StoreError> {
    let started = Instant::now();
    let log = &opts.log;
    let limit = i64::from(opts.batch_size.clamp(1, 50_000));
    let cutoff_text = crate::utc_text(cutoff_us);
    log.info(format!(
        "purge: deleting rows older than {cutoff_text} from {} in batches of {limit}",
        db.backend().name()
    ));

    let mut report = PurgeReport {
        cutoff_us,
        ..Default::default()
    };
    // Before the first batch: from its first delete on, rows before the cutoff may be
    // missing, and past windows that start earlier are answered from the rollups.
    record_horizon(db, cutoff_us)
        .await
        .context("recording the raw rows' horizon")?;
    let mut run = Runner {
        opts,
        limit,
        cutoff: cutoff_us,
        report: &mut report,
    };
    let deleting = Instant::now();
    let outcome = run.all(db).await;
    report.delete_time = deleting.elapsed();
    if let Err(e) = outcome {
        log.error(format!(
            "purge failed after deleting {} packets, {} receptions, {} traceroutes, {} nodes: {e}",
            report.packets, report.packet_seen, report.traceroute, report.nodes
        ));
        return Err(e);
    }
    log.info(format!(
        "purge: deleted {} packets, {} receptions, {} traceroutes, {} nodes in {} batches, {:.1?}{}",
        report.packets,
        report.packet_seen,
        report.traceroute,
        report.nodes,
        report.batches,
        report.delete_time,
        if report.interrupted {
            " (interrupted by shutdown; the rest is deleted next time)"
        } else {
            ""
        }
    ));

    if opts.vacuum && !report.interrupted {
        report.maintenance = Some(maintain(db, log).await?);
    }
    report.total_time = started.elapsed();
    Ok(report)
}

/// Moves `raw_horizon` forward to `cutoff_us` (never back).
async fn record_horizon(db: &Db, cutoff_us: i64) -> Result<(), sqlx::Error> {
    let sql = format!(
        "INSERT INTO raw_horizon (id, purged_before_us) VALUES (1, {cutoff_us}) \
         ON CONFLICT (id) DO UPDATE SET purged_before_us = CASE \
         WHEN excluded.purged_before_us > raw_horizon.purged_before_us \
         THEN excluded.purged_before_us ELSE raw_horizon.purged_before_us END"
    );
    match db {
        Db::Sqlite(p, _) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(p)
            .await
            .map(|_| ()),
        Db::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(p)
            .await
            .map(|_| ()),
    }
}

struct Runner<'a> {
    opts: &'a PurgeOptions,
    limit: i64,
    cutoff: i64,
    report: &'a mut PurgeReport,
}

/// Which table a batch loop works on, for counts and progress lines.
#[derive(Clone, Copy)]
enum Phase {
    Packets,
    Receptions,
    Traceroutes,
    Nodes,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::Packets => "packets (with their receptions and traceroutes)",
            Phase::Receptions => "receptions older than the cutoff",
            Phase::Traceroutes => "traceroutes older than the cutoff",
            Phase::Nodes => "nodes not seen since the cutoff",
        }
    }
}

/// Rows deleted by one batch, per table.
#[derive(Default)]
struct Batch {
    packets: u64,
    packet_seen: u64,
    traceroute: u64,
    nodes: u64,
    /// Rows the batch selected (a short batch means the phase is done).
    selected: u64,
}

impl Runner<'_> {
    async fn all(&mut self, db: &Db) -> Result<(), StoreError> {
        for phase in [
            Phase::Packets,
            Phase::Receptions,
            Phase::Traceroutes,
            Phase::Nodes,
        ] {
            if !self.phase(db, phase).await? {
                self.report.interrupted = true;
                break;
            }
        }
        Ok(())
    }

    /// Runs batches until one comes back short; false if cancelled.
    async fn phase(&mut self, db: &Db, phase: Phase) -> Result<bool, StoreError> {
        let started = Instant::now();
        let mut batches = 0u64;
        let mut rows = 0u64;
        loop {
            if self.opts.cancel.is_cancelled() {
                return Ok(false);
            }
            let b = self.batch_with_retry(db, phase).await?;
            batches += 1;
            self.report.batches += 1;
            self.report.packets += b.packets;
            self.report.packet_seen += b.packet_seen;
            self.report.traceroute += b.traceroute;
            self.report.nodes += b.nodes;
            rows += b.packets + b.packet_seen + b.traceroute + b.nodes;
            if b.selected < self.limit as u64 {
                break;
            }
            let every = u64::from(self.opts.progress_every);
            if every > 0 && batches.is_multiple_of(every) {
                self.opts.log.info(format!(
                    "purge: {}: {rows} rows deleted so far ({batches} batches, {:.1?})",
                    phase.label(),
                    started.elapsed()
                ));
            }
            // Let the ingest writer in between batches.
            tokio::task::yield_now().await;
            if !self.opts.pause.is_zero() {
                tokio::select! {
                    _ = tokio::time::sleep(self.opts.pause) => {}
                    _ = self.opts.cancel.cancelled() => return Ok(false),
                }
            }
        }
        if batches > 1 || rows > 0 {
            tracing::debug!(
                "purge: {}: {rows} rows in {batches} batches, {:.1?}",
                phase.label(),
                started.elapsed()
            );
        }
        Ok(true)
    }

    /// A batch is one transaction; a transient failure (a PostgreSQL deadlock with an
    /// ingest transaction, SQLite still busy after its timeout) rolls it back whole, so
    /// simply trying again is safe.
    async fn batch_with_retry(&self, db: &Db, phase: Phase) -> Result<Batch, StoreError> {
        const ATTEMPTS: u32 = 3;
        let mut attempt = 1;
        loop {
            let r = match db {
                Db::Sqlite(p, _) => sqlite_batch(p, phase, self.cutoff, self.limit).await,
                Db::Postgres(p) => pg_batch(p, phase, self.cutoff, self.limit).await,
            };
            match r {
                Ok(b) => return Ok(b),
                Err(e) if attempt < ATTEMPTS => {
                    self.opts.log.warn(format!(
                        "purge: {}: batch failed (attempt {attempt} of {ATTEMPTS}), retrying: {e}",
                        phase.label()
                    ));
                    tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
                    attempt += 1;
                }
                Err(e) => {
                    return Err(e).context(format!("purging {}", phase.label()));
                }
            }
        }
    }
}

async fn sqlite_batch(
    pool: &SqlitePool,
    phase: Phase,
    cutoff: i64,
    limit: i64,
) -> Result<Batch, sqlx::Error> {
    let mut b = Batch::default();
    match phase {
        Phase::Packets => {
            // IMMEDIATE takes the write lock before reading the ids (waiting up to the
            // busy timeout), so no other writer can add a reception to a chosen packet
            // between the SELECT and the DELETEs, and the read never needs upgrading.
            let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
            // Index-driven (idx_packet_import_time_us); NULL times never match.
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM packet WHERE import_time_us < ?1 ORDER BY import_time_us LIMIT ?2",
            )
            .bind(cutoff)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            b.selected = ids.len() as u64;
            if ids.is_empty() {
                tx.rollback().await?;
                return Ok(b);
            }
            // One JSON array parameter instead of thousands of bind variables.
            let list = serde_json::to_string(&ids).expect("integers serialize");
            b.packet_seen = sqlx::query(
                "DELETE FROM packet_seen WHERE packet_id IN (SELECT value FROM json_each(?1))",
            )
            .bind(&list)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            b.traceroute = sqlx::query(
                "DELETE FROM traceroute WHERE packet_id IN (SELECT value FROM json_each(?1))",
            )
            .bind(&list)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            // A packet's searchable text goes with it (store::text).
            sqlx::query(
                "DELETE FROM packet_text WHERE packet_id IN (SELECT value FROM json_each(?1))",
            )
            .bind(&list)
            .execute(&mut *tx)
            .await?;
            b.packets =
                sqlx::query("DELETE FROM packet WHERE id IN (SELECT value FROM json_each(?1))")
                    .bind(&list)
                    .execute(&mut *tx)
                    .await?
                    .rows_affected();
            tx.commit().await?;
        }
        // A single DELETE is its own transaction; as its first statement is a write, it
        // waits for the lock instead of failing on an upgrade.
        Phase::Receptions => {
            b.packet_seen = sqlx::query(
                "DELETE FROM packet_seen WHERE rowid IN \
                 (SELECT rowid FROM packet_seen WHERE import_time_us < ?1 LIMIT ?2)",
            )
            .bind(cutoff)
            .bind(limit)
            .execute(pool)
            .await?
            .rows_affected();
            b.selected = b.packet_seen;
        }
        Phase::Traceroutes => {
            b.traceroute = sqlx::query(
                "DELETE FROM traceroute WHERE id IN \
                 (SELECT id FROM traceroute WHERE import_time_us < ?1 LIMIT ?2)",
            )
            .bind(cutoff)
            .bind(limit)
            .execute(pool)
            .await?
            .rows_affected();
            b.selected = b.traceroute;
        }
        Phase::Nodes => {
            b.nodes = sqlx::query(
                "DELETE FROM node WHERE id IN \
                 (SELECT id FROM node WHERE last_seen_us < ?1 LIMIT ?2)",
            )
            .bind(cutoff)
            .bind(limit)
            .execute(pool)
            .await?
            .rows_affected();
            b.selected = b.nodes;
        }
    }
    Ok(b)
}

async fn pg_batch(
    pool: &PgPool,
    phase: Phase,
    cutoff: i64,
    limit: i64,
) -> Result<Batch, sqlx::Error> {
    let mut b = Batch::default();
    match phase {
        Phase::Packets => {
            let mut tx = pool.begin().await?;
            // FOR UPDATE: an ingest transaction adding a reception to one of these packets
            // (its foreign-key check locks the packet row) waits for this batch instead of
            // slipping a child in between our child and parent deletes.
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM packet WHERE import_time_us < $1 \
                 ORDER BY import_time_us LIMIT $2 FOR UPDATE",
            )
            .bind(cutoff)
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
            b.selected = ids.len() as u64;
            if ids.is_empty() {
                tx.rollback().await?;
                return Ok(b);
            }
            b.packet_seen = sqlx::query("DELETE FROM packet_seen WHERE packet_id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            b.traceroute = sqlx::query("DELETE FROM traceroute WHERE packet_id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            // A packet's searchable text goes with it (store::text).
            sqlx::query("DELETE FROM packet_text WHERE packet_id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await?;
            b.packets = sqlx::query("DELETE FROM packet WHERE id = ANY($1)")
                .bind(&ids)
                .execute(&mut *tx)
                .await?
                .rows_affected();
            tx.commit().await?;
        }
        Phase::Receptions => {
            // The primary key identifies a reception (packet_seen has no id column).
            b.packet_seen = sqlx::query(
                "DELETE FROM packet_seen WHERE (packet_id, node_id, rx_time) IN \
                 (SELECT packet_id, node_id, rx_time FROM packet_seen \
                  WHERE import_time_us < $1 LIMIT $2)",
            )
            .bind(cutoff)
            .bind(limit)
            .execute(pool)
            .await?
            .rows_affected();
            b.selected = b.packet_seen;
        }
        Phase::Traceroutes => {
            b.traceroute = sqlx::query(
                "DELETE FROM traceroute WHERE id IN \
                 (SELECT id FROM traceroute WHERE import_time_us < $1 LIMIT $2)",
            )
            .bind(cutoff)
            .bind(limit)
            .execute(pool)
            .await?
            .rows_affected();
            b.selected = b.traceroute;
        }
        Phase::Nodes => {
            b.nodes = sqlx::query(
                "DELETE FROM node WHERE id IN \
                 (SELECT id FROM node WHERE last_seen_us < $1 LIMIT $2)",
            )
            .bind(cutoff)
            .bind(limit)
            .execute(pool)
            .await?
            .rows_affected();
            b.selected = b.nodes;
        }
    }
    Ok(b)
}

/// `VACUUM` (SQLite) or `ANALYZE` (PostgreSQL), outside any transaction, logged to
/// `log`: after a purge, and `meshview db vacuum`.
pub async fn maintain(db: &Db, log: &JobLog) -> Result<Maintenance, StoreError> {
    let started = Instant::now();
    match db {
        Db::Sqlite(pool, _) => {
            let before = sqlite_size(pool).await.ok();
            log.info(format!(
                "VACUUM started ({}); other writers wait until it ends, which can take \
                 minutes on a large database",
                before
                    .map(human_bytes)
                    .unwrap_or_else(|| "size unknown".into())
            ));
            sqlx::query("VACUUM")
                .execute(pool)
                .await
                .context("VACUUM")?;
            // VACUUM rewrites every page through the WAL; give that space back too. A busy
            // reader can keep it from truncating, which is harmless.
            let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(pool)
                .await;
            let after = sqlite_size(pool).await.ok();
            let elapsed = started.elapsed();
            log.info(format!(
                "VACUUM done in {elapsed:.1?}: {} -> {}",
                before.map(human_bytes).unwrap_or_else(|| "?".into()),
                after.map(human_bytes).unwrap_or_else(|| "?".into())
            ));
            Ok(Maintenance {
                command: "VACUUM",
                elapsed,
                size_before: before,
                size_after: after,
            })
        }
        Db::Postgres(pool) => {
            // Space reuse is autovacuum's job; fresh statistics keep the planner on the
            // time indexes after a large delete.
            sqlx::query("ANALYZE packet, packet_seen, traceroute, node")
                .execute(pool)
                .await
                .context("ANALYZE")?;
            let elapsed = started.elapsed();
            log.info(format!("ANALYZE done in {elapsed:.1?}"));
            Ok(Maintenance {
                command: "ANALYZE",
                elapsed,
                size_before: None,
                size_after: None,
            })
        }
    }
}

async fn sqlite_size(pool: &SqlitePool) -> Result<u64, sqlx::Error> {
    let pages: i64 = sqlx::query_scalar("PRAGMA page_count")
        .fetch_one(pool)
        .await?;
    let size: i64 = sqlx::query_scalar("PRAGMA page_size")
        .fetch_one(pool)
        .await?;
    Ok((pages.max(0) as u64) * (size.max(0) as u64))
}

/// `1.5 MiB`-style sizes for log lines.
pub(crate) fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_bytes(0), "0 B");
        assert_eq!(human_bytes(1023), "1023 B");
        assert_eq!(human_bytes(1536), "1.5 KiB");
        assert_eq!(human_bytes(5 * 1024 * 1024 * 1024), "5.0 GiB");
    }
}

/// What [`delete_from`] deleted.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DeletedFrom {
    pub packets: u64,
    pub receptions: u64,
    pub traceroutes: u64,
}

/// Deletes the rows stored from `from_us` on (packets with their receptions, traceroutes
/// and text; then later receptions and traceroutes of older packets), a few thousand
/// packets per transaction: what `meshview db rebuild` derives again from the archive.
/// Nodes, keys and rollups stay (the replay updates the first two, the rebuild recomputes
/// the rollups).
pub async fn delete_from(
    conn: &mut crate::connect::Conn,
    from_us: i64,
    mut progress: impl FnMut(&DeletedFrom),
) -> Result<DeletedFrom, StoreError> {
    use crate::connect::Conn;
    const BATCH: i64 = 5_000;
    // Only integers are formatted into these statements: one text for both backends.
    async fn exec(conn: &mut Conn, sql: &str) -> Result<u64, StoreError> {
        conn.execute_count(sql)
            .await
            .map_err(|e| StoreError::sqlx("deleting rows to rebuild", e))
    }
    let mut done = DeletedFrom::default();
    loop {
        let select = format!(
            "SELECT id FROM packet WHERE import_time_us >= {from_us} \
             ORDER BY import_time_us LIMIT {BATCH}"
        );
        let ids: Vec<i64> = match conn {
            Conn::Sqlite(c) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(select.as_str()))
                    .fetch_all(&mut *c)
                    .await
            }
            Conn::Postgres(c) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(select.as_str()))
                    .fetch_all(&mut *c)
                    .await
            }
        }
        .context("listing packets to rebuild")?;
        if ids.is_empty() {
            break;
        }
        let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
        // IMMEDIATE on SQLite: the write lock up front, as every writer here takes it.
        let begin = match conn.backend() {
            crate::Backend::Sqlite => "BEGIN IMMEDIATE",
            crate::Backend::Postgres => "BEGIN",
        };
        conn.execute(begin)
            .await
            .context("deleting rows to rebuild")?;
        let batch = async {
            exec(
                conn,
                &format!("DELETE FROM packet_text WHERE packet_id IN ({list})"),
            )
            .await?;
            let r = exec(
                conn,
                &format!("DELETE FROM packet_seen WHERE packet_id IN ({list})"),
            )
            .await?;
            let t = exec(
                conn,
                &format!("DELETE FROM traceroute WHERE packet_id IN ({list})"),
            )
            .await?;
            let p = exec(conn, &format!("DELETE FROM packet WHERE id IN ({list})")).await?;
            Ok::<_, StoreError>((p, r, t))
        }
        .await;
        match batch {
            Ok((p, r, t)) => {
                conn.execute("COMMIT")
                    .await
                    .context("deleting rows to rebuild")?;
                done.packets += p;
                done.receptions += r;
                done.traceroutes += t;
                progress(&done);
            }
            Err(e) => {
                let _ = conn.execute("ROLLBACK").await;
                return Err(e);
            }
        }
    }
    done.receptions += exec(
        conn,
        &format!("DELETE FROM packet_seen WHERE import_time_us >= {from_us}"),
    )
    .await?;
    done.traceroutes += exec(
        conn,
        &format!("DELETE FROM traceroute WHERE import_time_us >= {from_us}"),
    )
    .await?;
    progress(&done);
    Ok(done)
}
