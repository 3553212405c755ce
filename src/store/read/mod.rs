//! Read queries for the web side (API, stream, health, metrics): the only place the
//! reader's SQL lives.
//!
//! Every query binds its values and is bounded: lists take a `LIMIT`, aggregates a time
//! window, and "newest first" lists page with keysets on `(import_time_us, id)`. Times
//! are computed in Rust (UTC microseconds) and bound, never taken from the database
//! session's clock or time zone; time buckets are integer arithmetic on the `_us`
//! columns, formatted by the caller. Aggregates over long windows read the writer's
//! rollup tables (`traffic_hourly`, `node_link`) instead of the raw tables.
//!
//! SQL is written once for both backends (`$n` placeholders work on both); where the
//! dialects differ the two versions sit side by side in the same function.

mod links;
mod nodes;
mod packets;
mod stats;
mod traceroute;

pub use links::{LinkRow, LinkSource, LinkWindow};
pub use nodes::{NodeFilter, NodeRow, PublicKeyRow};
pub use packets::{Cursor, PacketFilter, PacketRow, SeenRow};
pub use stats::{Bucket, SenderSums, TopRow, TrafficFilter};
pub use traceroute::TraceRow;

use super::Db;

/// The stride between slots of one Meshtastic packet id (see `store::write`).
pub const SLOT: i64 = 1 << 32;
/// Slots a Meshtastic id can occupy (`id + k·2³²`, k < SLOTS).
pub const SLOTS: i64 = 8;

/// The stored ids a Meshtastic packet id can have.
pub fn slot_ids(meshtastic_id: u32) -> Vec<i64> {
    (0..SLOTS)
        .map(|k| meshtastic_id as i64 + k * SLOT)
        .collect()
}

/// Runs `$body` with `$pool` bound to the backend's pool; the body is type-checked once
/// per backend, so the same query text and row mapping serve both.
macro_rules! with_pool {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            $crate::store::Db::Sqlite($pool) => $body,
            $crate::store::Db::Postgres($pool) => $body,
        }
    };
}
pub(crate) use with_pool;

/// The read-only view of the database the web side uses.
#[derive(Clone, Debug)]
pub struct Reader {
    db: Db,
}

impl Reader {
    pub fn new(db: Db) -> Self {
        Reader { db }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// The newest `packet.import_time_us` (via its index), for `/health`.
    pub async fn last_import_us(&self) -> Result<Option<i64>, sqlx::Error> {
        const SQL: &str = "SELECT MAX(import_time_us) FROM packet";
        with_pool!(&self.db, |p| sqlx::query_scalar(SQL).fetch_one(p).await)
    }

    /// The database's size in bytes where the server can tell (PostgreSQL); SQLite's
    /// size is the file's, which the caller reads from disk.
    pub async fn postgres_size(&self) -> Result<Option<i64>, sqlx::Error> {
        match &self.db {
            Db::Sqlite(_) => Ok(None),
            Db::Postgres(p) => {
                sqlx::query_scalar("SELECT pg_database_size(current_database())")
                    .fetch_one(p)
                    .await
            }
        }
    }

    /// Whether a table exists (rollups arrive with a later migration than the raw
    /// tables; endpoints that need one say so instead of failing).
    pub async fn table_exists(&self, table: &str) -> Result<bool, sqlx::Error> {
        let n: i64 = match &self.db {
            Db::Sqlite(p) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
                )
                .bind(table)
                .fetch_one(p)
                .await?
            }
            Db::Postgres(p) => {
                sqlx::query_scalar(
                    "SELECT count(*) FROM information_schema.tables \
                     WHERE table_schema = current_schema() AND table_name = $1",
                )
                .bind(table)
                .fetch_one(p)
                .await?
            }
        };
        Ok(n > 0)
    }
}

/// A bound value of a dynamically built query.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    I64(i64),
    Str(String),
}

/// Dynamic SQL with numbered placeholders (`$1`, `$2`, … work on both backends) and its
/// values: every value is bound, only fixed fragments are pasted.
#[derive(Default, Debug)]
pub(crate) struct Sql {
    pub text: String,
    pub args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_string(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, fragment: &str) -> &mut Self {
        self.text.push_str(fragment);
        self
    }

    /// Binds an integer and appends its placeholder.
    pub fn int(&mut self, v: i64) -> &mut Self {
        self.args.push(Arg::I64(v));
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    /// Binds a string and appends its placeholder.
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.args.push(Arg::Str(v.to_string()));
        let n = self.args.len();
        self.text.push_str(&format!("${n}"));
        self
    }

    /// `AND lower(col) = lower($n)`: MeshView matches channels case-insensitively.
    /// Channel names are short ASCII, so both backends lower them alike.
    pub fn and_channel(&mut self, column: &str, channel: &str) -> &mut Self {
        self.push(&format!(" AND lower({column}) = lower("))
            .str(channel)
            .push(")")
    }
}

/// Builds a `sqlx::query` from [`Sql`], binding every value (per backend arm).
macro_rules! build_query {
    ($sql:expr) => {{
        let mut q = sqlx::query(sqlx::AssertSqlSafe($sql.text.clone()));
        for a in &$sql.args {
            q = match a {
                $crate::store::read::Arg::I64(v) => q.bind(*v),
                $crate::store::read::Arg::Str(v) => q.bind(v.clone()),
            };
        }
        q
    }};
}
pub(crate) use build_query;
