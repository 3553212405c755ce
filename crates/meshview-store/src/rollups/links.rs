//! The link-quality model's rollups: per directed link ("`to` heard `from`"), evidence
//! fused over every source the database holds, kept current by the writer in the batch's
//! transaction (`link_quality`, `link_snr`, `link_hourly`; docs/links.md).
//!
//! Sources, all measured by the receiving end:
//! - traceroute hops and neighbour reports (the protocol crate's `packet_links`), counted
//!   once per stored packet;
//! - receptions a gateway heard directly (`hop_start == hop_limit`, sender ≠ gateway),
//!   once per stored reception, with the gateway's SNR and RSSI;
//! - relayed receptions: `relay_node` is only the last relayer's low byte, so it names a
//!   link only when the byte narrows the candidates to one node (see [`RelayResolver`]).

use std::collections::HashMap;

use sqlx::QueryBuilder;

use super::hour_of;
use crate::connect::Conn;
use crate::ops::{LinkObs, Reception};
use crate::{SqlContext, StoreError};

/// What taught us a sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Evidence {
    Traceroute = 0,
    Neighbor = 1,
    Reception = 2,
    Relay = 3,
}

impl Evidence {
    fn of(l: &LinkObs) -> Evidence {
        if l.source == "neighbor" {
            Evidence::Neighbor
        } else {
            Evidence::Traceroute
        }
    }
}

/// SNRs outside this range (dB) are firmware garbage, not measurements.
const SNR_RANGE: std::ops::RangeInclusive<f32> = -50.0..=50.0;

/// Half-dB bin of an SNR: the median read from the bins is within 0.25 dB of the
/// samples' own.
fn snr_bin(snr: f32) -> i32 {
    (snr * 2.0).round() as i32
}

/// Days after which a silent link's confidence has halved.
pub const HALF_LIFE_DAYS: f64 = 7.0;

/// How strongly a link's samples prove it, 0–1, before fading with silence.
///
/// Each traceroute hop, neighbour report or direct reception is proof the radio heard the
/// other end; a relay attribution counts half, since it rests on a one-byte identifier.
/// Evidence saturates (1 − e^(−n/2): 0.39 for one sample, 0.95 for six), and agreement of
/// independent sources (traceroutes, neighbour reports, gateways) halves the remaining
/// doubt.
pub fn evidence(traceroute: i64, neighbor: i64, reception: i64, relay: i64) -> f64 {
    let strength = (traceroute + neighbor + reception) as f64 + 0.5 * relay as f64;
    let doubt = (-strength / 2.0).exp();
    let kinds = [traceroute, neighbor, reception + relay]
        .iter()
        .filter(|&&n| n > 0)
        .count();
    if kinds >= 2 {
        1.0 - doubt * 0.5
    } else {
        1.0 - doubt
    }
}

/// A link's place in "most confident first", the same at every moment: its confidence
/// at time t is evidence × 2^(−(t − last_seen) / half-life), whose log is this minus a
/// term common to every link. Stored in `link_quality.rank` (indexed) so that a page of
/// the most confident links is an index walk, not a read and sort of every link; a
/// confidence floor c at time t is `rank ≥ ln c + ln 2 · t / half-life`.
pub fn rank(traceroute: i64, neighbor: i64, reception: i64, relay: i64, last_seen_us: i64) -> f64 {
    evidence(traceroute, neighbor, reception, relay)
        .max(1e-12)
        .ln()
        + fade_exponent(last_seen_us)
}

/// ln 2 · days / half-life: the time part of [`rank`].
pub fn fade_exponent(at_us: i64) -> f64 {
    std::f64::consts::LN_2 * (at_us as f64 / 86_400e6) / HALF_LIFE_DAYS
}

/// [`rank`] in PostgreSQL's SQL over the merged counts of an upsert (`link_quality` the stored
/// row, `excluded` the batch's). `exp` of a large negative number is an underflow error
/// there, hence the `LEAST`.
fn pg_rank_on_conflict() -> String {
    let sum = |c: &str| format!("(link_quality.{c} + excluded.{c})");
    let (tr, nb, rc, rl) = (
        sum("traceroute_samples"),
        sum("neighbor_samples"),
        sum("reception_samples"),
        sum("relay_samples"),
    );
    let kinds = format!(
        "((CASE WHEN {tr} > 0 THEN 1 ELSE 0 END) + (CASE WHEN {nb} > 0 THEN 1 ELSE 0 END) \
         + (CASE WHEN {rc} + {rl} > 0 THEN 1 ELSE 0 END))"
    );
    let doubt = format!("exp(-LEAST(({tr} + {nb} + {rc} + 0.5 * {rl}) / 2.0, 700.0))");
    format!(
        "ln(GREATEST(1.0 - (CASE WHEN {kinds} >= 2 THEN 0.5 ELSE 1.0 END) * {doubt}, 1e-12)) \
         + {ln2} * (GREATEST(link_quality.last_seen_us, excluded.last_seen_us) / 86400e6) / {HALF_LIFE_DAYS:.1}",
        ln2 = std::f64::consts::LN_2,
    )
}

/// One piece of evidence for a link.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    pub from: u32,
    pub to: u32,
    pub evidence: Evidence,
    pub snr: Option<f32>,
    pub rssi: Option<i32>,
    pub at_us: i64,
}

/// How far (dB) a relayed reception's SNR may be from a candidate link's known SNR for
/// the reception to count as that link's: the observed spread of one link's SNR (fading,
/// quantisation) stays within a few dB, while two nodes sharing a byte seldom reach a
/// gateway equally well.
pub const RELAY_SNR_GATE_DB: f64 = 3.0;

/// Decides which node a relayed reception's `relay_node` byte names. With ~8 nodes per
/// byte value on a 2,000-node mesh, a byte alone rarely names one node. The candidates are
/// the gateway's known neighbours (nodes it heard directly, or that a traceroute or
/// neighbour report links to it) with that byte whose link SNR is within
/// [`RELAY_SNR_GATE_DB`] of the reception's. Exactly one such candidate, and no candidate
/// with that byte whose SNR is unknown, names the relayer; anything else names nothing: a
/// wrong attribution would invent a link or blur a real one's SNR. (A byte unique among
/// the mesh's known nodes is not enough: on a crowded mesh the true relayer is often a
/// node the gateway was never seen hearing directly.)
#[derive(Debug, Default)]
pub struct RelayResolver {
    /// Per receiving node, the nodes with direct evidence of a link to it and the mean of
    /// that evidence's SNR (samples, sum), when any carried one.
    heard_by: HashMap<u32, HashMap<u32, (u32, f64)>>,
    loaded: bool,
}

impl RelayResolver {
    pub fn is_loaded(&self) -> bool {
        self.loaded
    }

    /// Fills the resolver from what is stored: links with direct evidence, with their
    /// median SNR.
    pub fn load(&mut self, links: &[(i64, i64, Option<f64>)]) {
        for &(from, to, snr) in links {
            self.learn_link(from as u32, to as u32, snr.map(|s| (1, s)));
        }
        self.loaded = true;
    }

    /// Direct evidence of `from` → `to`, with (samples, sum) of its SNRs if any.
    pub fn learn_link(&mut self, from: u32, to: u32, snr: Option<(u32, f64)>) {
        let e = self
            .heard_by
            .entry(to)
            .or_default()
            .entry(from)
            .or_insert((0, 0.0));
        if let Some((n, sum)) = snr {
            e.0 += n;
            e.1 += sum;
        }
    }

    /// The one node `byte` can name as the transmitter `gateway` heard at `snr`.
    pub fn resolve(&self, gateway: u32, byte: u8, sender: u32, snr: Option<f32>) -> Option<u32> {
        let snr = f64::from(snr?);
        let near = self.heard_by.get(&gateway)?;
        let mut found = None;
        for (&n, &(count, sum)) in near {
            if n as u8 != byte || n == gateway || n == sender {
                continue;
            }
            if count == 0 {
                return None;
            }
            if (sum / f64::from(count) - snr).abs() <= RELAY_SNR_GATE_DB {
                if found.is_some() {
                    return None;
                }
                found = Some(n);
            }
        }
        found
    }
}

/// The samples a stored reception teaches, besides its packet's links: a direct hearing
/// or an attributable relay.
pub fn reception_sample(r: &Reception, resolver: &RelayResolver) -> Option<Sample> {
    reception_sample_parts(
        r.from,
        r.gateway,
        r.hop_start,
        r.hop_limit,
        r.relay_node,
        r.rx_snr,
        r.rx_rssi,
        r.received_us,
        resolver,
    )
}

/// [`reception_sample`] from a reception's stored columns (the rebuild's input).
#[allow(clippy::too_many_arguments)]
pub fn reception_sample_parts(
    from: u32,
    gateway: u32,
    hop_start: i32,
    hop_limit: i32,
    relay_node: u32,
    rx_snr: f32,
    rx_rssi: i32,
    at_us: i64,
    resolver: &RelayResolver,
) -> Option<Sample> {
    // Firmware before 2.3 leaves hop_start 0: direct and relayed cannot be told apart.
    if from == gateway || hop_start <= 0 || hop_limit > hop_start {
        return None;
    }
    // A gateway that reports neither value measured nothing (its own packets, MQTT).
    let measured = !(rx_snr == 0.0 && rx_rssi == 0);
    let snr = (measured && SNR_RANGE.contains(&rx_snr)).then_some(rx_snr);
    let rssi = (rx_rssi != 0 && (-200..0).contains(&rx_rssi)).then_some(rx_rssi);
    let (link_from, evidence) = if hop_limit == hop_start {
        (from, Evidence::Reception)
    } else {
        if relay_node == 0 {
            return None;
        }
        let relayer = resolver.resolve(gateway, relay_node as u8, from, snr)?;
        (relayer, Evidence::Relay)
    };
    Some(Sample {
        from: link_from,
        to: gateway,
        evidence,
        snr,
        rssi,
        at_us,
    })
}

/// A packet's own links (traceroute hops, neighbour reports) as samples.
pub fn link_sample(l: &LinkObs, at_us: i64) -> Sample {
    Sample {
        from: l.from,
        to: l.to,
        evidence: Evidence::of(l),
        snr: l.snr_db.filter(|s| SNR_RANGE.contains(s)),
        rssi: None,
        at_us,
    }
}

#[derive(Debug, Clone, Copy)]
struct LinkAcc {
    /// SNR samples of the direct sources (what the relay resolver learns): count, sum.
    direct_snr: (u32, f64),
    first_us: i64,
    last_us: i64,
    samples: [i64; 4],
    snr_samples: i64,
    last_snr: Option<f32>,
    last_snr_us: i64,
    rssi_samples: i64,
    rssi_sum: i64,
}

#[derive(Debug, Clone, Copy)]
struct HourAcc {
    samples: i64,
    snr_samples: i64,
    snr_sum: f64,
    snr_min: Option<f32>,
    snr_max: Option<f32>,
}

type Pair = (i64, i64);

/// A batch's (or a rebuild chunk's) increments to the link tables. Every increment is
/// additive, so chunks can be written one after another.
#[derive(Debug, Default)]
pub struct LinkRollup {
    links: HashMap<Pair, LinkAcc>,
    bins: HashMap<(i64, i64, i32), i64>,
    hours: HashMap<(i64, i64, i64), HourAcc>,
}

impl LinkRollup {
    pub fn is_empty(&self) -> bool {
        self.links.is_empty()
    }

    pub fn add(&mut self, s: &Sample) {
        if s.from == s.to {
            return;
        }
        let key = (s.from as i64, s.to as i64);
        let l = self.links.entry(key).or_insert(LinkAcc {
            direct_snr: (0, 0.0),
            first_us: s.at_us,
            last_us: s.at_us,
            samples: [0; 4],
            snr_samples: 0,
            last_snr: None,
            last_snr_us: i64::MIN,
            rssi_samples: 0,
            rssi_sum: 0,
        });
        l.first_us = l.first_us.min(s.at_us);
        l.last_us = l.last_us.max(s.at_us);
        l.samples[s.evidence as usize] += 1;
        if let Some(r) = s.rssi {
            l.rssi_samples += 1;
            l.rssi_sum += i64::from(r);
        }
        let h = self
            .hours
            .entry((key.0, key.1, hour_of(s.at_us)))
            .or_insert(HourAcc {
                samples: 0,
                snr_samples: 0,
                snr_sum: 0.0,
                snr_min: None,
                snr_max: None,
            });
        h.samples += 1;
        if let Some(snr) = s.snr {
            if s.evidence != Evidence::Relay {
                l.direct_snr.0 += 1;
                l.direct_snr.1 += f64::from(snr);
            }
            l.snr_samples += 1;
            if s.at_us >= l.last_snr_us {
                l.last_snr = Some(snr);
                l.last_snr_us = s.at_us;
            }
            *self.bins.entry((key.0, key.1, snr_bin(snr))).or_default() += 1;
            h.snr_samples += 1;
            h.snr_sum += f64::from(snr);
            h.snr_min = Some(h.snr_min.map_or(snr, |m| m.min(snr)));
            h.snr_max = Some(h.snr_max.map_or(snr, |m| m.max(snr)));
        }
    }

    /// The links with a direct source in this batch and their direct SNRs (samples, sum):
    /// what the relay resolver learns.
    pub fn direct_links(&self) -> impl Iterator<Item = (u32, u32, Option<(u32, f64)>)> + '_ {
        self.links
            .iter()
            .filter(|(_, a)| a.samples[..3].iter().any(|&n| n > 0))
            .map(|(k, a)| {
                let snr = (a.direct_snr.0 > 0).then_some(a.direct_snr);
                (k.0 as u32, k.1 as u32, snr)
            })
    }

    fn sorted_links(&self) -> Vec<(&Pair, &LinkAcc)> {
        let mut v: Vec<_> = self.links.iter().collect();
        v.sort_by_key(|(k, _)| **k);
        v
    }

    fn sorted_bins(&self) -> Vec<(&(i64, i64, i32), &i64)> {
        let mut v: Vec<_> = self.bins.iter().collect();
        v.sort_by_key(|(k, _)| **k);
        v
    }

    fn sorted_hours(&self) -> Vec<(&(i64, i64, i64), &HourAcc)> {
        let mut v: Vec<_> = self.hours.iter().collect();
        v.sort_by_key(|(k, _)| **k);
        v
    }
}

/// The median SNR (dB) of a link's half-dB bins, `(bin, samples)` in any order.
pub fn median_of_bins(bins: &mut [(i32, i64)]) -> Option<f64> {
    bins.sort_unstable();
    let total: i64 = bins.iter().map(|b| b.1).sum();
    if total <= 0 {
        return None;
    }
    // The lower median: the first bin whose running count reaches half.
    let half = (total + 1) / 2;
    let mut seen = 0;
    for &(bin, n) in bins.iter() {
        seen += n;
        if seen >= half {
            return Some(f64::from(bin) / 2.0);
        }
    }
    None
}

fn medians(rows: Vec<(i64, i64, i32, i64)>) -> HashMap<Pair, f64> {
    let mut by_link: HashMap<Pair, Vec<(i32, i64)>> = HashMap::new();
    for (f, t, bin, n) in rows {
        by_link.entry((f, t)).or_default().push((bin, n));
    }
    by_link
        .into_iter()
        .filter_map(|(k, mut bins)| median_of_bins(&mut bins).map(|m| (k, m)))
        .collect()
}

/// Adds the counts, keeps the oldest first and newest last sighting, the newest SNR and
/// the median recomputed from the bins.
const QUALITY_CONFLICT: &str = " ON CONFLICT (from_node_id, to_node_id) DO UPDATE SET \
     first_seen_us = CASE WHEN excluded.first_seen_us < link_quality.first_seen_us \
         THEN excluded.first_seen_us ELSE link_quality.first_seen_us END, \
     last_snr = CASE WHEN excluded.last_snr IS NOT NULL \
         AND excluded.last_seen_us >= link_quality.last_seen_us \
         THEN excluded.last_snr ELSE COALESCE(link_quality.last_snr, excluded.last_snr) END, \
     last_seen_us = CASE WHEN excluded.last_seen_us > link_quality.last_seen_us \
         THEN excluded.last_seen_us ELSE link_quality.last_seen_us END, \
     traceroute_samples = link_quality.traceroute_samples + excluded.traceroute_samples, \
     neighbor_samples = link_quality.neighbor_samples + excluded.neighbor_samples, \
     reception_samples = link_quality.reception_samples + excluded.reception_samples, \
     relay_samples = link_quality.relay_samples + excluded.relay_samples, \
     snr_samples = link_quality.snr_samples + excluded.snr_samples, \
     median_snr = COALESCE(excluded.median_snr, link_quality.median_snr), \
     rssi_samples = link_quality.rssi_samples + excluded.rssi_samples, \
     rssi_sum = link_quality.rssi_sum + excluded.rssi_sum";
const SNR_CONFLICT: &str = " ON CONFLICT (from_node_id, to_node_id, snr_bin) DO UPDATE SET \
     samples = link_snr.samples + excluded.samples";
const HOURLY_CONFLICT: &str = " ON CONFLICT (from_node_id, to_node_id, hour_us) DO UPDATE SET \
     samples = link_hourly.samples + excluded.samples, \
     snr_samples = link_hourly.snr_samples + excluded.snr_samples, \
     snr_sum = link_hourly.snr_sum + excluded.snr_sum, \
     snr_min = CASE WHEN link_hourly.snr_min IS NULL OR excluded.snr_min < link_hourly.snr_min \
         THEN excluded.snr_min ELSE link_hourly.snr_min END, \
     snr_max = CASE WHEN link_hourly.snr_max IS NULL OR excluded.snr_max > link_hourly.snr_max \
         THEN excluded.snr_max ELSE link_hourly.snr_max END";

/// Rows per multi-row statement on SQLite (13 values a row stays under its 32,766).
const CHUNK: usize = 1000;

/// Whether `link_quality.rank` exists and is kept: it does from migration 0016 on.
/// Migration 0014's backfill runs before that column exists (on a database upgraded
/// from before 0014); 0016 then ranks every row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ranked {
    Yes,
    /// The schema is older than migration 0016.
    NotYet,
}

const RETURN_COUNTS: &str = " RETURNING from_node_id, to_node_id, traceroute_samples, \
     neighbor_samples, reception_samples, relay_samples, last_seen_us";

type RankInput = (i64, i64, i64, i64, i64, i64, i64);

fn rank_of(r: &RankInput) -> (i64, i64, f64) {
    (r.0, r.1, rank(r.2, r.3, r.4, r.5, r.6))
}

/// Sets `rank` of the given links (SQLite has no `ln`/`exp` to do it in the upsert).
async fn set_ranks_sqlite(
    conn: &mut sqlx::SqliteConnection,
    ranks: &[(i64, i64, f64)],
) -> Result<(), sqlx::Error> {
    for chunk in ranks.chunks(CHUNK) {
        let mut q =
            QueryBuilder::<sqlx::Sqlite>::new("UPDATE link_quality SET rank = v.column3 FROM (");
        q.push_values(chunk, |mut b, (f, t, rank)| {
            b.push_bind(*f).push_bind(*t).push_bind(*rank);
        });
        q.push(
            ") AS v WHERE link_quality.from_node_id = v.column1 \
             AND link_quality.to_node_id = v.column2",
        );
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// Ranks every stored link (migration 0016's hook): one pass, in key order.
pub async fn rank_all(conn: &mut Conn) -> Result<u64, StoreError> {
    const ALL: &str = "SELECT from_node_id, to_node_id, traceroute_samples, neighbor_samples, \
         reception_samples, relay_samples, last_seen_us FROM link_quality";
    let rows: Vec<RankInput> = match conn {
        Conn::Sqlite(c) => sqlx::query_as(ALL).fetch_all(&mut *c).await,
        Conn::Postgres(c) => sqlx::query_as(ALL).fetch_all(&mut *c).await,
    }
    .context("reading the links to rank")?;
    let ranks: Vec<(i64, i64, f64)> = rows.iter().map(rank_of).collect();
    match conn {
        Conn::Sqlite(c) => set_ranks_sqlite(c, &ranks).await,
        Conn::Postgres(c) => sqlx::query(
            "UPDATE link_quality l SET rank = t.r \
                 FROM UNNEST($1::bigint[], $2::bigint[], $3::float8[]) AS t(f, o, r) \
                 WHERE l.from_node_id = t.f AND l.to_node_id = t.o",
        )
        .bind(ranks.iter().map(|r| r.0).collect::<Vec<i64>>())
        .bind(ranks.iter().map(|r| r.1).collect::<Vec<i64>>())
        .bind(ranks.iter().map(|r| r.2).collect::<Vec<f64>>())
        .execute(&mut *c)
        .await
        .map(|_| ()),
    }
    .context("ranking the links")?;
    Ok(ranks.len() as u64)
}

/// SQLite: bins first, then the touched links' medians from the updated bins, then the
/// link rows (and their ranks, from the merged counts the upsert returns) and the hourly
/// series.
pub async fn write_sqlite(
    conn: &mut sqlx::SqliteConnection,
    r: &LinkRollup,
    ranked: Ranked,
) -> Result<(), sqlx::Error> {
    if r.is_empty() {
        return Ok(());
    }
    for chunk in r.sorted_bins().chunks(CHUNK) {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO link_snr (from_node_id, to_node_id, snr_bin, samples) ",
        );
        q.push_values(chunk, |mut b, ((f, t, bin), n)| {
            b.push_bind(*f).push_bind(*t).push_bind(*bin).push_bind(**n);
        });
        q.push(SNR_CONFLICT);
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    let links = r.sorted_links();
    let mut bins = Vec::new();
    for chunk in links.chunks(CHUNK / 2) {
        // A join, not `(from, to) IN (VALUES …)`: SQLite plans the row-value IN as a scan
        // of the whole of link_snr (every batch, hundreds of thousands of rows on a big
        // mesh), the join as one primary-key search per link.
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(
            "SELECT s.from_node_id, s.to_node_id, s.snr_bin, s.samples FROM (VALUES ",
        );
        let mut sep = q.separated(", ");
        for ((f, t), _) in chunk {
            sep.push("(")
                .push_bind_unseparated(*f)
                .push_unseparated(", ")
                .push_bind_unseparated(*t)
                .push_unseparated(")");
        }
        q.push(
            ") AS v JOIN link_snr s \
             ON s.from_node_id = v.column1 AND s.to_node_id = v.column2",
        );
        bins.extend(
            q.build_query_as::<(i64, i64, i32, i64)>()
                .persistent(false)
                .fetch_all(&mut *conn)
                .await?,
        );
    }
    let medians = medians(bins);
    for chunk in links.chunks(CHUNK) {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO link_quality (from_node_id, to_node_id, first_seen_us, last_seen_us, \
             traceroute_samples, neighbor_samples, reception_samples, relay_samples, \
             snr_samples, last_snr, median_snr, rssi_samples, rssi_sum) ",
        );
        q.push_values(chunk, |mut b, (k, a)| {
            b.push_bind(k.0)
                .push_bind(k.1)
                .push_bind(a.first_us)
                .push_bind(a.last_us)
                .push_bind(a.samples[0])
                .push_bind(a.samples[1])
                .push_bind(a.samples[2])
                .push_bind(a.samples[3])
                .push_bind(a.snr_samples)
                .push_bind(a.last_snr.map(f64::from))
                .push_bind(medians.get(k).copied())
                .push_bind(a.rssi_samples)
                .push_bind(a.rssi_sum);
        });
        q.push(QUALITY_CONFLICT);
        if ranked == Ranked::Yes {
            q.push(RETURN_COUNTS);
            let merged: Vec<RankInput> = q
                .build_query_as()
                .persistent(false)
                .fetch_all(&mut *conn)
                .await?;
            let ranks: Vec<(i64, i64, f64)> = merged.iter().map(rank_of).collect();
            set_ranks_sqlite(conn, &ranks).await?;
        } else {
            q.build().persistent(false).execute(&mut *conn).await?;
        }
    }
    for chunk in r.sorted_hours().chunks(CHUNK) {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO link_hourly (from_node_id, to_node_id, hour_us, samples, snr_samples, \
             snr_sum, snr_min, snr_max) ",
        );
        q.push_values(chunk, |mut b, ((f, t, h), a)| {
            b.push_bind(*f)
                .push_bind(*t)
                .push_bind(*h)
                .push_bind(a.samples)
                .push_bind(a.snr_samples)
                .push_bind(a.snr_sum)
                .push_bind(a.snr_min.map(f64::from))
                .push_bind(a.snr_max.map(f64::from));
        });
        q.push(HOURLY_CONFLICT);
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    Ok(())
}

/// PostgreSQL: the same steps with one array per column.
pub async fn write_pg(
    conn: &mut sqlx::PgConnection,
    r: &LinkRollup,
    ranked: Ranked,
) -> Result<(), sqlx::Error> {
    if r.is_empty() {
        return Ok(());
    }
    let bins = r.sorted_bins();
    if !bins.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO link_snr (from_node_id, to_node_id, snr_bin, samples) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::int[], $4::bigint[]){SNR_CONFLICT}"
        )))
        .bind(bins.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
        .bind(bins.iter().map(|(k, _)| k.1).collect::<Vec<i64>>())
        .bind(bins.iter().map(|(k, _)| k.2).collect::<Vec<i32>>())
        .bind(bins.iter().map(|(_, n)| **n).collect::<Vec<i64>>())
        .execute(&mut *conn)
        .await?;
    }
    let links = r.sorted_links();
    let rows: Vec<(i64, i64, i32, i64)> = sqlx::query_as(
        "SELECT l.from_node_id, l.to_node_id, l.snr_bin, l.samples FROM link_snr l \
         JOIN UNNEST($1::bigint[], $2::bigint[]) AS t(f, o) \
           ON l.from_node_id = t.f AND l.to_node_id = t.o",
    )
    .bind(links.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
    .bind(links.iter().map(|(k, _)| k.1).collect::<Vec<i64>>())
    .fetch_all(&mut *conn)
    .await?;
    let medians = medians(rows);
    let col = |f: &dyn Fn(&LinkAcc) -> i64| links.iter().map(|(_, a)| f(a)).collect::<Vec<i64>>();
    // Ranked: a new row's rank is its batch counts'; a merged row's is computed in the
    // upsert from the merged counts.
    let sql = match ranked {
        Ranked::Yes => format!(
            "INSERT INTO link_quality (from_node_id, to_node_id, first_seen_us, last_seen_us, \
             traceroute_samples, neighbor_samples, reception_samples, relay_samples, snr_samples, \
             last_snr, median_snr, rssi_samples, rssi_sum, rank) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], \
             $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::float8[], $11::float8[], \
             $12::bigint[], $13::bigint[], $14::float8[]){QUALITY_CONFLICT}, rank = {}",
            pg_rank_on_conflict()
        ),
        Ranked::NotYet => format!(
            "INSERT INTO link_quality (from_node_id, to_node_id, first_seen_us, last_seen_us, \
             traceroute_samples, neighbor_samples, reception_samples, relay_samples, snr_samples, \
             last_snr, median_snr, rssi_samples, rssi_sum) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[], \
             $6::bigint[], $7::bigint[], $8::bigint[], $9::bigint[], $10::float8[], $11::float8[], \
             $12::bigint[], $13::bigint[]){QUALITY_CONFLICT}"
        ),
    };
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(links.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
        .bind(links.iter().map(|(k, _)| k.1).collect::<Vec<i64>>())
        .bind(col(&|a| a.first_us))
        .bind(col(&|a| a.last_us))
        .bind(col(&|a| a.samples[0]))
        .bind(col(&|a| a.samples[1]))
        .bind(col(&|a| a.samples[2]))
        .bind(col(&|a| a.samples[3]))
        .bind(col(&|a| a.snr_samples))
        .bind(
            links
                .iter()
                .map(|(_, a)| a.last_snr.map(f64::from))
                .collect::<Vec<Option<f64>>>(),
        )
        .bind(
            links
                .iter()
                .map(|(k, _)| medians.get(k).copied())
                .collect::<Vec<Option<f64>>>(),
        )
        .bind(col(&|a| a.rssi_samples))
        .bind(col(&|a| a.rssi_sum));
    if ranked == Ranked::Yes {
        q = q.bind(
            links
                .iter()
                .map(|(_, a)| {
                    rank(
                        a.samples[0],
                        a.samples[1],
                        a.samples[2],
                        a.samples[3],
                        a.last_us,
                    )
                })
                .collect::<Vec<f64>>(),
        );
    }
    q.execute(&mut *conn).await?;
    let hours = r.sorted_hours();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO link_hourly (from_node_id, to_node_id, hour_us, samples, snr_samples, \
         snr_sum, snr_min, snr_max) \
         SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[], $4::bigint[], \
         $5::bigint[], $6::float8[], $7::float8[], $8::float8[]){HOURLY_CONFLICT}"
    )))
    .bind(hours.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
    .bind(hours.iter().map(|(k, _)| k.1).collect::<Vec<i64>>())
    .bind(hours.iter().map(|(k, _)| k.2).collect::<Vec<i64>>())
    .bind(hours.iter().map(|(_, a)| a.samples).collect::<Vec<i64>>())
    .bind(
        hours
            .iter()
            .map(|(_, a)| a.snr_samples)
            .collect::<Vec<i64>>(),
    )
    .bind(hours.iter().map(|(_, a)| a.snr_sum).collect::<Vec<f64>>())
    .bind(
        hours
            .iter()
            .map(|(_, a)| a.snr_min.map(f64::from))
            .collect::<Vec<Option<f64>>>(),
    )
    .bind(
        hours
            .iter()
            .map(|(_, a)| a.snr_max.map(f64::from))
            .collect::<Vec<Option<f64>>>(),
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// What the resolver starts from: links with direct evidence, with their median SNR.
pub const RESOLVER_LINKS: &str = "SELECT from_node_id, to_node_id, median_snr FROM link_quality \
     WHERE traceroute_samples + neighbor_samples + reception_samples > 0";

async fn write(conn: &mut Conn, r: &LinkRollup, ranked: Ranked) -> Result<(), StoreError> {
    match conn {
        Conn::Sqlite(c) => write_sqlite(c, r, ranked).await,
        Conn::Postgres(c) => write_pg(c, r, ranked).await,
    }
    .context("writing the link-quality rollups")
}

/// Receptions are read a time window at a time, so a big database never sits in memory.
const WINDOW_US: i64 = 6 * 3_600_000_000;

type StoredReception = (
    Option<i64>,
    i64,
    Option<i32>,
    Option<i32>,
    Option<i32>,
    Option<f64>,
    Option<i32>,
    i64,
);

/// Recomputes the link-quality tables from the raw rows: traceroutes and neighbour reports
/// first, then every direct reception, then the relayed ones, named with everything the
/// direct evidence taught the resolver. Runs inside the caller's transaction (migration
/// hook, or `db rebuild-rollups`); returns the number of links.
pub async fn rebuild(conn: &mut Conn, ranked: Ranked) -> Result<u64, StoreError> {
    conn.execute("DELETE FROM link_hourly; DELETE FROM link_snr; DELETE FROM link_quality")
        .await
        .context("clearing the link-quality rollups")?;
    // Written a window of time at a time (each write merges into the rows so far), so
    // memory holds one window's links and hours, not a whole history's: a year of a
    // big mesh's traceroutes is millions of (link, hour) pairs.
    const PACKETS: &str = "SELECT portnum, payload, import_time_us FROM packet \
         WHERE portnum IN (70, 71) AND import_time_us >= $1 AND import_time_us < $2";
    let packets = time_range(
        conn,
        "SELECT MIN(import_time_us), MAX(import_time_us) FROM packet WHERE portnum IN (70, 71)",
    )
    .await?;
    let receptions = time_range(
        conn,
        "SELECT MIN(import_time_us), MAX(import_time_us) FROM packet_seen",
    )
    .await?;
    let windows =
        |range: Option<(i64, i64)>| range.map_or(0, |(a, b)| ((b - a) / WINDOW_US + 1) as u64);
    // Progress: the packets' windows, then the receptions' twice (direct, relayed).
    let total = windows(packets) + 2 * windows(receptions);
    let mut done = 0;
    if let Some((first, last)) = packets {
        let mut start = first;
        while start <= last {
            let rows: Vec<(i32, Option<Vec<u8>>, i64)> = match conn {
                Conn::Sqlite(c) => {
                    sqlx::query_as(PACKETS)
                        .bind(start)
                        .bind(start + WINDOW_US)
                        .fetch_all(&mut *c)
                        .await
                }
                Conn::Postgres(c) => {
                    sqlx::query_as(PACKETS)
                        .bind(start)
                        .bind(start + WINDOW_US)
                        .fetch_all(&mut *c)
                        .await
                }
            }
            .context("reading traceroutes and neighbour reports")?;
            let mut r = LinkRollup::default();
            for (portnum, payload, at) in rows {
                for l in super::links_of_stored(portnum, payload.as_deref().unwrap_or_default()) {
                    r.add(&link_sample(&l, at));
                }
            }
            write(conn, &r, ranked).await?;
            start += WINDOW_US;
            done += 1;
            crate::progress::rows(done, total).await;
        }
    }

    if let Some((first, last)) = receptions {
        let mut resolver = RelayResolver::default();
        // Direct receptions, then relays (which need all of the direct evidence).
        for relays in [false, true] {
            if relays {
                resolver.load(&candidates(conn).await?);
            }
            let mut start = first;
            while start <= last {
                let rows = receptions_in(conn, start, start + WINDOW_US, relays).await?;
                let mut r = LinkRollup::default();
                for (from, gw, hop_start, hop_limit, relay, snr, rssi, at) in rows {
                    let Some(from) = from else { continue };
                    if let Some(s) = reception_sample_parts(
                        from as u32,
                        gw as u32,
                        hop_start.unwrap_or(0),
                        hop_limit.unwrap_or(0),
                        relay.unwrap_or(0) as u32,
                        snr.unwrap_or(0.0) as f32,
                        rssi.unwrap_or(0),
                        at,
                        &resolver,
                    ) {
                        r.add(&s);
                    }
                }
                write(conn, &r, ranked).await?;
                start += WINDOW_US;
                done += 1;
                crate::progress::rows(done, total).await;
            }
        }
    }
    conn.scalar_i64("SELECT COUNT(*) FROM link_quality")
        .await
        .context("counting links")
        .map(|n| n as u64)
}

/// The first and last time of a `SELECT MIN(…), MAX(…)`, if there are rows.
async fn time_range(conn: &mut Conn, sql: &'static str) -> Result<Option<(i64, i64)>, StoreError> {
    let (first, last): (Option<i64>, Option<i64>) = match conn {
        Conn::Sqlite(c) => sqlx::query_as(sql).fetch_one(&mut *c).await,
        Conn::Postgres(c) => sqlx::query_as(sql).fetch_one(&mut *c).await,
    }
    .context("reading a time range")?;
    Ok(first.zip(last))
}

async fn candidates(conn: &mut Conn) -> Result<Vec<(i64, i64, Option<f64>)>, StoreError> {
    match conn {
        Conn::Sqlite(c) => sqlx::query_as(RESOLVER_LINKS).fetch_all(&mut *c).await,
        Conn::Postgres(c) => sqlx::query_as(RESOLVER_LINKS).fetch_all(&mut *c).await,
    }
    .context("reading the links with direct evidence")
}

async fn receptions_in(
    conn: &mut Conn,
    from_us: i64,
    to_us: i64,
    relays: bool,
) -> Result<Vec<StoredReception>, StoreError> {
    let q = if relays {
        "SELECT p.from_node_id, s.node_id, s.hop_start, s.hop_limit, s.relay_node, s.rx_snr, \
         s.rx_rssi, s.import_time_us FROM packet_seen s JOIN packet p ON p.id = s.packet_id \
         WHERE s.import_time_us >= $1 AND s.import_time_us < $2 AND s.hop_start > 0 \
         AND s.hop_limit < s.hop_start AND s.relay_node IS NOT NULL"
    } else {
        "SELECT p.from_node_id, s.node_id, s.hop_start, s.hop_limit, s.relay_node, s.rx_snr, \
         s.rx_rssi, s.import_time_us FROM packet_seen s JOIN packet p ON p.id = s.packet_id \
         WHERE s.import_time_us >= $1 AND s.import_time_us < $2 AND s.hop_start > 0 \
         AND s.hop_limit = s.hop_start"
    };
    match conn {
        Conn::Sqlite(c) => {
            sqlx::query_as(q)
                .bind(from_us)
                .bind(to_us)
                .fetch_all(&mut *c)
                .await
        }
        Conn::Postgres(c) => {
            sqlx::query_as(q)
                .bind(from_us)
                .bind(to_us)
                .fetch_all(&mut *c)
                .await
        }
    }
    .context("reading stored receptions")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_the_lower_middle_bin() {
        assert_eq!(median_of_bins(&mut []), None);
        assert_eq!(median_of_bins(&mut [(4, 1)]), Some(2.0));
        // -3 dB ×1, 1 dB ×2, 5 dB ×1: the lower median is 1 dB.
        assert_eq!(median_of_bins(&mut [(10, 1), (2, 2), (-6, 1)]), Some(1.0));
        assert_eq!(median_of_bins(&mut [(-6, 3), (10, 1)]), Some(-3.0));
        assert_eq!(snr_bin(-7.25), -15);
        assert_eq!(snr_bin(2.2), 4);
    }

    fn rx(from: u32, gw: u32, start: i32, limit: i32, relay: u32) -> (u32, u32, i32, i32, u32) {
        (from, gw, start, limit, relay)
    }

    fn sample(r: (u32, u32, i32, i32, u32), res: &RelayResolver) -> Option<Sample> {
        reception_sample_parts(r.0, r.1, r.2, r.3, r.4, -3.5, -101, 7, res)
    }

    #[test]
    fn direct_receptions_are_links_and_own_packets_are_not() {
        let res = RelayResolver::default();
        let s = sample(rx(0x1001, 0x2002, 3, 3, 0x01), &res).unwrap();
        assert_eq!(
            (s.from, s.to, s.evidence),
            (0x1001, 0x2002, Evidence::Reception)
        );
        assert_eq!((s.snr, s.rssi), (Some(-3.5), Some(-101)));
        // The gateway's own packet, old firmware without hop_start, nonsense hops.
        assert_eq!(sample(rx(0x2002, 0x2002, 3, 3, 0), &res), None);
        assert_eq!(sample(rx(0x1001, 0x2002, 0, 0, 0), &res), None);
        assert_eq!(sample(rx(0x1001, 0x2002, 3, 5, 0), &res), None);
        // A gateway that measured nothing still proves the link, without an SNR.
        let s = reception_sample_parts(1 << 9, 2 << 9, 3, 3, 0, 0.0, 0, 7, &res).unwrap();
        assert_eq!((s.snr, s.rssi), (None, None));
    }

    #[test]
    fn relays_name_a_link_only_when_byte_and_snr_single_out_a_neighbour() {
        let mut res = RelayResolver::default();
        let gw = 0xaaaa_0010;
        let relay = |res: &RelayResolver, byte: u32| sample(rx(0x3333_0001, gw, 3, 1, byte), res);
        // Nobody the gateway hears ends in 0x42 yet: unknown relayer.
        assert_eq!(relay(&res, 0x42), None);
        // One neighbour with the byte, heard at about the reception's SNR (-3.5 dB).
        res.learn_link(0x2222_0042, gw, Some((2, -8.0)));
        let s = relay(&res, 0x42).unwrap();
        assert_eq!(
            (s.from, s.to, s.evidence),
            (0x2222_0042, gw, Evidence::Relay)
        );
        // A second neighbour with the byte but a very different SNR does not compete...
        res.learn_link(0x1111_0042, gw, Some((1, 8.0)));
        assert_eq!(relay(&res, 0x42).unwrap().from, 0x2222_0042);
        // ...one with a similar SNR does, and one of unknown SNR might: both ambiguous.
        let mut close = RelayResolver::default();
        close.learn_link(0x2222_0042, gw, Some((1, -3.0)));
        close.learn_link(0x1111_0042, gw, Some((1, -5.0)));
        assert_eq!(relay(&close, 0x42), None);
        let mut unknown = RelayResolver::default();
        unknown.learn_link(0x2222_0042, gw, Some((1, -3.0)));
        unknown.learn_link(0x1111_0042, gw, None);
        assert_eq!(relay(&unknown, 0x42), None);
        // The only neighbour with the byte is heard far louder: not it.
        let mut far = RelayResolver::default();
        far.learn_link(0x2222_0042, gw, Some((1, 6.0)));
        assert_eq!(relay(&far, 0x42), None);
        // No relay byte, or no SNR to compare.
        assert_eq!(relay(&res, 0), None);
        let no_snr = reception_sample_parts(0x3333_0001, gw, 3, 1, 0x42, 0.0, 0, 7, &res);
        assert_eq!(no_snr, None);
        // The sender itself never relays its own packet.
        let own = reception_sample_parts(0x2222_0042, gw, 3, 1, 0x42, -3.5, -90, 7, &res);
        assert_eq!(own, None);
    }

    #[test]
    fn rollup_accumulates_per_link_hour_and_bin() {
        let mut r = LinkRollup::default();
        let s = |snr: Option<f32>, at: i64, evidence| Sample {
            from: 1 << 9,
            to: 2 << 9,
            evidence,
            snr,
            rssi: None,
            at_us: at,
        };
        r.add(&s(Some(-2.0), 10, Evidence::Reception));
        r.add(&s(Some(4.0), 5, Evidence::Traceroute));
        r.add(&s(None, 3_600_000_001, Evidence::Relay));
        let l = r.links[&(1 << 9, 2 << 9)];
        assert_eq!(l.samples, [1, 0, 1, 1]);
        assert_eq!(
            (l.first_us, l.last_us, l.snr_samples),
            (5, 3_600_000_001, 2)
        );
        assert_eq!(l.last_snr, Some(-2.0));
        assert_eq!(r.hours.len(), 2);
        assert_eq!(r.bins.len(), 2);
        assert_eq!(r.direct_links().count(), 1);
    }
}
