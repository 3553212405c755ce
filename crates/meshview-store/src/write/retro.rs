//! Retroactive decryption: packets stored undecryptable (port 0, the ciphertext kept in
//! `packet.payload`) are decoded in place once their channel's key is known.
//!
//! The ingest side (`src/ingest/retro.rs`) reads the candidates with [`undecrypted`],
//! decodes each again through the pipeline, and hands the rows to [`store`], which in one
//! transaction per call:
//! - gives the packet row its port and decoded payload (only while it is still port 0);
//! - adds what the payload teaches, as the batch writer would have: searchable text,
//!   traceroute, public key, node facts, links;
//! - moves the packet's and its receptions' hourly traffic from port 0 to its port.
//!
//! The receptions, the gateway and sender counts and the link model's reception samples
//! are left alone: they were counted when the packet was stored. Node facts (names,
//! position) are applied only where no newer stored packet of the sender already set
//! them, as a writer that had the key all along would have left them. Map reports with
//! packet id 0 are not stored as packets, so one newer than a decrypted NODEINFO is not
//! seen by that check.

use std::collections::HashMap;

use sqlx::Row;

use super::{BatchStatements, NodeWrite};
use crate::connect::Conn;
use crate::ops::Reception;
use crate::rollups::BatchRollup;
use crate::{Backend, SqlContext, StoreError};

const PORT_POSITION: i32 = 3;
const PORT_NODEINFO: i32 = 4;
const PORT_MAP_REPORT: i32 = 73;

/// A packet stored undecryptable, with what its envelope can be rebuilt from.
#[derive(Debug, Clone)]
pub struct Undecrypted {
    pub id: i64,
    pub channel: String,
    /// The stored MeshPacket (its ciphertext form).
    pub payload: Vec<u8>,
    pub import_time_us: i64,
    /// The gateway and topic of its first reception (the one that stored it).
    pub gateway: u32,
    pub topic: String,
}

/// Up to `limit` undecryptable packets received at `from_us` or later, after `after`
/// (receive time, id), oldest first: facts decrypted later must be applied in order.
pub async fn undecrypted(
    conn: &mut Conn,
    from_us: i64,
    after: (i64, i64),
    limit: i64,
) -> Result<Vec<Undecrypted>, StoreError> {
    let (t, id) = after;
    let sql = format!(
        "SELECT id, channel, payload, import_time_us FROM packet \
         WHERE portnum = 0 AND import_time_us >= {from_us} \
         AND (import_time_us > {t} OR (import_time_us = {t} AND id > {id})) \
         ORDER BY import_time_us, id LIMIT {limit}"
    );
    let mut out: Vec<Undecrypted> = Vec::new();
    macro_rules! read {
        ($c:expr) => {
            async {
            for r in sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                .fetch_all(&mut *$c)
                .await?
            {
                out.push(Undecrypted {
                    id: r.try_get(0)?,
                    channel: r.try_get::<Option<String>, _>(1)?.unwrap_or_default(),
                    payload: r.try_get::<Option<Vec<u8>>, _>(2)?.unwrap_or_default(),
                    import_time_us: r.try_get::<Option<i64>, _>(3)?.unwrap_or_default(),
                    gateway: 0,
                    topic: String::new(),
                });
            }
            if !out.is_empty() {
                let ids = list(out.iter().map(|u| u.id));
                // The first reception of each: the earliest stored.
                let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "SELECT packet_id, node_id, topic FROM packet_seen WHERE packet_id IN ({ids}) \
                     ORDER BY packet_id, import_time_us DESC, rx_time DESC"
                )))
                .fetch_all(&mut *$c)
                .await?;
                let mut first: HashMap<i64, (u32, String)> = HashMap::new();
                for r in rows {
                    let topic: Option<String> = r.try_get(2)?;
                    first.insert(
                        r.try_get(0)?,
                        (r.try_get::<i64, _>(1)? as u32, topic.unwrap_or_default()),
                    );
                }
                for u in &mut out {
                    if let Some((g, t)) = first.remove(&u.id) {
                        u.gateway = g;
                        u.topic = t;
                    }
                }
            }
            Ok::<_, sqlx::Error>(())
            }
            .await
        };
    }
    match conn {
        Conn::Sqlite(c) => read!(c),
        Conn::Postgres(c) => read!(c),
    }
    .context("reading the undecryptable packets")?;
    Ok(out)
}

/// How many undecryptable packets were received at `from_us` or later.
pub async fn count_undecrypted(conn: &mut Conn, from_us: i64) -> Result<i64, StoreError> {
    conn.scalar_i64(&format!(
        "SELECT COUNT(*) FROM packet WHERE portnum = 0 AND import_time_us >= {from_us}"
    ))
    .await
    .context("counting the undecryptable packets")
}

/// A packet decoded again: its stored id and the rows of its first reception.
#[derive(Debug, Clone)]
pub struct Decrypted {
    pub id: i64,
    pub rows: Reception,
}

const CONTEXT: &str = "storing decrypted packets";

/// The statements of [`store`] beyond the batch writer's, the same SQL on either backend
/// (implemented for both by `retro_statements!`: sqlx types the bound values per backend).
trait RetroStatements {
    /// Gives a still undecryptable packet its port and decoded payload; false if it was
    /// not undecryptable (any more).
    async fn decode_in_place(
        &mut self,
        id: i64,
        portnum: i32,
        payload: &[u8],
    ) -> Result<bool, sqlx::Error>;
    /// Whether `node` sent a stored packet of one of `ports` after `after_us`.
    async fn newer_packet(
        &mut self,
        node: u32,
        ports: &[i32],
        after_us: i64,
    ) -> Result<bool, sqlx::Error>;
    /// A packet's receptions in the order they were stored: (receive time, channel, gateway).
    async fn receptions_of(&mut self, id: i64) -> Result<Vec<(i64, String, i64)>, sqlx::Error>;
    /// Deletes the port-0 traffic rows of `hours` that are down to zero.
    async fn drop_zero_traffic(&mut self, hours: &[i64]) -> Result<(), sqlx::Error>;
}

macro_rules! retro_statements {
    ($conn:ty) => {
        impl RetroStatements for $conn {
            async fn decode_in_place(
                &mut self,
                id: i64,
                portnum: i32,
                payload: &[u8],
            ) -> Result<bool, sqlx::Error> {
                let changed = sqlx::query(
                    "UPDATE packet SET portnum = $1, payload = $2 WHERE id = $3 AND portnum = 0",
                )
                .bind(portnum)
                .bind(payload)
                .bind(id)
                .execute(&mut *self)
                .await?;
                Ok(changed.rows_affected() > 0)
            }

            async fn newer_packet(
                &mut self,
                node: u32,
                ports: &[i32],
                after_us: i64,
            ) -> Result<bool, sqlx::Error> {
                let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM (SELECT 1 FROM packet WHERE from_node_id = $1 \
                     AND portnum IN ({}) AND import_time_us > $2 LIMIT 1) AS newer",
                    list(ports.iter())
                )))
                .bind(node as i64)
                .bind(after_us)
                .fetch_one(&mut *self)
                .await?;
                Ok(n > 0)
            }

            async fn receptions_of(
                &mut self,
                id: i64,
            ) -> Result<Vec<(i64, String, i64)>, sqlx::Error> {
                let rows: Vec<(Option<i64>, Option<String>, i64)> = sqlx::query_as(
                    "SELECT import_time_us, channel, node_id FROM packet_seen WHERE packet_id = $1 \
                     ORDER BY import_time_us, rx_time",
                )
                .bind(id)
                .fetch_all(&mut *self)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(at, channel, gateway)| {
                        (at.unwrap_or_default(), channel.unwrap_or_default(), gateway)
                    })
                    .collect())
            }

            async fn drop_zero_traffic(&mut self, hours: &[i64]) -> Result<(), sqlx::Error> {
                for table in ["traffic_hourly", "traffic_hourly_total"] {
                    sqlx::query(sqlx::AssertSqlSafe(format!(
                        "DELETE FROM {table} WHERE hour_us IN ({}) AND portnum = 0 \
                         AND packets = 0 AND receptions = 0",
                        list(hours.iter())
                    )))
                    .execute(&mut *self)
                    .await?;
                }
                Ok(())
            }
        }
    };
}

retro_statements!(sqlx::SqliteConnection);
retro_statements!(sqlx::PgConnection);

/// The steps of [`store`], on the transaction's connection.
async fn store_in<C: BatchStatements + RetroStatements>(
    conn: &mut C,
    packets: &[Decrypted],
) -> Result<u64, sqlx::Error> {
    let mut rollup = BatchRollup::default();
    let mut updated = 0u64;
    for p in packets {
        let r = &p.rows;
        // Only a packet still undecryptable: another pass may have decoded it meanwhile.
        if !conn.decode_in_place(p.id, r.portnum, &r.payload).await? {
            continue;
        }
        updated += 1;
        if let Some(text) = &r.text {
            conn.insert_texts(&[(p.id, r.received_us, text.clone())])
                .await?;
        }
        if let Some(k) = &r.public_key {
            conn.upsert_keys(&[(r.from, k.clone(), r.received_us, r.received_us)])
                .await?;
        }
        if let Some(facts) = &r.facts {
            // A newer NODEINFO or map report set the names; a newer position or map
            // report the position. Older facts must not replace them.
            let (names, position) = facts_kinds(facts);
            let names = names
                && !conn
                    .newer_packet(r.from, &[PORT_NODEINFO, PORT_MAP_REPORT], r.received_us)
                    .await?;
            let position = position
                && !conn
                    .newer_packet(r.from, &[PORT_POSITION, PORT_MAP_REPORT], r.received_us)
                    .await?;
            if let Some(facts) = keep_facts(facts, names, position) {
                conn.upsert_nodes(&[NodeWrite {
                    node: r.from,
                    first_us: r.received_us,
                    last_us: r.received_us,
                    gateway: false,
                    channel: None,
                    facts: vec![facts],
                }])
                .await?;
            }
        }
        let seen = conn.receptions_of(p.id).await?;
        if let Some(t) = &r.traceroute {
            // One row per packet and gateway, its first reception's, as the batch writer
            // stores them.
            let heard: Vec<Reception> = seen
                .iter()
                .map(|(at, _, gateway)| Reception {
                    gateway: *gateway as u32,
                    received_us: *at,
                    ..r.clone()
                })
                .collect();
            let rows: Vec<_> = heard.iter().map(|h| (h, p.id, t)).collect();
            conn.insert_traceroutes(&rows).await?;
        }
        let receptions: Vec<(i64, String)> = seen
            .into_iter()
            .map(|(at, channel, _)| (at, channel))
            .collect();
        rollup.decrypted(p.id, r, &receptions);
    }
    conn.write_rollup(&rollup).await?;
    let hours = rollup.lowered_hours();
    if !hours.is_empty() {
        conn.drop_zero_traffic(&hours).await?;
    }
    Ok(updated)
}

/// Stores decoded packets in place, in one transaction; returns how many packets were
/// still undecryptable and are decoded now.
pub async fn store(conn: &mut Conn, packets: &[Decrypted]) -> Result<u64, StoreError> {
    if packets.is_empty() {
        return Ok(0);
    }
    let begin = match conn.backend() {
        Backend::Sqlite => "BEGIN IMMEDIATE",
        Backend::Postgres => "BEGIN",
    };
    conn.execute(begin).await.context(CONTEXT)?;
    let done = match conn {
        Conn::Sqlite(c) => store_in(c, packets).await,
        Conn::Postgres(c) => store_in(c, packets).await,
    };
    match done {
        Ok(n) => {
            conn.execute("COMMIT").await.context(CONTEXT)?;
            Ok(n)
        }
        Err(e) => {
            let _ = conn.execute("ROLLBACK").await;
            Err(StoreError::sqlx(CONTEXT, e))
        }
    }
}

/// Whether `facts` carry names, a position.
fn facts_kinds(facts: &crate::ops::NodeFacts) -> (bool, bool) {
    use crate::ops::NodeFacts::*;
    match facts {
        Info { .. } => (true, false),
        MapReport { lat, lon, .. } => (true, lat.is_some() && lon.is_some()),
        Position { .. } => (false, true),
    }
}

/// `facts` without the names or the position where newer ones are stored.
fn keep_facts(
    facts: &crate::ops::NodeFacts,
    names: bool,
    position: bool,
) -> Option<crate::ops::NodeFacts> {
    use crate::ops::NodeFacts::*;
    match facts {
        Info { .. } => names.then(|| facts.clone()),
        Position { .. } => position.then(|| facts.clone()),
        MapReport {
            long_name,
            short_name,
            hw_model,
            role,
            firmware,
            lat,
            lon,
        } => match (names, position) {
            (true, true) => Some(facts.clone()),
            (true, false) => Some(MapReport {
                long_name: long_name.clone(),
                short_name: short_name.clone(),
                hw_model: hw_model.clone(),
                role: role.clone(),
                firmware: firmware.clone(),
                lat: None,
                lon: None,
            }),
            (false, true) => lat.zip(*lon).map(|(lat, lon)| Position { lat, lon }),
            (false, false) => None,
        },
    }
}

fn list(ids: impl Iterator<Item = impl ToString>) -> String {
    ids.map(|i| i.to_string()).collect::<Vec<_>>().join(",")
}

/// What the database remembers of a configured channel key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyMark {
    pub fingerprint: String,
    /// Stored packets received before this were tried with the key.
    pub decrypted_through_us: i64,
    pub packets_decrypted: i64,
}

/// The keys the database remembers.
pub async fn key_marks(conn: &mut Conn) -> Result<Vec<KeyMark>, StoreError> {
    let sql = "SELECT fingerprint, decrypted_through_us, packets_decrypted FROM channel_key ORDER BY fingerprint";
    let rows: Vec<(String, i64, i64)> = match conn {
        Conn::Sqlite(c) => sqlx::query_as(sql).fetch_all(&mut *c).await,
        Conn::Postgres(c) => sqlx::query_as(sql).fetch_all(&mut *c).await,
    }
    .context("reading the channel keys' marks")?;
    Ok(rows
        .into_iter()
        .map(
            |(fingerprint, decrypted_through_us, packets_decrypted)| KeyMark {
                fingerprint,
                decrypted_through_us,
                packets_decrypted,
            },
        )
        .collect())
}

/// Records that the keys `fingerprints` were tried on the packets received before
/// `through_us`, which decoded `decrypted` more packets (credited to each).
pub async fn mark_keys(
    conn: &mut Conn,
    fingerprints: &[String],
    through_us: i64,
    decrypted: u64,
) -> Result<(), StoreError> {
    for f in fingerprints {
        // Fingerprints are hex (`ChannelKey::fingerprint`): safe in the SQL text.
        if f.is_empty() || !f.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(StoreError::Refused(format!("{f:?} is no key fingerprint")));
        }
        conn.execute_count(&format!(
            "INSERT INTO channel_key (fingerprint, first_configured_us, decrypted_through_us, packets_decrypted) \
             VALUES ('{f}', {through_us}, {through_us}, {decrypted}) ON CONFLICT (fingerprint) DO UPDATE SET \
             decrypted_through_us = CASE WHEN excluded.decrypted_through_us > channel_key.decrypted_through_us \
                 THEN excluded.decrypted_through_us ELSE channel_key.decrypted_through_us END, \
             packets_decrypted = channel_key.packets_decrypted + excluded.packets_decrypted"
        ))
        .await
        .context("recording the channel keys")?;
    }
    Ok(())
}
