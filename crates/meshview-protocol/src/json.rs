//! Meshtastic's MQTT JSON format (`…/2/json/<channel>/!gateway`), which firmware can
//! publish instead of protobuf: turned into the same decoded packet the protobuf path
//! yields, so the writer stores both alike.
//!
//! Message types with a well-defined JSON payload are decoded: `text`, `position`,
//! `nodeinfo` and `telemetry` (device and environment metrics). Others are rejected as
//! `json_unsupported`: their JSON lacks fields the protobuf carries.

use serde_json::Value;

use crate::envelope::{DecodedEnvelope, Decryption, RejectReason};
use crate::pb::mesh_packet::PayloadVariant;
use crate::{Message, NodeId, Topic, TopicKind, pb};

fn u32_of(v: &Value, key: &str) -> Option<u32> {
    v.get(key)?.as_u64().and_then(|n| u32::try_from(n).ok())
}

fn i32_of(v: &Value, key: &str) -> Option<i32> {
    v.get(key)?.as_i64().and_then(|n| i32::try_from(n).ok())
}

fn f32_of(v: &Value, key: &str) -> Option<f32> {
    v.get(key)?.as_f64().map(|f| f as f32)
}

fn str_of(v: &Value, key: &str) -> Option<String> {
    v.get(key)?.as_str().map(str::to_owned)
}

/// Decodes one JSON message; `Err` says why it cannot be stored.
pub fn decode_json_envelope(topic: &str, payload: &[u8]) -> Result<DecodedEnvelope, RejectReason> {
    let t = Topic::parse(topic);
    if t.kind != TopicKind::Json {
        return Err(RejectReason::NotJson);
    }
    let v: Value = serde_json::from_slice(payload).map_err(|_| RejectReason::NotJson)?;
    let from = u32_of(&v, "from").ok_or(RejectReason::NotJson)?;
    let id = u32_of(&v, "id").ok_or(RejectReason::NotJson)?;
    let to = u32_of(&v, "to").unwrap_or(NodeId::BROADCAST.0);
    let kind = v.get("type").and_then(Value::as_str).unwrap_or("");
    let p = v.get("payload").ok_or(RejectReason::NoPayload)?;
    let (portnum, bytes) = match kind {
        "text" => (
            pb::PortNum::TextMessageApp,
            p.get("text")
                .and_then(Value::as_str)
                .ok_or(RejectReason::NoPayload)?
                .as_bytes()
                .to_vec(),
        ),
        "position" => (
            pb::PortNum::PositionApp,
            pb::Position {
                latitude_i: i32_of(p, "latitude_i"),
                longitude_i: i32_of(p, "longitude_i"),
                altitude: i32_of(p, "altitude"),
                time: u32_of(p, "time").unwrap_or(0),
                precision_bits: u32_of(p, "precision_bits").unwrap_or(0),
                sats_in_view: u32_of(p, "sats_in_view").unwrap_or(0),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        "nodeinfo" => (
            pb::PortNum::NodeinfoApp,
            pb::User {
                id: str_of(p, "id").unwrap_or_default(),
                long_name: str_of(p, "longname").unwrap_or_default(),
                short_name: str_of(p, "shortname").unwrap_or_default(),
                hw_model: i32_of(p, "hardware").unwrap_or(0),
                role: i32_of(p, "role").unwrap_or(0),
                ..Default::default()
            }
            .encode_to_vec(),
        ),
        "telemetry" => {
            let variant = if p.get("battery_level").is_some() || p.get("voltage").is_some() {
                pb::telemetry::Variant::DeviceMetrics(pb::DeviceMetrics {
                    battery_level: u32_of(p, "battery_level"),
                    voltage: f32_of(p, "voltage"),
                    channel_utilization: f32_of(p, "channel_utilization"),
                    air_util_tx: f32_of(p, "air_util_tx"),
                    uptime_seconds: u32_of(p, "uptime_seconds"),
                })
            } else if p.get("temperature").is_some() || p.get("relative_humidity").is_some() {
                pb::telemetry::Variant::EnvironmentMetrics(pb::EnvironmentMetrics {
                    temperature: f32_of(p, "temperature"),
                    relative_humidity: f32_of(p, "relative_humidity"),
                    barometric_pressure: f32_of(p, "barometric_pressure"),
                    ..Default::default()
                })
            } else {
                return Err(RejectReason::JsonUnsupported);
            };
            (
                pb::PortNum::TelemetryApp,
                pb::Telemetry {
                    time: u32_of(&v, "timestamp").unwrap_or(0),
                    variant: Some(variant),
                }
                .encode_to_vec(),
            )
        }
        _ => return Err(RejectReason::JsonUnsupported),
    };
    // The gateway: the JSON's `sender`, else the topic's last segment.
    let gateway = str_of(&v, "sender")
        .and_then(|s| NodeId::parse_bang(&s).ok())
        .or_else(|| t.gateway_node_id())
        .ok_or(RejectReason::BadGatewayId)?;
    let hop_start = u32_of(&v, "hop_start").unwrap_or(0);
    let hops_away = u32_of(&v, "hops_away").unwrap_or(0);
    let packet = pb::MeshPacket {
        from,
        to,
        id,
        channel: u32_of(&v, "channel").unwrap_or(0),
        rx_time: u32_of(&v, "timestamp").unwrap_or(0),
        rx_snr: f32_of(&v, "snr").unwrap_or(0.0),
        rx_rssi: i32_of(&v, "rssi").unwrap_or(0),
        hop_start,
        hop_limit: hop_start.saturating_sub(hops_away),
        payload_variant: Some(PayloadVariant::Decoded(pb::Data {
            portnum: portnum as i32,
            payload: bytes,
            ..Default::default()
        })),
        ..Default::default()
    };
    Ok(DecodedEnvelope {
        gateway,
        channel: t.channel.unwrap_or_default().to_owned(),
        topic_kind: TopicKind::Json,
        packet,
        decryption: Decryption::Plaintext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Payload;

    #[test]
    fn real_nodeinfo_sample() {
        let json = br#"{"channel":0,"from":4201166456,"hops_away":0,"id":935928891,"payload":{"hardware":44,"id":"!fa68b678","longname":"P2000 Portal \u0000\u0000","shortname":"P200"},"rssi":-85,"sender":"!e2e52244","snr":6.5,"timestamp":1712653096,"to":4294967295,"type":"nodeinfo"}"#;
        let env = decode_json_envelope("msh/EU_868/2/json/LongFast/!e2e52244", json).unwrap();
        assert_eq!(env.from(), NodeId(4201166456));
        assert_eq!(env.gateway, NodeId(0xe2e52244));
        assert_eq!(env.channel, "LongFast");
        assert_eq!(env.rx_rssi(), -85);
        match env.payload() {
            Some(Payload::User(u)) => {
                assert_eq!(u.short_name, "P200");
                assert_eq!(u.hw_model, 44);
                assert!(u.long_name.starts_with("P2000 Portal"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn text_position_and_telemetry() {
        let t = "msh/US/2/json/LongFast/!00000001";
        let env = decode_json_envelope(
            t,
            br#"{"from":5,"to":4294967295,"id":9,"type":"text","payload":{"text":"hi"},"hop_start":3,"hops_away":1}"#,
        )
        .unwrap();
        assert_eq!(env.payload(), Some(Payload::Text("hi".into())));
        assert_eq!((env.hop_start(), env.hop_limit()), (3, 2));
        assert_eq!(env.gateway, NodeId(1));
        let env = decode_json_envelope(
            t,
            br#"{"from":5,"id":10,"type":"position","payload":{"latitude_i":373000000,"longitude_i":-1224000000,"altitude":12}}"#,
        )
        .unwrap();
        match env.payload() {
            Some(Payload::Position(p)) => assert_eq!(p.latitude_i, Some(373000000)),
            other => panic!("{other:?}"),
        }
        let env = decode_json_envelope(
            t,
            br#"{"from":5,"id":11,"type":"telemetry","payload":{"temperature":-4.5,"relative_humidity":80}}"#,
        )
        .unwrap();
        assert!(matches!(env.payload(), Some(Payload::Telemetry(_))));
    }

    #[test]
    fn bad_json_is_rejected_not_panicked() {
        let t = "msh/US/2/json/LongFast/!00000001";
        for junk in [
            &b"{"[..],
            b"[]",
            b"{\"from\":-1,\"id\":2}",
            b"{\"from\":1,\"id\":2,\"type\":\"text\"}",
            b"\xff\xfe",
        ] {
            assert!(decode_json_envelope(t, junk).is_err());
        }
        assert_eq!(
            decode_json_envelope(t, br#"{"from":1,"id":2,"type":"traceroute","payload":{}}"#)
                .unwrap_err(),
            RejectReason::JsonUnsupported
        );
    }
}
