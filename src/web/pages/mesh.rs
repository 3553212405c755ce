//! The mesh-wide views: `/map` (live), `/kiosk` (the live map alone, full screen),
//! `/heatmap` and `/nodegraph`. The maps' pages are a frame: their scripts ask
//! `/api/nodes` for the nodes, their channels and counts (on a 2,000-node mesh the nodes
//! made the page 380 KB); the graph's nodes and links are embedded in the page. The
//! scripts draw them and follow the stream.

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::State;
use serde_json::{Value, json};

use super::live::prefs_title;
use super::shell::{Lib, Prefs, Shell};
use super::view::{self, NodeView, render};
use super::{OrPage, PageResult};
use crate::web::query::links::LinksQuestion;
use crate::web::query::nodes::NodeQuery;
use crate::web::{AppState, Ready, api};

async fn active_nodes(
    db: &meshview_store::read::Reader,
    prefs: &Prefs,
    days: u32,
) -> Result<Vec<NodeView>, super::PageError> {
    let q = NodeQuery {
        days: (days != 0).then_some(i64::from(days)),
        ..NodeQuery::default()
    };
    Ok(view::nodes(&q.rows(db).await.or_page(prefs)?))
}

fn channels(nodes: &[NodeView]) -> Vec<String> {
    nodes
        .iter()
        .map(|n| n.channel.clone())
        .filter(|c| !c.is_empty())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[derive(Template)]
#[template(path = "map.html")]
struct MapPage {
    shell: Shell,
}

pub async fn map(State(state): State<AppState>, _ready: Ready, prefs: Prefs) -> PageResult {
    let shell = Shell::new(
        &state,
        &prefs,
        "map",
        prefs_title(&prefs, "map"),
        "map",
        &[Lib::Leaflet],
    );
    Ok(render(&MapPage { shell }, &prefs))
}

#[derive(Template)]
#[template(path = "kiosk.html")]
struct KioskPage {
    shell: Shell,
}

pub async fn kiosk(State(state): State<AppState>, _ready: Ready, prefs: Prefs) -> PageResult {
    let shell = Shell::new(
        &state,
        &prefs,
        "kiosk",
        prefs_title(&prefs, "map"),
        "map",
        &[Lib::Leaflet],
    )
    .with("kiosk", json!(true));
    Ok(render(&KioskPage { shell }, &prefs))
}

#[derive(Template)]
#[template(path = "heatmap.html")]
struct HeatmapPage {
    shell: Shell,
}

/// `/heatmap`: the nodes heard in the last 3 days with a position, drawn by the page as
/// a Leaflet.heat density layer (every node weighs the same).
pub async fn heatmap(State(state): State<AppState>, _ready: Ready, prefs: Prefs) -> PageResult {
    let lang = super::i18n::Lang::new(&prefs.lang);
    let shell = Shell::new(
        &state,
        &prefs,
        "heatmap",
        lang.t("map", "heatmap").to_string(),
        "heatmap",
        &[Lib::Leaflet, Lib::LeafletHeat],
    );
    Ok(render(&HeatmapPage { shell }, &prefs))
}

#[derive(Template)]
#[template(path = "nodegraph.html")]
struct GraphPage {
    shell: Shell,
    channels: Vec<String>,
    edges: usize,
}

pub async fn nodegraph(
    State(state): State<AppState>,
    Ready(db): Ready,
    prefs: Prefs,
) -> PageResult {
    let edges =
        api::edges::EdgeQuery::parse(&crate::web::params::Params::default()).or_page(&prefs)?;
    let now = api::now_us();
    // All at once (on PostgreSQL they run side by side).
    let links_q = LinksQuestion::default().all();
    let (nodes, edge_list, links) = tokio::join!(
        active_nodes(&db, &prefs, 0),
        edges.run(&db, now),
        links_q.run(&db, now)
    );
    let nodes = nodes?;
    let edge_list = edge_list.or_page(&prefs)?;
    // The link model's verdict on each drawn edge (`to` heard `from`, as an edge): an
    // extra, the graph stands without it.
    let links = links.inspect_err(
        |e| tracing::warn!(error = ?e, "link quality unavailable; the graph is drawn without it"),
    );
    let quality: HashMap<(i64, i64), (&'static str, f64)> = links
        .map(|a| {
            a.links
                .into_iter()
                .map(|l| {
                    (
                        (l.from, l.to),
                        (l.quality, (l.confidence * 100.0).round() / 100.0),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    // Only nodes with links are drawn.
    let linked: BTreeSet<i64> = edge_list.iter().flat_map(|e| [e.from, e.to]).collect();
    let nodes: Vec<NodeView> = nodes
        .into_iter()
        .filter(|n| linked.contains(&n.num))
        .collect();
    let channels = channels(&nodes);
    let shell = Shell::new(
        &state,
        &prefs,
        "nodegraph",
        prefs_title(&prefs, "nodegraph"),
        "nodegraph",
        &[Lib::Echarts],
    )
    // Only what the graph draws: a big mesh has thousands of nodes and tens of thousands
    // of links, and this page's HTML carries them all.
    .with(
        "nodes",
        Value::Array(
            nodes
                .iter()
                .map(|n| {
                    json!({
                        "num": n.num,
                        "long": n.long_name,
                        "short": n.short_name,
                        "role": n.role,
                        "channel": n.channel,
                    })
                })
                .collect(),
        ),
    )
    .with(
        "edges",
        Value::Array(
            edge_list
                .iter()
                .map(|e| match quality.get(&(e.from, e.to)) {
                    Some((q, c)) => json!([e.from, e.to, e.kind, e.snr, q, c]),
                    None => json!([e.from, e.to, e.kind, e.snr]),
                })
                .collect(),
        ),
    );
    Ok(render(
        &GraphPage {
            shell,
            channels,
            edges: edge_list.len(),
        },
        &prefs,
    ))
}
