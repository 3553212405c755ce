//! Nodes and their public keys.

use std::collections::HashMap;

use sqlx::Row;

use super::{Reader, Sql, build_query, with_pool};

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

macro_rules! node_rows {
    ($rows:expr) => {
        $rows
            .iter()
            .map(|r| NodeRow {
                id: r.get("id"),
                node_id: r.get("node_id"),
                long_name: r.get("long_name"),
                short_name: r.get("short_name"),
                hw_model: r.get("hw_model"),
                firmware: r.get("firmware"),
                role: r.get("role"),
                last_lat: r.get("last_lat"),
                last_long: r.get("last_long"),
                channel: r.get("channel"),
                is_mqtt_gateway: r.get("is_mqtt_gateway"),
                first_seen_us: r.get("first_seen_us"),
                last_seen_us: r.get("last_seen_us"),
            })
            .collect::<Vec<NodeRow>>()
    };
}

impl Reader {
    /// Nodes seen at least once (`last_seen_us` set) matching `filter`, at most `limit`,
    /// most recently seen first (callers sort for display).
    pub async fn nodes(
        &self,
        filter: &NodeFilter,
        limit: i64,
    ) -> Result<Vec<NodeRow>, sqlx::Error> {
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
        q.push(" ORDER BY last_seen_us DESC LIMIT ").int(limit);
        with_pool!(&self.db, |p| {
            let rows = build_query!(q).fetch_all(p).await?;
            Ok(node_rows!(rows))
        })
    }

    /// One node by number, whether or not it has been seen.
    pub async fn node(&self, node_id: i64) -> Result<Option<NodeRow>, sqlx::Error> {
        let mut q = Sql::new(NODE_COLUMNS);
        q.push(" WHERE node_id = ").int(node_id);
        with_pool!(&self.db, |p| {
            let rows = build_query!(q).fetch_all(p).await?;
            Ok(node_rows!(rows).pop())
        })
    }

    /// Long names of the given nodes (those without a row or a name are absent).
    pub async fn long_names(&self, ids: &[i64]) -> Result<HashMap<i64, String>, sqlx::Error> {
        let mut out = HashMap::new();
        for chunk in ids.chunks(500) {
            let mut q = Sql::new("SELECT node_id, long_name FROM node WHERE node_id IN (");
            for (i, id) in chunk.iter().enumerate() {
                if i > 0 {
                    q.push(", ");
                }
                q.int(*id);
            }
            q.push(") AND long_name IS NOT NULL");
            with_pool!(&self.db, |p| {
                for r in build_query!(q).fetch_all(p).await? {
                    out.insert(r.get::<i64, _>("node_id"), r.get::<String, _>("long_name"));
                }
            });
        }
        Ok(out)
    }

    /// The distinct public keys a node number announced, oldest first.
    pub async fn public_keys(&self, node_id: i64) -> Result<Vec<PublicKeyRow>, sqlx::Error> {
        const SQL: &str = "SELECT public_key, MIN(first_seen_us) AS first_seen_us, \
             MAX(last_seen_us) AS last_seen_us FROM node_public_key WHERE node_id = $1 \
             GROUP BY public_key ORDER BY MIN(first_seen_us), public_key LIMIT 1000";
        with_pool!(&self.db, |p| {
            let rows = sqlx::query(SQL).bind(node_id).fetch_all(p).await?;
            Ok(rows
                .iter()
                .map(|r| PublicKeyRow {
                    public_key: r.get("public_key"),
                    first_seen_us: r.get("first_seen_us"),
                    last_seen_us: r.get("last_seen_us"),
                })
                .collect())
        })
    }
}
