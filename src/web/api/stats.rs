//! `/api/stats`, `/api/stats/count`, `/api/stats/top`, `/api/channels`,
//! `/api/snapshots/daily`: the questions and
//! answers are `web::query::stats`; here they meet HTTP.

use axum::extract::State;
use axum::response::Response;
use utoipa::IntoParams;

use super::json_of;
use crate::web::error::ApiResult;
use crate::web::openapi::{Failures, NodeIdParam, PeriodParam};
use crate::web::params::Params;
use crate::web::query::stats::{
    Channels, ChannelsQuery, CountQuery, SeriesAnswer, SeriesQuery, Snapshots, SnapshotsQuery,
    TopAnswer, TopQuery, Totals,
};
use crate::web::{AppState, Ready};

// The parameter structs describe what the queries' `parse` read (through `Params`).

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SeriesParams {
    /// Bucket unit (default hour).
    period_type: Option<PeriodParam>,
    /// Buckets (default 24; at most 744 hours or 3650 days).
    #[param(minimum = 1)]
    length: Option<i64>,
    /// Switch to this node's totals.
    node: Option<NodeIdParam>,
    /// Channel, case-insensitive.
    #[param(max_length = 64, pattern = r"^[^\x00]*$")]
    channel: Option<String>,
    /// Port number.
    #[param(minimum = 0, maximum = 65535)]
    portnum: Option<i64>,
    /// Sender.
    from_node: Option<NodeIdParam>,
    /// Recipient.
    to_node: Option<NodeIdParam>,
    /// Time travel: the window ends with the bucket holding this moment instead of the
    /// current one (µs since the epoch; an RFC 3339 time or a YYYY-MM-DD date work too).
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    to: Option<i64>,
    /// The same as `to`, which wins when both are given.
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    at: Option<i64>,
}

/// Traffic series
///
/// Packets per UTC hour or day over `length` whole buckets ending with the current one
/// (with `to`: the one holding that moment, and the answer's `window` says which);
/// every bucket is listed (0 when empty). With `node`: that node's totals in the window
/// instead (`sent` = packets it sent, `seen` = receptions of them).
#[utoipa::path(
    get,
    path = "/api/stats",
    tag = "api",
    params(SeriesParams),
    responses((status = 200, description = "OK", body = SeriesAnswer), Failures)
)]
pub async fn stats(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    json_of(&*SeriesQuery::parse(&params)?.answer(&state, &db).await?)
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct CountParams {
    /// Count this stored packet's receptions.
    #[param(minimum = 0, maximum = 34359738367_i64)]
    packet_id: Option<i64>,
    /// Bucket unit (default day).
    period_type: Option<PeriodParam>,
    /// Buckets (default 1).
    #[param(minimum = 1)]
    length: Option<i64>,
    /// Channel, case-insensitive.
    #[param(max_length = 64, pattern = r"^[^\x00]*$")]
    channel: Option<String>,
    /// Sender.
    from_node: Option<NodeIdParam>,
    /// Recipient.
    to_node: Option<NodeIdParam>,
    /// Time travel: the window ends with the bucket holding this moment instead of the
    /// current one (µs since the epoch; an RFC 3339 time or a YYYY-MM-DD date work too).
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    to: Option<i64>,
    /// The same as `to`, which wins when both are given.
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    at: Option<i64>,
}

/// Counts
///
/// Packets and receptions. Without parameters: all time. Otherwise within the window
/// (default one day), filtered; with `packet_id`, `total_seen` counts that packet's
/// receptions.
#[utoipa::path(
    get,
    path = "/api/stats/count",
    tag = "api",
    params(CountParams),
    responses((status = 200, description = "OK", body = Totals), Failures)
)]
pub async fn count(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    json_of(&*CountQuery::parse(&params)?.answer(&state, &db).await?)
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TopParams {
    /// Bucket unit (default day).
    period_type: Option<PeriodParam>,
    /// Buckets (default 1).
    #[param(minimum = 1)]
    length: Option<i64>,
    /// Only traffic on this channel.
    #[param(max_length = 64, pattern = r"^[^\x00]*$")]
    channel: Option<String>,
    /// Default 20, clamped to 1–100.
    limit: Option<i64>,
    /// Ranked senders to skip.
    #[param(minimum = 0, maximum = 1000000)]
    offset: Option<i64>,
    /// Time travel: the window ends with the bucket holding this moment instead of the
    /// current one (µs since the epoch; an RFC 3339 time or a YYYY-MM-DD date work too).
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    to: Option<i64>,
    /// The same as `to`, which wins when both are given.
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    at: Option<i64>,
}

/// Top talkers
///
/// Senders ranked by receptions of their packets in the window (whole UTC buckets ending
/// now, or with `to` with the bucket holding that moment), then by packets sent. `total` counts the ranked senders.
#[utoipa::path(
    get,
    path = "/api/stats/top",
    tag = "api",
    params(TopParams),
    responses((status = 200, description = "OK", body = TopAnswer), Failures)
)]
pub async fn top(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    json_of(&*TopQuery::parse(&params)?.answer(&state, &db).await?)
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ChannelsParams {
    /// Bucket unit (default hour).
    period_type: Option<PeriodParam>,
    /// Buckets in the window (default 24; at most 744 hours or 3650 days).
    #[param(minimum = 1)]
    length: Option<i64>,
}

/// Channels
///
/// Channels with traffic in the window (whole UTC buckets ending now), sorted.
#[utoipa::path(
    get,
    path = "/api/channels",
    tag = "api",
    params(ChannelsParams),
    responses((status = 200, description = "OK", body = Channels), Failures)
)]
pub async fn channels(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    json_of(&*ChannelsQuery::parse(&params)?.answer(&state, &db).await?)
}

#[derive(IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SnapshotsParams {
    /// Days back, today included (default 30; clamped to 1–3650).
    length: Option<i64>,
}

/// Daily snapshots
///
/// MeshView 3.0.6's daily numbers, per UTC day, oldest first: the nodes that sent a packet,
/// the packets stored and the gateways that uplinked one (days without a packet are left
/// out). Computed from the hourly rollups, so they reach back past the raw rows' retention.
#[utoipa::path(
    get,
    path = "/api/snapshots/daily",
    tag = "api",
    params(SnapshotsParams),
    responses((status = 200, description = "OK", body = Snapshots), Failures)
)]
pub async fn snapshots_daily(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    json_of(&*SnapshotsQuery::parse(&params)?.answer(&state, &db).await?)
}
