//! `/traceroute/{id}` (both legs with per-hop SNR, which gateway heard which leg, the
//! drawing inline) and `/graph/traceroute/{id}` (the drawing alone, as SVG).

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;

use super::i18n::Lang;
use super::shell::{Prefs, Shell};
use super::svg::{self, Label, Row};
use super::view::{self, render};
use super::{OrPage, PageResult};
use crate::web::error::ApiError;
use crate::web::params::parse_packet_id;
use crate::web::query::traceroute;
use crate::web::{AppState, Ready};
use meshview_store::read::Reader;

/// One hop of a drawn path.
pub struct Hop {
    pub num: i64,
    pub name: String,
    pub hex: String,
    /// SNR (dB) with which this node heard the previous one.
    pub snr: String,
}

pub struct PathView {
    pub forward: bool,
    pub hops: Vec<Hop>,
}

pub struct Sighting {
    pub kind: String,
    pub gateway: i64,
    pub gateway_name: String,
    pub route: String,
    pub us: i64,
    pub iso: String,
    pub when: String,
    pub packet_id: i64,
}

/// An exchange with what the pages add: node labels and the drawn rows.
struct Drawn {
    x: traceroute::Exchange,
    labels: HashMap<i64, Label>,
    rows: Vec<Row>,
}

async fn exchange(db: &Reader, id: String, lang: &Lang) -> Result<Drawn, ApiError> {
    let id = parse_packet_id("packet_id", &id)?;
    let Some(x) = traceroute::exchange(db, id).await? else {
        return Err(ApiError::NotFound("Packet not found".into()));
    };
    let mut nodes: BTreeSet<i64> = BTreeSet::from([x.requester, x.target]);
    for p in &x.paths {
        nodes.extend(&p.nodes);
    }
    for t in &x.traceroute_packets {
        nodes.extend(&t.forward_hops);
        nodes.extend(&t.reverse_hops);
        if let Some(g) = t.gateway_node_id {
            nodes.insert(g);
        }
    }
    let mut labels = HashMap::new();
    for n in nodes.into_iter().take(200) {
        if let Some(row) = db.node(n).await? {
            labels.insert(
                n,
                Label {
                    short: row.short_name.unwrap_or_default(),
                    long: row.long_name.unwrap_or_default(),
                },
            );
        }
    }
    let mut rows: Vec<Row> = x
        .paths
        .iter()
        .map(|p| Row {
            forward: p.forward(),
            nodes: p.nodes.clone(),
            snr: p.snr.clone(),
            label: lang
                .t("traceroute", if p.forward() { "forward" } else { "return" })
                .to_string(),
        })
        .collect();
    if rows.is_empty() {
        // No reply: the request's routes so far, as gateways heard them.
        let mut seen = BTreeSet::new();
        for t in &x.traceroute_packets {
            let mut path = vec![x.requester];
            path.extend(&t.forward_hops);
            if let Some(g) = t.gateway_node_id
                && path.last() != Some(&g)
            {
                path.push(g);
            }
            if path.len() > 1 && seen.insert(path.clone()) {
                rows.push(Row {
                    forward: true,
                    snr: t.snr_towards.clone(),
                    nodes: path,
                    label: lang.t("traceroute", "partial").to_string(),
                });
            }
        }
    }
    Ok(Drawn { x, labels, rows })
}

#[derive(Template)]
#[template(path = "traceroute.html")]
struct TraceroutePage {
    shell: Shell,
    id: i64,
    requester: Hop,
    target: Hop,
    paths: Vec<PathView>,
    sightings: Vec<Sighting>,
    svg: Svg,
    replies: Vec<i64>,
}

/// Markup produced by [`svg::render`], which escapes every string it embeds.
pub struct Svg(String);

impl std::fmt::Display for Svg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl askama::filters::HtmlSafe for Svg {}

fn hop(num: i64, labels: &HashMap<i64, Label>, snr: Option<f64>) -> Hop {
    let hex = view::hex(num);
    let name = labels
        .get(&num)
        .map(|l| {
            if l.long.is_empty() {
                l.short.clone()
            } else {
                l.long.clone()
            }
        })
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| hex.clone());
    Hop {
        num,
        name,
        hex,
        snr: snr.map(|v| format!("{v:.2} dB")).unwrap_or_default(),
    }
}

pub async fn traceroute(
    State(state): State<AppState>,
    Ready(db): Ready,
    Path(id): Path<String>,
    prefs: Prefs,
) -> PageResult {
    let lang = Lang::new(&prefs.lang);
    let ex = exchange(&db, id, &lang).await.or_page(&prefs)?;
    let (requester, target) = (ex.x.requester, ex.x.target);
    let paths = ex
        .rows
        .iter()
        .map(|r| PathView {
            forward: r.forward,
            hops: r
                .nodes
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let snr = if i == 0 {
                        None
                    } else {
                        r.snr.get(i - 1).copied().flatten()
                    };
                    let mut h = hop(n, &ex.labels, snr);
                    if i > 0 && h.snr.is_empty() {
                        h.snr = "? dB".into();
                    }
                    h
                })
                .collect(),
        })
        .collect();
    let sightings =
        ex.x.traceroute_packets
            .iter()
            .map(|t| {
                let g = t.gateway_node_id.unwrap_or(0);
                let reply = t.is_reply();
                let name = |n: &i64| hop(*n, &ex.labels, None).name;
                let route: Vec<String> = t.forward_hops.iter().map(name).collect();
                let back: Vec<String> = t.reverse_hops.iter().map(name).collect();
                let route = if reply && !back.is_empty() {
                    format!("{} ⇄ {}", route.join(" → "), back.join(" → "))
                } else {
                    route.join(" → ")
                };
                let us = t.import_time_us.unwrap_or(0);
                Sighting {
                    kind: lang
                        .t("traceroute", if reply { "reply" } else { "request" })
                        .to_string(),
                    gateway: g,
                    gateway_name: name(&g),
                    route,
                    us,
                    iso: view::iso(us),
                    when: view::when(us),
                    packet_id: t.packet_id,
                }
            })
            .collect();
    let svg = Svg(svg::render(&ex.rows, &ex.labels, requester, target));
    let page_id = ex.x.packet.id;
    let shell = Shell::new(
        &state,
        &prefs,
        "traceroute",
        format!("{} {}", lang.t("traceroute", "title"), page_id),
        "common",
        &[],
    );
    let page = TraceroutePage {
        shell,
        id: page_id,
        requester: hop(requester, &ex.labels, None),
        target: hop(target, &ex.labels, None),
        paths,
        sightings,
        svg,
        replies: ex.x.replies.clone(),
    };
    Ok(render(&page, &prefs))
}

pub async fn graph(Ready(db): Ready, Path(id): Path<String>, prefs: Prefs) -> PageResult {
    let lang = Lang::new(&prefs.lang);
    let ex = exchange(&db, id, &lang).await.or_page(&prefs)?;
    let svg = svg::render(&ex.rows, &ex.labels, ex.x.requester, ex.x.target);
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        svg,
    )
        .into_response())
}
