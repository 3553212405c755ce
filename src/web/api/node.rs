//! `/api/node/{node_id}/qr`, `/api/node/{node_id}/impersonation-check`,
//! `/api/coverage/{node_id}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;

use super::{cached_raw, json_of};
use crate::web::error::{ApiError, ApiResult};
use crate::web::openapi::{LookupFailures, NodeIdParam};
use crate::web::params::{Params, parse_node};
use crate::web::query::coverage::{CoverageAnswer, CoverageQuestion};
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
    /// Distance step (km), default 0.25; at most 200,000 points in all.
    #[param(minimum = 0.05, maximum = 200)]
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
        tokio::task::spawn_blocking(move || {
            let answer = q.compute(lat, lon, terrain)?;
            serde_json::to_vec(&answer)
                .map(Bytes::from)
                .map_err(|e| ApiError::Internal(e.to_string()))
        })
        .await
        .map_err(|e| ApiError::Internal(e.to_string()))?
    })
    .await
}
