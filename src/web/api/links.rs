//! `/api/links` and `/api/links/{from}/{to}`: the link-quality model (docs/links.md).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;

use super::{cached_raw, json_of, now_us};
use crate::web::error::{ApiError, ApiResult};
use crate::web::openapi::{Failures, LookupFailures, NodeIdParam};
use crate::web::params::{Params, parse_node};
use crate::web::query::coverage::{ProfileAnswer, ProfileQuestion};
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
    /// Links per page (default 1000, at most 5000).
    #[param(minimum = 1, maximum = 5000)]
    limit: Option<i64>,
    /// Links to skip, in the answer's order (default 0): the previous page's
    /// `next_offset`.
    #[param(minimum = 0, maximum = 50000)]
    offset: Option<i64>,
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
/// confidence and a quality class. Most confident first, a page at a time: `total`
/// counts every match and `next_offset` is the next page's `offset` (`null` on the last).
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

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes what `ProfileQuestion::parse` reads
pub struct ProfileParams {
    /// Frequency (MHz), default 907.
    #[param(minimum = 20, maximum = 20000)]
    freq_mhz: Option<f64>,
    /// Antenna height of `from` above ground (m), default 5.
    #[param(minimum = 0.5, maximum = 3000)]
    from_height_m: Option<f64>,
    /// Antenna height of `to` above ground (m), default 5.
    #[param(minimum = 0.5, maximum = 3000)]
    to_height_m: Option<f64>,
    /// Spacing of the samples (m), default 90.
    #[param(minimum = 10, maximum = 10000)]
    step_m: Option<f64>,
}

/// Line-of-sight profile
///
/// The terrain between two nodes' last positions from the server's elevation tiles, the
/// straight ray between the antennas with the earth's bulge, the first Fresnel zone and
/// its clearance, and the ITM point-to-point loss. 404 when a node or its position is
/// unknown or the server has no elevation tiles for the path.
#[utoipa::path(
    get,
    path = "/api/links/{from}/{to}/profile",
    tag = "api",
    params(
        ("from" = NodeIdParam, Path, description = "The transmitting node."),
        ("to" = NodeIdParam, Path, description = "The receiving node."),
        ProfileParams,
    ),
    responses((status = 200, description = "OK", body = ProfileAnswer), LookupFailures)
)]
pub async fn profile(
    State(state): State<AppState>,
    Ready(db): Ready,
    Path((from, to)): Path<(String, String)>,
    params: Params,
) -> ApiResult<Response> {
    let q = ProfileQuestion::parse(parse_node("from", &from)?, parse_node("to", &to)?, &params)?;
    json_of(&q.run(&db, state.terrain.clone()).await?)
}
