//! `/api/links` and `/api/links/{from}/{to}`: the link-quality model (docs/links.md).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;

use super::{cached_raw, json_of, now_us};
use crate::web::error::{ApiError, ApiResult};
use crate::web::openapi::{Failures, LookupFailures, NodeIdParam};
use crate::web::params::{Params, parse_node};
use crate::web::query::links::{LinkHistory, LinkHistoryQuestion, LinksAnswer, LinksQuestion};
use crate::web::{AppState, Ready};

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes what `LinksQuestion::parse` reads through `Params`
pub struct LinksParams {
    /// Only links touching this node (either end).
    node_id: Option<NodeIdParam>,
    /// Only links at least this confident (0–1, default 0).
    #[param(minimum = 0, maximum = 1)]
    min_confidence: Option<f64>,
    /// Only links with a sample in the last `hours` hours (default 168, at most 8784).
    #[param(minimum = 1, maximum = 8784)]
    hours: Option<i64>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes what `LinkHistoryQuestion::parse` reads
pub struct LinkHistoryParams {
    /// The series' window in hours (default 168, at most 8784).
    #[param(minimum = 1, maximum = 8784)]
    hours: Option<i64>,
}

/// Link quality
///
/// Every directed radio link (`to` heard `from`) the model knows with a sample in the
/// window, fused over traceroute hops, neighbour reports, direct gateway receptions and
/// attributable relays: samples per source, newest and median SNR, mean RSSI, a
/// confidence and a quality class. Most confident first.
#[utoipa::path(
    get,
    path = "/api/links",
    tag = "api",
    params(LinksParams),
    responses((status = 200, description = "OK", body = LinksAnswer), Failures)
)]
pub async fn links(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    let q = LinksQuestion::parse(&params)?;
    cached_raw(&state, q.key(), || async move {
        let answer = q.run(&db, now_us()).await?;
        serde_json::to_vec(&answer)
            .map(Bytes::from)
            .map_err(|e| ApiError::Internal(e.to_string()))
    })
    .await
}

/// One link's history
///
/// The link `from` → `to`, the opposite direction, and the link's hourly samples and SNR
/// in the window. 404 when the model knows neither direction.
#[utoipa::path(
    get,
    path = "/api/links/{from}/{to}",
    tag = "api",
    params(
        ("from" = NodeIdParam, Path, description = "The transmitting node."),
        ("to" = NodeIdParam, Path, description = "The receiving node."),
        LinkHistoryParams,
    ),
    responses((status = 200, description = "OK", body = LinkHistory), LookupFailures)
)]
pub async fn link_history(
    Ready(db): Ready,
    Path((from, to)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let q =
        LinkHistoryQuestion::parse(parse_node("from", &from)?, parse_node("to", &to)?, &params)?;
    json_of(&q.run(&db, now_us()).await?)
}
