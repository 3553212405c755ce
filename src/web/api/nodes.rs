//! `/api/nodes`.

use axum::Json;
use axum::body::Bytes;
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use axum::extract::State;

use super::{cached_raw, now_us};
use crate::web::AppState;
use crate::web::Ready;
use crate::web::error::{ApiError, ApiResult};
use crate::web::params::Params;
use meshview_store::read::{NodeFilter, NodeRow, Reader};

/// A mesh has hundreds to a few thousand nodes; this bounds the answer all the same.
const MAX_NODES: i64 = 10_000;

/// A node as the API answers it (the same shape in lists and on pages).
pub fn node_json(n: &NodeRow) -> Value {
    serde_json::to_value(NodeOut::from(n)).unwrap_or(Value::Null)
}

/// A node as the API answers it: serialized straight from the row for `/api/nodes`,
/// through [`node_json`] for the pages.
#[derive(Serialize)]
struct NodeOut<'a> {
    channel: &'a Option<String>,
    firmware: &'a Option<String>,
    first_seen_us: Option<i64>,
    hw_model: &'a Option<String>,
    id: &'a str,
    is_mqtt_gateway: Option<bool>,
    last_lat: Option<i64>,
    last_long: Option<i64>,
    last_seen_us: Option<i64>,
    long_name: &'a Option<String>,
    node_id: Option<i64>,
    role: &'a Option<String>,
    short_name: &'a Option<String>,
}

impl<'a> From<&'a NodeRow> for NodeOut<'a> {
    fn from(n: &'a NodeRow) -> Self {
        NodeOut {
            channel: &n.channel,
            firmware: &n.firmware,
            first_seen_us: n.first_seen_us,
            hw_model: &n.hw_model,
            id: &n.id,
            is_mqtt_gateway: n.is_mqtt_gateway,
            last_lat: n.last_lat,
            last_long: n.last_long,
            last_seen_us: n.last_seen_us,
            long_name: &n.long_name,
            node_id: n.node_id,
            role: &n.role,
            short_name: &n.short_name,
        }
    }
}

#[derive(Serialize)]
struct Body<'a> {
    nodes: Vec<NodeOut<'a>>,
}

/// `/api/nodes`' parameters, checked.
#[derive(Debug)]
struct NodeQuery {
    days: Option<i64>,
    node_id: Option<i64>,
    role: Option<String>,
    channel: Option<String>,
    hw_model: Option<String>,
    limit: i64,
}

impl NodeQuery {
    fn parse(params: &Params) -> ApiResult<NodeQuery> {
        Ok(NodeQuery {
            days: params.int_range("days_active", 0, 3650)?,
            node_id: params.node("node_id")?,
            role: params.string("role", 64)?,
            channel: params.string("channel", 64)?,
            hw_model: params.string("hw_model", 64)?,
            limit: params.clamped("limit", MAX_NODES, 1, MAX_NODES)?,
        })
    }

    async fn rows(&self, db: &Reader) -> ApiResult<Vec<NodeRow>> {
        let filter = NodeFilter {
            node_id: self.node_id,
            role: self.role.clone(),
            channel: self.channel.clone(),
            hw_model: self.hw_model.clone(),
            active_since_us: self.days.map(|d| now_us() - d * 86_400_000_000),
        };
        let mut rows = db.nodes(&filter, self.limit).await?;
        // MeshView orders by short name; sorting here keeps both backends (and their
        // collations) in the same order: names byte-wise, unnamed nodes last, then number.
        rows.sort_by(|a, b| {
            (a.short_name.is_none(), &a.short_name, a.node_id).cmp(&(
                b.short_name.is_none(),
                &b.short_name,
                b.node_id,
            ))
        });
        Ok(rows)
    }
}

/// The answer as a `Value`, for the pages' first paint.
pub async fn nodes(Ready(db): Ready, params: Params) -> ApiResult<Json<Value>> {
    let rows = NodeQuery::parse(&params)?.rows(&db).await?;
    Ok(Json(
        json!({ "nodes": rows.iter().map(node_json).collect::<Vec<_>>() }),
    ))
}

/// `/api/nodes`: thousands of nodes on a big mesh, serialized straight from the rows.
/// Every map and node list asks for the whole mesh when it opens, so answers go
/// through the short-lived cache, like the aggregates (a few seconds of staleness is
/// invisible next to `last_seen` times; 2,000 nodes are 600 kB of JSON to write).
pub async fn nodes_http(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    let q = NodeQuery::parse(&params)?;
    let key = format!("nodes|{q:?}");
    cached_raw(&state, key, || async move {
        let rows = q.rows(&db).await?;
        let body = Body {
            nodes: rows.iter().map(NodeOut::from).collect(),
        };
        serde_json::to_vec(&body)
            .map(Bytes::from)
            .map_err(|e| ApiError::Internal(e.to_string()))
    })
    .await
}
