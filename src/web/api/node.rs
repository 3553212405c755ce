//! `/api/node/{node_id}/qr`, `/api/node/{node_id}/impersonation-check`,
//! `/api/coverage/{node_id}`.

use axum::Json;
use axum::extract::Path;
use axum::response::Response;
use serde_json::Value;

use super::json_of;
use crate::web::Ready;
use crate::web::error::{ApiError, ApiResult};
use crate::web::openapi::{ErrorBody, Failures, LookupFailures, NodeIdParam};
use crate::web::params::parse_node;
use crate::web::query::node::{Contact, KeyHistory, contact, key_history};

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

/// Coverage prediction
///
/// Not available in this version: answers 501 with a JSON error.
#[utoipa::path(
    get,
    path = "/api/coverage/{node_id}",
    tag = "api",
    params(("node_id" = NodeIdParam, Path, description = "The node.")),
    responses(
        (status = 501, description = "Not implemented.", body = ErrorBody),
        Failures,
    )
)]
pub async fn coverage(Path(id): Path<String>) -> ApiResult<Json<Value>> {
    parse_node("node_id", &id)?;
    Err(ApiError::NotImplemented(
        "coverage prediction is not available in this version".into(),
    ))
}
