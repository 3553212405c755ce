//! `/api/packets` and `/api/packets_seen/{packet_id}`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use futures_util::TryFutureExt;

use super::{json_of, json_response};
use crate::web::error::{ApiError, ApiResult};
use crate::web::openapi::{Failures, LookupFailures, NodeIdParam};
use crate::web::params::{Params, parse_packet_id};
use crate::web::query::packets::{ListQuery, PacketsBody, SeenBody, receptions, run};
use crate::web::{AppState, Ready};

/// `/api/packets`' parameters, as [`ListQuery::parse`] reads them.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes the parameters; the handler reads them through `Params`
pub struct PacketsParams {
    /// Meshtastic id, or stored id.
    #[param(minimum = 0, maximum = 34359738367_i64)]
    packet_id: Option<i64>,
    /// Default 50, clamped to 1–1000.
    limit: Option<i64>,
    /// Only packets stored after this time (µs since the epoch, exclusive).
    since: Option<i64>,
    /// Only packets stored before this time (µs, exclusive): the next page.
    before: Option<i64>,
    /// Port number (0–65535).
    #[param(minimum = 0, maximum = 65535)]
    portnum: Option<i64>,
    /// Text the payload contains (case-insensitive, at most 200 characters).
    #[param(max_length = 200, pattern = r"^[^\x00]*$")]
    contains: Option<String>,
    /// Sender.
    from_node_id: Option<NodeIdParam>,
    /// Recipient.
    to_node_id: Option<NodeIdParam>,
    /// Sender or recipient.
    node_id: Option<NodeIdParam>,
    /// Channel name, case-insensitive.
    #[param(max_length = 64, pattern = r"^[^\x00]*$")]
    channel: Option<String>,
}

/// Packets
///
/// Packets newest first. With `packet_id` below 2^32: every packet stored under that
/// Meshtastic id (one per sender); a stored id above 2^32 names one packet. `contains`
/// matches the shown `payload` text case-insensitively (never redacted messages); with
/// `portnum=1` empty and `seq N` texts are left out. Both filters are applied before the
/// limit: pages are scanned until `limit` items match or 20000 rows were examined, then
/// `scan_limit_reached` and `next_before` say where to continue.
#[utoipa::path(
    get,
    path = "/api/packets",
    tag = "api",
    params(PacketsParams),
    responses((status = 200, description = "OK", body = PacketsBody), Failures)
)]
// Through the cache of packet lists (`web::cache`): the live lists every open page polls
// are the same question many times over.
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

/// Receptions of a packet
///
/// Every gateway reception of one stored packet, newest first.
#[utoipa::path(
    get,
    path = "/api/packets_seen/{packet_id}",
    tag = "api",
    params(("packet_id" = i64, Path, minimum = 0, maximum = 34359738367_i64, description = "Stored packet id.")),
    responses((status = 200, description = "OK", body = SeenBody), LookupFailures)
)]
pub async fn packets_seen(Ready(db): Ready, Path(id): Path<String>) -> ApiResult<Response> {
    let id = parse_packet_id("packet_id", &id)?;
    match receptions(&db, id).await? {
        Some(seen) => json_of(&seen),
        None => Err(ApiError::NotFound(format!("packet {id} not found"))),
    }
}
