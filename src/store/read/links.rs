//! Directed radio links between nodes, from the writer's rollup `node_link` (one row per
//! (from, to, source), with first/last seen, count and last SNR), so drawing the mesh
//! never decodes thousands of traceroutes or neighbour reports per request.

use super::{Reader, Sql};

/// What taught us a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkSource {
    Traceroute,
    Neighbor,
}

impl LinkSource {
    pub fn as_str(self) -> &'static str {
        match self {
            LinkSource::Traceroute => "traceroute",
            LinkSource::Neighbor => "neighbor",
        }
    }
}

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
    pub async fn links(&self, w: LinkWindow) -> Result<Vec<LinkRow>, sqlx::Error> {
        let whole_mesh_reports = w.source == LinkSource::Neighbor && w.node.is_none();
        let mut q = Sql::new(
            "SELECT l.from_node_id, l.to_node_id, l.first_seen_us, l.last_seen_us, l.count, \
             l.last_snr, l.last_packet_id FROM node_link l",
        );
        if whole_mesh_reports {
            // Every reporter's newest time in the window, found in one grouped pass and
            // joined (a per-row subquery costs one index probe per link: ~100 ms on
            // PostgreSQL for a 2,000-node mesh). A reporter whose newest report is older
            // than the window has no links here either way.
            q.push(
                " JOIN (SELECT to_node_id AS reporter, MAX(last_seen_us) AS latest \
                 FROM node_link WHERE source = 'neighbor' AND last_seen_us >= ",
            )
            .int(w.since_us)
            .push(
                " GROUP BY to_node_id) r ON r.reporter = l.to_node_id \
                 AND r.latest = l.last_seen_us",
            );
        }
        q.push(" WHERE l.source = ")
            .str(w.source.as_str())
            .push(" AND l.last_seen_us >= ")
            .int(w.since_us)
            .push(" AND l.from_node_id <> l.to_node_id");
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
        q.push(" ORDER BY l.last_seen_us DESC, l.from_node_id, l.to_node_id LIMIT ")
            .int(MAX_LINKS);
        self.fetch_map(q, |mut r| {
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
        .await
    }
}
