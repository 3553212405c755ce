//! `/api/stats`, `/api/stats/count`, `/api/stats/top`, `/api/channels`: the questions and
//! answers are `web::query::stats`; here they meet HTTP.

use axum::extract::State;
use axum::response::Response;

use super::json_of;
use crate::web::error::ApiResult;
use crate::web::params::Params;
use crate::web::query::stats::{ChannelsQuery, CountQuery, SeriesQuery, TopQuery};
use crate::web::{AppState, Ready};

pub async fn stats(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    json_of(&*SeriesQuery::parse(&params)?.answer(&state, &db).await?)
}

pub async fn count(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    json_of(&*CountQuery::parse(&params)?.answer(&state, &db).await?)
}

pub async fn top(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    json_of(&*TopQuery::parse(&params)?.answer(&state, &db).await?)
}

pub async fn channels(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    json_of(&*ChannelsQuery::parse(&params)?.answer(&state, &db).await?)
}
