//! `/api/node/{node_id}/qr`, `/api/node/{node_id}/impersonation-check`,
//! `/api/coverage/{node_id}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;

use super::{cached_raw, json_of, now_us};
use crate::web::error::{ApiError, ApiResult};
use crate::web::openapi::{Failures, LookupFailures, NodeIdParam};
use crate::web::params::{Params, parse_node};
use crate::web::query::coverage::{
    CoverageAnswer, CoverageQuestion, MeshObservedAnswer, MeshObservedQuestion, ObservedAnswer,
    ObservedQuestion,
};
use crate::web::query::node::{Contact, KeyHistory, contact, key_history};
use crate::web::{AppState, Ready};

fn not_found(node_id: i64) -> ApiError {
    ApiError::NotFound(format!("node {node_id} not found"))
}

/// Contact QR link
///
/// A meshtastic.org/v/ link carrying the node as a SharedContact.
#[utoipa::path(
    get,
    path = "/api/node/{node_id}/qr",
    tag = "api",
    params(("node_id" = NodeIdParam, Path, description = "The node.")),
    responses((status = 200, description = "OK", body = Contact), LookupFailures)
)]
pub async fn qr(Ready(db): Ready, Path(id): Path<String>) -> ApiResult<Response> {
    let node_id = parse_node("node_id", &id)?;
    json_of(
        &contact(&db, node_id)
            .await?
            .ok_or_else(|| not_found(node_id))?,
    )
}

/// Impersonation check
///
/// Distinct public keys the node number announced; more than one suggests another radio
/// uses the number.
#[utoipa::path(
    get,
    path = "/api/node/{node_id}/impersonation-check",
    tag = "api",
    params(("node_id" = NodeIdParam, Path, description = "The node.")),
    responses((status = 200, description = "OK", body = KeyHistory), LookupFailures)
)]
pub async fn impersonation_check(Ready(db): Ready, Path(id): Path<String>) -> ApiResult<Response> {
    let node_id = parse_node("node_id", &id)?;
    json_of(
        &key_history(&db, node_id)
            .await?
            .ok_or_else(|| not_found(node_id))?,
    )
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes what `CoverageQuestion::parse` reads through `Params`
pub struct CoverageParams {
    /// Frequency (MHz), default 907.
    #[param(minimum = 20, maximum = 20000)]
    freq_mhz: Option<f64>,
    /// Transmit power (dBm), default 20.
    #[param(minimum = -50, maximum = 80)]
    tx_dbm: Option<f64>,
    /// Transmitting antenna height above ground (m), default 5.
    #[param(minimum = 0.5, maximum = 3000)]
    tx_height_m: Option<f64>,
    /// Receiving antenna height above ground (m), default 1.5.
    #[param(minimum = 0.5, maximum = 3000)]
    rx_height_m: Option<f64>,
    /// How far out to compute (km), default 40.
    #[param(minimum = 0, maximum = 200)]
    radius_km: Option<f64>,
    /// Distance step (km), default 0.25.
    #[param(minimum = 0.075, maximum = 200)]
    step_km: Option<f64>,
    /// Share of time the level is reached (ITM time variability), default 0.5.
    #[param(minimum = 0.01, maximum = 0.99)]
    reliability: Option<f64>,
    /// Receiver sensitivity (dBm) for the perimeter, default −120.
    #[param(minimum = -200, maximum = 50)]
    threshold_dbm: Option<f64>,
    /// `perimeter`; anything else (or nothing) draws the heatmap, as in MeshView.
    mode: Option<String>,
    /// `best` (terrain when the server has elevation tiles, the default) or `area` (ITM
    /// area mode, as MeshView).
    #[param(pattern = "^(best|area)$")]
    model: Option<String>,
}

/// Coverage prediction
///
/// Where the node can be heard, predicted by the Irregular Terrain Model from its last
/// position: MeshView's parameters, defaults and shapes (`mode=perimeter`: the outline;
/// otherwise the heatmap). Over terrain when the server has elevation tiles, else ITM
/// area mode as MeshView. 404 when the node or its position is unknown.
#[utoipa::path(
    get,
    path = "/api/coverage/{node_id}",
    tag = "api",
    params(("node_id" = NodeIdParam, Path, description = "The node."), CoverageParams),
    responses((status = 200, description = "OK", body = CoverageAnswer), LookupFailures)
)]
pub async fn coverage(
    State(state): State<AppState>,
    Ready(db): Ready,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let q = CoverageQuestion::parse(parse_node("node_id", &id)?, &params)?;
    let (lat, lon) = q.position(&db).await?;
    let terrain = state.terrain.clone();
    cached_raw(&state, q.key(lat, lon), || async move {
        // Up to 200,000 ITM evaluations: off the async threads.
        tokio::task::spawn_blocking(move || to_body(&q.compute(lat, lon, terrain)?))
            .await
            .map_err(|e| ApiError::Internal(e.to_string()))?
    })
    .await
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes what `ObservedQuestion::parse` reads through `Params`
pub struct ObservedParams {
    /// Links heard in the last `hours` hours (default 168, at most 8784).
    #[param(minimum = 1, maximum = 8784)]
    hours: Option<i64>,
    /// H3 resolution of the cells, 4 (~1,770 km²) to 8 (~0.7 km²); default 7 (~5 km²).
    #[param(minimum = 4, maximum = 8)]
    resolution: Option<i64>,
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes what `MeshObservedQuestion::parse` reads
pub struct MeshObservedParams {
    /// Links heard in the last `hours` hours (default 168, at most 8784).
    #[param(minimum = 1, maximum = 8784)]
    hours: Option<i64>,
    /// H3 resolution of the cells, 4 to 8; default 6 (~36 km²).
    #[param(minimum = 4, maximum = 8)]
    resolution: Option<i64>,
}

fn to_body<T: serde::Serialize>(answer: &T) -> ApiResult<Bytes> {
    serde_json::to_vec(answer)
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(e.to_string()))
}

/// Observed coverage of a node
///
/// Who heard the node directly (gateways hearing it at zero hops, traceroute hops,
/// neighbour reports, attributable relays), where they are, grouped in H3 cells, and how
/// that compares with the prediction: the share of receivers outside the predicted
/// perimeter and the share of the predicted area never heard. 404 for an unknown node.
#[utoipa::path(
    get,
    path = "/api/coverage/{node_id}/observed",
    tag = "api",
    params(("node_id" = NodeIdParam, Path, description = "The node."), ObservedParams),
    responses((status = 200, description = "OK", body = ObservedAnswer), LookupFailures)
)]
pub async fn observed(
    State(state): State<AppState>,
    Ready(db): Ready,
    Path(id): Path<String>,
    params: Params,
) -> ApiResult<Response> {
    let q = ObservedQuestion::parse(parse_node("node_id", &id)?, &params)?;
    let (terrain, predictions) = (state.terrain.clone(), state.predictions.clone());
    cached_raw(&state, q.key(), || async move {
        to_body(&q.run(&db, now_us(), terrain, predictions).await?)
    })
    .await
}

/// Observed coverage of the mesh
///
/// H3 cells where positioned transmitters stand that some node heard directly: how many
/// transmitters and receivers, samples, and their SNR.
#[utoipa::path(
    get,
    path = "/api/coverage/observed",
    tag = "api",
    params(MeshObservedParams),
    responses((status = 200, description = "OK", body = MeshObservedAnswer), Failures)
)]
pub async fn mesh_observed(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    let q = MeshObservedQuestion::parse(&params)?;
    cached_raw(&state, q.key(), || async move {
        to_body(&q.run(&db, now_us()).await?)
    })
    .await
}
