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

use tokio::sync::mpsc;

use super::Db;
use crate::ingest::stats::IngestStats;

/// Entries kept in the packet-id cache before it is dropped and rebuilt from the database.
const ID_CACHE_MAX: usize = 200_000;
/// The stride between slots of one Meshtastic packet id.
const SLOT: i64 = 1 << 32;

/// Node facts learned from a packet's payload.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeFacts {
    /// NODEINFO (keyed by the packet's sender, never by the id the payload claims).
    Info {
        long_name: String,
        short_name: String,
        hw_model: String,
        role: String,
    },
    /// MAP_REPORT.
    MapReport {
        long_name: String,
        short_name: String,
        hw_model: String,
        role: String,
        firmware: String,
        lat: Option<i64>,
        lon: Option<i64>,
    },
    /// POSITION with both coordinates set.
    Position { lat: i64, lon: i64 },
}

/// A traceroute reception (one row per packet and gateway).
#[derive(Debug, Clone, PartialEq)]
pub struct TracerouteRow {
    pub done: bool,
    /// The RouteDiscovery as sent.
    pub route: Vec<u8>,
    /// Replies: a RouteDiscovery holding only `route_back` and `snr_back`.
    pub route_return: Option<Vec<u8>>,
    /// Replies: the request's packet id.
    pub request_id: Option<i64>,
}

/// One accepted reception of a packet by a gateway, with everything it teaches.
#[derive(Debug, Clone, PartialEq)]
pub struct Reception {
    pub packet_id: u32,
    pub from: u32,
    pub to: u32,
    pub portnum: i32,
    pub channel: String,
    /// The (decrypted) MeshPacket re-serialised, or its ciphertext form when undecryptable.
    pub payload: Vec<u8>,
    pub gateway: u32,
    pub rx_time: i64,
    pub hop_limit: i32,
    pub hop_start: i32,
    pub rx_snr: f32,
    pub rx_rssi: i32,
    pub topic: String,
    pub received_us: i64,
    pub facts: Option<NodeFacts>,
    /// Lower-case hex.
    pub public_key: Option<String>,
    pub traceroute: Option<TracerouteRow>,
    /// Radio links this packet proves (traceroute paths, neighbour reports).
    pub links: Vec<LinkObs>,
}

/// One observed directed radio link: `to` heard `from`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkObs {
    pub from: u32,
    pub to: u32,
    /// `"traceroute"` or `"neighbor"`.
    pub source: &'static str,
    pub snr_db: Option<f32>,
}

/// What the writer is asked to store.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Reception(Box<Reception>),
    /// Node facts without a stored packet (a map report with packet id 0).
    Node {
        node: u32,
        channel: String,
        facts: NodeFacts,
        at_us: i64,
    },
}

/// A packet as first stored, announced to live listeners (the web's `/api/stream`)
/// after its transaction commits.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPacket {
    /// `packet.id` (the Meshtastic id, or a higher slot after a collision).
    pub id: i64,
    pub from: u32,
    pub to: u32,
    pub portnum: i32,
    pub channel: String,
    pub import_time_us: i64,
    /// The stored MeshPacket bytes (as in `packet.payload`).
    pub payload: Vec<u8>,
    /// The gateway of the first reception.
    pub gateway: u32,
}

/// Live announcements of stored packets; slow listeners lag and skip, never block.
pub type LiveSender = tokio::sync::broadcast::Sender<std::sync::Arc<StoredPacket>>;

/// What one flush achieved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlushCounts {
    pub packets_new: u64,
    pub receptions_new: u64,
    pub receptions_duplicate: u64,
    pub failed_items: u64,
}

/// Knows which `packet.id` slots are taken by which sender.
#[derive(Default)]
struct IdSlots {
    owner: HashMap<i64, u32>,
}

/// Runs the slot walk, looking unknown slots up with `$lookup` until all are decided.
macro_rules! resolve_ids {
    ($conn:expr, $slots:expr, $receptions:expr, $lookup:path) => {{
        let mut claimed: HashMap<i64, u32> = HashMap::new();
        let mut result: Result<Vec<(i64, bool)>, sqlx::Error> =
            Err(sqlx::Error::Protocol("could not resolve packet ids".into()));
        for _round in 0..8 {
            let mut unknown: Vec<i64> = $receptions
                .iter()
                .filter_map(|r| match walk_slots($slots, &claimed, r) {
                    Slot::Unknown(id) => Some(id),
                    Slot::Decided(..) => None,
                })
                .collect();
            if unknown.is_empty() {
                result = Ok($receptions
                    .iter()
                    .map(|r| match walk_slots($slots, &claimed, r) {
                        Slot::Decided(id, new) => (id, new),
                        Slot::Unknown(_) => unreachable!("all decided"),
                    })
                    .collect());
                break;
            }
            unknown.sort_unstable();
            unknown.dedup();
            match $lookup($conn, &unknown).await {
                Ok(found) => {
                    for (id, from) in &found {
                        $slots.owner.insert(*id, *from);
                    }
                    // Slots absent from the database are free: the first reception that
                    // reaches one claims it for its sender.
                    for r in $receptions.iter() {
                        if let Slot::Unknown(id) = walk_slots($slots, &claimed, r)
                            && unknown.binary_search(&id).is_ok()
                        {
                            claimed.insert(id, r.from);
                        }
                    }
                }
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        result
    }};
}

/// Owns the writer's connection pool and commits batches.
pub struct BatchWriter {
    db: Db,
    slots: IdSlots,
    live: Option<LiveSender>,
    pub max_batch: usize,
    pub max_delay: Duration,
}

impl BatchWriter {
    pub fn new(db: Db) -> Self {
        BatchWriter {
            db,
            slots: IdSlots::default(),
            live: None,
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

    /// Drains `rx` until it closes, committing by size or time; flushes what is pending
    /// before returning, so a shutdown loses nothing that was accepted.
    pub async fn run(mut self, mut rx: mpsc::Receiver<WriteOp>, stats: &IngestStats) {
        let mut batch: Vec<WriteOp> = Vec::with_capacity(self.max_batch);
        loop {
            let first = match rx.recv().await {
                Some(op) => op,
                None => break,
            };
            batch.push(first);
            let deadline = tokio::time::Instant::now() + self.max_delay;
            while batch.len() < self.max_batch {
                match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(op)) => batch.push(op),
                    Ok(None) | Err(_) => break,
                }
            }
            self.commit_with_retry(&mut batch, stats).await;
            stats.set_queue_depth(rx.len());
        }
        if !batch.is_empty() {
            self.commit_with_retry(&mut batch, stats).await;
        }
    }

    /// Commits `batch` (emptying it); retries transient failures with capped backoff.
    pub async fn commit_with_retry(&mut self, batch: &mut Vec<WriteOp>, stats: &IngestStats) {
        let mut backoff = Duration::from_millis(100);
        let mut attempts = 0u32;
        loop {
            let started = Instant::now();
            match self.flush(batch).await {
                Ok(c) => {
                    stats.record_flush(batch.len(), c, started.elapsed());
                    batch.clear();
                    return;
                }
                Err(e) if e.transient => {
                    attempts += 1;
                    stats.db_retry();
                    if attempts == 1 || attempts.is_power_of_two() {
                        tracing::warn!(error = %e, attempts, items = batch.len(), "database unavailable; retrying the batch");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
                Err(e) => {
                    // A data problem (a constraint, a stale id cache): rebuild the cache and
                    // fall back to one transaction per item, so only the culprit is lost.
                    tracing::warn!(error = %e, items = batch.len(), "batch rejected; retrying item by item");
                    self.forget_ids();
                    let mut failed = 0u64;
                    let mut counts = FlushCounts::default();
                    let total = batch.len();
                    for op in batch.drain(..) {
                        let one = [op];
                        let mut wait = Duration::from_millis(100);
                        loop {
                            match self.flush(&one).await {
                                Ok(c) => {
                                    counts.packets_new += c.packets_new;
                                    counts.receptions_new += c.receptions_new;
                                    counts.receptions_duplicate += c.receptions_duplicate;
                                }
                                Err(e) if e.transient => {
                                    stats.db_retry();
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
                    stats.record_flush(total - failed as usize, counts, started.elapsed());
                    return;
                }
            }
        }
    }

    /// Writes one batch in one transaction.
    pub async fn flush(&mut self, batch: &[WriteOp]) -> Result<FlushCounts, FlushError> {
        let plan = Plan::build(batch);
        // The same steps on either backend; `$bulk` is the backend's statement module.
        macro_rules! run {
            ($begin:expr, $exclusive:expr, $bulk:ident) => {{
                // Failing to even get a connection is an outage, never a data problem.
                let mut tx = $begin.await.map_err(|e| FlushError {
                    transient: true,
                    source: e,
                })?;
                let ids = resolve_ids!(&mut *tx, &mut self.slots, &plan.receptions, $bulk::lookup);
                let ids = match ids {
                    Ok(ids) => ids,
                    Err(e) => {
                        self.slots.owner.clear();
                        return Err(FlushError::from(e));
                    }
                };
                let result = async {
                    let mut counts = FlushCounts::default();
                    // Packets first (receptions and traceroutes reference them). Several
                    // receptions of one new packet may share the batch: insert it once.
                    let mut seen_new = HashSet::new();
                    let new_packets: Vec<(&Reception, i64)> = plan
                        .receptions
                        .iter()
                        .zip(&ids)
                        .filter(|(_, (id, is_new))| *is_new && seen_new.insert(*id))
                        .map(|(r, (id, _))| (*r, *id))
                        .collect();
                    let mut inserted_packets = HashSet::new();
                    for chunk in new_packets.chunks($bulk::CHUNK) {
                        if $exclusive {
                            // The batch holds SQLite's write lock and resolved these ids as
                            // free inside it: every row is inserted, nothing to read back.
                            $bulk::insert_packets(&mut *tx, chunk, false).await?;
                            inserted_packets.extend(chunk.iter().map(|(_, id)| *id));
                        } else {
                            // Another writer may have inserted a packet with the same id
                            // meanwhile: the same packet (fine), or another sender's packet
                            // that claimed the id first (then resolve ids again).
                            let inserted = $bulk::insert_packets(&mut *tx, chunk, true).await?;
                            let missed: Vec<i64> = chunk
                                .iter()
                                .map(|(_, id)| *id)
                                .filter(|id| !inserted.contains(id))
                                .collect();
                            if !missed.is_empty() {
                                let owners: HashMap<i64, u32> = $bulk::lookup(&mut *tx, &missed)
                                    .await?
                                    .into_iter()
                                    .collect();
                                if chunk.iter().any(|(r, id)| {
                                    owners.get(id).is_some_and(|owner| *owner != r.from)
                                }) {
                                    return Err(sqlx::Error::Protocol(ID_RACE.into()));
                                }
                            }
                            inserted_packets.extend(inserted);
                        }
                    }
                    // The searchable text of new broadcast text messages (store::text).
                    let texts: Vec<(i64, i64, String)> = new_packets
                        .iter()
                        .filter(|(_, id)| inserted_packets.contains(id))
                        .filter_map(|(r, id)| {
                            crate::store::text::searchable_text(r.portnum, r.to as i64, &r.payload)
                                .map(|t| (*id, r.received_us, t))
                        })
                        .collect();
                    for chunk in texts.chunks($bulk::CHUNK) {
                        $bulk::insert_texts(&mut *tx, chunk).await?;
                    }
                    // Receptions, deduplicated within the batch. Those of packets inserted
                    // just now cannot exist yet; only the others may repeat stored ones.
                    let mut seen_rx = HashSet::new();
                    let rows: Vec<(&Reception, i64)> = plan
                        .receptions
                        .iter()
                        .zip(&ids)
                        .filter(|(r, (id, _))| seen_rx.insert((*id, r.gateway, r.rx_time)))
                        .map(|(r, (id, _))| (*r, *id))
                        .collect();
                    counts.receptions_duplicate += (plan.receptions.len() - rows.len()) as u64;
                    let (fresh, known): (Vec<_>, Vec<_>) = rows
                        .iter()
                        .copied()
                        .partition(|(_, id)| $exclusive && inserted_packets.contains(id));
                    let mut inserted_receptions = HashSet::new();
                    for chunk in fresh.chunks($bulk::CHUNK) {
                        $bulk::insert_receptions(&mut *tx, chunk, false).await?;
                        inserted_receptions.extend(
                            chunk
                                .iter()
                                .map(|(r, id)| (*id, r.gateway as i64, r.rx_time)),
                        );
                    }
                    for chunk in known.chunks($bulk::CHUNK) {
                        inserted_receptions
                            .extend($bulk::insert_receptions(&mut *tx, chunk, true).await?);
                    }
                    counts.receptions_new = inserted_receptions.len() as u64;
                    counts.receptions_duplicate += rows.len() as u64 - counts.receptions_new;
                    let traces: Vec<(&Reception, i64, &TracerouteRow)> = rows
                        .iter()
                        .filter_map(|(r, id)| r.traceroute.as_ref().map(|t| (*r, *id, t)))
                        .collect();
                    for chunk in traces.chunks($bulk::CHUNK) {
                        $bulk::insert_traceroutes(&mut *tx, chunk).await?;
                    }
                    for chunk in plan.keys.chunks($bulk::CHUNK) {
                        $bulk::upsert_keys(&mut *tx, chunk).await?;
                    }
                    counts.packets_new = inserted_packets.len() as u64;
                    let rollup = crate::store::rollups::BatchRollup::build(
                        &plan.receptions,
                        &ids,
                        &inserted_packets,
                        &inserted_receptions,
                    );
                    $bulk::write_rollup(&mut *tx, &rollup).await?;
                    for chunk in plan.nodes.chunks($bulk::CHUNK) {
                        $bulk::upsert_nodes(&mut *tx, chunk).await?;
                    }
                    Ok::<_, sqlx::Error>((counts, inserted_packets))
                }
                .await;
                match result {
                    Ok((counts, inserted_packets)) => {
                        tx.commit().await.map_err(FlushError::from)?;
                        self.announce(&plan, &ids, &inserted_packets);
                        for (r, (id, _)) in plan.receptions.iter().zip(&ids) {
                            self.slots.owner.insert(*id, r.from);
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
                        Err(FlushError::from(e))
                    }
                }
            }};
        }
        match &self.db {
            // IMMEDIATE: take SQLite's write lock up front, so a batch waits (busy timeout)
            // for another writer instead of failing when its read snapshot goes stale.
            Db::Sqlite(pool, _) => run!(pool.begin_with("BEGIN IMMEDIATE"), true, bulk_sqlite),
            Db::Postgres(pool) => run!(pool.begin(), false, bulk_pg),
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

/// A failed flush, and whether waiting and retrying can help.
#[derive(Debug, thiserror::Error)]
#[error("{source}")]
pub struct FlushError {
    pub transient: bool,
    #[source]
    pub source: sqlx::Error,
}

impl From<sqlx::Error> for FlushError {
    fn from(source: sqlx::Error) -> Self {
        FlushError {
            transient: is_transient(&source),
            source,
        }
    }
}

/// Connection and pool-timeout errors are worth retrying; anything else is about the data.
fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Protocol(msg) if msg == ID_RACE => true,
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => {
            let msg = db.message();
            // SQLite busy/locked; PostgreSQL admin shutdown, connection failures,
            // serialization failures and deadlocks.
            msg.contains("database is locked")
                || msg.contains("database is busy")
                || db.code().is_some_and(|c| {
                    c.starts_with("08")
                        || c == "57P01"
                        || c == "57P02"
                        || c == "57P03"
                        || c == "40001"
                        || c == "40P01"
                })
        }
        _ => false,
    }
}

/// Per-node aggregate of a batch.
#[derive(Debug, Clone)]
pub(super) struct NodeWrite {
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
}

impl<'a> Plan<'a> {
    fn build(batch: &'a [WriteOp]) -> Plan<'a> {
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
            Some(owner) if *owner == r.from => return Slot::Decided(id, false),
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
pub(super) fn node_fields(n: &NodeWrite) -> NodeFields {
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

pub(super) struct NodeFields {
    long_name: Option<String>,
    short_name: Option<String>,
    hw_model: Option<String>,
    role: Option<String>,
    firmware: Option<String>,
    position: Option<(i64, i64)>,
    channel: Option<String>,
    gateway: bool,
}

pub(super) mod bulk_pg;
pub(super) mod bulk_sqlite;

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
const KEY_CONFLICT: &str =
    " ON CONFLICT (node_id, public_key) DO UPDATE SET last_seen_us = excluded.last_seen_us";
