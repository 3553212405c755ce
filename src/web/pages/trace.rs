//! `/traceroute/{id}` (both legs with per-hop SNR, which gateway heard which leg, the
//! drawing inline) and `/graph/traceroute/{id}` (the drawing alone, as SVG).

use std::collections::{BTreeSet, HashMap};

use askama::Template;
use axum::extract::{Path, State};
use axum::http::header;
use axum::response::IntoResponse;
use serde_json::Value;

use super::i18n::Lang;
use super::shell::{Prefs, Shell};
use super::svg::{self, Label, Row};
use super::view::{self, render};
use super::{OrPage, PageResult};
use crate::web::{AppState, Ready, api};
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

struct Exchange {
    body: Value,
    labels: HashMap<i64, Label>,
    rows: Vec<Row>,
}

fn ids(v: &Value) -> Vec<i64> {
    v.as_array()
        .map(|a| a.iter().filter_map(Value::as_i64).collect())
        .unwrap_or_default()
}

fn snrs(v: &Value) -> Vec<Option<f64>> {
    v.as_array()
        .map(|a| a.iter().map(Value::as_f64).collect())
        .unwrap_or_default()
}

async fn exchange(db: &Reader, id: String, lang: &Lang) -> Result<Exchange, crate::web::ApiError> {
    let body = api::traceroute::traceroute(Ready(db.clone()), Path(id))
        .await?
        .0;
    let mut nodes: BTreeSet<i64> = BTreeSet::new();
    for key in ["requester", "target"] {
        if let Some(n) = body[key].as_i64() {
            nodes.insert(n);
        }
    }
    for p in body["paths"].as_array().into_iter().flatten() {
        nodes.extend(ids(&p["nodes"]));
    }
    for t in body["traceroute_packets"].as_array().into_iter().flatten() {
        nodes.extend(ids(&t["forward_hops"]));
        nodes.extend(ids(&t["reverse_hops"]));
        if let Some(g) = t["gateway_node_id"].as_i64() {
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
    let mut rows: Vec<Row> = body["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let forward = p["direction"] == "forward";
            Row {
                forward,
                nodes: ids(&p["nodes"]),
                snr: snrs(&p["snr"]),
                label: lang
                    .t("traceroute", if forward { "forward" } else { "return" })
                    .to_string(),
            }
        })
        .collect();
    if rows.is_empty() {
        // No reply: the request's routes so far, as gateways heard them.
        let requester = body["requester"].as_i64().unwrap_or(0);
        let mut seen = BTreeSet::new();
        for t in body["traceroute_packets"].as_array().into_iter().flatten() {
            let mut path = vec![requester];
            path.extend(ids(&t["forward_hops"]));
            if let Some(g) = t["gateway_node_id"].as_i64()
                && path.last() != Some(&g)
            {
                path.push(g);
            }
            if path.len() > 1 && seen.insert(path.clone()) {
                rows.push(Row {
                    forward: true,
                    snr: snrs(&t["snr_towards"]),
                    nodes: path,
                    label: lang.t("traceroute", "partial").to_string(),
                });
            }
        }
    }
    Ok(Exchange { body, labels, rows })
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
    let b = &ex.body;
    let requester = b["requester"].as_i64().unwrap_or(0);
    let target = b["target"].as_i64().unwrap_or(0);
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
    let sightings = b["traceroute_packets"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let g = t["gateway_node_id"].as_i64().unwrap_or(0);
            let reply = t["kind"] == "reply";
            let name = |n: i64| hop(n, &ex.labels, None).name;
            let route: Vec<String> = ids(&t["forward_hops"]).into_iter().map(name).collect();
            let back: Vec<String> = ids(&t["reverse_hops"]).into_iter().map(name).collect();
            let route = if reply && !back.is_empty() {
                format!("{} ⇄ {}", route.join(" → "), back.join(" → "))
            } else {
                route.join(" → ")
            };
            let us = t["import_time_us"].as_i64().unwrap_or(0);
            Sighting {
                kind: lang
                    .t("traceroute", if reply { "reply" } else { "request" })
                    .to_string(),
                gateway: g,
                gateway_name: name(g),
                route,
                us,
                iso: view::iso(us),
                when: view::when(us),
                packet_id: t["packet_id"].as_i64().unwrap_or(0),
            }
        })
        .collect();
    let svg = Svg(svg::render(&ex.rows, &ex.labels, requester, target));
    let page_id = b["packet"]["id"].as_i64().unwrap_or(0);
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
        replies: ids(&b["replies"]),
    };
    Ok(render(&page, &prefs))
}

pub async fn graph(Ready(db): Ready, Path(id): Path<String>, prefs: Prefs) -> PageResult {
    let lang = Lang::new(&prefs.lang);
    let ex = exchange(&db, id, &lang).await.or_page(&prefs)?;
    let requester = ex.body["requester"].as_i64().unwrap_or(0);
    let target = ex.body["target"].as_i64().unwrap_or(0);
    let svg = svg::render(&ex.rows, &ex.labels, requester, target);
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        svg,
    )
        .into_response())
}
