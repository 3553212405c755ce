//! `/api/traceroute/{packet_id}`: the exchange is `web::query::traceroute`'s.

use axum::extract::Path;
use axum::response::Response;

use super::json_of;
use crate::web::Ready;
use crate::web::error::{ApiError, ApiResult};
use crate::web::params::parse_packet_id;
use crate::web::query::traceroute::exchange;

pub async fn traceroute(Ready(db): Ready, Path(id): Path<String>) -> ApiResult<Response> {
    let id = parse_packet_id("packet_id", &id)?;
    match exchange(&db, id).await? {
        Some(x) => json_of(&x),
        None => Err(ApiError::NotFound("Packet not found".into())),
    }
}
