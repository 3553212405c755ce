//! One traceroute exchange, given the request's or a reply's stored id: what
//! `/api/traceroute/{packet_id}` answers and the traceroute pages draw.
//!
//! A reply (`done`, `request_id` set) travels target → requester, so its packet's
//! `from` is the target and `to` the requester. Its RouteDiscovery carries the forward
//! hops (`route`, `snr_towards`) and the return hops (`route_back`, `snr_back`), so:
//! forward = [requester] + route + [target], return = [target] + route_back + [requester].
//! MeshView built [from] + route + [to] from the reply, inventing two links, and reversed
//! the return path; it also dropped direct (0-hop) paths. SNRs are int8 quarter-dB on the
//! wire, −128 meaning unknown; here they are dB or `null`.

use std::collections::{BTreeMap, BTreeSet};

use meshview_protocol::{NodeId, links, pb};
use prost::Message;
use serde::Serialize;
use utoipa::ToSchema;

use crate::web::error::ApiResult;
use meshview_store::read::{PacketFilter, Reader, SLOT, TraceRow, slot_ids};

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

/// Raw quarter-dB SNRs as dB, `None` where unknown. (f64: the API wrote them as JSON
/// numbers converted from f32, and quarter dBs are exact in both.)
fn snr_db(v: &[i32]) -> Vec<Option<f64>> {
    v.iter()
        .map(|&q| links::snr_from_raw(q).map(f64::from))
        .collect()
}

fn leg(direction: &'static str, p: &links::Path) -> Leg {
    Leg {
        direction,
        nodes: p.nodes.iter().map(|n| i64::from(n.0)).collect(),
        snr: p.snr_db.iter().map(|s| s.map(f64::from)).collect(),
    }
}

fn is_reply(row: &TraceRow) -> bool {
    row.done == Some(true) && row.request_id.is_some()
}

/// The packet asked about.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PacketRef {
    #[schema(required = true)]
    pub channel: Option<String>,
    pub from: i64,
    pub id: i64,
    pub to: i64,
}

/// The exchange's request packet, when stored.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RequestRef {
    #[schema(required = true)]
    pub from: Option<i64>,
    pub id: i64,
    #[schema(required = true)]
    pub import_time_us: Option<i64>,
    #[schema(required = true)]
    pub to: Option<i64>,
}

/// One leg of a completed exchange: its nodes in order, and the SNR (dB) each heard the
/// previous one with.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Path)]
pub struct Leg {
    /// `forward` or `return`.
    #[schema(value_type = String, pattern = "^(forward|return)$")]
    pub direction: &'static str,
    pub nodes: Vec<i64>,
    pub snr: Vec<Option<f64>>,
}

impl Leg {
    pub fn forward(&self) -> bool {
        self.direction == "forward"
    }
}

/// One gateway's reception of a request or a reply, with the hops it carried.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TracePacket {
    pub done: bool,
    pub forward_hops: Vec<i64>,
    #[schema(required = true)]
    pub gateway_node_id: Option<i64>,
    #[schema(required = true)]
    pub import_time_us: Option<i64>,
    pub index: usize,
    /// `request` or `reply`.
    #[schema(value_type = String, pattern = "^(request|reply)$")]
    pub kind: &'static str,
    pub packet_id: i64,
    pub reverse_hops: Vec<i64>,
    pub snr_back: Vec<Option<f64>>,
    pub snr_towards: Vec<Option<f64>>,
}

impl TracePacket {
    pub fn is_reply(&self) -> bool {
        self.kind == "reply"
    }
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PathCount {
    pub count: usize,
    pub path: Vec<i64>,
}

#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Winning {
    pub forward: Vec<Vec<i64>>,
    pub reverse: Vec<Vec<i64>>,
}

/// `/api/traceroute/{packet_id}`'s answer (fields in alphabetical order, as the JSON map
/// the API wrote had them).
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Traceroute)]
pub struct Exchange {
    pub packet: PacketRef,
    pub paths: Vec<Leg>,
    pub replies: Vec<i64>,
    #[schema(required = true)]
    pub request: Option<RequestRef>,
    pub requester: i64,
    pub target: i64,
    pub traceroute_packets: Vec<TracePacket>,
    pub unique_forward_paths: Vec<PathCount>,
    pub unique_reverse_paths: Vec<Vec<i64>>,
    pub winning_paths: Winning,
}

/// The exchange of stored packet `id`; `None` when there is no such packet.
pub async fn exchange(db: &Reader, id: i64) -> ApiResult<Option<Exchange>> {
    let Some(packet) = db.packet(id).await? else {
        return Ok(None);
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
        list.push(TracePacket {
            done: row.done.unwrap_or(false),
            forward_hops: h.route.clone(),
            gateway_node_id: row.gateway_node_id,
            import_time_us: row.import_time_us,
            index,
            kind: if reply { "reply" } else { "request" },
            packet_id: row.packet_id,
            reverse_hops: h.route_back.clone(),
            snr_back: snr_db(&h.snr_back),
            snr_towards: snr_db(&h.snr_towards),
        });
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
                paths.push(leg("forward", &fwd));
                winning_forward.push(nodes(&fwd));
            }
            if let Some(back) = back
                && !winning_reverse.contains(&nodes(&back))
            {
                paths.push(leg("return", &back));
                winning_reverse.push(nodes(&back));
            }
        }
    }
    Ok(Some(Exchange {
        packet: PacketRef {
            channel: packet.channel.clone(),
            from,
            id: packet.id,
            to,
        },
        paths,
        replies: replies.into_iter().collect(),
        request: request.as_ref().map(|r| RequestRef {
            from: r.from_node_id,
            id: r.id,
            import_time_us: r.import_time_us,
            to: r.to_node_id,
        }),
        requester,
        target,
        traceroute_packets: list,
        unique_forward_paths: forward_counts
            .into_iter()
            .map(|(path, count)| PathCount { count, path })
            .collect(),
        unique_reverse_paths: reverse_set.into_iter().collect(),
        winning_paths: Winning {
            forward: winning_forward,
            reverse: winning_reverse,
        },
    }))
}
