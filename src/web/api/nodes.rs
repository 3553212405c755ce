//! `/api/nodes`.

use axum::Json;
use serde_json::{Value, json};

use super::now_us;
use crate::store::read::{NodeFilter, NodeRow};
use crate::web::Ready;
use crate::web::error::ApiResult;
use crate::web::params::Params;

/// A mesh has hundreds to a few thousand nodes; this bounds the answer all the same.
const MAX_NODES: i64 = 10_000;

pub fn node_json(n: &NodeRow) -> Value {
    json!({
        "id": n.id,
        "node_id": n.node_id,
        "long_name": n.long_name,
        "short_name": n.short_name,
        "hw_model": n.hw_model,
        "firmware": n.firmware,
        "role": n.role,
        "last_lat": n.last_lat,
        "last_long": n.last_long,
        "channel": n.channel,
        "is_mqtt_gateway": n.is_mqtt_gateway,
        "first_seen_us": n.first_seen_us,
        "last_seen_us": n.last_seen_us,
    })
}

pub async fn nodes(Ready(db): Ready, params: Params) -> ApiResult<Json<Value>> {
    let days = params.int_range("days_active", 0, 3650)?;
    let filter = NodeFilter {
        node_id: params.node("node_id")?,
        role: params.string("role", 64)?,
        channel: params.string("channel", 64)?,
        hw_model: params.string("hw_model", 64)?,
        active_since_us: days.map(|d| now_us() - d * 86_400_000_000),
    };
    let limit = params.clamped("limit", MAX_NODES, 1, MAX_NODES)?;
    let mut rows = db.nodes(&filter, limit).await?;
    // MeshView orders by short name; sorting here keeps both backends (and their
    // collations) in the same order: names byte-wise, unnamed nodes last, then number.
    rows.sort_by(|a, b| {
        (a.short_name.is_none(), &a.short_name, a.node_id).cmp(&(
            b.short_name.is_none(),
            &b.short_name,
            b.node_id,
        ))
    });
    Ok(Json(
        json!({ "nodes": rows.iter().map(node_json).collect::<Vec<_>>() }),
    ))
}
