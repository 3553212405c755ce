//! `/api/traceroute/{packet_id}`: the exchange is `web::query::traceroute`'s.

use axum::extract::Path;
use axum::response::Response;

use super::json_of;
use crate::web::Ready;
use crate::web::error::{ApiError, ApiResult};
use crate::web::openapi::LookupFailures;
use crate::web::params::parse_packet_id;
use crate::web::query::traceroute::exchange;

/// Traceroute
///
/// One traceroute exchange, given the request's or a reply's stored id: every row heard
/// by each gateway, distinct hop lists, and complete paths with per-hop SNR: forward =
/// requester + route + target, return = target + route_back + requester.
#[utoipa::path(
    get,
    path = "/api/traceroute/{packet_id}",
    tag = "api",
    params(("packet_id" = i64, Path, minimum = 0, maximum = 34359738367_i64, description = "Stored packet id of the request or a reply.")),
    responses((status = 200, description = "OK", body = crate::web::query::traceroute::Exchange), LookupFailures)
)]
pub async fn traceroute(Ready(db): Ready, Path(id): Path<String>) -> ApiResult<Response> {
    let id = parse_packet_id("packet_id", &id)?;
    match exchange(&db, id).await? {
        Some(x) => json_of(&x),
        None => Err(ApiError::NotFound("Packet not found".into())),
    }
}
