//! Read queries for the web side (API, stream, health, metrics): the only place the
//! reader's SQL lives.
//!
//! Every query binds its values (only `LIMIT` counts, integers clamped in Rust, are pasted:
//! see [`Sql::count`]) and is bounded: lists take a `LIMIT`, aggregates a time window,
//! and "newest first" lists page with keysets on `(import_time_us, id)`. Times are
//! computed in Rust (UTC microseconds) and bound, never taken from the database
//! session's clock or time zone; time buckets are integer arithmetic on the `_us`
//! columns, formatted by the caller. Aggregates over long windows read the writer's
//! rollup tables (`traffic_hourly`, `node_link`, `link_quality`) instead of the raw tables.
//!
//! SQL is written once for both backends (`$n` placeholders work on both); where the
//! dialects differ the two versions sit side by side in the same function. SQLite is
//! queried through rusqlite (the connection module's reader pool), PostgreSQL through
//! sqlx; both return owned rows, so each query's row mapping is written once too.

mod link_quality;
mod links;
mod nodes;
mod packets;
mod stats;
mod traceroute;

pub use link_quality::{
    LinkHourRow, LinkQualityFilter, LinkQualityRow, MAX_QUALITY_LINKS, PositionedLink, SourceCounts,
};
pub use links::{LinkRow, LinkSource, LinkSpan, LinkWindow};
pub use nodes::{AsOf, NodeFilter, NodeRow, PublicKeyRow};
pub use packets::{Cursor, PacketFilter, PacketRow, SeenRow};
pub use stats::{Bucket, DayActivity, SenderSums, TalkWindow, TopRow, TrafficFilter};
pub use traceroute::TraceRow;

use crate::row::{Arg, OwnedRow};
use crate::{Db, SqlContext, StoreError};

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

/// The read-only view of the database the web side uses. Cheap to create (a clone of
/// the pools' handles): one is made per request.
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

    /// Runs a query and returns every row: on SQLite through the reader's rusqlite
    /// pool, on PostgreSQL through sqlx. Each query's row mapping then reads
    /// [`OwnedRow`]s alike on both.
    pub(crate) async fn fetch_all(&self, q: Sql) -> Result<Vec<OwnedRow>, StoreError> {
        match &self.db {
            Db::Sqlite(_, lite) => lite.fetch_all(q.text, q.args).await,
            Db::Postgres(p) => {
                let mut query = sqlx::query(sqlx::AssertSqlSafe(q.text));
                for a in q.args {
                    query = match a {
                        Arg::I64(v) => query.bind(v),
                        Arg::F64(v) => query.bind(v),
                        Arg::Str(v) => query.bind(v),
                    };
                }
                crate::row::from_pg(
                    query
                        .fetch_all(p)
                        .await
                        .context("reading the PostgreSQL database")?,
                )
            }
        }
    }

    /// Runs a query and maps every row, failing on the first column that does not
    /// read as its field's type.
    pub(crate) async fn fetch_map<T>(
        &self,
        q: Sql,
        mut f: impl FnMut(OwnedRow) -> Result<T, StoreError>,
    ) -> Result<Vec<T>, StoreError> {
        let rows = self.fetch_all(q).await?;
        // Collecting a `Result` iterator would grow the Vec by doubling (no size hint).
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            out.push(f(row)?);
        }
        Ok(out)
    }

    /// The first row of a query that always returns one (an aggregate).
    pub(crate) async fn fetch_one(&self, q: Sql) -> Result<OwnedRow, StoreError> {
        let q_text = q.text.chars().take(80).collect();
        self.fetch_all(q)
            .await?
            .into_iter()
            .next()
            .ok_or_else(|| StoreError::NoRow(q_text))
    }

    /// The newest `packet.import_time_us` (via its index), for `/health`.
    pub async fn last_import_us(&self) -> Result<Option<i64>, StoreError> {
        let q = Sql::new("SELECT MAX(import_time_us) FROM packet");
        self.fetch_one(q).await?.take(0)
    }

    /// The time before which the retention purge may have deleted raw rows (none if it
    /// never ran): windows that start earlier are answered from the rollups.
    pub async fn raw_horizon_us(&self) -> Result<Option<i64>, StoreError> {
        let rows = self
            .fetch_map(
                Sql::new("SELECT purged_before_us FROM raw_horizon WHERE id = 1"),
                |mut r| r.take::<i64>("purged_before_us"),
            )
            .await?;
        Ok(rows.into_iter().next())
    }

    /// The database's size in bytes where the server can tell (PostgreSQL); SQLite's
    /// size is the file's, which the caller reads from disk.
    pub async fn postgres_size(&self) -> Result<Option<i64>, StoreError> {
        match &self.db {
            Db::Sqlite(..) => Ok(None),
            Db::Postgres(_) => {
                let q = Sql::new("SELECT pg_database_size(current_database())");
                self.fetch_one(q).await?.take(0)
            }
        }
    }

    /// Whether a table exists (rollups arrive with a later migration than the raw
    /// tables; endpoints that need one say so instead of failing).
    pub async fn table_exists(&self, table: &str) -> Result<bool, StoreError> {
        let mut q = Sql::new(match &self.db {
            Db::Sqlite(..) => "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ",
            Db::Postgres(_) => {
                "SELECT count(*) FROM information_schema.tables \
                 WHERE table_schema = current_schema() AND table_name = "
            }
        });
        q.str(table);
        let n: i64 = self.fetch_one(q).await?.take(0)?;
        Ok(n > 0)
    }

    /// `column` is one of `ids`, with a statement text that does not depend on how many
    /// there are: an `IN ($1, $2, …)` list would be a new statement (prepared, then
    /// crowding the cache) for each length. The ids are bound as one text: a JSON array
    /// read back by SQLite's `json_each`, or an array literal cast by PostgreSQL.
    pub(crate) fn push_in_ints(&self, q: &mut Sql, column: &str, ids: &[i64]) {
        let (open, close, before, after) = match &self.db {
            Db::Sqlite(..) => ('[', ']', " IN (SELECT value FROM json_each(", "))"),
            Db::Postgres(_) => ('{', '}', " = ANY(CAST(", " AS bigint[]))"),
        };
        let mut list = String::with_capacity(ids.len() * 11 + 2);
        list.push(open);
        for (i, id) in ids.iter().enumerate() {
            if i > 0 {
                list.push(',');
            }
            list.push_str(itoa::Buffer::new().format(*id));
        }
        list.push(close);
        q.push(column).push(before).str(&list).push(after);
    }
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

    /// Fixed text whose `$n` placeholders take `args[n - 1]`.
    pub fn bound(text: &str, args: Vec<Arg>) -> Sql {
        Sql {
            text: text.to_string(),
            args,
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

    /// Appends a `LIMIT` (or `OFFSET`) count as a literal. SQLite's planner reads a
    /// bound count's value, so a cached statement is prepared again whenever the count
    /// differs from its last run (perf showed ~3 % of the reader's CPU re-preparing);
    /// the count is an integer the caller clamped, never client text.
    pub fn count(&mut self, n: i64) -> &mut Self {
        self.text.push_str(&n.to_string());
        self
    }

    /// Binds a float and appends its placeholder.
    pub fn float(&mut self, v: f64) -> &mut Self {
        self.args.push(Arg::F64(v));
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
