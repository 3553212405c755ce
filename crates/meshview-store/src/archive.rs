//! The raw archive: every MQTT message the writer accepted (topic, payload, receive
//! time), kept for `[archive] days_to_keep` so that the rows derived from it can be
//! derived again (after a decoder fix, or with a channel key added later).
//!
//! Messages are kept in segments: protobuf-framed (`Segment`), then zstd-compressed.
//! The batch writer writes one segment per batch in the batch's own transaction, so the
//! archive holds exactly the messages of the committed batches (and, when a batch is
//! written item by item, those of writes the database refused too). Receptions of one packet
//! by several gateways repeat its encrypted bytes, which zstd finds within a segment, but
//! a quiet mesh commits a few messages a batch: [`compact`] joins such small segments
//! into big ones later.

use prost::Message as _;

use crate::connect::Conn;
use crate::{Db, SqlContext, StoreError};

/// zstd's level for the segments the writer seals with each batch: fast.
pub const BATCH_LEVEL: i32 = 3;
/// The level for segments joined by [`compact`]: smaller, off the ingest path.
pub const COMPACT_LEVEL: i32 = 9;
/// Segments with fewer messages than this are joined by [`compact`], up to this many.
pub const COMPACT_MESSAGES: i64 = 4000;

/// One accepted MQTT message, as it arrived.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// When the writer received it (µs since the epoch).
    #[prost(int64, tag = "1")]
    pub at_us: i64,
    #[prost(string, tag = "2")]
    pub topic: String,
    #[prost(bytes = "vec", tag = "3")]
    pub payload: Vec<u8>,
}

/// What a segment's data decompresses to. Each message's `at_us` is stored as the
/// difference from the previous message's (the first's from 0): a few bytes instead of
/// eight, which took the simulator's traffic from 42 % to 38 % of its payload bytes.
#[derive(Clone, PartialEq, prost::Message)]
struct Frame {
    #[prost(message, repeated, tag = "1")]
    messages: Vec<Message>,
}

/// A sealed segment, as stored in `archive_segment`.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    pub first_us: i64,
    pub last_us: i64,
    pub messages: i64,
    /// Topic and payload bytes before compression.
    pub raw_bytes: i64,
    pub data: Vec<u8>,
}

impl Segment {
    /// Frames and compresses `messages` (in arrival order) at zstd `level`.
    pub fn seal(messages: Vec<Message>, level: i32) -> Segment {
        let mut pending = Pending::default();
        for m in messages {
            pending.push(m);
        }
        Sealer::new(level).seal(&mut pending)
    }

    /// The messages of a stored segment's `data`, in arrival order.
    pub fn open(data: &[u8]) -> Result<Vec<Message>, StoreError> {
        let bytes = zstd::stream::decode_all(data)
            .map_err(|e| StoreError::Corrupt(format!("archive segment: {e}")))?;
        let mut messages = Frame::decode(bytes.as_slice())
            .map(|f| f.messages)
            .map_err(|e| StoreError::Corrupt(format!("archive segment: {e}")))?;
        let mut at = 0i64;
        for m in &mut messages {
            at = at.wrapping_add(m.at_us);
            m.at_us = at;
        }
        Ok(messages)
    }
}

/// Stores one segment in a transaction of its own (the batch writer's fallback when a
/// batch's rows are written one by one).
pub async fn insert(db: &Db, segment: &Segment) -> Result<(), StoreError> {
    match db {
        Db::Sqlite(pool, _) => match pool.acquire().await {
            Ok(mut c) => insert_sqlite(&mut c, segment).await,
            Err(e) => Err(e),
        },
        Db::Postgres(pool) => match pool.acquire().await {
            Ok(mut c) => insert_pg(&mut c, segment).await,
            Err(e) => Err(e),
        },
    }
    .context("archiving a batch's messages")
}

/// Stores a segment on a connection, in its transaction if it has one (the batch
/// writer's, compaction's).
pub(crate) async fn insert_sqlite(
    conn: &mut sqlx::SqliteConnection,
    s: &Segment,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO archive_segment (first_us, last_us, messages, raw_bytes, data) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )
    .bind(s.first_us)
    .bind(s.last_us)
    .bind(s.messages)
    .bind(s.raw_bytes)
    .bind(s.data.as_slice())
    .execute(conn)
    .await
    .map(|_| ())
}

/// [`insert_sqlite`] on PostgreSQL.
pub(crate) async fn insert_pg(
    conn: &mut sqlx::PgConnection,
    s: &Segment,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO archive_segment (first_us, last_us, messages, raw_bytes, data) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(s.first_us)
    .bind(s.last_us)
    .bind(s.messages)
    .bind(s.raw_bytes)
    .bind(s.data.as_slice())
    .execute(conn)
    .await
    .map(|_| ())
}

/// A batch's messages, framed as they arrive (the bytes a [`Frame`] encodes to), waiting
/// to be sealed: half the memory of the messages themselves, and nothing to encode again.
#[derive(Default)]
pub struct Pending {
    framed: Vec<u8>,
    first_us: i64,
    last_us: i64,
    /// The last message's time, which the next one's is stored relative to.
    previous_us: i64,
    messages: i64,
    raw_bytes: i64,
}

impl Pending {
    pub fn push(&mut self, mut m: Message) {
        let at = m.at_us;
        if self.messages == 0 {
            (self.first_us, self.last_us, self.previous_us) = (at, at, 0);
        }
        self.first_us = self.first_us.min(at);
        self.last_us = self.last_us.max(at);
        self.messages += 1;
        self.raw_bytes += (m.topic.len() + m.payload.len()) as i64;
        // As `Frame` stores it: the time since the previous message.
        m.at_us = at.wrapping_sub(self.previous_us);
        self.previous_us = at;
        // Field 1 of `Frame`, length-delimited: its key byte, then the message.
        self.framed.push(0x0a);
        m.encode_length_delimited(&mut self.framed)
            .expect("a Vec grows to hold any message");
    }

    pub fn is_empty(&self) -> bool {
        self.messages == 0
    }

    pub fn clear(&mut self) {
        self.framed.clear();
        self.messages = 0;
        self.raw_bytes = 0;
        // A burst's buffer is not kept for the quiet that follows.
        if self.framed.capacity() > 4 << 20 {
            self.framed = Vec::new();
        }
    }
}

/// zstd's window for segments: receptions of one packet arrive within a few messages of
/// each other (a few hundred bytes), so a small window loses nothing and keeps the
/// compressor's tables (and the writer's memory) small.
const WINDOW_LOG: u32 = 17;

/// Seals segments one after another, reusing its zstd context and output buffer (a
/// fresh megabyte-sized context per batch grew the writer's memory).
pub struct Sealer {
    level: i32,
    compressor: Option<zstd::bulk::Compressor<'static>>,
    packed: Vec<u8>,
}

impl Sealer {
    pub fn new(level: i32) -> Sealer {
        Sealer {
            level,
            compressor: None,
            packed: Vec::new(),
        }
    }

    /// Compresses what `pending` holds into a segment, and empties it.
    pub fn seal(&mut self, pending: &mut Pending) -> Segment {
        let level = self.level;
        let compressor = self.compressor.get_or_insert_with(|| {
            let mut c = zstd::bulk::Compressor::new(level).expect("a valid zstd level");
            c.set_parameter(zstd::zstd_safe::CParameter::WindowLog(WINDOW_LOG))
                .expect("a valid window");
            c
        });
        self.packed.clear();
        self.packed
            .reserve(zstd::zstd_safe::compress_bound(pending.framed.len()));
        compressor
            .compress_to_buffer(&pending.framed, &mut self.packed)
            .expect("the buffer holds zstd's bound for the input");
        let segment = Segment {
            first_us: pending.first_us,
            last_us: pending.last_us,
            messages: pending.messages,
            raw_bytes: pending.raw_bytes,
            data: self.packed.clone(),
        };
        if self.packed.capacity() > 4 << 20 {
            self.packed = Vec::new();
        }
        pending.clear();
        segment
    }
}

/// How the archive stands.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ArchiveStats {
    pub segments: i64,
    pub messages: i64,
    /// Topic and payload bytes as received.
    pub raw_bytes: i64,
    /// Compressed bytes stored.
    pub stored_bytes: i64,
    pub first_us: Option<i64>,
    pub last_us: Option<i64>,
}

// (SUM is an integer on SQLite, a NUMERIC on PostgreSQL: the casts make both BIGINT.)
const STATS_SQL: &str = "SELECT COUNT(*), CAST(COALESCE(SUM(messages), 0) AS BIGINT), \
     CAST(COALESCE(SUM(raw_bytes), 0) AS BIGINT), CAST(COALESCE(SUM(LENGTH(data)), 0) AS BIGINT), \
     MIN(first_us), MAX(last_us) FROM archive_segment";

type StatsRow = (i64, i64, i64, i64, Option<i64>, Option<i64>);

pub async fn stats(conn: &mut Conn) -> Result<ArchiveStats, StoreError> {
    let row: StatsRow = match conn {
        Conn::Sqlite(c) => sqlx::query_as(STATS_SQL).fetch_one(&mut *c).await,
        Conn::Postgres(c) => sqlx::query_as(STATS_SQL).fetch_one(&mut *c).await,
    }
    .context("reading the archive's size")?;
    Ok(ArchiveStats {
        segments: row.0,
        messages: row.1,
        raw_bytes: row.2,
        stored_bytes: row.3,
        first_us: row.4,
        last_us: row.5,
    })
}

/// What [`compact`] did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Compacted {
    /// Small segments joined…
    pub joined: u64,
    /// …into this many.
    pub into: u64,
    pub messages: u64,
    /// Compressed bytes before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// SQL built by this module: only integers (ids, times, limits) are formatted into it,
/// which keeps one text for both backends' placeholders.
fn safe(sql: &str) -> sqlx::AssertSqlSafe<&str> {
    sqlx::AssertSqlSafe(sql)
}

/// Segments looked at per [`compact`] run (the newest small ones pile up between runs).
const COMPACT_SCAN: i64 = 20_000;

/// Joins runs of consecutive small segments (fewer than [`COMPACT_MESSAGES`] messages,
/// all older than `before_us`) into segments of up to [`COMPACT_MESSAGES`] messages: a
/// quiet mesh writes a segment per message or two, which zstd cannot shrink. Each joined
/// segment replaces its parts in one short transaction, so a reader of the archive sees
/// either; the order of the messages is kept.
pub async fn compact(conn: &mut Conn, before_us: i64) -> Result<Compacted, StoreError> {
    // Integers only: the SQL is the same on both backends.
    let scan = format!(
        "SELECT id, messages FROM archive_segment \
         WHERE first_us >= COALESCE((SELECT MIN(first_us) FROM archive_segment \
                                     WHERE messages < {COMPACT_MESSAGES} AND last_us < {before_us}), {before_us}) \
           AND last_us < {before_us} \
         ORDER BY first_us, id LIMIT {COMPACT_SCAN}"
    );
    let rows: Vec<(i64, i64)> = match conn {
        Conn::Sqlite(c) => sqlx::query_as(safe(&scan)).fetch_all(&mut *c).await,
        Conn::Postgres(c) => sqlx::query_as(safe(&scan)).fetch_all(&mut *c).await,
    }
    .context("listing the archive's small segments")?;
    let mut done = Compacted::default();
    for group in runs(&rows) {
        let (n, before, after) = join(conn, &group).await?;
        done.joined += group.len() as u64;
        done.into += 1;
        done.messages += n;
        done.bytes_before += before;
        done.bytes_after += after;
    }
    Ok(done)
}

/// Groups of at least two consecutive small segments, each group holding at most
/// [`COMPACT_MESSAGES`] messages; a big segment ends a run.
fn runs(rows: &[(i64, i64)]) -> Vec<Vec<i64>> {
    let mut out = Vec::new();
    let mut run: Vec<i64> = Vec::new();
    let mut messages = 0;
    let mut close = |run: &mut Vec<i64>| {
        if run.len() >= 2 {
            out.push(std::mem::take(run));
        }
        run.clear();
    };
    for &(id, n) in rows {
        if n >= COMPACT_MESSAGES {
            close(&mut run);
            messages = 0;
            continue;
        }
        if messages + n > COMPACT_MESSAGES {
            close(&mut run);
            messages = 0;
        }
        run.push(id);
        messages += n;
    }
    close(&mut run);
    out
}

/// Replaces the segments `ids` (consecutive, in order) by one, in one transaction;
/// returns the messages and the compressed bytes before and after.
async fn join(conn: &mut Conn, ids: &[i64]) -> Result<(u64, u64, u64), StoreError> {
    let list = ids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    // IMMEDIATE on SQLite: the write lock up front. FOR UPDATE on PostgreSQL: a purge
    // deleting one of them waits, rather than leaving its messages in the joined segment.
    let (begin, lock) = match conn.backend() {
        crate::Backend::Sqlite => ("BEGIN IMMEDIATE", ""),
        crate::Backend::Postgres => ("BEGIN", " FOR UPDATE"),
    };
    conn.execute(begin)
        .await
        .context("compacting the archive")?;
    let joined = async {
        let parts = blobs(
            conn,
            &format!(
                "SELECT data FROM archive_segment WHERE id IN ({list}) ORDER BY first_us, id{lock}"
            ),
        )
        .await?;
        let mut messages = Vec::new();
        for p in &parts {
            messages.extend(Segment::open(p)?);
        }
        let segment = Segment::seal(messages, COMPACT_LEVEL);
        insert_on(conn, &segment).await?;
        conn.execute_count(&format!("DELETE FROM archive_segment WHERE id IN ({list})"))
            .await
            .context("compacting the archive")?;
        let before: u64 = parts.iter().map(|p| p.len() as u64).sum();
        Ok::<_, StoreError>((segment.messages as u64, before, segment.data.len() as u64))
    }
    .await;
    match joined {
        Ok(j) => {
            conn.execute("COMMIT")
                .await
                .context("compacting the archive")?;
            Ok(j)
        }
        Err(e) => {
            let _ = conn.execute("ROLLBACK").await;
            Err(e)
        }
    }
}

/// The `data` column of the rows `sql` selects.
async fn blobs(conn: &mut Conn, sql: &str) -> Result<Vec<Vec<u8>>, StoreError> {
    match conn {
        Conn::Sqlite(c) => sqlx::query_scalar(safe(sql)).fetch_all(&mut *c).await,
        Conn::Postgres(c) => sqlx::query_scalar(safe(sql)).fetch_all(&mut *c).await,
    }
    .context("reading the archive")
}

/// Stores a segment on `conn` (in its transaction, if one is open).
async fn insert_on(conn: &mut Conn, segment: &Segment) -> Result<(), StoreError> {
    match conn {
        Conn::Sqlite(c) => insert_sqlite(c, segment).await,
        Conn::Postgres(c) => insert_pg(c, segment).await,
    }
    .context("archiving messages")
}

/// Deletes the segments whose newest message is older than `cutoff_us`, a few at a
/// time (each up to a megabyte or so); returns how many messages went.
pub async fn purge_before(conn: &mut Conn, cutoff_us: i64) -> Result<u64, StoreError> {
    const BATCH: i64 = 200;
    let sql = format!(
        "DELETE FROM archive_segment WHERE id IN \
         (SELECT id FROM archive_segment WHERE last_us < {cutoff_us} ORDER BY last_us LIMIT {BATCH})"
    );
    let messages = conn
        .scalar_i64(&format!(
            "SELECT CAST(COALESCE(SUM(messages), 0) AS BIGINT) FROM archive_segment \
             WHERE last_us < {cutoff_us}"
        ))
        .await
        .context("counting the archive's old messages")?;
    loop {
        let deleted = conn
            .execute_count(&sql)
            .await
            .context("purging the archive")?;
        if deleted < BATCH as u64 {
            return Ok(messages as u64);
        }
        // Let the batch writer in between.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

/// Every archived message received at `from_us` or later, segment by segment in order,
/// to `each` (a replay). Segments are read one at a time: memory stays at one segment.
pub async fn replay<F>(conn: &mut Conn, from_us: i64, mut each: F) -> Result<u64, StoreError>
where
    F: AsyncFnMut(Vec<Message>) -> Result<(), StoreError>,
{
    let mut after: (i64, i64) = (i64::MIN, i64::MIN);
    let mut n = 0u64;
    loop {
        // Keyset over (first_us, id): one segment per step, whatever the archive's size.
        // A segment that starts before `from_us` may still hold later messages.
        let sql = format!(
            "SELECT id, first_us, data FROM archive_segment \
             WHERE last_us >= {from_us} AND (first_us > {a} OR (first_us = {a} AND id > {b})) \
             ORDER BY first_us, id LIMIT 1",
            a = after.0,
            b = after.1
        );
        let row: Option<(i64, i64, Vec<u8>)> = match conn {
            Conn::Sqlite(c) => sqlx::query_as(safe(&sql)).fetch_optional(&mut *c).await,
            Conn::Postgres(c) => sqlx::query_as(safe(&sql)).fetch_optional(&mut *c).await,
        }
        .context("reading the archive")?;
        let Some((id, first, data)) = row else {
            return Ok(n);
        };
        after = (first, id);
        let mut messages = Segment::open(&data)?;
        messages.retain(|m| m.at_us >= from_us);
        n += messages.len() as u64;
        each(messages).await?;
    }
}

/// Messages received at `from_us` or later.
pub async fn count_from(conn: &mut Conn, from_us: i64) -> Result<u64, StoreError> {
    // Whole segments from `from_us` on, plus those of the one segment that straddles it.
    let whole = conn
        .scalar_i64(&format!(
            "SELECT CAST(COALESCE(SUM(messages), 0) AS BIGINT) FROM archive_segment WHERE first_us >= {from_us}"
        ))
        .await
        .context("counting the archive")?;
    let mut straddling = 0u64;
    let sql = format!(
        "SELECT data FROM archive_segment WHERE first_us < {from_us} AND last_us >= {from_us}"
    );
    let parts = blobs(conn, &sql).await?;
    for p in parts {
        straddling += Segment::open(&p)?
            .iter()
            .filter(|m| m.at_us >= from_us)
            .count() as u64;
    }
    Ok(whole as u64 + straddling)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(at_us: i64, topic: &str, payload: &[u8]) -> Message {
        Message {
            at_us,
            topic: topic.into(),
            payload: payload.to_vec(),
        }
    }

    #[test]
    fn a_segment_opens_to_what_was_sealed() {
        let msgs = vec![
            msg(5, "msh/US/2/e/LongFast/!a", &[1, 2, 3]),
            msg(3, "msh/US/2/e/LongFast/!b", &[1, 2, 3]),
            msg(9, "", &[]),
        ];
        let s = Segment::seal(msgs.clone(), BATCH_LEVEL);
        assert_eq!((s.first_us, s.last_us, s.messages), (3, 9, 3));
        assert_eq!(s.raw_bytes, 22 + 3 + 22 + 3);
        assert_eq!(Segment::open(&s.data).unwrap(), msgs);
        assert!(matches!(
            Segment::open(b"not zstd"),
            Err(StoreError::Corrupt(_))
        ));
    }

    #[test]
    fn runs_join_consecutive_small_segments_up_to_the_cap() {
        let big = COMPACT_MESSAGES;
        // A big segment splits runs; a lone small segment is left; the cap ends a run
        // (6 and 7 fill it, 8 would be alone).
        let rows = [
            (1, 1),
            (2, 2),
            (3, big),
            (4, 5),
            (5, big),
            (6, big - 10),
            (7, 6),
            (8, 5),
        ];
        assert_eq!(runs(&rows), vec![vec![1, 2], vec![6, 7]]);
        assert!(runs(&[]).is_empty());
    }
}
