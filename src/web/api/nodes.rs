//! `/api/nodes`.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;

use super::{cached_raw, json_response};
use crate::web::AppState;
use crate::web::Ready;
use crate::web::error::{ApiError, ApiResult};
use crate::web::openapi::{Failures, NodeIdParam};
use crate::web::params::Params;
use crate::web::query::nodes::{NodeOut, NodeQuery, NodesBody};

/// `/api/nodes`' parameters, as [`NodeQuery::parse`] reads them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the parameters; the handler reads them through `Params`
pub struct NodesParams {
    /// Node id: decimal, `0x…` hex or `!hex`.
    node_id: Option<NodeIdParam>,
    /// Role name, case-insensitive (e.g. ROUTER).
    #[param(max_length = 64, pattern = r"^[^\x00]*$")]
    role: Option<String>,
    /// Exact channel name.
    #[param(max_length = 64, pattern = r"^[^\x00]*$")]
    channel: Option<String>,
    /// Exact hardware model name.
    #[param(max_length = 64, pattern = r"^[^\x00]*$")]
    hw_model: Option<String>,
    /// Only nodes seen within this many days (0–3650).
    #[param(minimum = 0, maximum = 3650)]
    days_active: Option<i64>,
    /// At most this many (default and maximum 10000; clamped).
    limit: Option<i64>,
    /// Time travel: the list as it stood at this moment (µs since the epoch; an RFC 3339
    /// time or a YYYY-MM-DD date work too): the nodes first seen by then, each with the
    /// time it was last heard up to then and its position then. Names, role, hardware
    /// and channel are the current ones. `days_active` counts back from it. The same as
    /// `to`, which wins when both are given.
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    at: Option<i64>,
    /// Time travel: only the nodes heard from this moment on, up to `to` (clamped to it).
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    from: Option<i64>,
    /// Time travel: the moment the list stands at (default now).
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    to: Option<i64>,
}

/// Nodes
///
/// Nodes seen at least once, ordered by short name (unnamed last). Filters combine with
/// AND. With `at`, `from` or `to`, the list as it stood at a past moment.
#[utoipa::path(
    get,
    path = "/api/nodes",
    tag = "api",
    params(NodesParams),
    responses((status = 200, description = "OK", body = NodesBody), Failures)
)]
// Thousands of nodes on a big mesh, serialized straight from the rows. Every map and
// node list asks for the whole mesh when it opens, so answers go through the short-lived
// cache, like the aggregates (a few seconds of staleness is invisible next to `last_seen`
// times; 2,000 nodes are 600 kB of JSON to write).
pub async fn nodes_http(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    let q = NodeQuery::parse(&params)?;
    let key = format!("nodes|{q:?}");
    let past = q.window.is_some();
    let body = || async move {
        let (rows, window) = q.answer(&db).await?;
        let body = NodesBody {
            nodes: rows.iter().map(NodeOut::from).collect(),
            window,
        };
        serde_json::to_vec(&body)
            .map(Bytes::from)
            .map_err(|e| ApiError::Internal(e.to_string()))
    };
    if past {
        // As `/api/edges`' past windows: each moment is its own big body, not cached.
        return body().await.map(json_response);
    }
    cached_raw(&state, key, body).await
}
