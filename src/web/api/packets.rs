//! `/api/packets` and `/api/packets_seen/{packet_id}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use futures_util::TryFutureExt;

use super::{json_of, json_response};
use crate::web::error::{ApiError, ApiResult};
use crate::web::params::{Params, parse_packet_id};
use crate::web::query::packets::{ListQuery, receptions, run};
use crate::web::{AppState, Ready};

/// `/api/packets`, through the cache of packet lists (`web::cache`): the live lists
/// every open page polls are the same question many times over.
pub async fn packets(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    let query = ListQuery::parse(&params)?;
    let key = format!("packets|{query:?}");
    state
        .cache
        .list(
            key,
            || db.last_import_us().map_err(ApiError::from),
            || async { Ok(Bytes::from(run(&db, query).await?.to_json())) },
        )
        .await
        .map(json_response)
}

pub async fn packets_seen(Ready(db): Ready, Path(id): Path<String>) -> ApiResult<Response> {
    let id = parse_packet_id("packet_id", &id)?;
    match receptions(&db, id).await? {
        Some(seen) => json_of(&seen),
        None => Err(ApiError::NotFound(format!("packet {id} not found"))),
    }
}
