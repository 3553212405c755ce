//! Retroactive decryption: once a channel key is configured, the packets stored before
//! it, undecryptable then, are decrypted and decoded in place (the store's
//! `write::retro`), with no rebuild.
//!
//! The database remembers each configured key by fingerprint (`channel_key`), with the
//! receive time up to which it has been tried on the stored packets. When the writer
//! starts, and when `meshview keys add` runs, the undecryptable packets received since
//! the oldest mark of a configured key (all of them for a key never seen) are decoded
//! again through the pipeline with every configured key; those that decrypt now are
//! stored decoded, and the marks move to the time the pass began. A pass that is
//! interrupted marks nothing and is simply repeated: only packets still undecryptable
//! are touched.

use std::time::Instant;

use meshview_protocol::{Keyring, pb};
use meshview_store::connect::Conn;
use meshview_store::write::retro::{self, Decrypted};
use meshview_store::{Role, now_us};
use prost::Message;
use tokio_util::sync::CancellationToken;

use super::pipeline::Pipeline;
use crate::config::Config;

/// Packets read and stored per step (one transaction each).
const PAGE: i64 = 500;

/// What a pass did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Pass {
    /// The first receive time tried (`None`: no pass was needed).
    pub from_us: Option<i64>,
    /// Undecryptable packets tried.
    pub tried: u64,
    /// Of which decrypted and stored decoded now.
    pub decrypted: u64,
    /// Stopped by `cancel` before the end (nothing marked).
    pub interrupted: bool,
}

/// Tries the configured keys on the stored packets they have not been tried on.
/// `progress(tried, total)` is called every few seconds.
pub async fn run(
    config: &Config,
    cancel: &CancellationToken,
    mut progress: impl FnMut(u64, u64),
) -> anyhow::Result<Pass> {
    let pipeline = Pipeline::from_config(config, Default::default())?;
    let keyring = Keyring::with_secondary(&config.mqtt.secondary_keys.join(","))?;
    let fingerprints: Vec<String> = keyring.keys().iter().map(|k| k.fingerprint()).collect();
    let mut conn = Conn::open(&config.database.url, Role::Writer).await?;
    let result = pass(&mut conn, &pipeline, &fingerprints, cancel, &mut progress).await;
    conn.close().await;
    result
}

async fn pass(
    conn: &mut Conn,
    pipeline: &Pipeline,
    fingerprints: &[String],
    cancel: &CancellationToken,
    progress: &mut impl FnMut(u64, u64),
) -> anyhow::Result<Pass> {
    let marks = retro::key_marks(conn).await?;
    let from_us = fingerprints
        .iter()
        .map(|f| {
            marks
                .iter()
                .find(|m| &m.fingerprint == f)
                .map_or(i64::MIN, |m| m.decrypted_through_us)
        })
        .min()
        .unwrap_or(i64::MIN);
    // Packets stored from now on are decoded by a writer that has these keys (or tried
    // again by the next pass, if this one is `keys add` beside a writer without them).
    let began = now_us();
    let total = retro::count_undecrypted(conn, from_us).await? as u64;
    let mut out = Pass {
        from_us: Some(from_us),
        ..Pass::default()
    };
    let mut after = (i64::MIN, i64::MIN);
    let mut shown = Instant::now();
    loop {
        if cancel.is_cancelled() {
            out.interrupted = true;
            return Ok(out);
        }
        let page = retro::undecrypted(conn, from_us, after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = (last.import_time_us, last.id);
        out.tried += page.len() as u64;
        let decoded: Vec<Decrypted> = page
            .iter()
            .filter_map(|u| {
                let (topic, envelope) = envelope_of(u)?;
                let rows = pipeline.decode_again(&topic, &envelope, u.import_time_us)?;
                Some(Decrypted { id: u.id, rows })
            })
            .collect();
        out.decrypted += retro::store(conn, &decoded).await?;
        if shown.elapsed().as_secs() >= 5 {
            shown = Instant::now();
            progress(out.tried, total);
        }
    }
    retro::mark_keys(conn, fingerprints, began, out.decrypted).await?;
    Ok(out)
}

/// The envelope the packet's first reception came in, as far as it matters to the
/// decoder: the stored ciphertext MeshPacket (its reception fields as first received),
/// the channel and the gateway; and its topic.
fn envelope_of(u: &retro::Undecrypted) -> Option<(String, Vec<u8>)> {
    let packet = pb::MeshPacket::decode(u.payload.as_slice()).ok()?;
    let gateway_id = format!("!{:08x}", u.gateway);
    let topic = if u.topic.is_empty() {
        format!("msh/2/e/{}/{gateway_id}", u.channel)
    } else {
        u.topic.clone()
    };
    let envelope = pb::ServiceEnvelope {
        packet: Some(packet),
        channel_id: u.channel.clone(),
        gateway_id,
    };
    Some((topic, envelope.encode_to_vec()))
}

/// The writer's start-up pass, beside ingest: logged, never fatal.
pub async fn at_start(config: std::sync::Arc<Config>, cancel: CancellationToken) {
    let started = Instant::now();
    let outcome = run(&config, &cancel, |tried, total| {
        tracing::info!(tried, total, "retroactive decryption: in progress");
    })
    .await;
    match outcome {
        Ok(p) if p.interrupted => tracing::info!(
            tried = p.tried,
            decrypted = p.decrypted,
            "retroactive decryption: interrupted by shutdown; the next start goes on"
        ),
        Ok(p) if p.tried > 0 => tracing::info!(
            tried = p.tried,
            decrypted = p.decrypted,
            seconds = started.elapsed().as_secs_f64(),
            "retroactive decryption: stored packets tried with the configured channel keys"
        ),
        Ok(_) => {}
        Err(e) => tracing::warn!(
            error = %format!("{e:#}"),
            "retroactive decryption failed; tried again at the next start"
        ),
    }
}
