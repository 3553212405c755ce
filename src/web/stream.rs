//! `/api/stream`: every stored packet, pushed as a Server-Sent Event carrying the same
//! JSON as one `/api/packets` item, filtered per client by `portnum`, `node` (either
//! direction) and `channel`.
//!
//! One feed task fills one internal broadcast ([`Hub`]); each client is a receiver of it,
//! so the work per packet (rendering, name lookups) is done once however many clients
//! listen. The feed comes from:
//! - the writer's in-memory announcements, when it runs in this process (`meshview run`);
//! - otherwise ONE database poll for the whole process (every [`POLL_EVERY`], only while
//!   someone listens), reading packets stored since the last poll by their index on
//!   `import_time_us`. It re-reads a short [`LOOKBACK`] and skips ids already sent, so a
//!   batch committed a little after a newer one (several writers) is not missed.
//!
//! A client that cannot keep up loses the oldest events (it is told how many with a
//! `lagged` event) instead of growing memory: the broadcast holds [`BUFFER`] events.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use serde_json::json;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use super::compat::{self, PacketIn};
use super::error::ApiResult;
use super::params::Params;
use super::{AppState, Phase, Ready};
use meshview_store::ops::LiveSender;
use meshview_store::read::{PacketRow, Reader};

/// Events buffered per client before it starts skipping.
const BUFFER: usize = 1024;
pub const POLL_EVERY: Duration = Duration::from_millis(50);
pub const LOOKBACK_US: i64 = 2_000_000;
/// Rows per poll; a backlog is drained over successive polls.
const POLL_ROWS: i64 = 1000;
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Node names are looked up once per this long.
const NAME_TTL: Duration = Duration::from_secs(60);
const UNNAMED_TTL: Duration = Duration::from_secs(2);

/// One stored packet, rendered once for every client.
#[derive(Debug)]
pub struct StreamItem {
    pub id: i64,
    pub portnum: i32,
    pub from: i64,
    pub to: i64,
    pub channel: Option<String>,
    pub json: String,
}

/// The fan-out point of the stream and its counters.
pub struct Hub {
    tx: broadcast::Sender<Arc<StreamItem>>,
    clients: AtomicI64,
    /// When the current run of listeners began (µs): the first client after none. The
    /// database poll streams packets stored from then on, even if its next tick comes
    /// late (a loaded machine), so a packet stored after a client connected is never
    /// taken for old news.
    listening_since: AtomicI64,
    events: AtomicU64,
    lagged: AtomicU64,
    shutdown: Mutex<Option<CancellationToken>>,
}

impl Default for Hub {
    fn default() -> Self {
        Self::new()
    }
}

impl Hub {
    pub fn new() -> Hub {
        Hub {
            tx: broadcast::channel(BUFFER).0,
            clients: AtomicI64::new(0),
            listening_since: AtomicI64::new(0),
            events: AtomicU64::new(0),
            lagged: AtomicU64::new(0),
            shutdown: Mutex::new(None),
        }
    }

    pub fn set_shutdown(&self, token: CancellationToken) {
        *self.shutdown.lock().expect("hub lock") = Some(token);
    }

    fn shutdown(&self) -> CancellationToken {
        self.shutdown
            .lock()
            .expect("hub lock")
            .clone()
            .unwrap_or_default()
    }

    pub fn clients(&self) -> i64 {
        self.clients.load(Ordering::Relaxed)
    }

    /// Events published (each counted once, however many clients got it).
    pub fn events(&self) -> u64 {
        self.events.load(Ordering::Relaxed)
    }

    /// Events skipped by slow clients, summed over clients.
    pub fn lagged(&self) -> u64 {
        self.lagged.load(Ordering::Relaxed)
    }

    fn publish(&self, item: StreamItem) {
        self.events.fetch_add(1, Ordering::Relaxed);
        // No receiver is fine: nobody listens right now.
        let _ = self.tx.send(Arc::new(item));
    }
}

/// Node long names for rendering: names are kept for [`NAME_TTL`], "no name yet" only
/// for [`UNNAMED_TTL`] (a node's first NODEINFO often follows its first packets).
#[derive(Default)]
struct Names {
    known: HashMap<i64, (Option<String>, Instant)>,
}

impl Names {
    async fn resolve(&mut self, db: &Reader, ids: impl Iterator<Item = i64>) {
        if self.known.len() > 100_000 {
            self.known.clear();
        }
        let fresh = |e: &(Option<String>, Instant)| {
            e.1.elapsed() < if e.0.is_some() { NAME_TTL } else { UNNAMED_TTL }
        };
        let mut missing: Vec<i64> = ids
            .filter(|id| !self.known.get(id).is_some_and(fresh))
            .collect();
        missing.sort_unstable();
        missing.dedup();
        if missing.is_empty() {
            return;
        }
        match db.long_names(&missing).await {
            Ok(found) => {
                let now = Instant::now();
                for id in missing {
                    self.known.insert(id, (found.get(&id).cloned(), now));
                }
            }
            // Names are cosmetic; the event goes out without them.
            Err(e) => tracing::debug!(error = %e, "stream: node names unavailable"),
        }
    }

    fn get(&self, id: i64) -> Option<&str> {
        self.known.get(&id).and_then(|n| n.0.as_deref())
    }
}

fn render(p: &PacketIn<'_>) -> StreamItem {
    StreamItem {
        id: p.id,
        portnum: p.portnum,
        from: p.from,
        to: p.to,
        channel: p.channel.map(str::to_string),
        json: compat::packet_json(p),
    }
}

/// Feeds the hub until shutdown: from the writer's announcements when it runs in this
/// process, else from the shared database poll. Waits for the schema first.
pub async fn feed(
    hub: Arc<Hub>,
    mut phase: watch::Receiver<Phase>,
    live: Option<LiveSender>,
    shutdown: CancellationToken,
) {
    // Subscribe before waiting, so nothing stored meanwhile is missed in one process.
    let live_rx = live.as_ref().map(|l| l.subscribe());
    let db = loop {
        if let Phase::Ready(db) = &*phase.borrow_and_update() {
            break db.clone();
        }
        tokio::select! {
            changed = phase.changed() => if changed.is_err() { return },
            _ = shutdown.cancelled() => return,
        }
    };
    let reader = Reader::new(db);
    match live_rx {
        Some(rx) => feed_live(&hub, &reader, rx, &shutdown).await,
        None => feed_poll(&hub, &reader, &shutdown).await,
    }
}

async fn feed_live(
    hub: &Hub,
    db: &Reader,
    mut rx: broadcast::Receiver<Arc<meshview_store::ops::StoredPacket>>,
    shutdown: &CancellationToken,
) {
    let mut names = Names::default();
    loop {
        let first = tokio::select! {
            r = rx.recv() => r,
            _ = shutdown.cancelled() => return,
        };
        let mut burst = match first {
            Ok(p) => vec![p],
            Err(broadcast::error::RecvError::Lagged(n)) => {
                tracing::warn!(
                    skipped = n,
                    "stream: fell behind the writer; packets skipped"
                );
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return,
        };
        // Take what else is already there, so names are looked up once per burst.
        while burst.len() < 500 {
            match rx.try_recv() {
                Ok(p) => burst.push(p),
                Err(_) => break,
            }
        }
        names
            .resolve(
                db,
                burst
                    .iter()
                    .flat_map(|p| [i64::from(p.from), i64::from(p.to)]),
            )
            .await;
        for p in burst {
            let (from, to) = (i64::from(p.from), i64::from(p.to));
            hub.publish(render(&PacketIn {
                id: p.id,
                portnum: p.portnum,
                from,
                to,
                payload: Some(&p.payload),
                import_time_us: p.import_time_us,
                channel: Some(&p.channel),
                long_name: names.get(from),
                to_long_name: names.get(to),
            }));
        }
    }
}

async fn feed_poll(hub: &Hub, db: &Reader, shutdown: &CancellationToken) {
    let mut tick = tokio::time::interval(POLL_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // When listening started (older rows are not news), the newest time handed out,
    // ids sent within the lookback, and whether the last poll left a backlog.
    let mut started: Option<i64> = None;
    let mut cursor = 0i64;
    let mut sent: HashMap<i64, i64> = HashMap::new();
    let mut backlog = false;
    let mut failing = false;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        if hub.tx.receiver_count() == 0 {
            // Nobody listens: start afresh when someone comes.
            started = None;
            sent.clear();
            continue;
        }
        let start = *started.get_or_insert_with(|| {
            let since = hub.listening_since.load(Ordering::Acquire);
            cursor = if since > 0 {
                since
            } else {
                meshview_store::now_us()
            };
            cursor
        });
        // Draining a backlog reads on from its end; otherwise re-read the lookback.
        let from = if backlog {
            cursor - 1
        } else {
            cursor - LOOKBACK_US
        };
        let rows: Vec<PacketRow> = match db.packets_after(from, POLL_ROWS).await {
            Ok(rows) => {
                if failing {
                    tracing::info!("stream: database poll recovered");
                    failing = false;
                }
                rows
            }
            Err(e) => {
                if !failing {
                    tracing::warn!(error = %e, "stream: database poll failed; retrying");
                    failing = true;
                }
                continue;
            }
        };
        backlog = rows.len() as i64 == POLL_ROWS;
        for row in &rows {
            let t = row.import_time_us.unwrap_or(0);
            cursor = cursor.max(t);
            if t <= start || sent.contains_key(&row.id) {
                continue;
            }
            sent.insert(row.id, t);
            hub.publish(render(&super::query::packets::packet_in(row)));
        }
        let keep_after = cursor - 2 * LOOKBACK_US;
        sent.retain(|_, t| *t > keep_after);
    }
}

/// Per-client filters.
struct Filter {
    portnum: Option<i32>,
    node: Option<i64>,
    channel: Option<String>,
}

impl Filter {
    fn wants(&self, item: &StreamItem) -> bool {
        self.portnum.is_none_or(|p| p == item.portnum)
            && self.node.is_none_or(|n| n == item.from || n == item.to)
            && self.channel.as_deref().is_none_or(|c| {
                item.channel
                    .as_deref()
                    .is_some_and(|ic| ic.eq_ignore_ascii_case(c))
            })
    }
}

/// Counts a connected client for as long as its stream lives.
struct ClientGuard(Arc<Hub>);

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.0.clients.fetch_sub(1, Ordering::Relaxed);
    }
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes what `stream` reads through `Params`
pub struct StreamParams {
    /// Only this port.
    #[param(minimum = 0, maximum = 65535)]
    portnum: Option<i64>,
    /// Only packets from or to this node.
    node: Option<crate::web::openapi::NodeIdParam>,
    /// Only this channel (case-insensitive).
    #[param(max_length = 64, pattern = r"^[^\x00]*$")]
    channel: Option<String>,
}

/// Live packets (Server-Sent Events)
///
/// Every packet as it is stored, as an unnamed event whose data is one /api/packets item
/// and whose id is the packet id. Filters combine with AND. A client too slow to keep up
/// skips events and receives a `lagged` event `{"skipped": n}`; comments keep the
/// connection alive.
#[utoipa::path(
    get,
    path = "/api/stream",
    tag = "api",
    params(StreamParams),
    responses(
        (status = 200, description = "An endless text/event-stream.", body = String, content_type = "text/event-stream"),
        crate::web::openapi::Failures,
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    Ready(_): Ready,
    params: Params,
) -> ApiResult<Sse<impl Stream<Item = Result<Event, Infallible>>>> {
    let filter = Filter {
        portnum: params.portnum("portnum")?,
        node: params.node("node")?,
        channel: params.string("channel", 64)?,
    };
    let hub = state.hub.clone();
    let rx = hub.tx.subscribe();
    if hub.clients.fetch_add(1, Ordering::AcqRel) == 0 {
        hub.listening_since
            .store(meshview_store::now_us(), Ordering::Release);
    }
    let guard = ClientGuard(hub.clone());
    let stop = hub.shutdown();
    let hello = futures_util::stream::once(async {
        Ok::<_, Infallible>(Event::default().comment("connected"))
    });
    let events =
        futures_util::stream::unfold((rx, filter, guard), |(mut rx, filter, guard)| async move {
            loop {
                match rx.recv().await {
                    Ok(item) if filter.wants(&item) => {
                        let ev = Event::default()
                            .id(item.id.to_string())
                            .data(item.json.as_str());
                        return Some((Ok(ev), (rx, filter, guard)));
                    }
                    Ok(_) => continue,
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        guard.0.lagged.fetch_add(n, Ordering::Relaxed);
                        let ev = Event::default()
                            .event("lagged")
                            .data(json!({"skipped": n}).to_string());
                        return Some((Ok(ev), (rx, filter, guard)));
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        });
    let stream = futures_util::StreamExt::take_until(
        futures_util::StreamExt::chain(hello, events),
        stop.cancelled_owned(),
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}
