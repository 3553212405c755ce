//! Helpers of the jobs tests: a database at head, an open pool, rows read back as text.

use meshview_store::migrations::{self, Chain, UpgradeOptions};
use meshview_store::{Db, Role};

use crate::common::{Backend, TestDb};

/// The cutoff the scenario tests purge at (microseconds, UTC; late 2023).
pub const CUTOFF: i64 = 1_700_000_000_000_000;
pub const OLD: i64 = CUTOFF - 1_000_000;
pub const NEW: i64 = CUTOFF + 1_000_000;

/// A fresh database migrated to head.
pub async fn head(backend: Backend) -> TestDb {
    let db = TestDb::new(backend).await;
    migrations::upgrade(
        &db.url,
        &Chain::embedded().unwrap(),
        None,
        &UpgradeOptions::default(),
    )
    .await
    .expect("upgrade to head");
    db
}

/// The writer's pool, as the scheduler gets it.
pub async fn open(db: &TestDb) -> Db {
    Db::open(&db.url, Role::Writer).await.expect("open pool")
}

/// A BLOB/BYTEA literal.
pub fn blob(backend: Backend, hex: &str) -> String {
    match backend {
        Backend::Sqlite => format!("X'{hex}'"),
        Backend::Postgres => format!("'\\x{hex}'::bytea"),
    }
}

/// `NULL` or the number, for building SQL.
pub fn n(v: Option<i64>) -> String {
    v.map_or_else(|| "NULL".into(), |v| v.to_string())
}

/// A query's single text column, every row.
pub async fn strings(db: &Db, sql: &str) -> Vec<String> {
    let q = sqlx::AssertSqlSafe(sql.to_string());
    match db {
        Db::Sqlite(p, _) => sqlx::query_scalar(q).fetch_all(p).await,
        Db::Postgres(p) => sqlx::query_scalar(q).fetch_all(p).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// `a/b/…` per row from integer columns (NULL as `null`), sorted.
pub async fn keys(db: &Db, table: &str, cols: &[&str]) -> Vec<String> {
    let expr = cols
        .iter()
        .map(|c| format!("COALESCE(CAST({c} AS TEXT), 'null')"))
        .collect::<Vec<_>>()
        .join(" || '/' || ");
    let mut v = strings(db, &format!("SELECT {expr} FROM {table}")).await;
    v.sort();
    v
}

pub async fn count(db: &Db, sql: &str) -> i64 {
    let q = sqlx::AssertSqlSafe(format!("SELECT CAST(({sql}) AS BIGINT)"));
    match db {
        Db::Sqlite(p, _) => sqlx::query_scalar(q).fetch_one(p).await,
        Db::Postgres(p) => sqlx::query_scalar(q).fetch_one(p).await,
    }
    .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

/// Receptions, traceroutes and searchable texts whose packet is missing (must be 0).
pub async fn orphans(db: &Db) -> i64 {
    count(
        db,
        "SELECT count(*) FROM packet_seen s LEFT JOIN packet p ON p.id = s.packet_id WHERE p.id IS NULL",
    )
    .await
        + count(
            db,
            "SELECT count(*) FROM traceroute t LEFT JOIN packet p ON p.id = t.packet_id \
             WHERE t.packet_id IS NOT NULL AND p.id IS NULL",
        )
        .await
        + count(
            db,
            "SELECT count(*) FROM packet_text t LEFT JOIN packet p ON p.id = t.packet_id \
             WHERE p.id IS NULL",
        )
        .await
}

/// Inserts `count` packets with ids from `first`, each with `seen` receptions (by nodes
/// 1..=seen), all at `time`.
pub fn packets_sql(backend: Backend, first: i64, count: i64, seen: i64, time: i64) -> String {
    let mut sql = String::new();
    for id in first..first + count {
        sql.push_str(&format!(
            "INSERT INTO packet (id, portnum, from_node_id, to_node_id, payload, import_time_us, channel) \
             VALUES ({id}, 1, 7, 4294967295, {}, {time}, 'LongFast');\n",
            blob(backend, "0a0b")
        ));
        for node in 1..=seen {
            sql.push_str(&format!(
                "INSERT INTO packet_seen (packet_id, node_id, rx_time, hop_limit, rx_snr, topic, import_time_us) \
                 VALUES ({id}, {node}, 1, 3, 5.5, 'msh/x', {time});\n"
            ));
        }
    }
    sql
}
