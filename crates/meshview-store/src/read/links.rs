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
        let rows = self.fetch_map(q, |r| link_row(r, w.source)).await?;
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

/// Which links to derive for a past window (time travel).
#[derive(Debug, Clone, Copy)]
pub struct LinkSpan {
    pub source: LinkSource,
    /// Evidence received in `from_us..=to_us`.
    pub from_us: i64,
    pub to_us: i64,
    /// Only links touching this node (either end).
    pub node: Option<i64>,
}

/// Packets read per step of [`Reader::links_between`].
const SPAN_PAGE: i64 = 2_000;

impl Reader {
    /// The links the stored packets of one source received in the window prove, as
    /// [`Reader::links`] answers them for a window ending now: every traceroute path, and
    /// each reporter's latest neighbour report in the window. Derived from the raw
    /// packets (`node_link` only knows each link's first and last sighting); packets older
    /// than the raw retention are gone, see [`Reader::link_hours_between`].
    pub async fn links_between(&self, w: LinkSpan) -> Result<Vec<LinkRow>, StoreError> {
        let port = match w.source {
            LinkSource::Traceroute => 70,
            LinkSource::Neighbor => 71,
        };
        let mut links: HashMap<(i64, i64), LinkRow> = HashMap::new();
        // Newest first (the port's time index), a page at a time. (Every id is below
        // i64::MAX: the first page includes the window's end.)
        let mut before = (w.to_us, i64::MAX);
        let mut reporters = std::collections::HashSet::new();
        loop {
            // (Reading only who reported when first, then the latest reports' payloads,
            // measured slower: every row is a table lookup either way.)
            let mut q = Sql::new(
                "SELECT id, from_node_id, import_time_us, payload FROM packet WHERE portnum = ",
            );
            q.int(port)
                .push(" AND import_time_us >= ")
                .int(w.from_us)
                // The upper bound on its own too: the index's range then starts at the
                // page's end instead of the port's newest packet.
                .push(" AND import_time_us <= ")
                .int(before.0)
                .push(" AND (import_time_us < ")
                .int(before.0)
                .push(" OR id < ")
                .int(before.1)
                .push(") ORDER BY import_time_us DESC, id DESC LIMIT ")
                .count(SPAN_PAGE);
            let page = self.fetch_all(q).await?;
            let short = (page.len() as i64) < SPAN_PAGE;
            for mut r in page {
                let (id, sender, at) = (
                    r.take::<i64>("id")?,
                    r.take::<Option<i64>>("from_node_id")?,
                    r.take::<i64>("import_time_us")?,
                );
                before = (at, id);
                // A reporter's first report in this order is its latest in the window.
                if w.source == LinkSource::Neighbor && !reporters.insert(sender) {
                    continue;
                }
                let payload: Option<Vec<u8>> = r.take("payload")?;
                observe(&mut links, &w, port, id, at, payload.as_deref());
            }
            if short || links.len() as i64 >= MAX_LINKS {
                break;
            }
        }
        let mut out: Vec<LinkRow> = links.into_values().collect();
        out.sort_by(|a, b| {
            b.last_seen_us
                .cmp(&a.last_seen_us)
                .then(a.from.cmp(&b.from))
                .then(a.to.cmp(&b.to))
        });
        out.truncate(MAX_LINKS as usize);
        Ok(out)
    }

    /// The links of one source (as `node_link` types them) with link-model samples in
    /// the window's UTC hours, from the hourly rollup `link_hourly`: for windows older
    /// than the raw packets. Counts are samples, times whole hours, the SNR the window's
    /// mean.
    pub async fn link_hours_between(&self, w: LinkSpan) -> Result<Vec<LinkRow>, StoreError> {
        let mut q = Sql::new(
            "SELECT h.from_node_id, h.to_node_id, MIN(h.hour_us) AS first_seen_us, \
             MAX(h.hour_us) AS last_seen_us, CAST(SUM(h.samples) AS BIGINT) AS count, \
             SUM(h.snr_sum) / NULLIF(SUM(h.snr_samples), 0) AS last_snr, \
             CAST(NULL AS BIGINT) AS last_packet_id \
             FROM link_hourly h JOIN node_link l ON l.from_node_id = h.from_node_id \
             AND l.to_node_id = h.to_node_id AND l.source = ",
        );
        q.str(w.source.as_str())
            .push(" WHERE h.hour_us >= ")
            .int(crate::rollups::hour_of(w.from_us))
            .push(" AND h.hour_us <= ")
            .int(w.to_us)
            .push(" AND h.from_node_id <> h.to_node_id");
        if let Some(n) = w.node {
            q.push(" AND (h.from_node_id = ")
                .int(n)
                .push(" OR h.to_node_id = ")
                .int(n)
                .push(")");
        }
        q.push(
            " GROUP BY h.from_node_id, h.to_node_id \
             ORDER BY last_seen_us DESC, h.from_node_id, h.to_node_id LIMIT ",
        )
        .count(MAX_LINKS);
        self.fetch_map(q, |r| link_row(r, w.source)).await
    }
}

/// Adds the links one stored packet proves to `links`.
fn observe(
    links: &mut HashMap<(i64, i64), LinkRow>,
    w: &LinkSpan,
    port: i64,
    id: i64,
    at: i64,
    payload: Option<&[u8]>,
) {
    for l in crate::rollups::links_of_stored(port as i32, payload.unwrap_or_default()) {
        let (from, to) = (l.from as i64, l.to as i64);
        if from == to || w.node.is_some_and(|n| n != from && n != to) {
            continue;
        }
        let snr = l.snr_db.map(f64::from);
        let e = links.entry((from, to)).or_insert(LinkRow {
            from,
            to,
            source: w.source,
            first_seen_us: at,
            last_seen_us: at,
            count: 0,
            last_snr: None,
            last_packet_id: Some(id),
        });
        e.first_seen_us = e.first_seen_us.min(at);
        if at > e.last_seen_us || (at == e.last_seen_us && e.last_packet_id < Some(id)) {
            e.last_seen_us = at;
            e.last_packet_id = Some(id);
            // The newest SNR reported, as `node_link` keeps it.
            e.last_snr = snr.or(e.last_snr);
        } else if e.last_snr.is_none() {
            e.last_snr = snr;
        }
        e.count += 1;
    }
}

/// A `LinkRow` from a row with its columns' names.
fn link_row(mut r: crate::row::OwnedRow, source: LinkSource) -> Result<LinkRow, StoreError> {
    Ok(LinkRow {
        from: r.take("from_node_id")?,
        to: r.take("to_node_id")?,
        source,
        first_seen_us: r.take("first_seen_us")?,
        last_seen_us: r.take("last_seen_us")?,
        count: r.take("count")?,
        last_snr: r.take("last_snr")?,
        last_packet_id: r.take("last_packet_id")?,
    })
}
