//! Nodes and their public keys.

use std::collections::HashMap;

use super::{Reader, Sql};
use crate::StoreError;
use crate::row::Arg;
use crate::row::OwnedRow;

/// One `node` row.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeRow {
    pub id: String,
    pub node_id: Option<i64>,
    pub long_name: Option<String>,
    pub short_name: Option<String>,
    pub hw_model: Option<String>,
    pub firmware: Option<String>,
    pub role: Option<String>,
    pub last_lat: Option<i64>,
    pub last_long: Option<i64>,
    pub channel: Option<String>,
    pub is_mqtt_gateway: Option<bool>,
    pub first_seen_us: Option<i64>,
    pub last_seen_us: Option<i64>,
}

/// Exact-match filters of the node list (MeshView's).
#[derive(Debug, Clone, Default)]
pub struct NodeFilter {
    pub node_id: Option<i64>,
    /// Compared upper-cased, as MeshView does.
    pub role: Option<String>,
    pub channel: Option<String>,
    pub hw_model: Option<String>,
    /// `last_seen_us > active_since_us`.
    pub active_since_us: Option<i64>,
}

/// A public key a node announced.
#[derive(Debug, Clone, PartialEq)]
pub struct PublicKeyRow {
    pub public_key: String,
    pub first_seen_us: Option<i64>,
    pub last_seen_us: Option<i64>,
}

const NODE_COLUMNS: &str = "SELECT id, node_id, long_name, short_name, hw_model, firmware, role, \
     last_lat, last_long, channel, is_mqtt_gateway, first_seen_us, last_seen_us FROM node";

fn node_row(mut r: OwnedRow) -> Result<NodeRow, StoreError> {
    let mut n = NodeRow {
        id: r.take("id")?,
        node_id: r.take("node_id")?,
        long_name: r.take("long_name")?,
        short_name: r.take("short_name")?,
        hw_model: r.take("hw_model")?,
        firmware: r.take("firmware")?,
        role: r.take("role")?,
        last_lat: r.take("last_lat")?,
        last_long: r.take("last_long")?,
        channel: r.take("channel")?,
        is_mqtt_gateway: r.take("is_mqtt_gateway")?,
        first_seen_us: r.take("first_seen_us")?,
        last_seen_us: r.take("last_seen_us")?,
    };
    // (0, 0) is what a radio without a fix reports: no position, never a point in the Gulf
    // of Guinea (MeshView stored it; migration 0015 clears such rows, this keeps any that
    // arrive another way from being served).
    if (n.last_lat, n.last_long) == (Some(0), Some(0)) {
        (n.last_lat, n.last_long) = (None, None);
    }
    Ok(n)
}

impl Reader {
    /// Nodes seen at least once (`last_seen_us` set) matching `filter`, at most `limit`,
    /// most recently seen first (callers sort for display).
    pub async fn nodes(&self, filter: &NodeFilter, limit: i64) -> Result<Vec<NodeRow>, StoreError> {
        let mut q = Sql::new(NODE_COLUMNS);
        q.push(" WHERE last_seen_us IS NOT NULL");
        if let Some(v) = filter.node_id {
            q.push(" AND node_id = ").int(v);
        }
        if let Some(v) = &filter.role {
            q.push(" AND role = ").str(&v.to_uppercase());
        }
        if let Some(v) = &filter.channel {
            q.push(" AND channel = ").str(v);
        }
        if let Some(v) = &filter.hw_model {
            q.push(" AND hw_model = ").str(v);
        }
        if let Some(v) = filter.active_since_us {
            q.push(" AND last_seen_us > ").int(v);
        }
        q.push(" ORDER BY last_seen_us DESC LIMIT ").count(limit);
        self.fetch_map(q, node_row).await
    }

    /// One node by number, whether or not it has been seen.
    pub async fn node(&self, node_id: i64) -> Result<Option<NodeRow>, StoreError> {
        let mut q = Sql::new(NODE_COLUMNS);
        q.push(" WHERE node_id = ").int(node_id);
        Ok(self.fetch_map(q, node_row).await?.pop())
    }

    /// Long names of the given nodes (those without a row or a name are absent).
    pub async fn long_names(&self, ids: &[i64]) -> Result<HashMap<i64, String>, StoreError> {
        let mut out = HashMap::new();
        if ids.is_empty() {
            return Ok(out);
        }
        let mut q = Sql::new("SELECT node_id, long_name FROM node WHERE ");
        self.push_in_ints(&mut q, "node_id", ids);
        q.push(" AND long_name IS NOT NULL");
        for mut r in self.fetch_all(q).await? {
            out.insert(r.take("node_id")?, r.take("long_name")?);
        }
        Ok(out)
    }

    /// The distinct public keys a node number announced, oldest first.
    pub async fn public_keys(&self, node_id: i64) -> Result<Vec<PublicKeyRow>, StoreError> {
        const SQL: &str = "SELECT public_key, MIN(first_seen_us) AS first_seen_us, \
             MAX(last_seen_us) AS last_seen_us FROM node_public_key WHERE node_id = $1 \
             GROUP BY public_key ORDER BY MIN(first_seen_us), public_key LIMIT 1000";
        self.fetch_map(Sql::bound(SQL, vec![Arg::I64(node_id)]), |mut r| {
            Ok(PublicKeyRow {
                public_key: r.take("public_key")?,
                first_seen_us: r.take("first_seen_us")?,
                last_seen_us: r.take("last_seen_us")?,
            })
        })
        .await
    }
}
