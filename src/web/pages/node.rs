//! `/nodelist`, `/node/{id}`, `/packet/{id}` and the legacy `/packet_list/{id}`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, State};
use serde_json::{Value, json};

use super::live::{PORTS, prefs_title};
use super::shell::{Lib, Prefs, Shell};
use super::view::{self, NodeView, PacketView, render};
use super::{OrPage, PageError, PageResult};
use crate::web::params::Period;
use crate::web::params::{Params, parse_node, parse_packet_id};
use crate::web::query::node::{contact, key_history};
use crate::web::query::nodes::NodeQuery;
use crate::web::query::packets::{self, ListQuery};
use crate::web::query::stats::CountQuery;
use crate::web::{AppState, Ready};
use meshview_store::read::{PacketFilter, SLOT, TrafficFilter, slot_ids};

/// Rows `/nodelist` is sent with, and the script draws at a time as the reader scrolls:
/// every row of a 2,000-node mesh made the page 2.2 MB. The script takes the full list
/// from `/api/nodes` for the filters, sort, favourites and CSV.
const FIRST_ROWS: usize = 50;
/// The list's activity filter when it opens (MeshView's): seen within 3 days.
const ACTIVE_DAYS: i64 = 3;

#[derive(Template)]
#[template(path = "nodelist.html")]
struct NodeListPage {
    shell: Shell,
    /// The first rows of the list as it opens: active nodes, most recently seen first.
    nodes: Vec<NodeView>,
    /// How many nodes that list has in all.
    count: usize,
    first_rows: usize,
    roles: Vec<String>,
    channels: Vec<String>,
    hw_models: Vec<String>,
    firmwares: Vec<String>,
    query: String,
}

fn distinct(nodes: &[NodeView], f: impl Fn(&NodeView) -> &str) -> Vec<String> {
    let mut v: Vec<String> = nodes
        .iter()
        .map(|n| f(n).to_string())
        .filter(|s| !s.is_empty())
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The script's search: `q` (lowercase) within the number, `!hex`, short name or name.
fn matches(n: &NodeView, q: &str) -> bool {
    q.is_empty()
        || [n.num.to_string().as_str(), &n.hex, &n.short_name, n.name()]
            .join(" ")
            .to_lowercase()
            .contains(q)
}

pub async fn nodelist(
    State(state): State<AppState>,
    Ready(db): Ready,
    prefs: Prefs,
    params: Params,
) -> PageResult {
    // Every node: the filters offer every value.
    let rows = NodeQuery::default().rows(&db).await.or_page(&prefs)?;
    let all = view::nodes(&rows);
    let query: String = params
        .get("q")
        .unwrap_or_default()
        .chars()
        .take(64)
        .collect();
    let q = query.trim().to_lowercase();
    let since = crate::web::api::now_us() - ACTIVE_DAYS * 86_400_000_000;
    let mut listed: Vec<&NodeView> = all
        .iter()
        .filter(|n| n.last_us >= since && matches(n, &q))
        .collect();
    listed.sort_by_key(|n| std::cmp::Reverse(n.last_us));
    let shell = Shell::new(
        &state,
        &prefs,
        "nodelist",
        prefs_title(&prefs, "nodelist"),
        "nodelist",
        &[],
    );
    let page = NodeListPage {
        roles: distinct(&all, |n| &n.role),
        channels: distinct(&all, |n| &n.channel),
        hw_models: distinct(&all, |n| &n.hw_model),
        firmwares: distinct(&all, |n| &n.firmware),
        query,
        count: listed.len(),
        first_rows: FIRST_ROWS,
        nodes: listed.into_iter().take(FIRST_ROWS).cloned().collect(),
        shell,
    };
    Ok(render(&page, &prefs))
}

/// `/packet_list/{id}`: MeshView's old node page.
pub async fn packet_list(Path(id): Path<String>, prefs: Prefs) -> PageResult {
    let n = parse_node("node_id", &id).or_page(&prefs)?;
    Ok(super::found(&format!("/node/{n}")))
}

#[derive(Template)]
#[template(path = "node.html")]
struct NodePage {
    shell: Shell,
    node: NodeView,
    sent_24h: i64,
    seen_24h: i64,
    impersonation: Option<String>,
    key_count: i64,
    import_url: String,
    packets: Vec<PacketView>,
    packet_rows: i64,
    ports: Vec<(i64, String)>,
}

/// Packets the node page is sent with, and the script adds at a time, older ones as the
/// reader scrolls or with the chosen filters (500 rows made a busy node's page 380 KB).
const PACKET_ROWS: i64 = 50;

pub async fn node(
    State(state): State<AppState>,
    Ready(db): Ready,
    Path(id): Path<String>,
    prefs: Prefs,
) -> PageResult {
    let num = parse_node("node_id", &id).or_page(&prefs)?;
    let Some(row) = db.node(num).await.or_page(&prefs)? else {
        return Err(PageError {
            status: axum::http::StatusCode::NOT_FOUND,
            message: format!(
                "{} {}",
                super::i18n::Lang::new(&prefs.lang).t("node", "not_found"),
                view::hex(num)
            ),
            prefs,
        });
    };
    let node = NodeView::from_row(&row);
    // Independent questions, asked at once (on PostgreSQL they run side by side).
    let count_q = CountQuery::window(
        Period::Day,
        1,
        TrafficFilter {
            from: Some(num),
            ..TrafficFilter::default()
        },
    );
    let list_q = ListQuery::new(
        PacketFilter {
            node: Some(num),
            ..PacketFilter::default()
        },
        PACKET_ROWS,
    );
    let (count, check, qr, list) = tokio::join!(
        count_q.answer(&state, &db),
        key_history(&db, num),
        contact(&db, num),
        packets::run(&db, list_q),
    );
    let count = count.or_page(&prefs)?;
    // The contact link and the key history are extras: the page stands without them.
    let check = check.ok().flatten();
    let import_url = qr
        .ok()
        .flatten()
        .map(|c| c.meshtastic_url)
        .unwrap_or_default();
    let list = list.or_page(&prefs)?;
    let title = format!("{} · {}", node.name(), node.hex);
    let shell = Shell::new(
        &state,
        &prefs,
        "node",
        title,
        "node",
        &[Lib::Leaflet, Lib::Echarts, Lib::Qr],
    );
    let packets = view::packets(&list, &shell.lang);
    let ports = PORTS.iter().map(|&p| (p, shell.lang.port(p))).collect();
    let shell = shell.with(
        "node",
        json!({
            "num": num,
            "hex": node.hex,
            "name": node.name(),
            "lat": node.lat,
            "lon": node.lon,
            "import_url": import_url,
        }),
    );
    let page = NodePage {
        sent_24h: count.total_packets,
        seen_24h: count.total_seen,
        impersonation: check.as_ref().and_then(|c| c.warning.clone()),
        key_count: check
            .as_ref()
            .map_or(0, |c| c.unique_public_key_count as i64),
        import_url,
        packets,
        packet_rows: PACKET_ROWS,
        ports,
        node,
        shell,
    };
    Ok(render(&page, &prefs))
}

/// One reception of a packet, for the "heard by" table and map.
pub struct Seen {
    pub gateway: NodeView,
    pub hops: i64,
    pub hop_start: i64,
    pub snr: String,
    pub rssi: String,
    pub channel: String,
    pub us: i64,
    pub iso: String,
    pub when: String,
    pub distance: String,
}

#[derive(Template)]
#[template(path = "packet.html")]
struct PacketPage {
    shell: Shell,
    p: PacketView,
    seen: Vec<Seen>,
}

pub async fn packet(
    State(state): State<AppState>,
    Ready(db): Ready,
    Path(id): Path<String>,
    prefs: Prefs,
) -> PageResult {
    let id = parse_packet_id("packet_id", &id).or_page(&prefs)?;
    // A Meshtastic id names every packet stored under it (one per sender).
    let ids = if id < SLOT {
        slot_ids(id as u32)
    } else {
        vec![id]
    };
    let filter = PacketFilter {
        ids: Some(ids),
        ..PacketFilter::default()
    };
    let found = packets::run(&db, ListQuery::new(filter, 10))
        .await
        .or_page(&prefs)?;
    let lang = super::i18n::Lang::new(&prefs.lang);
    let list = view::packets(&found, &lang);
    // The stored id itself, else (a Meshtastic id, as replies link) the oldest holder.
    let Some(p) = list
        .iter()
        .find(|p| p.id == id)
        .or_else(|| list.last())
        .cloned()
    else {
        return Err(PageError {
            status: axum::http::StatusCode::NOT_FOUND,
            message: lang.t("packet", "not_found").to_string(),
            prefs,
        });
    };
    let seen_rows = db.packet_seen(p.id).await.or_page(&prefs)?;
    let mut known: BTreeMap<i64, NodeView> = BTreeMap::new();
    for n in seen_rows
        .iter()
        .map(|s| s.node_id)
        .chain([p.from])
        .collect::<std::collections::BTreeSet<_>>()
    {
        if let Some(row) = db.node(n).await.or_page(&prefs)? {
            known.insert(n, NodeView::from_row(&row));
        }
    }
    let from = known.get(&p.from).cloned();
    let origin = p
        .position()
        .or_else(|| from.as_ref().and_then(|f| f.lat.zip(f.lon)));
    let mut seen: Vec<Seen> = seen_rows
        .iter()
        .map(|s| {
            let gateway = known.get(&s.node_id).cloned().unwrap_or_else(|| NodeView {
                num: s.node_id,
                hex: view::hex(s.node_id),
                ..Default::default()
            });
            let hop_start = s.hop_start.unwrap_or(0) as i64;
            let hops = (hop_start - s.hop_limit.unwrap_or(0) as i64).max(0);
            let distance = match (origin, gateway.lat.zip(gateway.lon)) {
                (Some(a), Some(b)) => format!("{:.1} km", view::haversine_km(a, b)),
                _ => String::new(),
            };
            let us = s.import_time_us.unwrap_or(s.rx_time * 1_000_000);
            Seen {
                hops,
                hop_start,
                snr: s.rx_snr.map(|v| format!("{v:.2}")).unwrap_or_default(),
                rssi: s.rx_rssi.map(|v| v.to_string()).unwrap_or_default(),
                channel: s.channel.clone().unwrap_or_default(),
                us,
                iso: view::iso(us),
                when: view::when(us),
                distance,
                gateway,
            }
        })
        .collect();
    seen.sort_by(|a, b| (a.hops, &a.gateway.long_name).cmp(&(b.hops, &b.gateway.long_name)));
    let map_seen: Vec<Value> = seen
        .iter()
        .filter_map(|s| {
            Some(json!({
                "num": s.gateway.num,
                "name": s.gateway.name(),
                "lat": s.gateway.lat?,
                "lon": s.gateway.lon?,
                "hops": s.hops,
                "snr": s.snr,
                "rssi": s.rssi,
                "distance": s.distance,
            }))
        })
        .collect();
    let shell = Shell::new(
        &state,
        &prefs,
        "packet",
        format!("{} {}", lang.t("packet", "title"), p.id),
        "packet",
        &[Lib::Leaflet],
    )
    .with(
        "packet",
        json!({
            "id": p.id,
            "from": p.from,
            "from_name": p.from_name,
            "origin": origin.map(|(a, b)| [a, b]),
            "seen": map_seen,
        }),
    );
    Ok(render(&PacketPage { shell, p, seen }, &prefs))
}
