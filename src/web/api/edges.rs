//! `/api/edges`: directed links for the map and the mesh graph, from the writer's
//! `node_link` rollup. Traceroute links come from complete, correctly oriented paths
//! (requester → hops → target and back); neighbour links from each node's latest
//! NEIGHBORINFO in the window (MeshView took the 50 newest reports of the whole mesh).

use std::collections::{HashMap, HashSet};

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use serde::Serialize;
use utoipa::ToSchema;

use super::{cached_raw, json_response, now_us};
use crate::web::error::{ApiError, ApiResult};
use crate::web::openapi::{Failures, NodeIdParam};
use crate::web::params::{Params, Window};
use crate::web::query::WindowOut;
use crate::web::query::links::LinksQuestion;
use crate::web::{AppState, Ready};
use meshview_store::read::{LinkRow, LinkSource, LinkSpan, LinkWindow, Reader};

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
    /// With `quality=true`, the link model's class for this direction (absent when the
    /// model has no sample of it in the last 168 hours): see `/api/links`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>, pattern = "^(good|fair|poor|unknown)$")]
    pub quality: Option<&'static str>,
    /// With `quality`, the model's confidence in it (0–1).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0, maximum = 1)]
    pub confidence: Option<f64>,
}

/// `/api/edges`' answer.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EdgesBody<'a> {
    #[schema(value_type = Vec<Edge>)]
    edges: &'a [Edge],
    /// With `at`, `from` or `to`: the past window answered. With `from_rollups`, the
    /// links are those with the link model's samples in its hours, `count` in samples,
    /// times in whole hours, `snr` the window's mean.
    #[serde(skip_serializing_if = "Option::is_none")]
    window: Option<WindowOut>,
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
    /// Also the link model's quality class and confidence of each edge (default false).
    quality: Option<bool>,
    /// Time travel: the links as of this moment (µs since the epoch; an RFC 3339 time
    /// or a YYYY-MM-DD date work too), as the live answer would have given them then:
    /// evidence in the `hours` before it (default 12 for traceroutes, 24 for neighbour
    /// reports). The same as `to`, which wins when both are given.
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    at: Option<i64>,
    /// Time travel: the window's start (default `hours` before its end). Clamped to at
    /// most 31 days before the end, and to the end.
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    from: Option<i64>,
    /// Time travel: the window's end (default now).
    #[param(minimum = 0, maximum = 32_503_679_999_000_000_i64)]
    to: Option<i64>,
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
    quality: bool,
    /// A past window instead of the hours up to now.
    window: Option<Window>,
    /// The window came from `at` without `hours`: each source looks back its own default
    /// hours from it, as the live answer does from now.
    at_defaults: bool,
}

/// The longest past window `/api/edges` derives.
const MAX_WINDOW_US: i64 = 31 * 24 * 3_600_000_000;

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
        let hours = params.int_range("hours", 1, 24 * 30)?;
        Ok(EdgeQuery {
            sources,
            node: params.node("node_id")?,
            hours,
            quality: params.flag("quality")?,
            window: params.window(
                now_us(),
                hours.unwrap_or(NEIGHBOR_HOURS) * 3_600_000_000,
                MAX_WINDOW_US,
            )?,
            at_defaults: params.get("at").is_some()
                && params.get("to").is_none()
                && params.get("from").is_none()
                && hours.is_none(),
        })
    }

    /// The links of a past window: from the raw packets, or from the hourly rollups when
    /// the window starts before the retention purge's horizon.
    async fn past(&self, db: &Reader, w: Window) -> ApiResult<(Vec<Vec<LinkRow>>, WindowOut)> {
        let from_rollups = db
            .raw_horizon_us()
            .await?
            .is_some_and(|horizon| w.from_us < horizon);
        let spans = self.sources.iter().map(|&source| LinkSpan {
            source,
            from_us: match source {
                LinkSource::Traceroute if self.at_defaults => {
                    w.to_us - TRACEROUTE_HOURS * 3_600_000_000
                }
                _ => w.from_us,
            },
            to_us: w.to_us,
            node: self.node,
        });
        let per_source = if from_rollups {
            futures_util::future::try_join_all(spans.map(|s| db.link_hours_between(s))).await?
        } else {
            futures_util::future::try_join_all(spans.map(|s| db.links_between(s))).await?
        };
        Ok((
            per_source,
            WindowOut {
                from_us: w.from_us,
                to_us: w.to_us,
                from_rollups,
            },
        ))
    }

    /// The links, deduplicated (a pair reported by both sources is a traceroute link);
    /// with a past window, the window answered.
    pub async fn run(&self, db: &Reader, now: i64) -> ApiResult<(Vec<Edge>, Option<WindowOut>)> {
        let (per_source, window) = match self.window {
            Some(w) => {
                let (rows, out) = self.past(db, w).await?;
                (rows, Some(out))
            }
            // One query per source, run at once (on PostgreSQL, side by side).
            None => (
                futures_util::future::try_join_all(self.sources.iter().map(|&source| {
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
                .await?,
                None,
            ),
        };
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
                    quality: None,
                    confidence: None,
                });
            }
        }
        if self.quality {
            // The model as it stands now, also for a past window (it keeps no past verdicts).
            rate(db, now, self.node, &mut edges).await;
        }
        Ok((edges, window))
    }
}

/// Adds the link model's verdict on each edge's direction (`to` heard `from`). An extra:
/// without the model's answer the edges stand as they are.
async fn rate(db: &Reader, now: i64, node: Option<i64>, edges: &mut [Edge]) {
    let question = LinksQuestion {
        node,
        ..LinksQuestion::default()
    }
    .all();
    let links = match question.run(db, now).await {
        Ok(a) => a.links,
        Err(e) => {
            tracing::warn!(error = ?e, "link quality unavailable; edges answered without it");
            return;
        }
    };
    let verdicts: HashMap<(i64, i64), (&'static str, f64)> = links
        .into_iter()
        .map(|l| {
            (
                (l.from, l.to),
                (l.quality, (l.confidence * 100.0).round() / 100.0),
            )
        })
        .collect();
    for e in edges {
        if let Some(&(q, c)) = verdicts.get(&(e.from, e.to)) {
            e.quality = Some(q);
            e.confidence = Some(c);
        }
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
    let past = q.window.is_some();
    let key = format!(
        "edges|{:?}|{:?}|{:?}|{}",
        q.sources, q.node, q.hours, q.quality
    );
    let body = || async move {
        let (edges, window) = q.run(&db, now_us()).await?;
        serde_json::to_vec(&EdgesBody {
            edges: &edges,
            window,
        })
        .map(Bytes::from)
        .map_err(|e| ApiError::Internal(e.to_string()))
    };
    if past {
        // Past windows are not cached: each moment asked is its own body of a megabyte
        // or so, which a cache keyed by the microsecond would hold for nothing (measured:
        // the reader past 128 MB under the mixed load). The heavy slots bound them.
        return body().await.map(json_response);
    }
    // The window ends when the answer is computed; the cache's few seconds are its
    // staleness bound.
    cached_raw(&state, key, body).await
}
