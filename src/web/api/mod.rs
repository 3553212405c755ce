//! MeshView's JSON API, one module per area. Handlers parse parameters into typed
//! values (400 naming the parameter), ask `store::read`, and shape MeshView's JSON.

pub mod config;
pub mod edges;
pub mod links;
pub mod node;
pub mod nodes;
pub mod packets;
pub mod stats;
pub mod traceroute;

use std::future::Future;

use axum::Json;
use axum::body::Bytes;
use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;
use super::error::ApiResult;

/// This document
///
/// The OpenAPI description of every route, generated from the handlers and the types
/// they answer with.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "api",
    responses((status = 200, description = "OK", body = Object))
)]
pub async fn openapi() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::document(),
    )
}

/// Unknown paths answer JSON too.
pub async fn not_found(uri: Uri) -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        Json(json!({"error": format!("no such endpoint: {}", uri.path())})),
    )
}

/// Microseconds since the epoch, UTC.
pub fn now_us() -> i64 {
    meshview_store::now_us()
}

/// A typed answer as a JSON response.
pub fn json_of<T: serde::Serialize>(answer: &T) -> ApiResult<Response> {
    serde_json::to_vec(answer)
        .map(|body| json_response(Bytes::from(body)))
        .map_err(|e| super::error::ApiError::Internal(e.to_string()))
}

/// A JSON response from an already serialized body.
pub fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

/// [`cached`] for answers serialized straight from typed rows (no `Value` tree): the
/// cache keeps the body.
pub async fn cached_raw<F, Fut>(state: &AppState, key: String, compute: F) -> ApiResult<Response>
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = ApiResult<Bytes>>,
{
    state.cache.body(key, compute).await.map(json_response)
}
