//! `/api/edges`: directed links for the map and the mesh graph, from the writer's
//! `node_link` rollup. Traceroute links come from complete, correctly oriented paths
//! (requester → hops → target and back); neighbour links from each node's latest
//! NEIGHBORINFO in the window (MeshView took the 50 newest reports of the whole mesh).

use std::collections::HashSet;

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use super::{cached_raw, now_us};
use crate::web::error::{ApiError, ApiResult};
use crate::web::openapi::{Failures, NodeIdParam};
use crate::web::params::Params;
use crate::web::{AppState, Ready};
use meshview_store::read::{LinkSource, LinkWindow, Reader};

/// MeshView's traceroute window.
const TRACEROUTE_HOURS: i64 = 12;
/// Nodes send NEIGHBORINFO every few hours; a day catches every active reporter.
const NEIGHBOR_HOURS: i64 = 24;

/// One directed link as the API answers it: `to` heard `from` (fields in the order
/// MeshView's JSON had).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Edge {
    /// Times the link was seen in the window.
    pub count: i64,
    pub from: i64,
    pub last_seen_us: i64,
    /// The last SNR `to` measured (dB).
    #[schema(required = true)]
    pub snr: Option<f64>,
    pub to: i64,
    /// `traceroute` or `neighbor`.
    #[serde(rename = "type")]
    #[schema(value_type = String, pattern = "^(traceroute|neighbor)$")]
    pub kind: &'static str,
}

/// `/api/edges`' answer.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgesBody<'a> {
    #[schema(value_type = Vec<Edge>)]
    edges: &'a [Edge],
}

#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)] // describes what `EdgeQuery::parse` reads through `Params`
pub struct EdgesParams {
    /// One source only.
    #[param(inline)]
    r#type: Option<EdgeType>,
    /// Only links touching this node.
    node_id: Option<NodeIdParam>,
    /// Window in hours (1–720).
    #[param(minimum = 1, maximum = 720)]
    hours: Option<i64>,
}

#[derive(ToSchema)]
#[serde(rename_all = "lowercase")]
#[allow(dead_code)]
pub enum EdgeType {
    Traceroute,
    Neighbor,
}

/// The parameters of `/api/edges`, checked.
pub struct EdgeQuery {
    sources: Vec<LinkSource>,
    node: Option<i64>,
    hours: Option<i64>,
}

impl EdgeQuery {
    pub fn parse(params: &Params) -> ApiResult<EdgeQuery> {
        let sources: Vec<LinkSource> = match params.get("type") {
            None => vec![LinkSource::Traceroute, LinkSource::Neighbor],
            Some("traceroute") => vec![LinkSource::Traceroute],
            Some("neighbor") => vec![LinkSource::Neighbor],
            Some(other) => {
                return Err(ApiError::bad(
                    "type",
                    format!("expected \"traceroute\" or \"neighbor\", got {other:?}"),
                ));
            }
        };
        Ok(EdgeQuery {
            sources,
            node: params.node("node_id")?,
            hours: params.int_range("hours", 1, 24 * 30)?,
        })
    }

    /// The links, deduplicated (a pair reported by both sources is a traceroute link).
    pub async fn run(&self, db: &Reader, now: i64) -> ApiResult<Vec<Edge>> {
        // One query per source, run at once (on PostgreSQL, side by side).
        let per_source = futures_util::future::try_join_all(self.sources.iter().map(|&source| {
            let h = self.hours.unwrap_or(match source {
                LinkSource::Traceroute => TRACEROUTE_HOURS,
                LinkSource::Neighbor => NEIGHBOR_HOURS,
            });
            db.links(LinkWindow {
                source,
                since_us: now - h * 3_600_000_000,
                node: self.node,
            })
        }))
        .await?;
        let mut seen = HashSet::new();
        let mut edges = Vec::with_capacity(per_source.iter().map(Vec::len).sum());
        for (rows, &source) in per_source.into_iter().zip(&self.sources) {
            for l in rows {
                // The first source to report a pair wins, as in MeshView.
                if !seen.insert((l.from, l.to)) {
                    continue;
                }
                edges.push(Edge {
                    count: l.count,
                    from: l.from,
                    last_seen_us: l.last_seen_us,
                    snr: l.last_snr,
                    to: l.to,
                    kind: source.as_str(),
                });
            }
        }
        Ok(edges)
    }
}

/// Links
///
/// Directed radio links (`to` heard `from`): from traceroute paths seen in the window
/// (default 12 h) and from each node's latest neighbour report in the window (default
/// 24 h). Never self-loops.
#[utoipa::path(
    get,
    path = "/api/edges",
    tag = "api",
    params(EdgesParams),
    responses((status = 200, description = "OK", body = EdgesBody), Failures)
)]
// Tens of thousands of links on a big mesh: serialized straight from typed rows (no
// `Value` tree), and cached as the body.
pub async fn edges(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Response> {
    let q = EdgeQuery::parse(&params)?;
    // The window ends when the answer is computed; the cache's few seconds are its
    // staleness bound.
    let key = format!("edges|{:?}|{:?}|{:?}", q.sources, q.node, q.hours);
    cached_raw(&state, key, || async move {
        let edges = q.run(&db, now_us()).await?;
        serde_json::to_vec(&EdgesBody { edges: &edges })
            .map(Bytes::from)
            .map_err(|e| ApiError::Internal(e.to_string()))
    })
    .await
}
