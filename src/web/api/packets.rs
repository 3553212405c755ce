//! `/api/packets` and `/api/packets_seen/{packet_id}`.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use futures_util::TryFutureExt;
use serde_json::{Value, json};

use super::json_response;
use crate::web::error::{ApiError, ApiResult};
use crate::web::params::{Params, parse_packet_id};
use crate::web::query::packets::{ListQuery, run};
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

pub async fn packets_seen(Ready(db): Ready, Path(id): Path<String>) -> ApiResult<Json<Value>> {
    let id = parse_packet_id("packet_id", &id)?;
    let seen = db.packet_seen(id).await?;
    // Every stored packet has at least one reception: none means no such packet.
    if seen.is_empty() && db.packet(id).await?.is_none() {
        return Err(ApiError::NotFound(format!("packet {id} not found")));
    }
    let seen: Vec<Value> = seen
        .iter()
        .map(|s| {
            json!({
                "packet_id": s.packet_id,
                "node_id": s.node_id,
                "rx_time": s.rx_time,
                "hop_limit": s.hop_limit,
                "hop_start": s.hop_start,
                "channel": s.channel,
                "rx_snr": s.rx_snr,
                "rx_rssi": s.rx_rssi,
                "topic": s.topic,
                "import_time_us": s.import_time_us,
            })
        })
        .collect();
    Ok(Json(json!({ "seen": seen })))
}
