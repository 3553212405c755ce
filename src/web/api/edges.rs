//! `/api/edges`: directed links for the map and the mesh graph, from the writer's
//! `node_link` rollup. Traceroute links come from complete, correctly oriented paths
//! (requester → hops → target and back); neighbour links from each node's latest
//! NEIGHBORINFO in the window (MeshView took the 50 newest reports of the whole mesh).

use std::collections::HashSet;

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::{cached, now_us};
use crate::store::read::{LinkSource, LinkWindow};
use crate::web::error::{ApiError, ApiResult};
use crate::web::params::Params;
use crate::web::{AppState, Ready};

/// MeshView's traceroute window.
const TRACEROUTE_HOURS: i64 = 12;
/// Nodes send NEIGHBORINFO every few hours; a day catches every active reporter.
const NEIGHBOR_HOURS: i64 = 24;

pub async fn edges(
    State(state): State<AppState>,
    Ready(db): Ready,
    params: Params,
) -> ApiResult<Json<Value>> {
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
    let node = params.node("node_id")?;
    let hours = params.int_range("hours", 1, 24 * 30)?;
    let now = now_us();
    // Rounded to the second so repeated requests share the cache.
    let key = format!("edges|{sources:?}|{node:?}|{hours:?}|{}", now / 1_000_000);
    cached(&state, key, || async move {
        let mut seen = HashSet::new();
        let mut edges = Vec::new();
        for source in sources {
            let h = hours.unwrap_or(match source {
                LinkSource::Traceroute => TRACEROUTE_HOURS,
                LinkSource::Neighbor => NEIGHBOR_HOURS,
            });
            let rows = db
                .links(LinkWindow {
                    source,
                    since_us: now - h * 3_600_000_000,
                    node,
                })
                .await?;
            for l in rows {
                // The first source to report a pair wins, as in MeshView.
                if !seen.insert((l.from, l.to)) {
                    continue;
                }
                edges.push(json!({
                    "from": l.from,
                    "to": l.to,
                    "type": source.as_str(),
                    "last_seen_us": l.last_seen_us,
                    "count": l.count,
                    "snr": l.last_snr,
                }));
            }
        }
        Ok(json!({ "edges": edges }))
    })
    .await
}
