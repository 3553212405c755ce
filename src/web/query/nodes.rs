//! Nodes: the question (`/api/nodes`' parameters) and the answer's shape.

use serde::Serialize;
use utoipa::ToSchema;

use super::WindowOut;
use crate::web::error::ApiResult;
use crate::web::params::Params;
use meshview_store::now_us;
use meshview_store::read::{AsOf, NodeFilter, NodeRow, Reader};

/// A mesh has hundreds to a few thousand nodes; this bounds the answer all the same.
pub const MAX_NODES: i64 = 10_000;

/// A node as the API answers it, serialized straight from its row.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(as = Node)]
pub struct NodeOut<'a> {
    #[schema(value_type = Option<String>, required = true)]
    channel: &'a Option<String>,
    #[schema(value_type = Option<String>, required = true)]
    firmware: &'a Option<String>,
    #[schema(required = true)]
    first_seen_us: Option<i64>,
    #[schema(value_type = Option<String>, required = true)]
    hw_model: &'a Option<String>,
    /// `!hex`.
    #[schema(value_type = String)]
    id: &'a str,
    #[schema(required = true)]
    is_mqtt_gateway: Option<bool>,
    /// Degrees × 1e7.
    #[schema(required = true)]
    last_lat: Option<i64>,
    /// Degrees × 1e7.
    #[schema(required = true)]
    last_long: Option<i64>,
    #[schema(required = true)]
    last_seen_us: Option<i64>,
    #[schema(value_type = Option<String>, required = true)]
    long_name: &'a Option<String>,
    #[schema(required = true)]
    node_id: Option<i64>,
    #[schema(value_type = Option<String>, required = true)]
    role: &'a Option<String>,
    #[schema(value_type = Option<String>, required = true)]
    short_name: &'a Option<String>,
}

impl<'a> From<&'a NodeRow> for NodeOut<'a> {
    fn from(n: &'a NodeRow) -> Self {
        NodeOut {
            channel: &n.channel,
            firmware: &n.firmware,
            first_seen_us: n.first_seen_us,
            hw_model: &n.hw_model,
            id: &n.id,
            is_mqtt_gateway: n.is_mqtt_gateway,
            last_lat: n.last_lat,
            last_long: n.last_long,
            last_seen_us: n.last_seen_us,
            long_name: &n.long_name,
            node_id: n.node_id,
            role: &n.role,
            short_name: &n.short_name,
        }
    }
}

/// `/api/nodes`' answer.
#[derive(Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NodesBody<'a> {
    pub nodes: Vec<NodeOut<'a>>,
    /// With `at`, `from` or `to`: the moment (`to_us`) the list stands at and the start
    /// of the window its nodes were heard in. With `from_rollups`, a node last heard
    /// before the purge's horizon is last seen at the start of its last UTC day, and one
    /// whose position packets were all purged keeps its current position.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<WindowOut>,
}

/// A past moment the list is asked as of (time travel).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodesWindow {
    /// `at` or `to`: the moment.
    pub to_us: i64,
    /// `from`: only nodes heard since (inclusive).
    pub from_us: Option<i64>,
}

/// Which nodes: `/api/nodes`' parameters, checked. [`Default`] is every node.
#[derive(Debug)]
pub struct NodeQuery {
    /// Seen within this many days.
    pub days: Option<i64>,
    pub node_id: Option<i64>,
    pub role: Option<String>,
    pub channel: Option<String>,
    pub hw_model: Option<String>,
    pub limit: i64,
    /// The list as it stood then, instead of now.
    pub window: Option<NodesWindow>,
}

impl Default for NodeQuery {
    fn default() -> Self {
        NodeQuery {
            days: None,
            node_id: None,
            role: None,
            channel: None,
            hw_model: None,
            limit: MAX_NODES,
            window: None,
        }
    }
}

impl NodeQuery {
    pub fn parse(params: &Params) -> ApiResult<NodeQuery> {
        Ok(NodeQuery {
            days: params.int_range("days_active", 0, 3650)?,
            node_id: params.node("node_id")?,
            role: params.string("role", 64)?,
            channel: params.string("channel", 64)?,
            hw_model: params.string("hw_model", 64)?,
            limit: params.clamped("limit", MAX_NODES, 1, MAX_NODES)?,
            window: Self::window(params, now_us())?,
        })
    }

    /// `at`/`to` (the moment; `to` wins) and `from`; a start after the moment is the
    /// moment, as `/api/edges` clamps it.
    fn window(params: &Params, now: i64) -> ApiResult<Option<NodesWindow>> {
        let (at, from, to) = (params.time("at")?, params.time("from")?, params.time("to")?);
        if (at, from, to) == (None, None, None) {
            return Ok(None);
        }
        let to_us = to.or(at).unwrap_or(now);
        Ok(Some(NodesWindow {
            to_us,
            from_us: from.map(|f| f.min(to_us)),
        }))
    }

    /// The matching nodes in MeshView's order.
    pub async fn rows(&self, db: &Reader) -> ApiResult<Vec<NodeRow>> {
        Ok(self.answer(db).await?.0)
    }

    /// The matching nodes in MeshView's order, and with a past moment the window
    /// answered.
    pub async fn answer(&self, db: &Reader) -> ApiResult<(Vec<NodeRow>, Option<WindowOut>)> {
        let end = self.window.map_or_else(now_us, |w| w.to_us);
        // Heard after this (exclusive): `days_active` before the end, `from` on.
        let since = [
            self.days.map(|d| end - d * 86_400_000_000),
            self.window.and_then(|w| w.from_us).map(|f| f - 1),
        ]
        .into_iter()
        .flatten()
        .max();
        let filter = NodeFilter {
            node_id: self.node_id,
            role: self.role.clone(),
            channel: self.channel.clone(),
            hw_model: self.hw_model.clone(),
            active_since_us: since,
        };
        let (mut rows, window) = match self.window {
            None => (db.nodes(&filter, self.limit).await?, None),
            Some(w) => {
                let horizon_us = db.raw_horizon_us().await?;
                let from_us = since.map_or(0, |s| s + 1);
                let rows = db
                    .nodes_as_of(
                        &filter,
                        AsOf {
                            at_us: w.to_us,
                            horizon_us,
                        },
                        self.limit,
                    )
                    .await?;
                let out = WindowOut {
                    from_us,
                    to_us: w.to_us,
                    from_rollups: horizon_us.is_some_and(|h| from_us < h),
                };
                (rows, Some(out))
            }
        };
        // MeshView orders by short name; sorting here keeps both backends (and their
        // collations) in the same order: names byte-wise, unnamed nodes last, then number.
        rows.sort_by(|a, b| {
            (a.short_name.is_none(), &a.short_name, a.node_id).cmp(&(
                b.short_name.is_none(),
                &b.short_name,
                b.node_id,
            ))
        });
        Ok((rows, window))
    }
}
