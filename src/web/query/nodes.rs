//! Nodes: the question (`/api/nodes`' parameters) and the answer's shape.

use serde::Serialize;
use utoipa::ToSchema;

use crate::web::error::ApiResult;
use crate::web::params::Params;
use meshview_store::now_us;
use meshview_store::read::{NodeFilter, NodeRow, Reader};

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
        })
    }

    /// The matching nodes in MeshView's order.
    pub async fn rows(&self, db: &Reader) -> ApiResult<Vec<NodeRow>> {
        let filter = NodeFilter {
            node_id: self.node_id,
            role: self.role.clone(),
            channel: self.channel.clone(),
            hw_model: self.hw_model.clone(),
            active_since_us: self.days.map(|d| now_us() - d * 86_400_000_000),
        };
        let mut rows = db.nodes(&filter, self.limit).await?;
        // MeshView orders by short name; sorting here keeps both backends (and their
        // collations) in the same order: names byte-wise, unnamed nodes last, then number.
        rows.sort_by(|a, b| {
            (a.short_name.is_none(), &a.short_name, a.node_id).cmp(&(
                b.short_name.is_none(),
                &b.short_name,
                b.node_id,
            ))
        });
        Ok(rows)
    }
}
