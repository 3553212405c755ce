//! The writer's batched write path.
//!
//! Ingest hands over [`WriteOp`]s through a bounded channel; [`BatchWriter`] commits them
//! in one transaction per batch (flushed by size or every ~50 ms), with multi-row upserts
//! and no per-message round trip. A database that is busy or away is retried with backoff
//! while the channel keeps buffering; a batch that fails for a data reason is retried
//! item by item so one bad row never costs the others.
//!
//! Packet identity is (sender, packet id): Meshtastic ids are 32-bit and chosen per sender,
//! so two senders can use the same id. `packet.id` stays the Meshtastic id whenever it is
//! free (nearly always), so MeshView's id-based lookups keep working; a second sender's
//! packet with an id already taken is stored under `id + k·2³²` (k = 1, 2, …), ids no radio
//! can produce. The low 32 bits of `packet.id` are therefore always the id on the air.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use sqlx::Database;
use tokio::sync::mpsc;

use crate::archive::{self, Segment};
use crate::ops::{
    FlushCounts, LiveSender, NodeFacts, Reception, StoredPacket, TracerouteRow, WriteOp,
};
use crate::rollups::BatchRollup;
use crate::rollups::links::RelayResolver;
use crate::{Db, StoreError};

mod pg;
pub mod retro;
mod sqlite;

/// Entries kept in the packet-id cache before it is dropped and rebuilt from the database.
const ID_CACHE_MAX: usize = 200_000;
/// The stride between slots of one Meshtastic packet id.
const SLOT: i64 = 1 << 32;

/// Knows which `packet.id` slots are taken by which sender, and each packet's port.
#[derive(Default)]
struct IdSlots {
    /// Slot → (sender, the stored packet's port).
    owner: HashMap<i64, (u32, i32)>,
}

/// What the batch writer reports as it works. The writer's counters implement it, so the
/// store needs nothing of the ingest side.
pub trait WriteObserver: Sync {
    /// A batch of `items` was committed (or given up item by item) in `took`.
    fn flushed(&self, items: usize, counts: FlushCounts, took: Duration);
    /// The database was unavailable (`error`: down, busy, its disk full); the batch (or
    /// item) waits and is retried. [`WriteObserver::flushed`] says it is over.
    fn retried(&self, error: &StoreError);
    /// Writes still queued after a commit.
    fn queue_depth(&self, n: usize);
}

/// One backend's statements of the batch writer, run on the connection of the batch's
/// transaction. `sqlite.rs` and `pg.rs` implement it; [`BatchWriter::flush`] runs the same
/// steps over either.
trait BatchStatements {
    /// Rows per multi-row statement.
    const CHUNK: usize;
    /// (id, sender, port) of the stored packets among `ids`.
    async fn lookup(&mut self, ids: &[i64]) -> Result<Vec<(i64, u32, i32)>, sqlx::Error>;
    /// Inserts packets; with `returning`, reports which ids were really inserted.
    async fn insert_packets(
        &mut self,
        rows: &[(&Reception, i64)],
        returning: bool,
    ) -> Result<HashSet<i64>, sqlx::Error>;
    /// Inserts receptions; with `returning`, reports which were really inserted.
    async fn insert_receptions(
        &mut self,
        rows: &[(&Reception, i64)],
        returning: bool,
    ) -> Result<HashSet<(i64, i64, i64)>, sqlx::Error>;
    async fn insert_texts(&mut self, rows: &[(i64, i64, String)]) -> Result<(), sqlx::Error>;
    async fn insert_traceroutes(
        &mut self,
        rows: &[(&Reception, i64, &TracerouteRow)],
    ) -> Result<(), sqlx::Error>;
    async fn upsert_keys(&mut self, rows: &[(u32, String, i64, i64)]) -> Result<(), sqlx::Error>;
    async fn upsert_nodes(&mut self, nodes: &[NodeWrite]) -> Result<(), sqlx::Error>;
    async fn write_rollup(&mut self, rollup: &BatchRollup) -> Result<(), sqlx::Error>;
    /// What the relay resolver starts from: links with direct evidence and their SNR.
    async fn relay_candidates(&mut self) -> Result<Vec<(i64, i64, Option<f64>)>, sqlx::Error>;
    /// Stores one sealed segment of the raw archive.
    async fn insert_segment(&mut self, segment: &Segment) -> Result<(), sqlx::Error>;
}

/// Runs the slot walk, looking unknown slots up until all are decided.
async fn resolve_ids<C: BatchStatements>(
    conn: &mut C,
    slots: &mut IdSlots,
    receptions: &[&Reception],
) -> Result<Vec<(i64, bool)>, sqlx::Error> {
    let mut claimed: HashMap<i64, u32> = HashMap::new();
    for _round in 0..8 {
        let mut unknown: Vec<i64> = receptions
            .iter()
            .filter_map(|r| match walk_slots(slots, &claimed, r) {
                Slot::Unknown(id) => Some(id),
                Slot::Decided(..) => None,
            })
            .collect();
        if unknown.is_empty() {
            return Ok(receptions
                .iter()
                .map(|r| match walk_slots(slots, &claimed, r) {
                    Slot::Decided(id, new) => (id, new),
                    Slot::Unknown(_) => unreachable!("all decided"),
                })
                .collect());
        }
        unknown.sort_unstable();
        unknown.dedup();
        for (id, from, port) in conn.lookup(&unknown).await? {
            slots.owner.insert(id, (from, port));
        }
        // Slots absent from the database are free: the first reception that reaches one
        // claims it for its sender.
        for r in receptions {
            if let Slot::Unknown(id) = walk_slots(slots, &claimed, r)
                && unknown.binary_search(&id).is_ok()
            {
                claimed.insert(id, r.from);
            }
        }
    }
    Err(sqlx::Error::Protocol("could not resolve packet ids".into()))
}

/// Owns the writer's connection pool and commits batches.
pub struct BatchWriter {
    db: Db,
    slots: IdSlots,
    relays: RelayResolver,
    /// Seals each batch's archive segment (made on the first).
    sealer: Option<archive::Sealer>,
    live: Option<LiveSender>,
    committed: Option<tokio::sync::watch::Sender<u64>>,
    idle_flush: Option<Duration>,
    pub max_batch: usize,
    pub max_delay: Duration,
}

/// What the batch writer's queue carries: a write, optionally a ticket that the writer
/// reports back once the write is committed (see [`BatchWriter::with_committed`]), and
/// optionally the message it came from, for the raw archive.
pub trait Queued: Send {
    fn into_parts(self) -> (WriteOp, Option<u64>, Option<archive::Message>);
}

impl Queued for WriteOp {
    fn into_parts(self) -> (WriteOp, Option<u64>, Option<archive::Message>) {
        (self, None, None)
    }
}

impl Queued for (WriteOp, Option<u64>) {
    fn into_parts(self) -> (WriteOp, Option<u64>, Option<archive::Message>) {
        (self.0, self.1, None)
    }
}

impl Queued for (WriteOp, Option<u64>, Option<archive::Message>) {
    fn into_parts(self) -> (WriteOp, Option<u64>, Option<archive::Message>) {
        self
    }
}

/// One batch: the writes, and the messages they came from (empty without the archive).
#[derive(Default)]
pub struct Batch {
    pub ops: Vec<WriteOp>,
    pub archived: archive::Pending,
}

impl Batch {
    fn clear(&mut self) {
        self.ops.clear();
        self.archived.clear();
    }
}

impl BatchWriter {
    pub fn new(db: Db) -> Self {
        BatchWriter {
            db,
            slots: IdSlots::default(),
            relays: RelayResolver::default(),
            sealer: None,
            live: None,
            committed: None,
            idle_flush: None,
            max_batch: 8000,
            max_delay: Duration::from_millis(50),
        }
    }

    /// Announces every newly stored packet on `live` after commit.
    pub fn with_live(mut self, live: LiveSender) -> Self {
        self.live = Some(live);
        self
    }

    /// Forgets cached packet ids (after a purge deleted packets, for example).
    pub fn forget_ids(&mut self) {
        self.slots.owner.clear();
    }

    /// Reports, after each commit, the ticket of the batch's last ticketed write: every
    /// write queued with a ticket up to it is then committed (or, for a data failure that no
    /// retry fixes, given up and counted). Tickets must grow in queue order; the MQTT source
    /// acknowledges its messages to the broker from this.
    pub fn with_committed(mut self, committed: tokio::sync::watch::Sender<u64>) -> Self {
        self.committed = Some(committed);
        self
    }

    /// Also commits when no write arrived for `idle`, before the batch's deadline: a source
    /// that waits for commits (a broker's window of unacknowledged messages) then never
    /// waits out the whole delay.
    pub fn with_idle_flush(mut self, idle: Duration) -> Self {
        self.idle_flush = Some(idle);
        self
    }

    /// Drains `rx` until it closes, committing by size or time; flushes what is pending
    /// before returning, so a shutdown loses nothing that was accepted.
    pub async fn run<Q: Queued>(mut self, mut rx: mpsc::Receiver<Q>, stats: &impl WriteObserver) {
        let mut batch = Batch {
            ops: Vec::with_capacity(self.max_batch),
            archived: archive::Pending::default(),
        };
        let mut ticket: Option<u64> = None;
        let take = |q: Q, batch: &mut Batch, ticket: &mut Option<u64>| {
            let (op, t, raw) = q.into_parts();
            batch.ops.push(op);
            if let Some(m) = raw {
                batch.archived.push(m);
            }
            if t.is_some() {
                *ticket = t;
            }
        };
        loop {
            let first = match rx.recv().await {
                Some(q) => q,
                None => break,
            };
            take(first, &mut batch, &mut ticket);
            let deadline = tokio::time::Instant::now() + self.max_delay;
            while batch.ops.len() < self.max_batch {
                let until = match self.idle_flush {
                    Some(idle) => deadline.min(tokio::time::Instant::now() + idle),
                    None => deadline,
                };
                match tokio::time::timeout_at(until, rx.recv()).await {
                    Ok(Some(q)) => take(q, &mut batch, &mut ticket),
                    Ok(None) | Err(_) => break,
                }
            }
            self.commit_with_retry(&mut batch, stats).await;
            self.report_committed(ticket.take());
            stats.queue_depth(rx.len());
        }
        if !batch.ops.is_empty() {
            self.commit_with_retry(&mut batch, stats).await;
            self.report_committed(ticket.take());
        }
    }

    fn report_committed(&self, ticket: Option<u64>) {
        if let (Some(tx), Some(t)) = (&self.committed, ticket) {
            // Nobody listening any more (the source stopped) is fine.
            tx.send_replace(t);
        }
    }

    /// Commits `batch` (emptying it); retries transient failures with capped backoff.
    pub async fn commit_with_retry(&mut self, batch: &mut Batch, stats: &impl WriteObserver) {
        let mut backoff = Duration::from_millis(100);
        let mut attempts = 0u32;
        // Sealed once: a retry stores the same segment.
        let segment = (!batch.archived.is_empty()).then(|| {
            self.sealer
                .get_or_insert_with(|| archive::Sealer::new(archive::BATCH_LEVEL))
                .seal(&mut batch.archived)
        });
        loop {
            let started = Instant::now();
            match self.flush(&batch.ops, segment.as_ref()).await {
                Ok(c) => {
                    stats.flushed(batch.ops.len(), c, started.elapsed());
                    batch.clear();
                    return;
                }
                Err(e) if e.is_transient() => {
                    attempts += 1;
                    stats.retried(&e);
                    if attempts == 1 || attempts.is_power_of_two() {
                        tracing::warn!(error = %e, attempts, items = batch.ops.len(), "database unavailable; retrying the batch");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    // A data problem (a constraint, a stale id cache): rebuild the cache and
                    // fall back to one transaction per item, so only the culprit is lost.
                    tracing::warn!(error = %e, items = batch.ops.len(), "batch rejected; retrying item by item");
                    self.forget_ids();
                    // The archive keeps every message, those of the rejected writes too:
                    // a rebuild with a fixed decoder may store them.
                    if let Some(segment) = &segment {
                        self.archive_alone(segment, stats).await;
                    }
                    let mut failed = 0u64;
                    let mut counts = FlushCounts::default();
                    let total = batch.ops.len();
                    batch.archived.clear();
                    for op in batch.ops.drain(..) {
                        let one = [op];
                        let mut wait = Duration::from_millis(100);
                        loop {
                            match self.flush(&one, None).await {
                                Ok(c) => {
                                    counts.packets_new += c.packets_new;
                                    counts.receptions_new += c.receptions_new;
                                    counts.receptions_duplicate += c.receptions_duplicate;
                                }
                                Err(e) if e.is_transient() => {
                                    stats.retried(&e);
                                    tokio::time::sleep(wait).await;
                                    wait = (wait * 2).min(Duration::from_secs(5));
                                    continue;
                                }
                                Err(e) => {
                                    failed += 1;
                                    self.forget_ids();
                                    tracing::warn!(error = %e, op = %summary(&one[0]), "dropped one write");
                                }
                            }
                            break;
                        }
                    }
                    counts.failed_items = failed;
                    stats.flushed(total - failed as usize, counts, started.elapsed());
                    return;
                }
            }
        }
    }

    /// Stores a segment in a transaction of its own, retrying while the database is
    /// away; one that the database refuses is logged and lost (its rows are not).
    async fn archive_alone(&self, segment: &Segment, stats: &impl WriteObserver) {
        let mut wait = Duration::from_millis(100);
        loop {
            match archive::insert(&self.db, segment).await {
                Ok(()) => return,
                Err(e) if e.is_transient() => {
                    stats.retried(&e);
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    tracing::warn!(error = %e, messages = segment.messages, "could not archive a batch's messages");
                    return;
                }
            }
        }
    }

    /// Writes one batch in one transaction, with its archive segment if any.
    pub async fn flush(
        &mut self,
        batch: &[WriteOp],
        segment: Option<&Segment>,
    ) -> Result<FlushCounts, StoreError> {
        let plan = Plan::build(batch, segment);
        match &self.db {
            // IMMEDIATE: take SQLite's write lock up front, so a batch waits (busy timeout)
            // for another writer instead of failing when its read snapshot goes stale.
            Db::Sqlite(pool, _) => {
                let mut conn = pool.acquire().await.map_err(outage)?;
                let result = match sqlx::Connection::begin_with(&mut *conn, "BEGIN IMMEDIATE").await
                {
                    Ok(tx) => self.flush_in(tx, &plan, true).await,
                    Err(e) => Err(outage(e)),
                };
                // After some failures (a full disk, I/O errors) SQLite has already rolled
                // the transaction back itself; sqlx still counts it open, its ROLLBACK
                // fails, and every later BEGIN on that connection would fail with "non-zero
                // transaction depth" (found by tests/ingest/disk_full.rs: the writer never
                // recovered). A failed batch's connection is closed instead; the pool opens
                // a fresh one for the retry.
                if result.is_err() {
                    conn.close_on_drop();
                }
                result
            }
            Db::Postgres(pool) => {
                let tx = pool.begin().await.map_err(outage)?;
                self.flush_in(tx, &plan, false).await
            }
        }
    }

    /// Runs the batch's steps in `tx` and commits; on failure rolls back and forgets the
    /// slots it claimed. `exclusive`: the transaction holds the database's only write lock
    /// (SQLite), so ids resolved as free inside it stay free.
    async fn flush_in<DB>(
        &mut self,
        mut tx: sqlx::Transaction<'_, DB>,
        plan: &Plan<'_>,
        exclusive: bool,
    ) -> Result<FlushCounts, StoreError>
    where
        DB: Database,
        DB::Connection: BatchStatements,
    {
        let ids = match resolve_ids(&mut *tx, &mut self.slots, &plan.receptions).await {
            Ok(ids) => ids,
            Err(e) => {
                self.slots.owner.clear();
                return Err(classify(e));
            }
        };
        if !self.relays.is_loaded() {
            match tx.relay_candidates().await {
                Ok(links) => self.relays.load(&links),
                Err(e) => return Err(classify(e)),
            }
        }
        // Each reception counts under its packet's port, as `rebuild-rollups` counts it:
        // a packet stored undecryptable may be heard decoded (a gateway uplinking without
        // encryption), or the other way round.
        let mut ports: HashMap<i64, i32> = HashMap::new();
        for (r, (id, new)) in plan.receptions.iter().zip(&ids) {
            let stored = (!new)
                .then(|| self.slots.owner.get(id).map(|o| o.1))
                .flatten();
            ports.entry(*id).or_insert(stored.unwrap_or(r.portnum));
        }
        match write_batch(&mut *tx, plan, &ids, &ports, exclusive, &mut self.relays).await {
            Ok((counts, inserted_packets)) => {
                tx.commit().await.map_err(classify)?;
                self.announce(plan, &ids, &inserted_packets);
                for (r, (id, _)) in plan.receptions.iter().zip(&ids) {
                    self.slots.owner.insert(*id, (r.from, ports[id]));
                }
                if self.slots.owner.len() > ID_CACHE_MAX {
                    self.slots.owner.clear();
                }
                Ok(counts)
            }
            Err(e) => {
                let _ = tx.rollback().await;
                // Claimed slots were not committed.
                self.slots.owner.clear();
                Err(classify(e))
            }
        }
    }

    /// Tells live listeners about the packets this batch stored for the first time.
    fn announce(&self, plan: &Plan<'_>, ids: &[(i64, bool)], inserted: &HashSet<i64>) {
        let Some(live) = &self.live else { return };
        if live.receiver_count() == 0 {
            return;
        }
        let mut announced = HashSet::new();
        for (r, (id, _)) in plan.receptions.iter().zip(ids) {
            if inserted.contains(id) && announced.insert(*id) {
                let _ = live.send(std::sync::Arc::new(StoredPacket {
                    id: *id,
                    from: r.from,
                    to: r.to,
                    portnum: r.portnum,
                    channel: r.channel.clone(),
                    import_time_us: r.received_us,
                    payload: r.payload.clone(),
                    gateway: r.gateway,
                }));
            }
        }
    }
}

/// The steps of one batch, in order, on the transaction's connection. Returns the counts
/// and the ids of the packets inserted for the first time.
async fn write_batch<C: BatchStatements>(
    conn: &mut C,
    plan: &Plan<'_>,
    ids: &[(i64, bool)],
    ports: &HashMap<i64, i32>,
    exclusive: bool,
    relays: &mut RelayResolver,
) -> Result<(FlushCounts, HashSet<i64>), sqlx::Error> {
    let mut counts = FlushCounts::default();
    // Packets first (receptions and traceroutes reference them). Several receptions of
    // one new packet may share the batch: insert it once.
    let mut seen_new = HashSet::new();
    let new_packets: Vec<(&Reception, i64)> = plan
        .receptions
        .iter()
        .zip(ids)
        .filter(|(_, (id, is_new))| *is_new && seen_new.insert(*id))
        .map(|(r, (id, _))| (*r, *id))
        .collect();
    let mut inserted_packets = HashSet::new();
    for chunk in new_packets.chunks(C::CHUNK) {
        if exclusive {
            // The batch holds SQLite's write lock and resolved these ids as free inside
            // it: every row is inserted, nothing to read back.
            conn.insert_packets(chunk, false).await?;
            inserted_packets.extend(chunk.iter().map(|(_, id)| *id));
        } else {
            // Another writer may have inserted a packet with the same id meanwhile: the
            // same packet (fine), or another sender's packet that claimed the id first
            // (then resolve ids again).
            let inserted = conn.insert_packets(chunk, true).await?;
            let missed: Vec<i64> = chunk
                .iter()
                .map(|(_, id)| *id)
                .filter(|id| !inserted.contains(id))
                .collect();
            if !missed.is_empty() {
                let owners: HashMap<i64, u32> = conn
                    .lookup(&missed)
                    .await?
                    .into_iter()
                    .map(|(id, from, _)| (id, from))
                    .collect();
                if chunk
                    .iter()
                    .any(|(r, id)| owners.get(id).is_some_and(|owner| *owner != r.from))
                {
                    return Err(sqlx::Error::Protocol(ID_RACE.into()));
                }
            }
            inserted_packets.extend(inserted);
        }
    }
    // The searchable text of new broadcast text messages (`packet_text`).
    let texts: Vec<(i64, i64, String)> = new_packets
        .iter()
        .filter(|(_, id)| inserted_packets.contains(id))
        .filter_map(|(r, id)| r.text.clone().map(|t| (*id, r.received_us, t)))
        .collect();
    for chunk in texts.chunks(C::CHUNK) {
        conn.insert_texts(chunk).await?;
    }
    // Receptions, deduplicated within the batch. Those of packets inserted just now cannot
    // exist yet; only the others may repeat stored ones.
    let mut seen_rx = HashSet::new();
    let rows: Vec<(&Reception, i64)> = plan
        .receptions
        .iter()
        .zip(ids)
        .filter(|(r, (id, _))| seen_rx.insert((*id, r.gateway, r.rx_time)))
        .map(|(r, (id, _))| (*r, *id))
        .collect();
    counts.receptions_duplicate += (plan.receptions.len() - rows.len()) as u64;
    let (fresh, known): (Vec<_>, Vec<_>) = rows
        .iter()
        .copied()
        .partition(|(_, id)| exclusive && inserted_packets.contains(id));
    let mut inserted_receptions = HashSet::new();
    for chunk in fresh.chunks(C::CHUNK) {
        conn.insert_receptions(chunk, false).await?;
        inserted_receptions.extend(
            chunk
                .iter()
                .map(|(r, id)| (*id, r.gateway as i64, r.rx_time)),
        );
    }
    for chunk in known.chunks(C::CHUNK) {
        inserted_receptions.extend(conn.insert_receptions(chunk, true).await?);
    }
    counts.receptions_new = inserted_receptions.len() as u64;
    counts.receptions_duplicate += rows.len() as u64 - counts.receptions_new;
    let traces: Vec<(&Reception, i64, &TracerouteRow)> = rows
        .iter()
        .filter_map(|(r, id)| r.traceroute.as_ref().map(|t| (*r, *id, t)))
        .collect();
    for chunk in traces.chunks(C::CHUNK) {
        conn.insert_traceroutes(chunk).await?;
    }
    for chunk in plan.keys.chunks(C::CHUNK) {
        conn.upsert_keys(chunk).await?;
    }
    counts.packets_new = inserted_packets.len() as u64;
    let rollup = BatchRollup::build(
        &plan.receptions,
        ids,
        ports,
        &inserted_packets,
        &inserted_receptions,
        relays,
    );
    conn.write_rollup(&rollup).await?;
    for chunk in plan.nodes.chunks(C::CHUNK) {
        conn.upsert_nodes(chunk).await?;
    }
    if let Some(segment) = plan.segment {
        conn.insert_segment(segment).await?;
    }
    Ok((counts, inserted_packets))
}

/// Inserts `packet_text` rows on either backend (the migration's backfill of the text).
pub(crate) async fn insert_texts(
    conn: &mut crate::connect::Conn,
    rows: &[(i64, i64, String)],
) -> Result<(), sqlx::Error> {
    match conn {
        crate::connect::Conn::Sqlite(c) => c.insert_texts(rows).await,
        crate::connect::Conn::Postgres(c) => c.insert_texts(rows).await,
    }
}

/// Failing to even get a connection is an outage, never a data problem.
fn outage(e: sqlx::Error) -> StoreError {
    StoreError::Transient {
        context: WRITE.into(),
        cause: Box::new(e),
    }
}

/// The context of the writer's failures.
const WRITE: &str = "writing a batch";

/// Classifies a failed step: [`ID_RACE`] and outages are worth retrying.
fn classify(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Protocol(msg) if msg == ID_RACE => StoreError::transient(WRITE, ID_RACE),
        _ => StoreError::sqlx(WRITE, e),
    }
}

fn summary(op: &WriteOp) -> String {
    match op {
        WriteOp::Reception(r) => format!(
            "packet {:08x} from !{:08x} via !{:08x}",
            r.packet_id, r.from, r.gateway
        ),
        WriteOp::Node { node, .. } => format!("node !{node:08x}"),
    }
}

/// Two writers gave one packet id to different senders' packets at the same moment; the
/// batch is retried, and resolving ids again then sees the other writer's row.
const ID_RACE: &str = "a packet id was taken by another writer's packet at the same moment";

/// Per-node aggregate of a batch.
#[derive(Debug, Clone)]
pub struct NodeWrite {
    node: u32,
    first_us: i64,
    last_us: i64,
    gateway: bool,
    channel: Option<String>,
    facts: Vec<NodeFacts>,
}

/// A batch reorganised for set-wise writing.
struct Plan<'a> {
    receptions: Vec<&'a Reception>,
    nodes: Vec<NodeWrite>,
    keys: Vec<(u32, String, i64, i64)>,
    /// The batch's messages for the raw archive, stored in the same transaction.
    segment: Option<&'a Segment>,
}

impl<'a> Plan<'a> {
    fn build(batch: &'a [WriteOp], segment: Option<&'a Segment>) -> Plan<'a> {
        let mut receptions = Vec::new();
        let mut nodes: HashMap<u32, NodeWrite> = HashMap::new();
        let mut keys: HashMap<(u32, String), (i64, i64)> = HashMap::new();
        for op in batch {
            match op {
                WriteOp::Reception(r) => {
                    receptions.push(r.as_ref());
                    let sender = node_entry(&mut nodes, r.from, r.received_us);
                    sender.channel = Some(r.channel.clone());
                    if let Some(f) = &r.facts {
                        sender.facts.push(f.clone());
                    }
                    node_entry(&mut nodes, r.gateway, r.received_us).gateway = true;
                    if let Some(k) = &r.public_key {
                        let e = keys
                            .entry((r.from, k.clone()))
                            .or_insert((r.received_us, r.received_us));
                        e.0 = e.0.min(r.received_us);
                        e.1 = e.1.max(r.received_us);
                    }
                }
                WriteOp::Node {
                    node,
                    channel,
                    facts,
                    at_us,
                } => {
                    let e = node_entry(&mut nodes, *node, *at_us);
                    e.channel = Some(channel.clone());
                    e.facts.push(facts.clone());
                }
            }
        }
        let mut nodes: Vec<NodeWrite> = nodes.into_values().collect();
        // A stable order keeps lock acquisition consistent across concurrent writers.
        nodes.sort_by_key(|n| n.node);
        let mut keys: Vec<(u32, String, i64, i64)> = keys
            .into_iter()
            .map(|((n, k), (f, l))| (n, k, f, l))
            .collect();
        keys.sort();
        Plan {
            receptions,
            nodes,
            keys,
            segment,
        }
    }
}

fn node_entry(nodes: &mut HashMap<u32, NodeWrite>, node: u32, at: i64) -> &mut NodeWrite {
    let e = nodes.entry(node).or_insert(NodeWrite {
        node,
        first_us: at,
        last_us: at,
        gateway: false,
        channel: None,
        facts: Vec::new(),
    });
    e.first_us = e.first_us.min(at);
    e.last_us = e.last_us.max(at);
    e
}

/// Decides the `packet.id` of each reception against known slots: (row id, whether the
/// packet row is new), or the first slot nobody knows about yet (to look up).
enum Slot {
    Decided(i64, bool),
    Unknown(i64),
}

fn walk_slots(slots: &IdSlots, claimed: &HashMap<i64, u32>, r: &Reception) -> Slot {
    let base = r.packet_id as i64;
    for k in 0..8i64 {
        let id = base + k * SLOT;
        match slots.owner.get(&id) {
            Some((owner, _)) if *owner == r.from => return Slot::Decided(id, false),
            Some(_) => continue,
            None => match claimed.get(&id) {
                Some(owner) if *owner == r.from => return Slot::Decided(id, true),
                Some(_) => continue,
                None => return Slot::Unknown(id),
            },
        }
    }
    // Eight senders sharing one id within the cache's memory: give up on this one slot
    // scheme rather than loop; the last slot is reused (the receptions attach to it).
    Slot::Decided(base + 7 * SLOT, false)
}

/// The latest facts of each kind win.
fn node_fields(n: &NodeWrite) -> NodeFields {
    let mut f = NodeFields {
        long_name: None,
        short_name: None,
        hw_model: None,
        role: None,
        firmware: None,
        position: None,
        channel: n.channel.clone(),
        gateway: n.gateway,
    };
    for fact in &n.facts {
        match fact {
            NodeFacts::Info {
                long_name,
                short_name,
                hw_model,
                role,
            } => {
                f.long_name = Some(long_name.clone());
                f.short_name = Some(short_name.clone());
                f.hw_model = Some(hw_model.clone());
                f.role = Some(role.clone());
            }
            NodeFacts::MapReport {
                long_name,
                short_name,
                hw_model,
                role,
                firmware,
                lat,
                lon,
            } => {
                f.long_name = Some(long_name.clone());
                f.short_name = Some(short_name.clone());
                f.hw_model = Some(hw_model.clone());
                f.role = Some(role.clone());
                f.firmware = Some(firmware.clone());
                if let (Some(a), Some(o)) = (lat, lon) {
                    f.position = Some((*a, *o));
                }
            }
            NodeFacts::Position { lat, lon } => f.position = Some((*lat, *lon)),
        }
    }
    f
}

struct NodeFields {
    long_name: Option<String>,
    short_name: Option<String>,
    hw_model: Option<String>,
    role: Option<String>,
    firmware: Option<String>,
    position: Option<(i64, i64)>,
    channel: Option<String>,
    gateway: bool,
}

/// Shared SQL of the node upsert: a row is created for a node never seen before (with
/// whatever the batch learned); otherwise only what the batch learned replaces stored
/// values, and `last_seen_us` only moves forward. Keyed by `node_id` (UNIQUE).
const NODE_INSERT: &str = "INSERT INTO node (id, node_id, long_name, short_name, hw_model, firmware, role, \
     last_lat, last_long, channel, first_seen_us, last_seen_us, is_mqtt_gateway) ";
const NODE_CONFLICT: &str = " ON CONFLICT (node_id) DO UPDATE SET \
     last_seen_us = CASE WHEN node.last_seen_us IS NULL OR excluded.last_seen_us > node.last_seen_us \
         THEN excluded.last_seen_us ELSE node.last_seen_us END, \
     first_seen_us = COALESCE(node.first_seen_us, excluded.first_seen_us), \
     long_name = COALESCE(excluded.long_name, node.long_name), \
     short_name = COALESCE(excluded.short_name, node.short_name), \
     hw_model = COALESCE(excluded.hw_model, node.hw_model), \
     role = COALESCE(excluded.role, node.role), \
     firmware = COALESCE(excluded.firmware, node.firmware), \
     last_lat = COALESCE(excluded.last_lat, node.last_lat), \
     last_long = COALESCE(excluded.last_long, node.last_long), \
     channel = COALESCE(excluded.channel, node.channel), \
     is_mqtt_gateway = CASE WHEN excluded.is_mqtt_gateway THEN TRUE ELSE node.is_mqtt_gateway END";
/// The earliest first and the latest last sighting win: packets decrypted later
/// (`retro.rs`) can be older than what is stored.
const KEY_CONFLICT: &str = " ON CONFLICT (node_id, public_key) DO UPDATE SET \
     first_seen_us = CASE WHEN node_public_key.first_seen_us IS NULL \
         OR excluded.first_seen_us < node_public_key.first_seen_us \
         THEN excluded.first_seen_us ELSE node_public_key.first_seen_us END, \
     last_seen_us = CASE WHEN node_public_key.last_seen_us IS NULL \
         OR excluded.last_seen_us > node_public_key.last_seen_us \
         THEN excluded.last_seen_us ELSE node_public_key.last_seen_us END";
