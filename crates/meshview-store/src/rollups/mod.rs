//! Rollup tables kept current by the writer: `traffic_hourly` (packets and receptions per
//! UTC hour, sender, port and channel), `traffic_hourly_total` (the same over all
//! senders), `gateway_hourly` (receptions per UTC hour and gateway), `node_daily` (packets per
//! UTC day and sender), `node_link` (directed radio links from traceroutes and neighbour reports,
//! per source, as `/api/edges` draws them) and the link-quality model (`links.rs`).
//! Written in the same transaction as the raw rows; `meshview db rebuild-rollups`
//! recomputes them from the raw tables.

pub mod links;

use std::collections::{HashMap, HashSet};

use meshview_protocol::{Message, NodeId, decode_payload, pb};
use sqlx::QueryBuilder;

use crate::connect::Conn;
use crate::ops::{LinkObs, Reception};
use crate::{SqlContext, StoreError};
use links::{LinkRollup, RelayResolver};

const HOUR_US: i64 = 3_600_000_000;
const CHUNK: usize = 1000;

pub fn hour_of(us: i64) -> i64 {
    us.div_euclid(HOUR_US) * HOUR_US
}

const DAY_US: i64 = 86_400_000_000;

pub fn day_of(us: i64) -> i64 {
    us.div_euclid(DAY_US) * DAY_US
}

#[derive(Debug, Default, Clone, Copy)]
struct Traffic {
    packets: i64,
    receptions: i64,
}

#[derive(Debug, Clone, Copy)]
struct LinkAgg {
    first_us: i64,
    last_us: i64,
    count: i64,
    last_snr: Option<f32>,
    last_packet_id: i64,
}

impl LinkAgg {
    fn add(&mut self, at: i64, snr: Option<f32>, packet_id: i64) {
        self.first_us = self.first_us.min(at);
        if at >= self.last_us {
            self.last_us = at;
            self.last_packet_id = packet_id;
            if snr.is_some() {
                self.last_snr = snr;
            }
        }
        self.count += 1;
    }
}

type TrafficKey = (i64, i64, i32, String);
type LinkKey = (i64, i64, &'static str);

/// A batch's contribution to the rollups.
#[derive(Default)]
pub struct BatchRollup {
    traffic: HashMap<TrafficKey, Traffic>,
    /// Receptions per (hour, gateway).
    gateways: HashMap<(i64, i64), i64>,
    /// Packets per (day, sender).
    senders: HashMap<(i64, i64), i64>,
    links: HashMap<LinkKey, LinkAgg>,
    quality: LinkRollup,
}

impl BatchRollup {
    /// Counts only what the batch really inserted (a replayed reception adds nothing).
    /// The relay resolver learns the batch's direct links before it names relayers.
    /// `ports`: the port of each packet as stored, under which its receptions count.
    pub fn build(
        receptions: &[&Reception],
        ids: &[(i64, bool)],
        ports: &HashMap<i64, i32>,
        inserted_packets: &HashSet<i64>,
        inserted_receptions: &HashSet<(i64, i64, i64)>,
        resolver: &mut RelayResolver,
    ) -> BatchRollup {
        let mut out = BatchRollup::default();
        let mut packet_done = HashSet::new();
        let mut reception_done = HashSet::new();
        let mut relayed = Vec::new();
        for (r, (id, _)) in receptions.iter().zip(ids) {
            let port = ports.get(id).copied().unwrap_or(r.portnum);
            let key = |at: i64| (hour_of(at), r.from as i64, port, r.channel.clone());
            if inserted_packets.contains(id) && packet_done.insert(*id) {
                out.traffic.entry(key(r.received_us)).or_default().packets += 1;
                *out.senders
                    .entry((day_of(r.received_us), r.from as i64))
                    .or_default() += 1;
                for l in &r.links {
                    out.add_link(l, r.received_us, *id);
                    out.quality.add(&links::link_sample(l, r.received_us));
                }
            }
            let rx = (*id, r.gateway as i64, r.rx_time);
            if inserted_receptions.contains(&rx) && reception_done.insert(rx) {
                out.traffic
                    .entry(key(r.received_us))
                    .or_default()
                    .receptions += 1;
                *out.gateways
                    .entry((hour_of(r.received_us), r.gateway as i64))
                    .or_default() += 1;
                if r.hop_limit == r.hop_start {
                    if let Some(s) = links::reception_sample(r, resolver) {
                        out.quality.add(&s);
                    }
                } else {
                    relayed.push(*r);
                }
            }
        }
        for (from, to, snr) in out.quality.direct_links() {
            resolver.learn_link(from, to, snr);
        }
        for r in relayed {
            if let Some(s) = links::reception_sample(r, resolver) {
                out.quality.add(&s);
            }
        }
        out
    }

    /// A packet stored undecryptable and decoded now (`write::retro`): it and its
    /// receptions (receive time and channel of each, as stored) move from port 0 to its
    /// port, and the links its payload proves are added. Its receptions themselves teach
    /// the link model nothing new: they were counted when stored.
    pub fn decrypted(&mut self, id: i64, r: &Reception, receptions: &[(i64, String)]) {
        let from = r.from as i64;
        for (port, n) in [(0, -1), (r.portnum, 1)] {
            self.traffic
                .entry((hour_of(r.received_us), from, port, r.channel.clone()))
                .or_default()
                .packets += n;
            for (at, channel) in receptions {
                self.traffic
                    .entry((hour_of(*at), from, port, channel.clone()))
                    .or_default()
                    .receptions += n;
            }
        }
        for l in &r.links {
            self.add_link(l, r.received_us, id);
            self.quality.add(&links::link_sample(l, r.received_us));
        }
    }

    /// The hours whose port-0 counts this rollup lowers (rows left at zero there are
    /// deleted afterwards: a writer that had the key would never have made them).
    pub fn lowered_hours(&self) -> Vec<i64> {
        let mut hours: Vec<i64> = self
            .traffic
            .iter()
            .filter(|((_, _, port, _), t)| *port == 0 && (t.packets < 0 || t.receptions < 0))
            .map(|((h, ..), _)| *h)
            .collect();
        hours.sort_unstable();
        hours.dedup();
        hours
    }

    /// The link-quality model's share of the batch.
    pub fn quality(&self) -> &LinkRollup {
        &self.quality
    }

    fn add_link(&mut self, l: &LinkObs, at: i64, packet_id: i64) {
        self.links
            .entry((l.from as i64, l.to as i64, l.source))
            .or_insert(LinkAgg {
                first_us: at,
                last_us: at,
                count: 0,
                last_snr: None,
                last_packet_id: packet_id,
            })
            .add(at, l.snr_db, packet_id);
    }
}

impl BatchRollup {
    /// The same increments per UTC day, sender and channel (`traffic_daily`: the year
    /// of top talkers reads a row per sender and day, not 24 per port). Increments that
    /// cancel out (a packet decrypted later moves between ports) are left out.
    fn daily(&self) -> Vec<((i64, i64, &str), Traffic)> {
        let mut days: HashMap<(i64, i64, &str), Traffic> = HashMap::new();
        for ((h, f, _, c), t) in &self.traffic {
            let e = days.entry((day_of(*h), *f, c.as_str())).or_default();
            e.packets += t.packets;
            e.receptions += t.receptions;
        }
        let mut days: Vec<_> = days
            .into_iter()
            .filter(|(_, t)| (t.packets, t.receptions) != (0, 0))
            .collect();
        days.sort_by(|a, b| a.0.cmp(&b.0));
        days
    }

    /// The all-senders totals of the same increments.
    fn totals(&self) -> Vec<((i64, i32, &str), Traffic)> {
        let mut totals: HashMap<(i64, i32, &str), Traffic> = HashMap::new();
        for ((h, _, p, c), t) in &self.traffic {
            let e = totals.entry((*h, *p, c.as_str())).or_default();
            e.packets += t.packets;
            e.receptions += t.receptions;
        }
        let mut totals: Vec<_> = totals.into_iter().collect();
        totals.sort_by(|a, b| a.0.cmp(&b.0));
        totals
    }
}

/// Keeps the oldest first sighting, the newest last sighting with the SNR and packet
/// that came with it, and adds the counts.
const LINK_CONFLICT: &str = " ON CONFLICT (from_node_id, to_node_id, source) DO UPDATE SET \
     count = node_link.count + excluded.count, \
     first_seen_us = CASE WHEN excluded.first_seen_us < node_link.first_seen_us \
         THEN excluded.first_seen_us ELSE node_link.first_seen_us END, \
     last_snr = CASE WHEN excluded.last_seen_us >= node_link.last_seen_us \
         THEN COALESCE(excluded.last_snr, node_link.last_snr) ELSE node_link.last_snr END, \
     last_packet_id = CASE WHEN excluded.last_seen_us >= node_link.last_seen_us \
         THEN excluded.last_packet_id ELSE node_link.last_packet_id END, \
     last_seen_us = CASE WHEN excluded.last_seen_us > node_link.last_seen_us \
         THEN excluded.last_seen_us ELSE node_link.last_seen_us END";
const TRAFFIC_CONFLICT: &str = " ON CONFLICT (hour_us, from_node_id, portnum, channel) DO UPDATE SET \
     packets = traffic_hourly.packets + excluded.packets, \
     receptions = traffic_hourly.receptions + excluded.receptions";
const TOTAL_CONFLICT: &str = " ON CONFLICT (hour_us, portnum, channel) DO UPDATE SET \
     packets = traffic_hourly_total.packets + excluded.packets, \
     receptions = traffic_hourly_total.receptions + excluded.receptions";

const DAILY_CONFLICT: &str = " ON CONFLICT (day_us, from_node_id, channel) DO UPDATE SET \
     packets = traffic_daily.packets + excluded.packets, \
     receptions = traffic_daily.receptions + excluded.receptions";
const SENDER_CONFLICT: &str = " ON CONFLICT (day_us, node_id) DO UPDATE SET \
     packets = node_daily.packets + excluded.packets";
const GATEWAY_CONFLICT: &str = " ON CONFLICT (hour_us, gateway_node_id) DO UPDATE SET \
     receptions = gateway_hourly.receptions + excluded.receptions";

/// SQLite: multi-row upserts of a batch's increments, sorted so concurrent writers lock
/// rows in the same order.
pub async fn write_rollup_sqlite(
    conn: &mut sqlx::SqliteConnection,
    r: &BatchRollup,
) -> Result<(), sqlx::Error> {
    let mut traffic: Vec<_> = r.traffic.iter().collect();
    traffic.sort_by(|a, b| a.0.cmp(b.0));
    for chunk in traffic.chunks(CHUNK) {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO traffic_hourly (hour_us, from_node_id, portnum, channel, packets, receptions) ",
        );
        q.push_values(chunk, |mut b, ((h, f, p, c), t)| {
            b.push_bind(*h)
                .push_bind(*f)
                .push_bind(*p)
                .push_bind(c.as_str())
                .push_bind(t.packets)
                .push_bind(t.receptions);
        });
        q.push(TRAFFIC_CONFLICT);
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    let totals = r.totals();
    for chunk in totals.chunks(CHUNK) {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO traffic_hourly_total (hour_us, portnum, channel, packets, receptions) ",
        );
        q.push_values(chunk, |mut b, ((h, p, c), t)| {
            b.push_bind(*h)
                .push_bind(*p)
                .push_bind(*c)
                .push_bind(t.packets)
                .push_bind(t.receptions);
        });
        q.push(TOTAL_CONFLICT);
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    let daily = r.daily();
    for chunk in daily.chunks(CHUNK) {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO traffic_daily (day_us, from_node_id, channel, packets, receptions) ",
        );
        q.push_values(chunk, |mut b, ((d, f, c), t)| {
            b.push_bind(*d)
                .push_bind(*f)
                .push_bind(*c)
                .push_bind(t.packets)
                .push_bind(t.receptions);
        });
        q.push(DAILY_CONFLICT);
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    let mut senders: Vec<_> = r.senders.iter().collect();
    senders.sort();
    for chunk in senders.chunks(CHUNK) {
        let mut q =
            QueryBuilder::<sqlx::Sqlite>::new("INSERT INTO node_daily (day_us, node_id, packets) ");
        q.push_values(chunk, |mut b, ((d, n), p)| {
            b.push_bind(*d).push_bind(*n).push_bind(**p);
        });
        q.push(SENDER_CONFLICT);
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    let mut gateways: Vec<_> = r.gateways.iter().collect();
    gateways.sort();
    for chunk in gateways.chunks(CHUNK) {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO gateway_hourly (hour_us, gateway_node_id, receptions) ",
        );
        q.push_values(chunk, |mut b, ((h, g), n)| {
            b.push_bind(*h).push_bind(*g).push_bind(**n);
        });
        q.push(GATEWAY_CONFLICT);
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    let mut links: Vec<_> = r.links.iter().collect();
    links.sort_by(|a, b| a.0.cmp(b.0));
    for chunk in links.chunks(CHUNK) {
        let mut q = QueryBuilder::<sqlx::Sqlite>::new(
            "INSERT INTO node_link (from_node_id, to_node_id, source, first_seen_us, last_seen_us, count, last_snr, last_packet_id) ",
        );
        q.push_values(chunk, |mut b, ((f, t, s), a)| {
            b.push_bind(*f)
                .push_bind(*t)
                .push_bind(*s)
                .push_bind(a.first_us)
                .push_bind(a.last_us)
                .push_bind(a.count)
                .push_bind(a.last_snr.map(f64::from))
                .push_bind(a.last_packet_id);
        });
        q.push(LINK_CONFLICT);
        q.build().persistent(false).execute(&mut *conn).await?;
    }
    links::write_sqlite(conn, &r.quality, links::Ranked::Yes).await
}

/// PostgreSQL: the same upserts with one array per column (see `write/pg.rs`).
pub async fn write_rollup_pg(
    conn: &mut sqlx::PgConnection,
    r: &BatchRollup,
) -> Result<(), sqlx::Error> {
    let mut traffic: Vec<_> = r.traffic.iter().collect();
    traffic.sort_by(|a, b| a.0.cmp(b.0));
    if !traffic.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO traffic_hourly (hour_us, from_node_id, portnum, channel, packets, receptions) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::int[], $4::varchar[], $5::bigint[], $6::bigint[]){TRAFFIC_CONFLICT}"
        )))
        .bind(traffic.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
        .bind(traffic.iter().map(|(k, _)| k.1).collect::<Vec<i64>>())
        .bind(traffic.iter().map(|(k, _)| k.2).collect::<Vec<i32>>())
        .bind(traffic.iter().map(|(k, _)| k.3.clone()).collect::<Vec<String>>())
        .bind(traffic.iter().map(|(_, t)| t.packets).collect::<Vec<i64>>())
        .bind(traffic.iter().map(|(_, t)| t.receptions).collect::<Vec<i64>>())
        .execute(&mut *conn)
        .await?;
    }
    let totals = r.totals();
    if !totals.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO traffic_hourly_total (hour_us, portnum, channel, packets, receptions) \
             SELECT * FROM UNNEST($1::bigint[], $2::int[], $3::varchar[], $4::bigint[], $5::bigint[]){TOTAL_CONFLICT}"
        )))
        .bind(totals.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
        .bind(totals.iter().map(|(k, _)| k.1).collect::<Vec<i32>>())
        .bind(totals.iter().map(|(k, _)| k.2.to_string()).collect::<Vec<String>>())
        .bind(totals.iter().map(|(_, t)| t.packets).collect::<Vec<i64>>())
        .bind(totals.iter().map(|(_, t)| t.receptions).collect::<Vec<i64>>())
        .execute(&mut *conn)
        .await?;
    }
    let daily = r.daily();
    if !daily.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO traffic_daily (day_us, from_node_id, channel, packets, receptions) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::varchar[], $4::bigint[], $5::bigint[]){DAILY_CONFLICT}"
        )))
        .bind(daily.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
        .bind(daily.iter().map(|(k, _)| k.1).collect::<Vec<i64>>())
        .bind(daily.iter().map(|(k, _)| k.2.to_string()).collect::<Vec<String>>())
        .bind(daily.iter().map(|(_, t)| t.packets).collect::<Vec<i64>>())
        .bind(daily.iter().map(|(_, t)| t.receptions).collect::<Vec<i64>>())
        .execute(&mut *conn)
        .await?;
    }
    let mut senders: Vec<_> = r.senders.iter().collect();
    senders.sort();
    if !senders.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO node_daily (day_us, node_id, packets) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[]){SENDER_CONFLICT}"
        )))
        .bind(senders.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
        .bind(senders.iter().map(|(k, _)| k.1).collect::<Vec<i64>>())
        .bind(senders.iter().map(|(_, n)| **n).collect::<Vec<i64>>())
        .execute(&mut *conn)
        .await?;
    }
    let mut gateways: Vec<_> = r.gateways.iter().collect();
    gateways.sort();
    if !gateways.is_empty() {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO gateway_hourly (hour_us, gateway_node_id, receptions) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::bigint[]){GATEWAY_CONFLICT}"
        )))
        .bind(gateways.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
        .bind(gateways.iter().map(|(k, _)| k.1).collect::<Vec<i64>>())
        .bind(gateways.iter().map(|(_, n)| **n).collect::<Vec<i64>>())
        .execute(&mut *conn)
        .await?;
    }
    let mut links: Vec<_> = r.links.iter().collect();
    links.sort_by(|a, b| a.0.cmp(b.0));
    if !links.is_empty() {
        let sql = format!(
            "INSERT INTO node_link (from_node_id, to_node_id, source, first_seen_us, last_seen_us, count, last_snr, last_packet_id) \
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::varchar[], $4::bigint[], $5::bigint[], $6::bigint[], $7::float8[], $8::bigint[]){LINK_CONFLICT}"
        );
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(links.iter().map(|(k, _)| k.0).collect::<Vec<i64>>())
            .bind(links.iter().map(|(k, _)| k.1).collect::<Vec<i64>>())
            .bind(
                links
                    .iter()
                    .map(|(k, _)| k.2.to_string())
                    .collect::<Vec<String>>(),
            )
            .bind(links.iter().map(|(_, a)| a.first_us).collect::<Vec<i64>>())
            .bind(links.iter().map(|(_, a)| a.last_us).collect::<Vec<i64>>())
            .bind(links.iter().map(|(_, a)| a.count).collect::<Vec<i64>>())
            .bind(
                links
                    .iter()
                    .map(|(_, a)| a.last_snr.map(f64::from))
                    .collect::<Vec<Option<f64>>>(),
            )
            .bind(
                links
                    .iter()
                    .map(|(_, a)| a.last_packet_id)
                    .collect::<Vec<i64>>(),
            )
            .execute(&mut *conn)
            .await?;
    }
    links::write_pg(conn, &r.quality, links::Ranked::Yes).await
}

/// The links a stored packet proves, from its MeshPacket bytes (the rebuild's input; the
/// writer takes them from the packet it has just decoded).
pub fn links_of_stored(portnum: i32, payload: &[u8]) -> Vec<LinkObs> {
    let Ok(packet) = pb::MeshPacket::decode(payload) else {
        return Vec::new();
    };
    let Some(pb::mesh_packet::PayloadVariant::Decoded(data)) = &packet.payload_variant else {
        return Vec::new();
    };
    let decoded = decode_payload(portnum, &data.payload);
    meshview_protocol::links::packet_links(NodeId(packet.from), NodeId(packet.to), data, &decoded)
        .into_iter()
        .map(LinkObs::from)
        .collect()
}

/// Recomputes `node_link` from every stored traceroute and neighbour report. Runs inside
/// the caller's transaction (migration hook, or `db rebuild-rollups`).
pub async fn rebuild_node_link(conn: &mut Conn) -> Result<u64, StoreError> {
    const Q: &str = "SELECT id, portnum, payload, import_time_us FROM packet \
                     WHERE portnum IN (70, 71) AND import_time_us IS NOT NULL ORDER BY import_time_us";
    use futures_util::TryStreamExt as _;
    type Row = (i64, i32, Option<Vec<u8>>, i64);
    let mut r = BatchRollup::default();
    let mut add = |(id, portnum, payload, at): Row| {
        for l in links_of_stored(portnum, payload.as_deref().unwrap_or_default()) {
            r.add_link(&l, at, id);
        }
    };
    // Streamed: a big mesh stores hundreds of thousands of these (tens of MB of payloads).
    match conn {
        Conn::Sqlite(c) => {
            let mut rows = sqlx::query_as::<_, Row>(Q).fetch(&mut *c);
            while let Some(row) = rows
                .try_next()
                .await
                .context("reading traceroutes and neighbour reports")?
            {
                add(row);
            }
        }
        Conn::Postgres(c) => {
            let mut rows = sqlx::query_as::<_, Row>(Q).fetch(&mut *c);
            while let Some(row) = rows
                .try_next()
                .await
                .context("reading traceroutes and neighbour reports")?
            {
                add(row);
            }
        }
    }
    conn.execute("DELETE FROM node_link")
        .await
        .context("clearing node_link")?;
    let n = r.links.len() as u64;
    match conn {
        Conn::Sqlite(c) => write_rollup_sqlite(c, &r).await,
        Conn::Postgres(c) => write_rollup_pg(c, &r).await,
    }
    .context("writing node_link")?;
    Ok(n)
}

/// Recomputes `traffic_hourly` from the raw tables, and the rollups summed from it.
pub async fn rebuild_traffic_hourly(conn: &mut Conn) -> Result<(), StoreError> {
    conn.execute(
        "DELETE FROM traffic_hourly;
         INSERT INTO traffic_hourly (hour_us, from_node_id, portnum, channel, packets, receptions)
         SELECT h, f, p, c, SUM(pk), SUM(rc) FROM (
             SELECT (import_time_us / 3600000000) * 3600000000 AS h, COALESCE(from_node_id, 0) AS f,
                    COALESCE(portnum, 0) AS p, COALESCE(channel, '') AS c, 1 AS pk, 0 AS rc
             FROM packet WHERE import_time_us IS NOT NULL
             UNION ALL
             SELECT (s.import_time_us / 3600000000) * 3600000000, COALESCE(p.from_node_id, 0),
                    COALESCE(p.portnum, 0), COALESCE(p.channel, ''), 0, 1
             FROM packet_seen s JOIN packet p ON p.id = s.packet_id
             WHERE s.import_time_us IS NOT NULL
         ) t GROUP BY h, f, p, c;
         DELETE FROM traffic_hourly_total;
         INSERT INTO traffic_hourly_total (hour_us, portnum, channel, packets, receptions)
         SELECT hour_us, portnum, channel, SUM(packets), SUM(receptions)
         FROM traffic_hourly GROUP BY hour_us, portnum, channel;
         DELETE FROM traffic_daily;
         INSERT INTO traffic_daily (day_us, from_node_id, channel, packets, receptions)
         SELECT (hour_us / 86400000000) * 86400000000, from_node_id, channel, SUM(packets),
                SUM(receptions)
         FROM traffic_hourly
         GROUP BY (hour_us / 86400000000) * 86400000000, from_node_id, channel
         HAVING SUM(packets) <> 0 OR SUM(receptions) <> 0;
         DELETE FROM node_daily;
         INSERT INTO node_daily (day_us, node_id, packets)
         SELECT (hour_us / 86400000000) * 86400000000, from_node_id, SUM(packets)
         FROM traffic_hourly WHERE packets > 0
         GROUP BY (hour_us / 86400000000) * 86400000000, from_node_id;
         DELETE FROM gateway_hourly;
         INSERT INTO gateway_hourly (hour_us, gateway_node_id, receptions)
         SELECT (import_time_us / 3600000000) * 3600000000, node_id, COUNT(*)
         FROM packet_seen WHERE import_time_us IS NOT NULL
         GROUP BY (import_time_us / 3600000000) * 3600000000, node_id;",
    )
    .await
    .context("rebuilding traffic_hourly")
}

#[cfg(test)]
mod tests {
    #[test]
    fn hours_are_utc_floors() {
        assert_eq!(super::hour_of(3_600_000_000 * 5 + 17), 3_600_000_000 * 5);
        assert_eq!(super::hour_of(0), 0);
    }
}
