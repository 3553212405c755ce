//! `/net` (the weekly net's check-ins), `/top` (top talkers) and `/stats`.

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::State;
use serde_json::{Value, json};

use super::live::prefs_title;
use super::shell::{Lib, Prefs, Shell};
use super::view::{self, PacketView, render};
use super::{OrPage, PageResult};
use crate::web::compat::PORT_TEXT;
use crate::web::params::{Params, Period};
use crate::web::query::nodes::NodeQuery;
use crate::web::query::packets::{self, ListQuery};
use crate::web::query::stats::{ChannelsQuery, CountQuery, TopQuery};
use crate::web::{AppState, Ready, api};
use meshview_store::read::{PacketFilter, TrafficFilter};

#[derive(Template)]
#[template(path = "net.html")]
struct NetPage {
    shell: Shell,
    message: String,
    tag: String,
    /// This page's check-ins (of `total`).
    checkins: Vec<PacketView>,
    total: usize,
    people: usize,
    newer: Option<String>,
    older: Option<String>,
}

/// Check-ins one page of `/net` shows, newest first; older ones are a page further
/// (`?offset=`), so that a busy week's net (up to 1,000 check-ins) stays a light page.
const NET_PAGE: usize = 200;

pub async fn net(
    State(state): State<AppState>,
    Ready(db): Ready,
    prefs: Prefs,
    params: Params,
) -> PageResult {
    let offset = params
        .int_range("offset", 0, 1_000_000)
        .or_page(&prefs)?
        .unwrap_or(0) as usize;
    let site = &state.config.site;
    let since = api::now_us() - 6 * 86_400_000_000;
    let filter = PacketFilter {
        portnum: Some(PORT_TEXT),
        since: Some(since),
        ..PacketFilter::default()
    };
    let list = packets::run(&db, ListQuery::new(filter, 1000).containing(&site.net_tag))
        .await
        .or_page(&prefs)?;
    let shell = Shell::new(
        &state,
        &prefs,
        "net",
        prefs_title(&prefs, "net"),
        "common",
        &[],
    );
    let all = view::packets(&list, &shell.lang);
    let people = all
        .iter()
        .map(|c| c.from)
        .collect::<std::collections::BTreeSet<_>>()
        .len();
    let total = all.len();
    let link = |off: usize| format!("/net?offset={off}");
    let page = NetPage {
        message: site.weekly_net_message.clone(),
        tag: site.net_tag.clone(),
        people,
        checkins: all.into_iter().skip(offset).take(NET_PAGE).collect(),
        total,
        // (From past the end, back to the last page that has check-ins.)
        newer: (offset > 0).then(|| {
            let last_page = total.saturating_sub(1) / NET_PAGE * NET_PAGE;
            link(offset.saturating_sub(NET_PAGE).min(last_page))
        }),
        older: (offset + NET_PAGE < total).then(|| link(offset + NET_PAGE)),
        shell,
    };
    Ok(render(&page, &prefs))
}

pub struct TopRow {
    pub num: i64,
    pub long_name: String,
    pub short_name: String,
    pub channel: String,
    pub sent: i64,
    pub seen: i64,
    pub avg: f64,
    pub class: &'static str,
}

#[derive(Template)]
#[template(path = "top.html")]
struct TopPage {
    shell: Shell,
    rows: Vec<TopRow>,
    channels: Vec<String>,
    channel: String,
    period: String,
    offset: i64,
    total: i64,
    prev: Option<String>,
    next: Option<String>,
}

const TOP_PAGE: i64 = 20;

pub async fn top(
    State(state): State<AppState>,
    Ready(db): Ready,
    prefs: Prefs,
    params: Params,
) -> PageResult {
    let channel = params
        .string("channel", 64)
        .or_page(&prefs)?
        .unwrap_or_default();
    let period = match params.get("period") {
        Some("hour") => "hour",
        Some("week") => "week",
        Some("month") => "month",
        Some("year") => "year",
        _ => "day",
    };
    // Whole UTC days from the rollups, kept for `cleanup.rollup_days` (years).
    let (ptype, length) = match period {
        "hour" => (Period::Hour, 1),
        "week" => (Period::Day, 7),
        "month" => (Period::Day, 30),
        "year" => (Period::Day, 365),
        _ => (Period::Day, 1),
    };
    let offset = params
        .int_range("offset", 0, 1_000_000)
        .or_page(&prefs)?
        .unwrap_or(0);
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let q = TopQuery {
        period: ptype,
        length,
        channel: (!channel.is_empty()).then(|| channel.clone()),
        limit: TOP_PAGE,
        offset,
        end: None,
    };
    let top = q.answer(&state, &db).await.or_page(&prefs)?;
    let chans = ChannelsQuery::default()
        .answer(&state, &db)
        .await
        .or_page(&prefs)?;
    let total = top.total;
    let text = |v: &Option<String>| v.clone().unwrap_or_default();
    let rows = top
        .nodes
        .iter()
        .map(|n| TopRow {
            num: n.node_id,
            long_name: text(&n.long_name),
            short_name: text(&n.short_name),
            channel: text(&n.channel),
            sent: n.sent,
            seen: n.seen,
            avg: n.avg,
            class: if n.avg >= 10.0 {
                "good"
            } else if n.avg >= 2.0 {
                "ok"
            } else {
                "bad"
            },
        })
        .collect();
    let link = |off: i64| {
        let mut s = format!("/top?period={period}&offset={off}");
        if !channel.is_empty() {
            s.push_str(&format!("&channel={}", enc(&channel)));
        }
        s
    };
    let page = TopPage {
        shell: Shell::new(
            &state,
            &prefs,
            "top",
            prefs_title(&prefs, "top"),
            "common",
            &[],
        ),
        rows,
        channels: chans.channels.clone(),
        prev: (offset > 0).then(|| link((offset - TOP_PAGE).max(0))),
        next: (offset + TOP_PAGE < total).then(|| link(offset + TOP_PAGE)),
        channel,
        period: period.to_string(),
        offset,
        total,
    };
    Ok(render(&page, &prefs))
}

#[derive(Template)]
#[template(path = "stats.html")]
struct StatsPage {
    shell: Shell,
    nodes: usize,
    active: usize,
    gateways: usize,
    total_packets: i64,
    total_seen: i64,
    day_packets: i64,
    day_seen: i64,
    channels: Vec<String>,
}

/// Counts by a node attribute: the top 20, then "other".
fn breakdown(nodes: &[view::NodeView], f: impl Fn(&view::NodeView) -> &str) -> Value {
    let mut counts: BTreeMap<String, usize> = BTreeMap::new();
    for n in nodes {
        let k = f(n);
        let k = if k.is_empty() { "?" } else { k };
        *counts.entry(k.to_string()).or_default() += 1;
    }
    let mut v: Vec<(String, usize)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let other: usize = v.iter().skip(20).map(|x| x.1).sum();
    let mut out: Vec<Value> = v
        .into_iter()
        .take(20)
        .map(|(name, value)| json!({"name": name, "value": value}))
        .collect();
    if other > 0 {
        out.push(json!({"name": "other", "value": other}));
    }
    Value::Array(out)
}

pub async fn stats(State(state): State<AppState>, Ready(db): Ready, prefs: Prefs) -> PageResult {
    // Independent questions, asked at once (on PostgreSQL they run side by side).
    let every_node = NodeQuery::default();
    let (all, count_all, count_day, chans) = tokio::join!(
        every_node.rows(&db),
        CountQuery::everything().answer(&state, &db),
        CountQuery::window(Period::Day, 1, TrafficFilter::default()).answer(&state, &db),
        ChannelsQuery::default().answer(&state, &db),
    );
    let all = all.or_page(&prefs)?;
    let count_all = count_all.or_page(&prefs)?;
    let count_day = count_day.or_page(&prefs)?;
    let chans = chans.or_page(&prefs)?;
    let nodes = view::nodes(&all);
    let now = api::now_us();
    let active: Vec<view::NodeView> = nodes
        .iter()
        .filter(|n| n.last_us > now - 86_400_000_000)
        .cloned()
        .collect();
    let gateways: Vec<view::NodeView> = nodes.iter().filter(|n| n.gateway).cloned().collect();
    let channels = chans.channels.clone();
    let ports: Vec<Value> = super::live::PORTS
        .iter()
        .map(|&p| json!({"port": p, "label": super::i18n::Lang::new(&prefs.lang).port(p)}))
        .collect();
    let shell = Shell::new(
        &state,
        &prefs,
        "stats",
        prefs_title(&prefs, "stats"),
        "stats",
        &[Lib::Echarts],
    )
    .with(
        "breakdowns",
        json!({
            "hw": breakdown(&nodes, |n| &n.hw_model),
            "role": breakdown(&nodes, |n| &n.role),
            "channel": breakdown(&nodes, |n| &n.channel),
            "firmware": breakdown(&nodes, |n| &n.firmware),
            "gw_channel": breakdown(&gateways, |n| &n.channel),
            "gw_firmware": breakdown(&gateways, |n| &n.firmware),
        }),
    )
    .with("channels", json!(channels))
    .with("ports", Value::Array(ports));
    let page = StatsPage {
        nodes: nodes.len(),
        active: active.len(),
        gateways: gateways.len(),
        total_packets: count_all.total_packets,
        total_seen: count_all.total_seen,
        day_packets: count_day.total_packets,
        day_seen: count_day.total_seen,
        channels,
        shell,
    };
    Ok(render(&page, &prefs))
}
