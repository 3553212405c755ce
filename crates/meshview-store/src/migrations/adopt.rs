//! Adopting a Python MeshView database, at any of its Alembic revisions.
//!
//! MeshView's schema went through ten revisions (plus two on its 3.0.6 branch); older
//! databases also carry pre-3.0 `DateTime` columns, NULL `_us` values that were never
//! backfilled, and orphans (receptions and traceroutes whose packet the cleanup purged
//! first). Rather than replaying MeshView's history, adoption rebuilds its tables into our
//! chain's MeshView-equivalent revision ([`ADOPTION_POINT`]) in one transaction — the
//! table-rebuild pattern: rename the old tables aside, create ours, copy every row that
//! fits, set orphans aside, drop the old tables — then the normal upgrade continues from
//! there. Nothing valid is lost; what changed is logged with counts.

use std::collections::BTreeSet;
use std::time::Instant;

use sqlx::Row;

use super::{Chain, MigrateError, SchemaState, UpgradeOptions, exec, in_transaction, record};
use super::{ForeignKeys, begin, commit, rollback, table_exists};
use crate::DatabaseUrl;
use crate::connect::Conn;
use crate::{SqlContext, StoreError};

/// Our revision whose schema equals MeshView 3.0.5's head (minus its tutorial table).
pub const ADOPTION_POINT: &str = "88604a24d7a7";

/// MeshView's Alembic revisions, oldest first, and what each one's schema lacks or carries
/// compared with its head. Every one of them is adopted at [`ADOPTION_POINT`].
pub const MESHVIEW_REVISIONS: &[(&str, &str)] = &[
    ("c88468b7ab0b", "initial: DateTime columns, no _us columns"),
    ("add_time_us_cols", "adds import_time_us (not backfilled)"),
    ("1717fa5c6545", "adds the tutorial table example"),
    ("ac311b3782a1", "adds traceroute.route_return"),
    ("2b5a61bb2b75", "adds node.first_seen_us, last_seen_us"),
    ("9f3b1a8d2c4f", "drops the import_time DateTime columns"),
    ("b7c3c2e3a1f0", "node.last_update becomes last_update_us"),
    ("d4d7b0c2e1a4", "drops node.last_update_us"),
    ("a0c9c13e118f", "adds node_public_key"),
    ("23dad03d2e42", "adds node.is_mqtt_gateway (3.0.5 head)"),
    (
        "4f1d2a9c8b71",
        "3.0.6 branch: adds daily_snapshot (kept as is)",
    ),
    ("c6b1d8f2a9e3", "3.0.6 branch: empty placeholder"),
];

/// MeshView's tables, parents before children.
const TABLES: [&str; 5] = [
    "node",
    "packet",
    "packet_seen",
    "traceroute",
    "node_public_key",
];

fn old(table: &str) -> String {
    format!("mv_adopt_{table}")
}

/// A table's column names (lower case), in their order.
async fn columns(conn: &mut Conn, table: &str) -> Result<Vec<String>, StoreError> {
    let names: Vec<String> = match conn {
        Conn::Sqlite(c) => sqlx::query("SELECT name FROM pragma_table_info($1) ORDER BY cid")
            .bind(table)
            .fetch_all(&mut *c)
            .await
            .context(format!("reading the columns of {table}"))?
            .iter()
            .map(|r| r.get(0))
            .collect(),
        Conn::Postgres(c) => sqlx::query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut *c)
        .await
        .context(format!("reading the columns of {table}"))?
        .iter()
        .map(|r| r.get(0))
        .collect(),
    };
    Ok(names.into_iter().map(|n| n.to_ascii_lowercase()).collect())
}

async fn count(conn: &mut Conn, sql: &str) -> Result<i64, StoreError> {
    conn.scalar_i64(sql)
        .await
        .context(format!("counting ({sql})"))
}

async fn exec_count(conn: &mut Conn, sql: &str) -> Result<u64, StoreError> {
    conn.execute_count(sql)
        .await
        .context(format!("adopting ({sql})"))
}

async fn run(conn: &mut Conn, sql: &str) -> Result<(), StoreError> {
    exec(conn, sql).await.context(format!("adopting ({sql})"))
}

/// Moves a MeshView table aside: its indexes (whose names ours reuse) are dropped on
/// SQLite and renamed on PostgreSQL, where they may back constraints.
async fn move_aside(conn: &mut Conn, table: &str) -> Result<(), StoreError> {
    match conn {
        Conn::Sqlite(c) => {
            let names: Vec<String> = sqlx::query(
                "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL",
            )
            .bind(table)
            .fetch_all(&mut *c)
            .await
            .context("listing indexes")?
            .iter()
            .map(|r| r.get(0))
            .collect();
            for n in names {
                run(conn, &format!("DROP INDEX \"{n}\"")).await?;
            }
        }
        Conn::Postgres(c) => {
            let names: Vec<String> = sqlx::query(
                "SELECT i.relname::text FROM pg_index x \
                 JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE t.relname = $1 AND n.nspname = current_schema()",
            )
            .bind(table)
            .fetch_all(&mut *c)
            .await
            .context("listing indexes")?
            .iter()
            .map(|r| r.get(0))
            .collect();
            let seq: Option<String> = if table == "traceroute" || table == "node_public_key" {
                sqlx::query("SELECT pg_get_serial_sequence($1, 'id')")
                    .bind(table)
                    .fetch_one(&mut *c)
                    .await
                    .context("finding the id sequence")?
                    .get(0)
            } else {
                None
            };
            for n in names {
                let new: String = format!("mv_adopt_{n}").chars().take(63).collect();
                run(conn, &format!("ALTER INDEX \"{n}\" RENAME TO \"{new}\"")).await?;
            }
            if let Some(seq) = seq {
                let bare = seq.rsplit('.').next().unwrap_or(&seq).trim_matches('"');
                let new: String = format!("mv_adopt_{bare}").chars().take(63).collect();
                run(conn, &format!("ALTER SEQUENCE {seq} RENAME TO \"{new}\"")).await?;
            }
        }
    }
    run(
        conn,
        &format!("ALTER TABLE {table} RENAME TO {}", old(table)),
    )
    .await
}

/// SQL turning a legacy `DateTime` column into microseconds since the epoch (UTC).
fn datetime_to_us(conn: &Conn, col: &str) -> String {
    match conn {
        // SQLite's date functions keep only milliseconds, so whole seconds come from
        // strftime and the microseconds from the text SQLAlchemy wrote (`….ffffff`).
        Conn::Sqlite(_) => format!(
            "(CAST(strftime('%s', o.{col}) AS BIGINT) * 1000000 + CASE WHEN instr(o.{col}, '.') > 0 \
             THEN CAST(substr(substr(o.{col}, instr(o.{col}, '.') + 1) || '000000', 1, 6) AS BIGINT) \
             ELSE 0 END)"
        ),
        Conn::Postgres(_) => format!("CAST(EXTRACT(EPOCH FROM o.{col}) * 1000000 AS BIGINT)"),
    }
}

/// Copies a SQLite database with SQLite's online backup: pages as they are (13 s for a
/// 2.7 GB file here, where `VACUUM INTO` rebuilt every table and index in 23 s), and
/// consistent even if another process writes meanwhile (the copy then restarts).
fn backup_sqlite(from: &std::path::Path, to: &std::path::Path) -> rusqlite::Result<()> {
    use rusqlite::{Connection, OpenFlags, backup::Backup};
    let src = Connection::open_with_flags(from, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let mut dst = Connection::open(to)?;
    Backup::new(&src, &mut dst)?.run_to_completion(4096, std::time::Duration::ZERO, None)
}

/// What adoption did, for the log and for tests.
#[derive(Debug, Default, Clone)]
pub struct AdoptionSummary {
    pub rows_kept: Vec<(String, u64)>,
    pub orphans_set_aside: Vec<(String, u64)>,
    pub legacy_columns: Vec<String>,
    pub times_backfilled: u64,
}

/// Adopts the MeshView database on `conn` (migration lock held). Returns the revision
/// of our chain it now stands at.
pub(super) async fn adopt(
    conn: &mut Conn,
    url: &DatabaseUrl,
    chain: &Chain,
    state: &SchemaState,
    opts: &UpgradeOptions,
) -> Result<String, MigrateError> {
    let from = state.meshview_revision.as_deref();
    if let Some(rev) = from
        && !MESHVIEW_REVISIONS.iter().any(|(r, _)| *r == rev)
    {
        return Err(MigrateError::Target(format!(
            "alembic_version says {rev}, which is not a MeshView revision this binary knows \
             (known: {}); refusing to guess its schema",
            MESHVIEW_REVISIONS
                .iter()
                .map(|(r, _)| *r)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let from_label = from.unwrap_or("pre-Alembic (no alembic_version)");
    tracing::info!(
        meshview_revision = from_label,
        "adopting a MeshView database"
    );
    let started = Instant::now();

    if let (DatabaseUrl::Sqlite { path }, true) = (url, opts.backup_before_adoption) {
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
        let mut backup = path.as_os_str().to_owned();
        backup.push(format!(".pre-adoption-{stamp}.db"));
        let backup = std::path::PathBuf::from(backup);
        let (from, to) = (path.clone(), backup.clone());
        tokio::task::spawn_blocking(move || backup_sqlite(&from, &to))
            .await
            .map_err(|e| StoreError::Schema(format!("the pre-adoption copy stopped: {e}")))?
            .map_err(|e| {
                StoreError::Schema(format!(
                    "backing up to {} before adoption: {e}",
                    backup.display()
                ))
            })?;
        let size = std::fs::metadata(&backup).map(|m| m.len()).unwrap_or(0);
        tracing::info!(backup = %backup.display(), bytes = size, "copied the database before adopting it");
    }

    let adoption_pos = chain
        .position(ADOPTION_POINT)
        .expect("the adoption point is in the embedded chain");
    let note = format!("adopted from MeshView {from_label}");
    let summary: AdoptionSummary = in_transaction!(conn, ForeignKeys::CheckedAtCommit, {
        let mut summary = AdoptionSummary::default();
        let mut present = Vec::new();
        for t in TABLES {
            if table_exists(conn, t).await? {
                let cols = columns(conn, t).await?;
                move_aside(conn, t).await?;
                present.push((t, cols));
            }
        }
        for m in &chain.migrations()[..=adoption_pos] {
            run(conn, m.up(conn.backend())).await?;
            record(conn, m, Some(&note)).await?;
        }
        // Rows first, indexes after: an index built once from sorted rows costs a
        // fraction of one grown row by row, and on SQLite a table without secondary
        // indexes can be copied by transfer (see `copy_table`).
        let tables: Vec<&str> = present.iter().map(|(t, _)| *t).collect();
        let indexes = secondary_indexes(conn, &tables).await?;
        for (name, _, _) in &indexes {
            run(conn, &format!("DROP INDEX \"{name}\"")).await?;
        }
        let mut rows_of = std::collections::BTreeMap::new();
        for (t, _) in &present {
            rows_of.insert(
                *t,
                count(conn, &format!("SELECT count(*) FROM {}", old(t))).await? as u64,
            );
        }
        // Progress counts rows: each table's copy, then each index over its rows.
        let total: u64 = rows_of.values().sum::<u64>()
            + indexes
                .iter()
                .map(|(_, t, _)| rows_of.get(t.as_str()).copied().unwrap_or(0))
                .sum::<u64>();
        let mut done = 0;
        for (t, old_cols) in &present {
            let started = Instant::now();
            copy_table(conn, t, old_cols, rows_of[t], &mut summary).await?;
            tracing::info!(table = %t, rows = rows_of[t], millis = started.elapsed().as_millis() as u64, "copied");
            done += rows_of[t];
            crate::progress::rows(done, total).await;
        }
        for (name, t, sql) in &indexes {
            let started = Instant::now();
            run(conn, sql).await?;
            tracing::info!(index = %name, millis = started.elapsed().as_millis() as u64, "indexed");
            done += rows_of.get(t.as_str()).copied().unwrap_or(0);
            crate::progress::rows(done, total).await;
        }
        // Pre-3.0 rows never got _us values; derive node recency from their packets so
        // legacy nodes show up in lists and age out by the normal retention.
        for (col, agg) in [("last_seen_us", "MAX"), ("first_seen_us", "MIN")] {
            summary.times_backfilled += exec_count(
                conn,
                &format!(
                    "UPDATE node SET {col} = (SELECT {agg}(p.import_time_us) FROM packet p \
                     WHERE p.from_node_id = node.node_id) WHERE {col} IS NULL AND node_id IS NOT NULL"
                ),
            )
            .await?;
        }
        for t in [
            "packet_seen",
            "traceroute",
            "node_public_key",
            "packet",
            "node",
        ] {
            if present.iter().any(|(p, _)| *p == t) {
                run(conn, &format!("DROP TABLE {}", old(t))).await?;
            }
        }
        // MeshView's tutorial table ships in production databases; it holds nothing.
        run(conn, "DROP TABLE IF EXISTS example").await?;
        // New rows get ids after every id MeshView gave, those of the orphans set aside
        // included (SQLite's AUTOINCREMENT counts them too), so no two rows share one.
        if let Conn::Postgres(_) = conn {
            for t in ["traceroute", "node_public_key"] {
                let aside = format!("adopted_orphan_{t}");
                let max = if summary.orphans_set_aside.iter().any(|(a, _)| *a == aside) {
                    format!("GREATEST((SELECT MAX(id) FROM {t}), (SELECT MAX(id) FROM {aside}))")
                } else {
                    format!("(SELECT MAX(id) FROM {t})")
                };
                run(
                    conn,
                    &format!(
                        "SELECT setval(pg_get_serial_sequence('{t}', 'id'), COALESCE({max}, 0) + 1, false)"
                    ),
                )
                .await?;
            }
        }
        Ok(summary)
    })?;

    for (t, n) in &summary.rows_kept {
        tracing::info!(table = %t, rows = n, "adopted rows");
    }
    if summary.orphans_set_aside.is_empty() {
        tracing::info!("no orphaned receptions or traceroutes found");
    }
    for (t, n) in &summary.orphans_set_aside {
        tracing::warn!(
            table = %t,
            rows = n,
            "set aside orphaned rows whose packet MeshView's cleanup had already deleted; they are kept in {t} (drop it when no longer wanted)"
        );
    }
    if !summary.legacy_columns.is_empty() {
        tracing::info!(columns = %summary.legacy_columns.join(", "), "legacy columns folded into the _us columns or dropped");
    }
    if summary.times_backfilled > 0 {
        tracing::info!(
            values = summary.times_backfilled,
            "backfilled missing node first/last-seen times from their packets"
        );
    }
    tracing::info!(
        revision = ADOPTION_POINT,
        millis = started.elapsed().as_millis() as u64,
        "adoption complete"
    );
    Ok(ADOPTION_POINT.to_string())
}

/// The secondary indexes of `tables` (name, table, DDL): not those behind a primary key
/// or unique constraint, which come with their table.
async fn secondary_indexes(
    conn: &mut Conn,
    tables: &[&str],
) -> Result<Vec<(String, String, String)>, StoreError> {
    let mut out = Vec::new();
    for t in tables {
        let rows: Vec<(String, String)> = match conn {
            Conn::Sqlite(c) => {
                sqlx::query_as(
                    "SELECT name, sql FROM sqlite_master \
                 WHERE type = 'index' AND tbl_name = $1 AND sql IS NOT NULL ORDER BY name",
                )
                .bind(t)
                .fetch_all(&mut *c)
                .await
            }
            Conn::Postgres(c) => {
                sqlx::query_as(
                    "SELECT i.relname::text, pg_get_indexdef(i.oid) FROM pg_index x \
                 JOIN pg_class i ON i.oid = x.indexrelid JOIN pg_class t ON t.oid = x.indrelid \
                 JOIN pg_namespace n ON n.oid = t.relnamespace \
                 WHERE t.relname = $1 AND n.nspname = current_schema() \
                 AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = x.indexrelid) \
                 ORDER BY 1",
                )
                .bind(t)
                .fetch_all(&mut *c)
                .await
            }
        }
        .context(format!("listing the indexes of {t}"))?;
        out.extend(
            rows.into_iter()
                .map(|(name, sql)| (name, t.to_string(), sql)),
        );
    }
    Ok(out)
}

/// Copies one table's rows (`rows` of them) from its moved-aside MeshView version into
/// ours.
async fn copy_table(
    conn: &mut Conn,
    table: &str,
    old_order: &[String],
    rows: u64,
    summary: &mut AdoptionSummary,
) -> Result<(), StoreError> {
    let new_order = columns(conn, table).await?;
    let old_cols: BTreeSet<String> = old_order.iter().cloned().collect();
    let new_cols: BTreeSet<String> = new_order.iter().cloned().collect();
    let mut targets = Vec::new();
    let mut exprs = Vec::new();
    for col in &new_cols {
        // Legacy sources for a column, best first.
        let mut sources: Vec<String> = Vec::new();
        if old_cols.contains(col) {
            sources.push(format!("o.{col}"));
        }
        match (table, col.as_str()) {
            (_, "import_time_us") if old_cols.contains("import_time") => {
                sources.push(datetime_to_us(conn, "import_time"));
            }
            ("node", "last_seen_us") => {
                if old_cols.contains("last_update_us") {
                    sources.push("o.last_update_us".into());
                }
                if old_cols.contains("last_update") {
                    sources.push(datetime_to_us(conn, "last_update"));
                }
            }
            _ => {}
        }
        match sources.len() {
            0 => {}
            1 => {
                targets.push(col.clone());
                exprs.push(sources.remove(0));
            }
            _ => {
                targets.push(col.clone());
                exprs.push(format!("COALESCE({})", sources.join(", ")));
            }
        }
    }
    for col in old_cols.difference(&new_cols) {
        summary.legacy_columns.push(format!("{table}.{col}"));
    }
    let old_t = old(table);
    // Receptions and traceroutes need their packet now that foreign keys are enforced.
    let orphan_test = match table {
        "packet_seen" => Some("NOT EXISTS (SELECT 1 FROM packet p WHERE p.id = o.packet_id)"),
        "traceroute" => Some(
            "o.packet_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM packet p WHERE p.id = o.packet_id)",
        ),
        _ => None,
    };
    // SQLite, where MeshView's columns are ours one for one (every table of MeshView
    // 3.0.5): `SELECT *` lets SQLite's transfer optimisation move the rows and their key
    // index entries as they are, in order, instead of decoding each row and inserting its
    // key at a random page (11.6 million receptions: 15 s with the orphan search, where
    // the row-by-row copy took 65–135 s). Orphans are then found in our copy, its key
    // index read in packet order, and moved aside.
    let transfer = matches!(conn, Conn::Sqlite(_)) && old_order == new_order.as_slice();
    let mut kept = if transfer {
        run(conn, &format!("INSERT INTO {table} SELECT * FROM {old_t}")).await?;
        rows
    } else {
        let filter = orphan_test
            .map(|t| format!(" WHERE NOT ({t})"))
            .unwrap_or_default();
        exec_count(
            conn,
            &format!(
                "INSERT INTO {table} ({}) SELECT {} FROM {old_t} o{filter}",
                targets.join(", "),
                exprs.join(", ")
            ),
        )
        .await?
    };
    if let Some(test) = orphan_test {
        let n = if transfer {
            count(
                conn,
                &format!("SELECT count(*) FROM {table} o WHERE {test}"),
            )
            .await? as u64
        } else {
            rows.saturating_sub(kept)
        };
        if n > 0 {
            let aside = format!("adopted_orphan_{table}");
            run(
                conn,
                &format!("CREATE TABLE {aside} AS SELECT * FROM {old_t} o WHERE {test}"),
            )
            .await?;
            if transfer {
                run(conn, &format!("DELETE FROM {table} AS o WHERE {test}")).await?;
                kept -= n;
            }
            summary.orphans_set_aside.push((aside, n));
        }
    }
    summary.rows_kept.push((table.to_string(), kept));
    Ok(())
}
