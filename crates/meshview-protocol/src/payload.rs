//! Decoding `Data.payload` by port, and the fields MeshView's writer extracts.

use crate::node_id::NodeId;
use crate::pb;
use crate::pb::PortNum;
use crate::pb::config::device_config::Role;
use prost::Message;

/// An application payload decoded according to its port.
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    /// TEXT_MESSAGE_APP; invalid UTF-8 is replaced, not rejected.
    Text(String),
    Position(pb::Position),
    /// NODEINFO_APP.
    User(pb::User),
    Routing(pb::Routing),
    Telemetry(pb::Telemetry),
    /// TRACEROUTE_APP.
    RouteDiscovery(pb::RouteDiscovery),
    NeighborInfo(pb::NeighborInfo),
    MapReport(pb::MapReport),
    Waypoint(pb::Waypoint),
    /// A port this crate does not decode: raw bytes.
    Other(i32, Vec<u8>),
    /// A decodable port whose bytes are not a valid message.
    Undecodable(i32, prost::DecodeError),
}

/// Decodes `bytes` according to `portnum`.
pub fn decode_payload(portnum: i32, bytes: &[u8]) -> Payload {
    fn msg<M: Message + Default>(port: i32, bytes: &[u8], wrap: fn(M) -> Payload) -> Payload {
        M::decode(bytes).map_or_else(|e| Payload::Undecodable(port, e), wrap)
    }
    let Ok(port) = PortNum::try_from(portnum) else {
        return Payload::Other(portnum, bytes.to_vec());
    };
    match port {
        PortNum::TextMessageApp => Payload::Text(String::from_utf8_lossy(bytes).into_owned()),
        PortNum::PositionApp => msg(portnum, bytes, Payload::Position),
        PortNum::NodeinfoApp => msg(portnum, bytes, Payload::User),
        PortNum::RoutingApp => msg(portnum, bytes, Payload::Routing),
        PortNum::TelemetryApp => msg(portnum, bytes, Payload::Telemetry),
        PortNum::TracerouteApp => msg(portnum, bytes, Payload::RouteDiscovery),
        PortNum::NeighborinfoApp => msg(portnum, bytes, Payload::NeighborInfo),
        PortNum::MapReportApp => msg(portnum, bytes, Payload::MapReport),
        PortNum::WaypointApp => msg(portnum, bytes, Payload::Waypoint),
        _ => Payload::Other(portnum, bytes.to_vec()),
    }
}

/// The text of a decoded text message as MeshView shows it: lossy UTF-8, trimmed.
pub fn message_text(data: &pb::Data) -> String {
    String::from_utf8_lossy(&data.payload).trim().to_string()
}

/// Range-test noise MeshView hides from text lists: an empty text or `seq <n>`.
pub fn is_text_noise(text: &str) -> bool {
    let t = text.trim();
    t.is_empty()
        || t.strip_prefix("seq ")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// What a text search matches in a packet: the shown text of a broadcast text message,
/// lower-cased; `None` for anything a search never finds (other ports, direct messages,
/// noise).
pub fn searchable_text(portnum: i32, to: NodeId, data: &pb::Data) -> Option<String> {
    if portnum != PortNum::TextMessageApp as i32 || !to.is_broadcast() {
        return None;
    }
    let text = message_text(data);
    (!is_text_noise(&text)).then(|| text.to_lowercase())
}

/// The proto name of a port (`TEXT_MESSAGE_APP`), or `unknown(<n>)`.
pub fn port_name(portnum: i32) -> String {
    PortNum::try_from(portnum).map_or_else(
        |_| format!("unknown({portnum})"),
        |p| p.as_str_name().to_owned(),
    )
}

/// The proto name of a hardware model (`HELTEC_V3`), or `unknown(<n>)`.
pub fn hw_model_name(hw_model: i32) -> String {
    pb::HardwareModel::try_from(hw_model).map_or_else(
        |_| format!("unknown({hw_model})"),
        |m| m.as_str_name().to_owned(),
    )
}

/// The proto name of a device role (`CLIENT`, `ROUTER`…; 0 is `CLIENT`), or `unknown(<n>)`.
pub fn role_name(role: i32) -> String {
    Role::try_from(role).map_or_else(
        |_| format!("unknown({role})"),
        |r| r.as_str_name().to_owned(),
    )
}

/// What the writer stores for a NODEINFO_APP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeInfoFields {
    /// The user id string as sent (normally `!hex`; not validated).
    pub id: String,
    pub long_name: String,
    pub short_name: String,
    pub hw_model: String,
    pub role: String,
    /// Empty when the node has no PKI key (firmware < 2.5).
    pub public_key: Vec<u8>,
}

impl From<&pb::User> for NodeInfoFields {
    fn from(u: &pb::User) -> Self {
        NodeInfoFields {
            id: u.id.clone(),
            long_name: u.long_name.clone(),
            short_name: u.short_name.clone(),
            hw_model: hw_model_name(u.hw_model),
            role: role_name(u.role),
            public_key: u.public_key.clone(),
        }
    }
}

/// What the writer stores for a MAP_REPORT_APP packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MapReportFields {
    pub long_name: String,
    pub short_name: String,
    pub hw_model: String,
    pub role: String,
    pub firmware_version: String,
    pub latitude_i: i32,
    pub longitude_i: i32,
}

impl From<&pb::MapReport> for MapReportFields {
    fn from(m: &pb::MapReport) -> Self {
        MapReportFields {
            long_name: m.long_name.clone(),
            short_name: m.short_name.clone(),
            hw_model: hw_model_name(m.hw_model),
            role: role_name(m.role),
            firmware_version: m.firmware_version.clone(),
            latitude_i: m.latitude_i,
            longitude_i: m.longitude_i,
        }
    }
}

/// What the writer stores for a TRACEROUTE_APP packet. SNRs are raw (dB × 4).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRouteFields {
    pub route: Vec<NodeId>,
    pub snr_towards: Vec<i32>,
    pub route_back: Vec<NodeId>,
    pub snr_back: Vec<i32>,
}

impl From<&pb::RouteDiscovery> for TraceRouteFields {
    fn from(r: &pb::RouteDiscovery) -> Self {
        let ids = |v: &[u32]| v.iter().copied().map(NodeId).collect();
        TraceRouteFields {
            route: ids(&r.route),
            snr_towards: r.snr_towards.clone(),
            route_back: ids(&r.route_back),
            snr_back: r.snr_back.clone(),
        }
    }
}

/// What the writer stores for a POSITION_APP packet. The coordinates are
/// `optional` in the proto: `None` means not sent (a node hiding its position),
/// which differs from 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PositionFields {
    pub latitude_i: Option<i32>,
    pub longitude_i: Option<i32>,
    pub altitude: Option<i32>,
    pub time: u32,
}

impl From<&pb::Position> for PositionFields {
    fn from(p: &pb::Position) -> Self {
        PositionFields {
            latitude_i: p.latitude_i,
            longitude_i: p.longitude_i,
            altitude: p.altitude,
            time: p.time,
        }
    }
}

impl Payload {
    /// The port this payload came from.
    pub fn portnum(&self) -> i32 {
        let p = match self {
            Payload::Text(_) => PortNum::TextMessageApp,
            Payload::Position(_) => PortNum::PositionApp,
            Payload::User(_) => PortNum::NodeinfoApp,
            Payload::Routing(_) => PortNum::RoutingApp,
            Payload::Telemetry(_) => PortNum::TelemetryApp,
            Payload::RouteDiscovery(_) => PortNum::TracerouteApp,
            Payload::NeighborInfo(_) => PortNum::NeighborinfoApp,
            Payload::MapReport(_) => PortNum::MapReportApp,
            Payload::Waypoint(_) => PortNum::WaypointApp,
            Payload::Other(n, _) | Payload::Undecodable(n, _) => return *n,
        };
        p as i32
    }

    pub fn node_info(&self) -> Option<NodeInfoFields> {
        match self {
            Payload::User(u) => Some(u.into()),
            _ => None,
        }
    }

    pub fn map_report(&self) -> Option<MapReportFields> {
        match self {
            Payload::MapReport(m) => Some(m.into()),
            _ => None,
        }
    }

    pub fn traceroute(&self) -> Option<TraceRouteFields> {
        match self {
            Payload::RouteDiscovery(r) => Some(r.into()),
            _ => None,
        }
    }

    pub fn position(&self) -> Option<PositionFields> {
        match self {
            Payload::Position(p) => Some(p.into()),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_by_port() {
        assert_eq!(
            decode_payload(1, b"hi \xff"),
            Payload::Text("hi \u{fffd}".into())
        );
        let user = pb::User {
            id: "!a1b2c3d4".into(),
            long_name: "☠️🐮".into(),
            short_name: "X ".into(),
            hw_model: pb::HardwareModel::HeltecV3 as i32,
            role: Role::Router as i32,
            public_key: vec![1; 32],
            ..Default::default()
        };
        let p = decode_payload(4, &user.encode_to_vec());
        assert_eq!(p, Payload::User(user.clone()));
        let f = p.node_info().unwrap();
        assert_eq!(
            (f.hw_model.as_str(), f.role.as_str()),
            ("HELTEC_V3", "ROUTER")
        );
        assert_eq!(f.long_name, "☠️🐮");
        assert_eq!(p.portnum(), 4);
        assert!(matches!(
            decode_payload(3, b"\xff"),
            Payload::Undecodable(3, _)
        ));
        assert_eq!(
            decode_payload(9999, b"x"),
            Payload::Other(9999, b"x".to_vec())
        );
        assert_eq!(
            decode_payload(66, b"seq 1"),
            Payload::Other(66, b"seq 1".to_vec())
        );
    }

    #[test]
    fn names() {
        assert_eq!(hw_model_name(9999), "unknown(9999)");
        assert_eq!(role_name(0), "CLIENT");
        assert_eq!(role_name(-1), "unknown(-1)");
        assert_eq!(port_name(70), "TRACEROUTE_APP");
    }

    #[test]
    fn writer_fields() {
        let rd = pb::RouteDiscovery {
            route: vec![0x10, 0x20],
            snr_towards: vec![24, -8, 12],
            route_back: vec![0x30],
            snr_back: vec![4, 5],
        };
        let t = Payload::RouteDiscovery(rd).traceroute().unwrap();
        assert_eq!(t.route, vec![NodeId(0x10), NodeId(0x20)]);
        assert_eq!(t.snr_towards, vec![24, -8, 12]);
        let pos = pb::Position {
            latitude_i: Some(0),
            ..Default::default()
        };
        let f = Payload::Position(pos).position().unwrap();
        assert_eq!((f.latitude_i, f.longitude_i), (Some(0), None));
        let m = pb::MapReport {
            long_name: "LowMesh".into(),
            role: 9999,
            latitude_i: 1,
            ..Default::default()
        };
        let f = Payload::MapReport(m).map_report().unwrap();
        assert_eq!(
            (f.role.as_str(), f.hw_model.as_str(), f.latitude_i),
            ("unknown(9999)", "UNSET", 1)
        );
    }

    #[test]
    fn searchable_text_is_shown_broadcast_text_lower_cased() {
        let data = |text: &[u8]| pb::Data {
            portnum: PortNum::TextMessageApp as i32,
            payload: text.to_vec(),
            ..Default::default()
        };
        let text = PortNum::TextMessageApp as i32;
        assert_eq!(
            searchable_text(text, NodeId::BROADCAST, &data(" Hi ÄÖ \n".as_bytes())),
            Some("hi äö".to_string())
        );
        // Direct messages, other ports and range-test noise are never found.
        assert_eq!(searchable_text(text, NodeId(5), &data(b"secret")), None);
        let position = PortNum::PositionApp as i32;
        assert_eq!(
            searchable_text(position, NodeId::BROADCAST, &data(b"hi")),
            None
        );
        assert_eq!(
            searchable_text(text, NodeId::BROADCAST, &data(b"seq 12")),
            None
        );
        assert_eq!(searchable_text(text, NodeId::BROADCAST, &data(b"  ")), None);
        assert!(is_text_noise("seq 12"));
        assert!(!is_text_noise("seq twelve"));
        assert_eq!(message_text(&data(b"\xff ok ")), "\u{fffd} ok");
    }
}
