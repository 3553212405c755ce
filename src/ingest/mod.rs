//! The writer's ingest: a message source (MQTT, a capture file, or the simulator) feeds
//! the [`pipeline`] step function, whose writes go through a bounded queue to the store's
//! batch writer.
//!
//! - [`mqtt`]: the broker connection (transport only).
//! - [`pipeline`]: decode, decrypt, skip list, flood guard, rows per packet.
//! - [`flood`]: the per-sender flood guard.
//! - [`stats`]: counters shared with the web side.
//! - [`rebuild`]: `meshview db rebuild`, the archive replayed through the pipeline.
//! - [`retro`]: stored undecryptable packets decrypted in place once their key is configured.

pub mod flood;
pub mod mqtt;
pub mod pipeline;
pub mod publish;
pub mod rebuild;
pub mod retro;
pub mod stats;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;

use meshview_store::archive;
use meshview_store::ops::WriteOp;
use meshview_store::write::BatchWriter;
use meshview_store::{Db, Role, now_us};
use pipeline::Pipeline;

/// Where messages come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// The broker in `[mqtt]`.
    Mqtt,
    /// A capture file (JSON lines: topic, base64 payload), fed as fast as the database
    /// takes it.
    Replay(PathBuf),
    /// The built-in simulator, paced in real time (`meshview run --demo`).
    Demo(meshview_sim::SimConfig),
    /// The raw archive's messages received from this time (µs) on, each at its own
    /// receive time, as fast as the database takes them (`meshview db rebuild`).
    Archive { from_us: i64, total: u64 },
}

/// Runs the writer until shutdown (or until a replay ends), then flushes.
/// What the writer takes from the process: its settings, its counters, where stored
/// packets are announced (in `run`, to the web side's stream) and the shutdown signal.
#[derive(Clone)]
pub struct WriterContext {
    pub config: std::sync::Arc<crate::config::Config>,
    pub stats: std::sync::Arc<stats::IngestStats>,
    pub live: Option<meshview_store::ops::LiveSender>,
    pub shutdown: tokio_util::sync::CancellationToken,
}

pub async fn run(ctx: WriterContext, source: Source) -> anyhow::Result<()> {
    let cfg = ctx.config.clone();
    let stats = ctx.stats.clone();
    let keyed = match &source {
        // The demo's private channel uses the simulator's key; know it, like an operator
        // who configured their channel keys would.
        Source::Demo(sim) if sim.secondary_key_b64.is_some() => {
            let mut c = (*cfg).clone();
            c.mqtt.secondary_keys.extend(sim.secondary_key_b64.clone());
            std::sync::Arc::new(c)
        }
        _ => cfg.clone(),
    };
    let mut pipeline = Pipeline::from_config(&keyed, stats.clone())?;
    let db = Db::open(&cfg.database.url, Role::Writer).await?;
    let (tx, rx) = mpsc::channel::<Item>(cfg.mqtt.queue_size);
    let archive = cfg.archive.enabled;
    // The writer's last committed ticket, from which the MQTT source acknowledges.
    let (committed_tx, committed_rx) = tokio::sync::watch::channel(0u64);
    let session = match &source {
        Source::Mqtt => Some(
            mqtt::MqttSettings::from_config(&cfg.mqtt)?.session(&store_identity(&cfg.database.url)),
        ),
        _ => None,
    };
    let writer = {
        let (db, stats) = (db.clone(), stats.clone());
        let mut writer = BatchWriter::new(db).with_committed(committed_tx);
        if session.as_ref().is_some_and(|s| s.persistent) {
            // The broker sends at most its window of unacknowledged messages (Mosquitto:
            // max_inflight_messages, 20 by default) before it waits for acknowledgements,
            // which come after the commit: commit as soon as the stream pauses rather than
            // waiting out the batch's 50 ms.
            writer = writer.with_idle_flush(Duration::from_millis(1));
        }
        if let Some(live) = ctx.live.clone() {
            writer = writer.with_live(live);
        }
        tokio::spawn(async move { writer.run(rx, &*stats).await })
    };
    let reporter = tokio::spawn(report_progress(stats.clone(), ctx.shutdown.clone()));
    // Retention and backups run beside ingest, on their own short transactions.
    let jobs = tokio::spawn(crate::jobs::run(
        cfg.clone(),
        db.clone(),
        ctx.shutdown.clone(),
    ));
    let archive_upkeep = tokio::spawn(crate::jobs::archive::run(cfg.clone(), ctx.shutdown.clone()));
    // Keys configured since the stored packets were written decrypt them now (not in a
    // rebuild: it replays the archive with the keys itself).
    let retro = (!matches!(source, Source::Archive { .. }))
        .then(|| tokio::spawn(retro::at_start(keyed.clone(), ctx.shutdown.clone())));

    let result = match source {
        Source::Mqtt => {
            let settings = mqtt::MqttSettings::from_config(&cfg.mqtt)?;
            let session = session.expect("an MQTT source has a session");
            let patient = session.persistent;
            let (pipeline, stats_ref, shutdown) = (&mut pipeline, &*stats, ctx.shutdown.clone());
            // The handler owns the queue's sender: the transport drops it at shutdown, which
            // lets the writer drain while the transport still acknowledges its commits.
            let handler = async move |topic: &str, payload: &[u8], ticket: Option<u64>| {
                let now = now_us();
                match pipeline.handle(topic, payload, now) {
                    Some(op) => {
                        let raw = archive.then(|| archived(topic, payload, now));
                        enqueue(&tx, (op, ticket, raw), stats_ref, patient, &shutdown).await
                    }
                    None => mqtt::Delivery::Done,
                }
            };
            mqtt::run(
                settings,
                session,
                ctx.shutdown.clone(),
                &stats,
                committed_rx,
                handler,
            )
            .await
        }
        Source::Replay(path) => {
            let r = replay(&path, &mut pipeline, &tx, &ctx).await;
            drop(tx);
            r
        }
        Source::Demo(sim) => {
            let r = demo(sim, &mut pipeline, &tx, &ctx).await;
            drop(tx);
            r
        }
        Source::Archive { from_us, total } => {
            let r = rebuild::from_archive(&cfg, from_us, total, &mut pipeline, &tx).await;
            drop(tx);
            r
        }
    };
    // The queue is closed: the writer drains and commits everything accepted.
    writer.await.context("batch writer")?;
    // A replay that ended still finishes the start-up pass; at shutdown it stops between
    // steps.
    if let Some(retro) = retro {
        let _ = retro.await;
    }
    reporter.abort();
    if ctx.shutdown.is_cancelled() {
        let _ = jobs.await;
        let _ = archive_upkeep.await;
    } else {
        // A replay that ended: the scheduler has nothing more to do.
        jobs.abort();
        archive_upkeep.abort();
    }
    let s = stats.snapshot();
    tracing::info!(
        received = s.received,
        accepted = s.accepted,
        written = s.batch_items,
        write_failures = s.write_failures,
        packets_stored = s.packets_stored,
        receptions_stored = s.receptions_stored,
        dropped = ?s.dropped,
        "writer stopped; everything accepted is stored"
    );
    db.close().await;
    result
}

/// What the batch writer's queue carries: the write, the MQTT ticket to acknowledge once
/// it is committed, and the message itself for the raw archive (when it is on).
type Item = (WriteOp, Option<u64>, Option<archive::Message>);

/// An accepted message as the archive keeps it.
fn archived(topic: &str, payload: &[u8], at_us: i64) -> archive::Message {
    archive::Message {
        at_us,
        topic: topic.to_string(),
        payload: payload.to_vec(),
    }
}

/// Hands an accepted write to the batch writer. A full queue is waited on for a moment
/// (bursts, a slow commit); after that the message is dropped and counted, so a stalled
/// database never makes memory grow. `patient` (a persistent session, whose unacknowledged
/// messages the broker keeps): wait as long as it takes, or until shutdown, when the
/// message is left to the broker.
async fn enqueue(
    tx: &mpsc::Sender<Item>,
    item: Item,
    stats: &stats::IngestStats,
    patient: bool,
    shutdown: &tokio_util::sync::CancellationToken,
) -> mqtt::Delivery {
    let queued = mqtt::Delivery::Queued;
    match tx.try_send(item) {
        Ok(()) => queued,
        Err(mpsc::error::TrySendError::Full(item)) if patient => tokio::select! {
            r = tx.send(item) => match r {
                Ok(()) => queued,
                Err(_) => mqtt::Delivery::Abandoned,
            },
            _ = shutdown.cancelled() => mqtt::Delivery::Abandoned,
        },
        Err(mpsc::error::TrySendError::Full(item)) => {
            match tokio::time::timeout(Duration::from_secs(2), tx.send(item)).await {
                Ok(Ok(())) => queued,
                Ok(Err(_)) => {
                    stats.dropped("writer_stopped");
                    mqtt::Delivery::Done
                }
                Err(_) => {
                    stats.dropped("queue_full");
                    mqtt::Delivery::Done
                }
            }
        }
        Err(mpsc::error::TrySendError::Closed(_)) => {
            stats.dropped("writer_stopped");
            mqtt::Delivery::Abandoned
        }
    }
}

/// The database as the derived MQTT client id knows it: the SQLite file's absolute path,
/// or the PostgreSQL URL without its password (changing a password keeps the session).
fn store_identity(url: &meshview_store::DatabaseUrl) -> String {
    match url {
        meshview_store::DatabaseUrl::Sqlite { path } => {
            let abs = std::path::absolute(path).unwrap_or_else(|_| path.clone());
            // The file exists once the writer has opened it; resolve symbolic links then.
            let abs = std::fs::canonicalize(&abs).unwrap_or(abs);
            format!("sqlite://{}", abs.display())
        }
        meshview_store::DatabaseUrl::Postgres { .. } => url.redacted(),
    }
}

async fn replay(
    path: &std::path::Path,
    pipeline: &mut Pipeline,
    tx: &mpsc::Sender<Item>,
    ctx: &WriterContext,
) -> anyhow::Result<()> {
    let file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open capture file {}", path.display()))?;
    let mut lines = tokio::io::BufReader::new(file).lines();
    let mut n = 0u64;
    let mut bad = 0u64;
    while let Some(line) = lines.next_line().await? {
        if ctx.shutdown.is_cancelled() {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        n += 1;
        match meshview_sim::parse_capture_line(&line) {
            Ok((topic, payload)) => {
                let now = now_us();
                if let Some(op) = pipeline.handle(&topic, &payload, now) {
                    let raw = ctx
                        .config
                        .archive
                        .enabled
                        .then(|| archived(&topic, &payload, now));
                    // Backpressure instead of drops: a replay has no deadline.
                    if tx.send((op, None, raw)).await.is_err() {
                        break;
                    }
                }
            }
            Err(e) => {
                bad += 1;
                pipeline.stats().dropped("bad_capture_line");
                if bad <= 5 {
                    tracing::warn!(line = n, error = %e, "skipping a bad capture line");
                }
            }
        }
        if n.is_multiple_of(100_000) {
            tracing::info!(lines = n, "replaying");
        }
    }
    tracing::info!(lines = n, bad, file = %path.display(), "replay finished");
    Ok(())
}

async fn demo(
    sim: meshview_sim::SimConfig,
    pipeline: &mut Pipeline,
    tx: &mpsc::Sender<Item>,
    ctx: &WriterContext,
) -> anyhow::Result<()> {
    tracing::info!(
        nodes = sim.nodes,
        gateways = sim.gateways,
        "demo mode: feeding simulated mesh traffic (no broker needed)"
    );
    let mut round = 0u64;
    loop {
        let mut cfg = sim.clone();
        cfg.seed = sim.seed.wrapping_add(round);
        let started = tokio::time::Instant::now();
        for msg in meshview_sim::Simulator::new(cfg)? {
            // Simulated time runs 60× faster than the clock, so the demo looks alive.
            let due = started + Duration::from_secs_f64(msg.at_s / 60.0);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = ctx.shutdown.cancelled() => return Ok(()),
            }
            let now = now_us();
            if let Some(op) = pipeline.handle(&msg.topic, &msg.payload, now) {
                let raw = ctx
                    .config
                    .archive
                    .enabled
                    .then(|| archived(&msg.topic, &msg.payload, now));
                if tx.send((op, None, raw)).await.is_err() {
                    return Ok(());
                }
            }
        }
        round += 1;
    }
}

/// Logs throughput once a minute while there is traffic.
async fn report_progress(
    stats: std::sync::Arc<stats::IngestStats>,
    shutdown: tokio_util::sync::CancellationToken,
) {
    let mut last = stats.snapshot();
    let mut tick = tokio::time::interval(Duration::from_secs(60));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.cancelled() => return,
        }
        let s = stats.snapshot();
        if s.received != last.received {
            tracing::info!(
                per_second = (s.received - last.received) as f64 / 60.0,
                received = s.received,
                packets_stored = s.packets_stored,
                receptions_stored = s.receptions_stored,
                queue = s.queue_depth,
                dropped = ?s.dropped,
                "ingest"
            );
        }
        last = s;
    }
}
