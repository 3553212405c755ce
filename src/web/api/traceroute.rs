//! `/api/traceroute/{packet_id}`: one traceroute exchange, given the request's or a
//! reply's stored id.
//!
//! A reply (`done`, `request_id` set) travels target → requester, so its packet's
//! `from` is the target and `to` the requester. Its RouteDiscovery carries the forward
//! hops (`route`, `snr_towards`) and the return hops (`route_back`, `snr_back`), so:
//! forward = [requester] + route + [target], return = [target] + route_back + [requester].
//! MeshView built [from] + route + [to] from the reply, inventing two links, and reversed
//! the return path; it also dropped direct (0-hop) paths. SNRs are int8 quarter-dB on the
//! wire, −128 meaning unknown; here they are dB or `null`.

use std::collections::{BTreeMap, BTreeSet};

use axum::Json;
use axum::extract::Path;
use meshview_protocol::{NodeId, links, pb};
use prost::Message;
use serde_json::{Value, json};

use crate::web::Ready;
use crate::web::error::{ApiError, ApiResult};
use crate::web::params::parse_packet_id;
use meshview_store::read::{PacketFilter, SLOT, TraceRow, slot_ids};

const PORT_TRACEROUTE: i32 = meshview_protocol::pb::PortNum::TracerouteApp as i32;

/// The hops of one row, decoded; undecodable blobs count as no hops (never a 500).
struct Hops {
    route: Vec<i64>,
    snr_towards: Vec<i32>,
    route_back: Vec<i64>,
    snr_back: Vec<i32>,
    /// The RouteDiscovery with both legs.
    both: pb::RouteDiscovery,
}

fn hops(row: &TraceRow) -> Hops {
    let sent = row
        .route
        .as_deref()
        .and_then(|b| pb::RouteDiscovery::decode(b).ok())
        .unwrap_or_default();
    let back = row
        .route_return
        .as_deref()
        .and_then(|b| pb::RouteDiscovery::decode(b).ok())
        .filter(|r| !r.route_back.is_empty() || !r.snr_back.is_empty())
        .unwrap_or_else(|| sent.clone());
    Hops {
        route: sent.route.iter().map(|&n| n as i64).collect(),
        snr_towards: sent.snr_towards.clone(),
        route_back: back.route_back.iter().map(|&n| n as i64).collect(),
        snr_back: back.snr_back.clone(),
        both: pb::RouteDiscovery {
            route: sent.route.clone(),
            snr_towards: sent.snr_towards.clone(),
            route_back: back.route_back.clone(),
            snr_back: back.snr_back.clone(),
        },
    }
}

/// Raw quarter-dB SNRs as dB, `null` where unknown.
fn snr_db(v: &[i32]) -> Vec<Value> {
    v.iter()
        .map(|&q| links::snr_from_raw(q).map_or(Value::Null, |db| json!(db)))
        .collect()
}

fn path_json(direction: &str, p: &links::Path) -> Value {
    json!({
        "direction": direction,
        "nodes": p.nodes.iter().map(|n| i64::from(n.0)).collect::<Vec<_>>(),
        "snr": p.snr_db.iter().map(|s| s.map_or(Value::Null, |db| json!(db))).collect::<Vec<_>>(),
    })
}

fn is_reply(row: &TraceRow) -> bool {
    row.done == Some(true) && row.request_id.is_some()
}

pub async fn traceroute(Ready(db): Ready, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_packet_id("packet_id", &id)?;
    let Some(packet) = db.packet(id).await? else {
        return Err(ApiError::NotFound("Packet not found".into()));
    };
    let own_rows = db.traceroutes_of(&[id]).await?;
    let from = packet.from_node_id.unwrap_or(0);
    let to = packet.to_node_id.unwrap_or(0);

    // Who asked whom, and under which Meshtastic id.
    let (requester, target, request_mid) = match own_rows.iter().find(|r| is_reply(r)) {
        Some(r) => (to, from, r.request_id.unwrap_or(0)),
        None => (from, to, id % SLOT),
    };
    let request = if own_rows.iter().any(is_reply) {
        let filter = PacketFilter {
            ids: Some(slot_ids(request_mid as u32)),
            from: Some(requester),
            portnum: Some(PORT_TRACEROUTE),
            ..Default::default()
        };
        db.packets(&filter, 1).await?.pop()
    } else if packet.portnum == Some(PORT_TRACEROUTE) {
        Some(packet.clone())
    } else {
        None
    };
    let mut rows: Vec<TraceRow> = match &request {
        Some(r) if r.id != id => db.traceroutes_of(&[r.id]).await?,
        Some(_) => own_rows.clone(),
        None => Vec::new(),
    };
    if packet.portnum == Some(PORT_TRACEROUTE) || request.is_some() {
        for r in db.traceroute_replies(request_mid, requester).await? {
            if !rows.iter().any(|x| x.id == r.id) {
                rows.push(r);
            }
        }
    }
    for r in own_rows {
        if !rows.iter().any(|x| x.id == r.id) {
            rows.push(r);
        }
    }
    rows.sort_by_key(|r| (r.import_time_us, r.id));

    let mut list = Vec::new();
    let mut forward_counts: BTreeMap<Vec<i64>, usize> = BTreeMap::new();
    let mut reverse_set: BTreeSet<Vec<i64>> = BTreeSet::new();
    let mut winning_forward: Vec<Vec<i64>> = Vec::new();
    let mut winning_reverse: Vec<Vec<i64>> = Vec::new();
    let mut paths = Vec::new();
    let mut replies = BTreeSet::new();
    for (index, row) in rows.iter().enumerate() {
        let h = hops(row);
        let reply = is_reply(row);
        if reply {
            replies.insert(row.packet_id);
        }
        list.push(json!({
            "index": index,
            "packet_id": row.packet_id,
            "gateway_node_id": row.gateway_node_id,
            "done": row.done.unwrap_or(false),
            "kind": if reply { "reply" } else { "request" },
            "import_time_us": row.import_time_us,
            "forward_hops": h.route,
            "reverse_hops": h.route_back,
            "snr_towards": snr_db(&h.snr_towards),
            "snr_back": snr_db(&h.snr_back),
        }));
        if !h.route.is_empty() {
            *forward_counts.entry(h.route.clone()).or_default() += 1;
        }
        if !h.route_back.is_empty() {
            reverse_set.insert(h.route_back.clone());
        }
        if reply {
            // The reply goes target → requester; the protocol crate orients both legs.
            let (fwd, back) = links::traceroute_paths(
                NodeId(row.from_node_id.unwrap_or(target) as u32),
                NodeId(row.to_node_id.unwrap_or(requester) as u32),
                false,
                row.request_id.unwrap_or(request_mid) as u32,
                &h.both,
            );
            let nodes =
                |p: &links::Path| p.nodes.iter().map(|n| i64::from(n.0)).collect::<Vec<i64>>();
            if !winning_forward.contains(&nodes(&fwd)) {
                paths.push(path_json("forward", &fwd));
                winning_forward.push(nodes(&fwd));
            }
            if let Some(back) = back
                && !winning_reverse.contains(&nodes(&back))
            {
                paths.push(path_json("return", &back));
                winning_reverse.push(nodes(&back));
            }
        }
    }
    Ok(Json(json!({
        "packet": {"id": packet.id, "from": from, "to": to, "channel": packet.channel},
        "request": request.as_ref().map(|r| json!({
            "id": r.id,
            "from": r.from_node_id,
            "to": r.to_node_id,
            "import_time_us": r.import_time_us,
        })),
        "replies": replies.into_iter().collect::<Vec<_>>(),
        "requester": requester,
        "target": target,
        "traceroute_packets": list,
        "unique_forward_paths": forward_counts
            .into_iter()
            .map(|(path, count)| json!({"path": path, "count": count}))
            .collect::<Vec<_>>(),
        "unique_reverse_paths": reverse_set.into_iter().collect::<Vec<_>>(),
        "winning_paths": {"forward": winning_forward, "reverse": winning_reverse},
        "paths": paths,
    })))
}
