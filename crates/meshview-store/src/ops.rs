//! What the writer is asked to store, and what it reports: the types shared by the batch
//! writer, the rollups and the ingest side that builds them from decoded packets. This
//! module depends on none of them.

use meshview_protocol::links::{Link, LinkSource};

/// Node facts learned from a packet's payload.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeFacts {
    /// NODEINFO (keyed by the packet's sender, never by the id the payload claims).
    Info {
        long_name: String,
        short_name: String,
        hw_model: String,
        role: String,
    },
    /// MAP_REPORT.
    MapReport {
        long_name: String,
        short_name: String,
        hw_model: String,
        role: String,
        firmware: String,
        lat: Option<i64>,
        lon: Option<i64>,
    },
    /// POSITION with both coordinates set.
    Position { lat: i64, lon: i64 },
}

/// A traceroute reception (one row per packet and gateway).
#[derive(Debug, Clone, PartialEq)]
pub struct TracerouteRow {
    pub done: bool,
    /// The RouteDiscovery as sent.
    pub route: Vec<u8>,
    /// Replies: a RouteDiscovery holding only `route_back` and `snr_back`.
    pub route_return: Option<Vec<u8>>,
    /// Replies: the request's packet id.
    pub request_id: Option<i64>,
}

/// One accepted reception of a packet by a gateway, with everything it teaches.
#[derive(Debug, Clone, PartialEq)]
pub struct Reception {
    pub packet_id: u32,
    pub from: u32,
    pub to: u32,
    pub portnum: i32,
    pub channel: String,
    /// The (decrypted) MeshPacket re-serialised, or its ciphertext form when undecryptable.
    pub payload: Vec<u8>,
    pub gateway: u32,
    pub rx_time: i64,
    pub hop_limit: i32,
    pub hop_start: i32,
    pub rx_snr: f32,
    pub rx_rssi: i32,
    /// The low byte of the node that transmitted what the gateway heard (firmware 2.5+;
    /// 0 = not reported).
    pub relay_node: u32,
    pub topic: String,
    pub received_us: i64,
    pub facts: Option<NodeFacts>,
    /// Lower-case hex.
    pub public_key: Option<String>,
    pub traceroute: Option<TracerouteRow>,
    /// Radio links this packet proves (traceroute paths, neighbour reports).
    pub links: Vec<LinkObs>,
    /// What a text search matches (`meshview_protocol::payload::searchable_text`), kept in
    /// `packet_text` when the packet is new.
    pub text: Option<String>,
}

/// One observed directed radio link: `to` heard `from`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LinkObs {
    pub from: u32,
    pub to: u32,
    /// `"traceroute"` or `"neighbor"` (`LinkSource::as_str`).
    pub source: &'static str,
    pub snr_db: Option<f32>,
}

impl From<(Link, LinkSource)> for LinkObs {
    fn from((l, source): (Link, LinkSource)) -> Self {
        LinkObs {
            from: l.from.0,
            to: l.to.0,
            source: source.as_str(),
            snr_db: l.snr_db,
        }
    }
}

/// What the writer is asked to store.
#[derive(Debug, Clone, PartialEq)]
pub enum WriteOp {
    Reception(Box<Reception>),
    /// Node facts without a stored packet (a map report with packet id 0).
    Node {
        node: u32,
        channel: String,
        facts: NodeFacts,
        at_us: i64,
    },
}

/// A packet as first stored, announced to live listeners (the web's `/api/stream`)
/// after its transaction commits.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredPacket {
    /// `packet.id` (the Meshtastic id, or a higher slot after a collision).
    pub id: i64,
    pub from: u32,
    pub to: u32,
    pub portnum: i32,
    pub channel: String,
    pub import_time_us: i64,
    /// The stored MeshPacket bytes (as in `packet.payload`).
    pub payload: Vec<u8>,
    /// The gateway of the first reception.
    pub gateway: u32,
}

/// Live announcements of stored packets; slow listeners lag and skip, never block.
pub type LiveSender = tokio::sync::broadcast::Sender<std::sync::Arc<StoredPacket>>;

/// What one flush achieved.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct FlushCounts {
    pub packets_new: u64,
    pub receptions_new: u64,
    pub receptions_duplicate: u64,
    pub failed_items: u64,
}
