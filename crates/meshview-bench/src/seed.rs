//! `meshview-bench seed`: builds a big, realistic database for the reader benchmarks.
//!
//! The simulated mesh ([`meshview_sim`]) goes through the real writer in this process:
//! every envelope through [`Pipeline::handle`] (decode, decrypt, rows) and the
//! [`BatchWriter`] (batched transactions, rollups), so the rows, indexes and rollups are
//! exactly what `meshview ingest` would have stored. Only the clock is simulated: each
//! message's import time is its simulated time mapped linearly onto the last `days` days,
//! so time-windowed pages and aggregates find data everywhere in the window.
//!
//! Two things differ from a live feed, on purpose:
//! - the flood guard is off: the simulator's senders are uniform and slow (a few packets
//!   per hour each), so it would not trigger anyway, and off makes the stored counts exact;
//! - the simulator has each packet heard by 1–5 gateways (2.4 on average, its fixed
//!   distribution); a denser gateway network is modelled by re-addressing copies of an
//!   envelope to other gateways until the average reaches `receptions_per_packet`. Only
//!   gateways the simulator's radio model lets hear the packet (within the sender's hop
//!   limit over its links) get a copy, with the radio facts of a real reception path
//!   from that model ([`Simulator::reception_facts`]: hop limit, relay node, and the SNR
//!   and RSSI of the link the gateway heard), plus its own `gateway_id`, topic and
//!   `rx_time`. The copies also go through the pipeline, so the link-quality model
//!   learns only links that exist.
//!
//! On PostgreSQL the seeder runs `ANALYZE` every two minutes and at the end, as autovacuum
//! would (it is off on some test servers, and without statistics the writer's id lookups
//! become sequential scans). SQLite gets no `ANALYZE`: the Rust writer never runs one, so
//! the reader is measured without statistics, as in production.
//!
//! Seeding refuses a database that already holds packets (a half-finished seed is best
//! thrown away: delete the file, or drop the PostgreSQL database, and start again).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use meshview_protocol::pb;
use prost::Message as _;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::mpsc;

use meshview::config::{Config, DatabaseUrl};
use meshview::ingest::pipeline::Pipeline;
use meshview::ingest::stats::IngestStats;
use meshview_sim::{DEFAULT_SECONDARY_KEY_B64, SimConfig, Simulator};
use meshview_store::connect::{Conn, Role};
use meshview_store::migrations::Chain;
use meshview_store::ops::WriteOp;
use meshview_store::write::BatchWriter;
use meshview_store::{Db, now_us};

/// The simulator's mean gap between packets (seconds of simulated time).
const SIM_MEAN_GAP_S: f64 = 5.0;
/// At most this many extra gateways per envelope.
const MAX_EXTRA_PER_MESSAGE: usize = 6;

#[derive(clap::Args, Debug, Clone)]
pub struct SeedBench {
    /// Packets to simulate (about 3 % of them are map reports, which update nodes but are
    /// no packet; junk envelopes come on top).
    #[arg(long, default_value_t = 3_000_000)]
    pub packets: usize,
    #[arg(long, default_value_t = 2000)]
    pub nodes: usize,
    #[arg(long, default_value_t = 150)]
    pub gateways: usize,
    /// Import times span this many days, ending now.
    #[arg(long, default_value_t = 14.0)]
    pub days: f64,
    /// Average number of gateways hearing each packet.
    #[arg(long, default_value_t = 4.0)]
    pub receptions_per_packet: f64,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

#[derive(Debug, Clone)]
pub struct SeedResult {
    pub backend: &'static str,
    pub packets: u64,
    pub receptions: u64,
    pub nodes: u64,
    pub envelopes: u64,
    pub seconds: f64,
    pub size_bytes: u64,
    pub peak_rss_mb: f64,
}

impl std::fmt::Display for SeedResult {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "| backend | packets | receptions | per packet | nodes | envelopes | time | envelopes/s | size | seeder peak RSS |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|---|---|---|")?;
        write!(
            f,
            "| {} | {} | {} | {:.2} | {} | {} | {:.0} s | {:.0} | {:.2} GB | {:.0} MB |",
            self.backend,
            self.packets,
            self.receptions,
            self.receptions as f64 / self.packets.max(1) as f64,
            self.nodes,
            self.envelopes,
            self.seconds,
            self.envelopes as f64 / self.seconds.max(1e-9),
            self.size_bytes as f64 / 1e9,
            self.peak_rss_mb
        )
    }
}

/// What the generator thread has done so far (read by the progress reporter).
#[derive(Default)]
struct Progress {
    /// Simulated milliseconds reached.
    sim_ms: AtomicU64,
    envelopes: AtomicU64,
    done: AtomicBool,
}

pub async fn run(cfg: &Config, chain: &Chain, b: &SeedBench) -> anyhow::Result<SeedResult> {
    if b.packets == 0 || b.nodes < 2 || b.gateways == 0 || b.gateways > b.nodes {
        bail!("seed: need --packets ≥ 1, --nodes ≥ 2 and 1 ≤ --gateways ≤ --nodes");
    }
    if b.days.is_nan() || b.days <= 0.0 {
        bail!("seed: --days must be positive");
    }
    if !(1.0..=20.0).contains(&b.receptions_per_packet) {
        bail!("seed: --receptions-per-packet must be within 1..=20");
    }
    let url = cfg.database.url.clone();
    let backend = if url.is_sqlite() {
        "SQLite"
    } else {
        "PostgreSQL"
    };
    if let DatabaseUrl::Postgres { url: raw } = &url {
        create_pg_database_if_missing(&url, raw).await?;
    }
    eprintln!("seed: preparing the schema on {}", url.redacted());
    meshview_store::coordination::writer_startup(&cfg.database.url, chain, &cfg.upgrade_options())
        .await?;
    {
        let mut conn = Conn::open(&url, Role::Writer).await?;
        let n = conn
            .scalar_i64("SELECT count(*) FROM (SELECT 1 FROM packet LIMIT 1) t")
            .await?;
        conn.close().await;
        if n > 0 {
            bail!(
                "seed: {} already holds packets; seeding needs an empty database \
                 (use a new SQLite file or PostgreSQL database; an interrupted seed cannot \
                 be resumed, start it again on an empty one)",
                url.redacted()
            );
        }
    }

    // The writer's settings, with the simulator's private key and no flood guard.
    let mut wcfg = cfg.clone();
    wcfg.mqtt.secondary_keys = vec![DEFAULT_SECONDARY_KEY_B64.to_string()];
    wcfg.mqtt.flood_per_minute = 0;
    wcfg.mqtt.flood_per_hour = 0;
    let stats = Arc::new(IngestStats::default());
    let pipeline = Pipeline::from_config(&wcfg, stats.clone())?;

    let anchor_us = now_us();
    let span_us = (b.days * 86_400e6) as i64;
    let est_sim_span_s = b.packets as f64 * SIM_MEAN_GAP_S;
    let sim_cfg = SimConfig {
        nodes: b.nodes,
        gateways: b.gateways,
        packets: b.packets,
        seed: b.seed,
        // The packets' own rx_time runs in simulated time (a packet every ~5 s); end it
        // about now as well.
        start_time_s: (anchor_us / 1_000_000 - est_sim_span_s as i64).max(1),
        ..SimConfig::default()
    };
    let sim = Simulator::new(sim_cfg).context("seed: simulator settings")?;

    let db = Db::open(&url, Role::Writer).await?;
    let (tx, rx) = mpsc::channel::<WriteOp>(cfg.mqtt.queue_size.max(1000));
    let writer = {
        let (db, stats) = (db.clone(), stats.clone());
        tokio::spawn(async move { BatchWriter::new(db).run(rx, &*stats).await })
    };
    let progress = Arc::new(Progress::default());
    let started = Instant::now();
    eprintln!(
        "seed: {} packets from {} nodes heard by {} gateways (~{:.1} receptions each), \
         import times over the last {} days",
        b.packets, b.nodes, b.gateways, b.receptions_per_packet, b.days
    );
    let generator = {
        let progress = progress.clone();
        let target = b.receptions_per_packet;
        let seed = b.seed;
        std::thread::Builder::new()
            .name("seed-generator".into())
            .spawn(move || {
                generate(
                    sim,
                    pipeline,
                    tx,
                    Clock {
                        anchor_us,
                        span_us,
                        est_sim_span_s,
                    },
                    Amplifier::new(target, seed),
                    &progress,
                )
            })
            .context("starting the generator thread")?
    };
    // PostgreSQL plans the writer's id lookups from table statistics; without them (a
    // server with autovacuum off, as test servers often are) a lookup of a batch's ids
    // turns into a sequential scan of seconds. Refresh them as autovacuum would.
    let analyzer = (!url.is_sqlite()).then(|| {
        let (url, progress) = (url.clone(), progress.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(120));
            tick.tick().await;
            while !progress.done.load(Ordering::Relaxed) {
                tick.tick().await;
                if let Ok(mut c) = Conn::open(&url, Role::Writer).await {
                    let _ = c.execute("ANALYZE").await;
                    c.close().await;
                }
            }
        })
    });
    let reporter = tokio::spawn(report(
        stats.clone(),
        progress.clone(),
        (b.packets as f64 * b.receptions_per_packet * 0.97) as u64,
        est_sim_span_s,
        started,
    ));
    let gen_result = tokio::task::spawn_blocking(move || generator.join())
        .await
        .context("generator thread")?
        .map_err(|_| anyhow::anyhow!("the generator thread panicked"))?;
    writer.await.context("batch writer")?;
    progress.done.store(true, Ordering::Relaxed);
    let _ = reporter.await;
    if let Some(a) = analyzer {
        a.abort();
    }
    let envelopes = gen_result?;
    let seconds = started.elapsed().as_secs_f64();
    db.close().await;

    let s = stats.snapshot();
    if s.write_failures > 0 {
        eprintln!(
            "seed: warning: {} writes failed (see the log)",
            s.write_failures
        );
    }
    eprintln!(
        "seed: dropped by the pipeline (junk and other rejects): {:?}",
        s.dropped
    );

    // Totals and size, after folding the WAL back into the file.
    let mut conn = Conn::open(&url, Role::Writer).await?;
    if url.is_sqlite() {
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").await?;
    } else {
        // What autovacuum would do soon after such a load (test servers often run without
        // it): planner statistics, and the visibility map that lets index-only scans skip
        // the table. Without it the reader's first hours would be measured, not its
        // steady state.
        eprintln!("seed: VACUUM (ANALYZE)…");
        conn.execute("VACUUM (ANALYZE)").await?;
        // The small tables the writer updates in place (a node row on every packet)
        // end a load without autovacuum mostly dead space: the node table held 2,000
        // rows in 53 MB, so `/api/nodes` read 6,700 pages. Autovacuum keeps them near
        // their live size on a running server; rewriting them gets there at once.
        eprintln!("seed: VACUUM (FULL) of the tables updated in place…");
        conn.execute(
            "VACUUM (FULL, ANALYZE) node, node_public_key, node_link, traffic_hourly_total",
        )
        .await?;
    }
    let packets = conn.scalar_i64("SELECT count(*) FROM packet").await? as u64;
    let receptions = conn.scalar_i64("SELECT count(*) FROM packet_seen").await? as u64;
    let nodes = conn.scalar_i64("SELECT count(*) FROM node").await? as u64;
    let size_bytes = match &url {
        DatabaseUrl::Sqlite { path } => {
            let mut size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            for suffix in ["-wal", "-shm"] {
                let mut p = path.clone().into_os_string();
                p.push(suffix);
                size += std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
            }
            size
        }
        DatabaseUrl::Postgres { .. } => {
            conn.scalar_i64("SELECT pg_database_size(current_database())")
                .await? as u64
        }
    };
    conn.close().await;
    Ok(SeedResult {
        backend,
        packets,
        receptions,
        nodes,
        envelopes,
        seconds,
        size_bytes,
        peak_rss_mb: self_peak_rss_kb() as f64 / 1024.0,
    })
}

/// Creates the PostgreSQL database named in `raw` when it does not exist yet.
async fn create_pg_database_if_missing(url: &DatabaseUrl, raw: &str) -> anyhow::Result<()> {
    match Conn::open(url, Role::Writer).await {
        Ok(c) => {
            c.close().await;
            Ok(())
        }
        Err(e) if e.to_string().contains("does not exist") => {
            let (server, rest) = raw
                .rsplit_once('/')
                .context("a PostgreSQL URL with a database name")?;
            let (name, query) = match rest.split_once('?') {
                Some((n, q)) => (n, format!("?{q}")),
                None => (rest, String::new()),
            };
            if name.is_empty() || !name.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_') {
                bail!(
                    "seed: create the database {name:?} first (only [A-Za-z0-9_] names are created automatically)"
                );
            }
            let admin = DatabaseUrl::parse(&format!("{server}/postgres{query}"))
                .map_err(anyhow::Error::msg)?;
            let mut c = Conn::open(&admin, Role::Writer).await?;
            c.execute(&format!("CREATE DATABASE {name}")).await?;
            c.close().await;
            eprintln!("seed: created PostgreSQL database {name}");
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// Maps simulated time onto `[anchor − span, anchor]`.
#[derive(Clone, Copy)]
struct Clock {
    anchor_us: i64,
    span_us: i64,
    est_sim_span_s: f64,
}

impl Clock {
    /// The simulated span is an estimate (the sum of a few million random gaps lands a
    /// few hundredths of a percent either side of it), so the last [`CLOCK_KNEE`] of the
    /// window is approached asymptotically instead of clamped: times stay distinct and
    /// increasing, and never pass the anchor. (Clamping piled thousands of packets onto
    /// one timestamp, which no real writer produces.)
    fn import_us(&self, at_s: f64) -> i64 {
        let frac = at_s / self.est_sim_span_s;
        let knee = 1.0 - CLOCK_KNEE;
        let frac = if frac <= knee {
            frac
        } else {
            knee + CLOCK_KNEE * (1.0 - (-(frac - knee) / CLOCK_KNEE).exp())
        };
        (self.anchor_us - self.span_us + (frac * self.span_us as f64) as i64).min(self.anchor_us)
    }
}

/// The share of the window at its end where simulated time is squeezed (see
/// [`Clock::import_us`]): 20 minutes of 14 days.
const CLOCK_KNEE: f64 = 0.001;

/// Adds receptions by other gateways until the average per packet reaches the target.
struct Amplifier {
    target: f64,
    rng: StdRng,
    /// Gateways that heard each recent packet, `(from << 32) | id`.
    heard: HashMap<u64, Vec<u32>>,
    order: VecDeque<u64>,
    /// Per sender: the gateways its packets reach (radio model).
    reach: HashMap<u32, Vec<u32>>,
    packets: u64,
    receptions: u64,
}

/// Packets remembered for "which gateways heard it" (a packet's receptions arrive within
/// seconds of each other; rebroadcasts within half a minute).
const RECENT_PACKETS: usize = 50_000;

impl Amplifier {
    fn new(target: f64, seed: u64) -> Self {
        Amplifier {
            target,
            rng: StdRng::seed_from_u64(seed ^ 0x5eed_5eed),
            heard: HashMap::new(),
            order: VecDeque::new(),
            reach: HashMap::new(),
            packets: 0,
            receptions: 0,
        }
    }

    /// Records a stored reception; returns how many extra gateways should hear it too.
    fn observe(&mut self, from: u32, id: u32, gateway: u32) -> usize {
        let key = (u64::from(from) << 32) | u64::from(id);
        let list = self.heard.entry(key).or_insert_with(|| {
            self.packets += 1;
            self.order.push_back(key);
            Vec::new()
        });
        list.push(gateway);
        self.receptions += 1;
        while self.order.len() > RECENT_PACKETS {
            if let Some(old) = self.order.pop_front() {
                self.heard.remove(&old);
            }
        }
        let deficit = self.packets as f64 * self.target - self.receptions as f64;
        if deficit >= 1.0 {
            (deficit as usize).min(MAX_EXTRA_PER_MESSAGE)
        } else {
            0
        }
    }

    /// A gateway that has not heard packet `(from, id)` yet and that the radio model lets
    /// hear it (within the sender's hop limit over the simulated links), other than the
    /// sender.
    fn pick(&mut self, sim: &mut Simulator, from: u32, id: u32) -> Option<u32> {
        let key = (u64::from(from) << 32) | u64::from(id);
        let heard = self.heard.get(&key)?;
        let reach = self
            .reach
            .entry(from)
            .or_insert_with(|| sim.reachable_gateways(from));
        let open: Vec<u32> = reach
            .iter()
            .copied()
            .filter(|g| !heard.contains(g))
            .collect();
        (!open.is_empty()).then(|| open[self.rng.random_range(0..open.len())])
    }

    fn add(&mut self, from: u32, id: u32, gateway: u32) {
        let key = (u64::from(from) << 32) | u64::from(id);
        if let Some(l) = self.heard.get_mut(&key) {
            l.push(gateway);
        }
        self.receptions += 1;
    }

    /// `envelope` as heard by `gateway`: its own topic, gateway id and reception time, and
    /// the radio facts of a real reception path from the simulator's radio model (hop
    /// limit, relay node, SNR and RSSI of the link the gateway heard).
    fn readdress(
        &mut self,
        sim: &mut Simulator,
        topic: &str,
        payload: &[u8],
        gateway: u32,
    ) -> Option<(String, Vec<u8>)> {
        let mut env = pb::ServiceEnvelope::decode(payload).ok()?;
        let p = env.packet.as_mut()?;
        let facts = sim.reception_facts(p.from, gateway, &mut self.rng)?;
        p.rx_time = p.rx_time.saturating_add(self.rng.random_range(0..=2));
        p.rx_snr = facts.rx_snr;
        p.rx_rssi = facts.rx_rssi;
        p.hop_limit = facts.hop_limit;
        p.relay_node = facts.relay_node;
        env.gateway_id = format!("!{gateway:08x}");
        let (base, _) = topic.rsplit_once('/')?;
        Some((format!("{base}/!{gateway:08x}"), env.encode_to_vec()))
    }
}

/// The generator thread: simulator → pipeline (→ extra gateways) → the writer's queue.
/// Returns the number of envelopes handled.
fn generate(
    mut sim: Simulator,
    mut pipeline: Pipeline,
    tx: mpsc::Sender<WriteOp>,
    clock: Clock,
    mut amp: Amplifier,
    progress: &Progress,
) -> anyhow::Result<u64> {
    let mut envelopes = 0u64;
    // Not a `for` loop: the amplifier asks the simulator's radio model in the loop.
    while let Some(msg) = sim.next() {
        let at_us = clock.import_us(msg.at_s);
        envelopes += 1;
        let Some(op) = pipeline.handle(&msg.topic, &msg.payload, at_us) else {
            continue;
        };
        let reception = match &op {
            WriteOp::Reception(r) => Some((r.from, r.packet_id, r.gateway)),
            WriteOp::Node { .. } => None,
        };
        if tx.blocking_send(op).is_err() {
            bail!("the batch writer stopped");
        }
        if let Some((from, id, gateway)) = reception {
            let extra = amp.observe(from, id, gateway);
            for i in 0..extra {
                let Some(g) = amp.pick(&mut sim, from, id) else {
                    break;
                };
                let Some((topic, payload)) = amp.readdress(&mut sim, &msg.topic, &msg.payload, g)
                else {
                    break;
                };
                envelopes += 1;
                // A few hundred ms later than the first hearing, never after the anchor.
                let t = (at_us + 50_000 * (i as i64 + 1)).min(clock.anchor_us);
                if let Some(op) = pipeline.handle(&topic, &payload, t) {
                    amp.add(from, id, g);
                    if tx.blocking_send(op).is_err() {
                        bail!("the batch writer stopped");
                    }
                }
            }
        }
        if envelopes.is_multiple_of(1024) {
            progress
                .sim_ms
                .store((msg.at_s * 1000.0) as u64, Ordering::Relaxed);
            progress.envelopes.store(envelopes, Ordering::Relaxed);
        }
    }
    progress.envelopes.store(envelopes, Ordering::Relaxed);
    Ok(envelopes)
}

/// Prints progress every few seconds until the seed is done.
async fn report(
    stats: Arc<IngestStats>,
    progress: Arc<Progress>,
    expected_receptions: u64,
    est_sim_span_s: f64,
    started: Instant,
) {
    let mut tick = tokio::time::interval(Duration::from_secs(3));
    tick.tick().await;
    let (mut last_rx, mut last_at) = (0u64, Instant::now());
    while !progress.done.load(Ordering::Relaxed) {
        tick.tick().await;
        let s = stats.snapshot();
        let elapsed = started.elapsed().as_secs_f64();
        let rate_now = (s.receptions_stored - last_rx) as f64 / last_at.elapsed().as_secs_f64();
        (last_rx, last_at) = (s.receptions_stored, Instant::now());
        let frac = (progress.sim_ms.load(Ordering::Relaxed) as f64 / 1000.0 / est_sim_span_s)
            .clamp(0.0, 1.0)
            .max(s.receptions_stored as f64 / expected_receptions.max(1) as f64)
            .min(0.999);
        let eta = if frac > 0.001 {
            elapsed * (1.0 - frac) / frac
        } else {
            f64::NAN
        };
        eprintln!(
            "seed: {:>5.1}% | {} packets, {} receptions stored | {} envelopes | {:.0} receptions/s now, {:.0}/s overall | elapsed {} | ETA {}",
            frac * 100.0,
            s.packets_stored,
            s.receptions_stored,
            progress.envelopes.load(Ordering::Relaxed),
            rate_now,
            s.receptions_stored as f64 / elapsed.max(1e-9),
            hms(elapsed),
            if eta.is_finite() {
                hms(eta)
            } else {
                "?".into()
            },
        );
    }
}

fn hms(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// Peak resident memory of this process (VmHWM), in kB.
fn self_peak_rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))?
                .split_whitespace()
                .nth(1)?
                .parse()
                .ok()
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_maps_the_simulation_onto_the_window() {
        let c = Clock {
            anchor_us: 1_000_000_000,
            span_us: 100_000_000,
            est_sim_span_s: 50.0,
        };
        assert_eq!(c.import_us(0.0), 900_000_000);
        assert_eq!(c.import_us(25.0), 950_000_000);
        // Past the estimate, times still increase and never reach the anchor.
        let (a, b, d) = (c.import_us(49.9), c.import_us(50.0), c.import_us(50.03));
        assert!(a < b && b < d && d < 1_000_000_000, "{a} {b} {d}");
        assert!(c.import_us(80.0) <= 1_000_000_000);
    }

    #[test]
    fn amplifier_reaches_its_target_with_true_radio_facts() {
        let mut sim = Simulator::new(SimConfig {
            nodes: 300,
            gateways: 40,
            packets: 3000,
            junk_percent: 0.0,
            ..SimConfig::default()
        })
        .unwrap();
        let links: HashMap<(u32, u32), f32> = sim
            .radio_links()
            .into_iter()
            .map(|((a, b), snr)| {
                let n = |h: &str| u32::from_str_radix(h.trim_start_matches('!'), 16).unwrap();
                ((n(&a), n(&b)), snr)
            })
            .collect();
        let mut a = Amplifier::new(4.0, 1);
        let mut extra_copies = 0;
        while let Some(msg) = sim.next() {
            let Ok(env) = pb::ServiceEnvelope::decode(msg.payload.as_slice()) else {
                continue;
            };
            let Some(p) = env.packet.as_ref() else {
                continue;
            };
            if msg.topic.contains("/2/map/") {
                continue; // map reports are no packet: the seeder does not copy them
            }
            let gw = u32::from_str_radix(env.gateway_id.trim_start_matches('!'), 16).unwrap();
            for _ in 0..a.observe(p.from, p.id, gw) {
                let Some(g) = a.pick(&mut sim, p.from, p.id) else {
                    break;
                };
                let key = (u64::from(p.from) << 32) | u64::from(p.id);
                assert!(
                    !a.heard[&key].contains(&g),
                    "a gateway hears a packet twice"
                );
                let (topic, payload) = a.readdress(&mut sim, &msg.topic, &msg.payload, g).unwrap();
                a.add(p.from, p.id, g);
                extra_copies += 1;
                assert!(topic.ends_with(&format!("/!{g:08x}")));
                let e = pb::ServiceEnvelope::decode(payload.as_slice()).unwrap();
                let q = e.packet.unwrap();
                assert_eq!((q.from, q.id, q.hop_start), (p.from, p.id, p.hop_start));
                assert!(q.hop_limit <= q.hop_start, "{q:?} vs {p:?}");
                // The relay byte names a node the gateway hears, at an SNR within the
                // model's observation noise of that link's true SNR (zero hops: the
                // sender itself).
                let hops = q.hop_start - q.hop_limit;
                let fits = |(r, to): (u32, u32), snr: f32| {
                    to == g
                        && r & 0xff == q.relay_node
                        && (hops > 0 || r == q.from)
                        && (q.rx_snr - snr.clamp(-20.0, 12.0)).abs()
                            <= meshview_sim::SNR_NOISE_DB + 0.125
                };
                assert!(
                    links.iter().any(|(&k, &snr)| fits(k, snr)),
                    "no link fits {q:?} heard by {g:08x}"
                );
            }
        }
        assert!(extra_copies > 1000, "{extra_copies}");
        let avg = a.receptions as f64 / a.packets as f64;
        assert!((avg - 4.0).abs() < 0.1, "{avg}");
    }
}
