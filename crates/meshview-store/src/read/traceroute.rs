//! Traceroute rows (one per packet and gateway) with their packet's endpoints.

use super::{Reader, Sql};
use crate::StoreError;
use crate::row::OwnedRow;

/// One `traceroute` row joined with its packet.
#[derive(Debug, Clone, PartialEq)]
pub struct TraceRow {
    pub id: i64,
    pub packet_id: i64,
    pub gateway_node_id: Option<i64>,
    pub done: Option<bool>,
    /// The RouteDiscovery as sent.
    pub route: Option<Vec<u8>>,
    pub import_time_us: Option<i64>,
    /// Replies: a RouteDiscovery with only `route_back` / `snr_back`.
    pub route_return: Option<Vec<u8>>,
    /// Replies: the request's Meshtastic packet id.
    pub request_id: Option<i64>,
    pub from_node_id: Option<i64>,
    pub to_node_id: Option<i64>,
    pub channel: Option<String>,
}

const TRACE_COLUMNS: &str = "SELECT t.id, t.packet_id, t.gateway_node_id, t.done, t.route, \
     t.import_time_us, t.route_return, t.request_id, p.from_node_id, p.to_node_id, p.channel \
     FROM traceroute t JOIN packet p ON p.id = t.packet_id WHERE ";

/// Every traceroute of one exchange is a few rows per gateway; this bounds a pathological
/// id (a request answered thousands of times) without cutting real data.
const MAX_ROWS: i64 = 2000;

fn trace_row(mut r: OwnedRow) -> Result<TraceRow, StoreError> {
    Ok(TraceRow {
        // SQLite INTEGER and PostgreSQL SERIAL (int4) both read as integers.
        id: r.take("id")?,
        packet_id: r.take("packet_id")?,
        gateway_node_id: r.take("gateway_node_id")?,
        done: r.take("done")?,
        route: r.take("route")?,
        import_time_us: r.take("import_time_us")?,
        route_return: r.take("route_return")?,
        request_id: r.take("request_id")?,
        from_node_id: r.take("from_node_id")?,
        to_node_id: r.take("to_node_id")?,
        channel: r.take("channel")?,
    })
}

impl Reader {
    /// The traceroute rows of the given stored packets, in import order.
    pub async fn traceroutes_of(&self, packet_ids: &[i64]) -> Result<Vec<TraceRow>, StoreError> {
        if packet_ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut q = Sql::new(TRACE_COLUMNS);
        self.push_in_ints(&mut q, "t.packet_id", packet_ids);
        q.push(" ORDER BY t.import_time_us, t.id LIMIT ")
            .count(MAX_ROWS);
        self.fetch_map(q, trace_row).await
    }

    /// The reply rows answering request `request_id` (a Meshtastic id) sent by
    /// `requester` (replies are addressed to the requester).
    pub async fn traceroute_replies(
        &self,
        request_id: i64,
        requester: i64,
    ) -> Result<Vec<TraceRow>, StoreError> {
        let mut q = Sql::new(TRACE_COLUMNS);
        q.push("t.request_id = ")
            .int(request_id)
            .push(" AND p.to_node_id = ")
            .int(requester)
            .push(" ORDER BY t.import_time_us, t.id LIMIT ")
            .count(MAX_ROWS);
        self.fetch_map(q, trace_row).await
    }
}
