//! `/api/nodes`.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;

use super::cached_raw;
use crate::web::AppState;
use crate::web::Ready;
use crate::web::error::{ApiError, ApiResult};
use crate::web::params::Params;
use crate::web::query::nodes::{NodeOut, NodeQuery, NodesBody};

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
        let body = NodesBody {
            nodes: rows.iter().map(NodeOut::from).collect(),
        };
        serde_json::to_vec(&body)
            .map(Bytes::from)
            .map_err(|e| ApiError::Internal(e.to_string()))
    })
    .await
}
