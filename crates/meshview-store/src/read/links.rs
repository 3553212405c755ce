//! Directed radio links between nodes, from the writer's rollup `node_link` (one row per
//! (from, to, source), with first/last seen, count and last SNR), so drawing the mesh
//! never decodes thousands of traceroutes or neighbour reports per request.

use std::collections::HashMap;

use super::{Reader, Sql};
use crate::StoreError;

/// What taught us a link (the protocol crate's, stored by name in `node_link.source`).
pub use meshview_protocol::links::LinkSource;

/// Which links to read.
#[derive(Debug, Clone, Copy)]
pub struct LinkWindow {
    pub source: LinkSource,
    /// `last_seen_us >= since_us`.
    pub since_us: i64,
    /// Only links touching this node (either end).
    pub node: Option<i64>,
}

/// One directed link.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkRow {
    pub from: i64,
    pub to: i64,
    pub source: LinkSource,
    pub first_seen_us: i64,
    pub last_seen_us: i64,
    pub count: i64,
    /// dB.
    pub last_snr: Option<f64>,
    pub last_packet_id: Option<i64>,
}

/// A mesh has at most a few thousand live links; this bounds a pathological table.
const MAX_LINKS: i64 = 20_000;

impl Reader {
    /// Links of one source seen within the window, newest first. Self-loops are never
    /// returned. For neighbour links only each reporter's latest report counts: a link
    /// its newest NEIGHBORINFO no longer lists is gone, even inside the window.
    pub async fn links(&self, w: LinkWindow) -> Result<Vec<LinkRow>, StoreError> {
        let whole_mesh_reports = w.source == LinkSource::Neighbor && w.node.is_none();
        let mut q = Sql::new(
            "SELECT l.from_node_id, l.to_node_id, l.first_seen_us, l.last_seen_us, l.count, \
             l.last_snr, l.last_packet_id FROM node_link l",
        );
        q.push(" WHERE l.source = ")
            .str(w.source.as_str())
            .push(" AND l.last_seen_us >= ")
            .int(w.since_us);
        if !whole_mesh_reports {
            q.push(" AND l.from_node_id <> l.to_node_id");
        }
        if let Some(n) = w.node {
            q.push(" AND (l.from_node_id = ")
                .int(n)
                .push(" OR l.to_node_id = ")
                .int(n)
                .push(")");
        }
        if w.source == LinkSource::Neighbor && !whole_mesh_reports {
            // Neighbour links point neighbour → reporter; a report's links share its
            // time, so the reporter's newest time marks its latest report. (For one
            // node's few links a probe per link is cheaper than grouping the mesh.)
            q.push(
                " AND l.last_seen_us = (SELECT MAX(l2.last_seen_us) FROM node_link l2 \
                 WHERE l2.source = 'neighbor' AND l2.to_node_id = l.to_node_id)",
            );
        }
        // The whole mesh's latest reports are picked below, from rows newest first: a
        // reporter's first row in that order is its newest report. (Grouping in SQL cost
        // a pass over every neighbour link plus a join: twice the time on SQLite.) Self
        // links are read too, as a report may hold one, and dropped after.
        let fetch = if whole_mesh_reports {
            4 * MAX_LINKS
        } else {
            MAX_LINKS
        };
        q.push(" ORDER BY l.last_seen_us DESC, l.from_node_id, l.to_node_id LIMIT ")
            .count(fetch);
        let rows = self
            .fetch_map(q, |mut r| {
                Ok(LinkRow {
                    from: r.take("from_node_id")?,
                    to: r.take("to_node_id")?,
                    source: w.source,
                    first_seen_us: r.take("first_seen_us")?,
                    last_seen_us: r.take("last_seen_us")?,
                    count: r.take("count")?,
                    last_snr: r.take("last_snr")?,
                    last_packet_id: r.take("last_packet_id")?,
                })
            })
            .await?;
        if !whole_mesh_reports {
            return Ok(rows);
        }
        let mut newest: HashMap<i64, i64> = HashMap::new();
        Ok(rows
            .into_iter()
            .filter(|l| *newest.entry(l.to).or_insert(l.last_seen_us) == l.last_seen_us)
            .filter(|l| l.from != l.to)
            .take(MAX_LINKS as usize)
            .collect())
    }
}
