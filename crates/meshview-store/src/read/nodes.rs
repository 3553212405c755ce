//! Nodes and their public keys.

use std::collections::HashMap;

use meshview_protocol::{Payload, decode_payload, pb};
use prost::Message;

use super::{Reader, Sql};
use crate::StoreError;
use crate::row::Arg;
use crate::row::OwnedRow;

/// One `node` row.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub id: String,
    pub node_id: Option<i64>,
    pub long_name: Option<String>,
    pub short_name: Option<String>,
    pub hw_model: Option<String>,
    pub firmware: Option<String>,
    pub role: Option<String>,
    pub last_lat: Option<i64>,
    pub last_long: Option<i64>,
    pub channel: Option<String>,
    pub is_mqtt_gateway: Option<bool>,
    pub first_seen_us: Option<i64>,
    pub last_seen_us: Option<i64>,
}

/// Exact-match filters of the node list (MeshView's).
#[derive(Debug, Clone, Default)]
pub struct NodeFilter {
    pub node_id: Option<i64>,
    /// Compared upper-cased, as MeshView does.
    pub role: Option<String>,
    pub channel: Option<String>,
    pub hw_model: Option<String>,
    /// `last_seen_us > active_since_us`.
    pub active_since_us: Option<i64>,
}

impl NodeFilter {
    /// The exact-match conditions, on columns of the node table under `prefix`.
    fn push_exact(&self, q: &mut Sql, prefix: &str) {
        if let Some(v) = self.node_id {
            q.push(&format!(" AND {prefix}node_id = ")).int(v);
        }
        if let Some(v) = &self.role {
            q.push(&format!(" AND {prefix}role = "))
                .str(&v.to_uppercase());
        }
        if let Some(v) = &self.channel {
            q.push(&format!(" AND {prefix}channel = ")).str(v);
        }
        if let Some(v) = &self.hw_model {
            q.push(&format!(" AND {prefix}hw_model = ")).str(v);
        }
    }
}

/// A node list as it stood at a past moment (time travel).
#[derive(Debug, Clone, Copy)]
pub struct AsOf {
    /// The moment: the nodes first seen by then, each as last heard up to it.
    pub at_us: i64,
    /// The retention purge's horizon ([`Reader::raw_horizon_us`]), if it ever ran: raw
    /// rows before it may be gone, so a node without a raw packet up to `at_us` is last
    /// seen on its last day in `node_daily` (the day's start), and a node without a
    /// stored position by then keeps its current one.
    pub horizon_us: Option<i64>,
}

/// A node's stored position packets read, newest first, when its newest one up to the
/// moment had no fix (a rare case: most radios without a fix send no position).
const POSITION_PROBE: i64 = 64;

/// A public key a node announced.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicKeyRow {
    pub public_key: String,
    pub first_seen_us: Option<i64>,
    pub last_seen_us: Option<i64>,
}

const NODE_COLUMNS: &str = "SELECT id, node_id, long_name, short_name, hw_model, firmware, role, \
     last_lat, last_long, channel, is_mqtt_gateway, first_seen_us, last_seen_us FROM node";

fn node_row(mut r: OwnedRow) -> Result<NodeRow, StoreError> {
    let mut n = NodeRow {
        id: r.take("id")?,
        node_id: r.take("node_id")?,
        long_name: r.take("long_name")?,
        short_name: r.take("short_name")?,
        hw_model: r.take("hw_model")?,
        firmware: r.take("firmware")?,
        role: r.take("role")?,
        last_lat: r.take("last_lat")?,
        last_long: r.take("last_long")?,
        channel: r.take("channel")?,
        is_mqtt_gateway: r.take("is_mqtt_gateway")?,
        first_seen_us: r.take("first_seen_us")?,
        last_seen_us: r.take("last_seen_us")?,
    };
    // (0, 0) is what a radio without a fix reports: no position, never a point in the Gulf
    // of Guinea (MeshView stored it; migration 0015 clears such rows, this keeps any that
    // arrive another way from being served).
    if (n.last_lat, n.last_long) == (Some(0), Some(0)) {
        (n.last_lat, n.last_long) = (None, None);
    }
    Ok(n)
}

/// The position a stored POSITION or MAP_REPORT packet gives, as the writer takes it:
/// both coordinates, and not (0, 0) (a radio without a fix).
fn fix_of(stored: &[u8]) -> Option<(i64, i64)> {
    let packet = pb::MeshPacket::decode(stored).ok()?;
    let Some(pb::mesh_packet::PayloadVariant::Decoded(data)) = packet.payload_variant else {
        return None;
    };
    let (lat, lon) = match decode_payload(data.portnum, &data.payload) {
        Payload::Position(p) => (p.latitude_i?, p.longitude_i?),
        Payload::MapReport(m) => (m.latitude_i, m.longitude_i),
        _ => return None,
    };
    ((lat, lon) != (0, 0)).then_some((lat as i64, lon as i64))
}

impl Reader {
    /// Nodes seen at least once (`last_seen_us` set) matching `filter`, at most `limit`,
    /// most recently seen first (callers sort for display).
    pub async fn nodes(&self, filter: &NodeFilter, limit: i64) -> Result<Vec<NodeRow>, StoreError> {
        let mut q = Sql::new(NODE_COLUMNS);
        q.push(" WHERE last_seen_us IS NOT NULL");
        filter.push_exact(&mut q, "");
        if let Some(v) = filter.active_since_us {
            q.push(" AND last_seen_us > ").int(v);
        }
        q.push(" ORDER BY last_seen_us DESC LIMIT ").count(limit);
        self.fetch_map(q, node_row).await
    }

    /// The nodes matching `filter` as the list stood at `at.at_us`, at most `limit`, most
    /// recently seen (by then) first: those first seen by then, each with the time it
    /// was last heard up to then and its position then (from its newest POSITION or
    /// MAP_REPORT packet with a fix up to then). `filter.active_since_us` applies to that
    /// time. Names, role, hardware and channel are the node's current ones: the node
    /// table keeps no earlier values, and they rarely change.
    pub async fn nodes_as_of(
        &self,
        filter: &NodeFilter,
        at: AsOf,
        limit: i64,
    ) -> Result<Vec<NodeRow>, StoreError> {
        let t = at.at_us;
        // Both probes read the sender index backwards from the moment: one entry for
        // the time, a few for the newest position (the index carries the port; only
        // the position found is read from the table). Nodes that never sent a position
        // (no current one) are not probed for it.
        let mut q = Sql::new(
            "SELECT n.id, n.node_id, n.long_name, n.short_name, n.hw_model, n.firmware, \
             n.role, n.last_lat, n.last_long, n.channel, n.is_mqtt_gateway, n.first_seen_us, \
             n.last_seen_us, (SELECT p.import_time_us FROM packet p WHERE p.from_node_id = n.node_id \
             AND p.import_time_us <= ",
        );
        q.int(t).push(
            " ORDER BY p.import_time_us DESC LIMIT 1) AS sent_us, \
             CASE WHEN n.last_lat IS NULL THEN NULL ELSE \
             (SELECT p.payload FROM packet p WHERE p.from_node_id = n.node_id \
             AND p.portnum IN (3, 73) AND p.import_time_us <= ",
        );
        q.int(t).push(
            " ORDER BY p.import_time_us DESC LIMIT 1) END AS position, \
             g.last_hour AS uplinked_us",
        );
        if at.horizon_us.is_some() {
            q.push(", d.last_day AS day_us");
        }
        // A gateway is seen when it uplinks, too (as the writer counts it): its last
        // hour with a reception, from the rollup (the receptions have no index by
        // gateway and time).
        q.push(
            " FROM node n LEFT JOIN (SELECT gateway_node_id, MAX(hour_us) AS last_hour \
             FROM gateway_hourly WHERE hour_us <= ",
        )
        .int(t)
        .push(" GROUP BY gateway_node_id) g ON g.gateway_node_id = n.node_id");
        if at.horizon_us.is_some() {
            q.push(
                " LEFT JOIN (SELECT node_id, MAX(day_us) AS last_day FROM node_daily \
                 WHERE day_us <= ",
            )
            .int(t)
            .push(" GROUP BY node_id) d ON d.node_id = n.node_id");
        }
        q.push(" WHERE (n.first_seen_us IS NULL OR n.first_seen_us <= ")
            .int(t)
            .push(")");
        filter.push_exact(&mut q, "n.");
        let purged = at.horizon_us.is_some();
        let mut rows = self
            .fetch_map(q, |mut r| {
                let sent: Option<i64> = r.take("sent_us")?;
                let uplinked: Option<i64> = r.take("uplinked_us")?;
                // Where raw rows may be gone, a node last heard before the horizon is
                // last seen on its last day with a packet.
                let day: Option<i64> = if purged { r.take("day_us")? } else { None };
                let position: Option<Vec<u8>> = r.take("position")?;
                let mut node = node_row(r)?;
                node.last_seen_us = sent.or(day).max(uplinked);
                Ok((node, position))
            })
            .await?;
        rows.retain(|(n, _)| {
            n.last_seen_us
                .is_some_and(|s| filter.active_since_us.is_none_or(|since| s > since))
        });
        // The live list's order, then its limit.
        rows.sort_by(|(a, _), (b, _)| {
            b.last_seen_us
                .cmp(&a.last_seen_us)
                .then(a.node_id.cmp(&b.node_id))
        });
        rows.truncate(limit.max(0) as usize);
        let mut unfixed = Vec::new();
        for (i, (node, position)) in rows.iter_mut().enumerate() {
            let fix = match position.take() {
                Some(stored) => match fix_of(&stored) {
                    Some(fix) => Some(fix),
                    None => {
                        unfixed.push(i);
                        None
                    }
                },
                // No position stored by then: none yet, unless the purge may have
                // deleted it.
                None if at.horizon_us.is_some() => node.last_lat.zip(node.last_long),
                None => None,
            };
            (node.last_lat, node.last_long) = fix.unzip();
        }
        for i in unfixed {
            let node = &mut rows[i].0;
            let Some(id) = node.node_id else { continue };
            let mut q = Sql::new("SELECT p.payload FROM packet p WHERE p.from_node_id = ");
            q.int(id)
                .push(" AND p.portnum IN (3, 73) AND p.import_time_us <= ")
                .int(t)
                .push(" ORDER BY p.import_time_us DESC LIMIT ")
                .count(POSITION_PROBE);
            let payloads = self
                .fetch_map(q, |mut r| r.take::<Option<Vec<u8>>>("payload"))
                .await?;
            let fix = payloads.iter().flatten().find_map(|p| fix_of(p));
            (node.last_lat, node.last_long) = fix.unzip();
        }
        Ok(rows.into_iter().map(|(n, _)| n).collect())
    }

    /// One node by number, whether or not it has been seen.
    pub async fn node(&self, node_id: i64) -> Result<Option<NodeRow>, StoreError> {
        let mut q = Sql::new(NODE_COLUMNS);
        q.push(" WHERE node_id = ").int(node_id);
        Ok(self.fetch_map(q, node_row).await?.pop())
    }

    /// Long names of the given nodes (those without a row or a name are absent).
    pub async fn long_names(&self, ids: &[i64]) -> Result<HashMap<i64, String>, StoreError> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut q = Sql::new("SELECT node_id, long_name FROM node WHERE ");
        self.push_in_ints(&mut q, "node_id", ids);
        q.push(" AND long_name IS NOT NULL");
        for mut r in self.fetch_all(q).await? {
            out.insert(r.take("node_id")?, r.take("long_name")?);
        }
        Ok(out)
    }

    /// The distinct public keys a node number announced, oldest first.
    pub async fn public_keys(&self, node_id: i64) -> Result<Vec<PublicKeyRow>, StoreError> {
        const SQL: &str = "SELECT public_key, MIN(first_seen_us) AS first_seen_us, \
             MAX(last_seen_us) AS last_seen_us FROM node_public_key WHERE node_id = $1 \
             GROUP BY public_key ORDER BY MIN(first_seen_us), public_key LIMIT 1000";
        self.fetch_map(Sql::bound(SQL, vec![Arg::I64(node_id)]), |mut r| {
            Ok(PublicKeyRow {
                public_key: r.take("public_key")?,
                first_seen_us: r.take("first_seen_us")?,
                last_seen_us: r.take("last_seen_us")?,
            })
        })
        .await
    }
}
