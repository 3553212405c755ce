//! MeshView's presentation of a packet, in one place: the JSON item of `/api/packets`
//! (also pushed by `/api/stream`), whose `payload` is the text MeshView showed:
//!
//! - the protobuf text format for POSITION, NODEINFO, ROUTING, TELEMETRY, TRACEROUTE,
//!   NEIGHBORINFO and MAP_REPORT (clients regex-parse it, so it must match byte for byte);
//! - the (trimmed) text of a TEXT message sent to broadcast;
//! - `<redacted>` for a TEXT message to one node;
//! - `Did not decode` for everything else (other ports, undecryptable, malformed).
//!
//! New clients read `decoded` instead: the same payload as JSON (proto field names,
//! enums by name, bytes as hex), `null` where `payload` is not decoded or is redacted.

use meshview_protocol::pb::mesh_packet::PayloadVariant;
use meshview_protocol::{Payload, decode_payload, pb};
use prost::Message;
use serde_json::{Map, Value, json};

pub const BROADCAST: i64 = 0xFFFF_FFFF;
pub const PORT_TEXT: i32 = 1;
pub const REDACTED: &str = "<redacted>";
pub const NOT_DECODED: &str = "Did not decode";
/// The ports whose payload MeshView printed in text format.
const TEXT_FORMAT_PORTS: [i32; 7] = [3, 4, 5, 67, 70, 71, 73];

/// What a packet item is built from (a stored row or a live announcement).
pub struct PacketIn<'a> {
    pub id: i64,
    pub portnum: i32,
    pub from: i64,
    pub to: i64,
    /// The stored MeshPacket.
    pub payload: Option<&'a [u8]>,
    pub import_time_us: i64,
    pub channel: Option<&'a str>,
    pub long_name: Option<&'a str>,
    pub to_long_name: Option<&'a str>,
}

/// A packet's presentation: the text MeshView showed and the structured payload.
pub struct Presented {
    pub payload: String,
    pub decoded: Value,
    pub reply_id: u32,
}

/// The decoded `Data` of a stored MeshPacket, if it was decrypted.
fn data_of(stored: Option<&[u8]>) -> Option<pb::Data> {
    let packet = pb::MeshPacket::decode(stored?).ok()?;
    match packet.payload_variant {
        Some(PayloadVariant::Decoded(d)) => Some(d),
        _ => None,
    }
}

fn message_text(data: &pb::Data) -> String {
    String::from_utf8_lossy(&data.payload).trim().to_string()
}

/// The `payload` [`present`] shows for a text message (port 1), without building the
/// rest: searches test it on thousands of rows and present only the matches.
pub fn shown_text_message(to: i64, stored: Option<&[u8]>) -> String {
    match data_of(stored) {
        None => NOT_DECODED.to_string(),
        Some(_) if to != BROADCAST => REDACTED.to_string(),
        Some(data) => message_text(&data),
    }
}

/// Applies MeshView's rules to one packet.
pub fn present(portnum: i32, to: i64, stored: Option<&[u8]>) -> Presented {
    let not_decoded = |reply_id| Presented {
        payload: NOT_DECODED.to_string(),
        decoded: Value::Null,
        reply_id,
    };
    let Some(data) = data_of(stored) else {
        return not_decoded(0);
    };
    let reply_id = data.reply_id;
    if portnum == PORT_TEXT {
        if to != BROADCAST {
            return Presented {
                payload: REDACTED.to_string(),
                decoded: Value::Null,
                reply_id,
            };
        }
        let text = message_text(&data);
        let mut decoded = json!({ "text": text });
        if data.emoji != 0 {
            decoded["emoji"] = json!(data.emoji);
        }
        return Presented {
            payload: text,
            decoded,
            reply_id,
        };
    }
    let payload = decode_payload(portnum, &data.payload);
    if matches!(payload, Payload::Other(..) | Payload::Undecodable(..)) {
        return not_decoded(reply_id);
    }
    let Some(text) = payload.text_format() else {
        return not_decoded(reply_id);
    };
    let decoded = text_format_to_json(&text);
    Presented {
        // Waypoints decode (for `decoded`) but MeshView never printed them.
        payload: if TEXT_FORMAT_PORTS.contains(&portnum) {
            text.trim().to_string()
        } else {
            NOT_DECODED.to_string()
        },
        decoded,
        reply_id,
    }
}

/// The `/api/packets` item.
pub fn packet_json(p: &PacketIn<'_>) -> Value {
    let shown = present(p.portnum, p.to, p.payload);
    packet_json_with(p, shown)
}

pub fn packet_json_with(p: &PacketIn<'_>, shown: Presented) -> Value {
    let mut item = json!({
        "id": p.id,
        "import_time_us": p.import_time_us,
        "channel": p.channel,
        "from_node_id": p.from,
        "to_node_id": p.to,
        "portnum": p.portnum,
        "long_name": p.long_name.unwrap_or(""),
        "to_long_name": p.to_long_name.unwrap_or(""),
        "payload": shown.payload,
        "decoded": shown.decoded,
    });
    if shown.reply_id != 0 {
        item["reply_id"] = json!(shown.reply_id);
    }
    item
}

/// Range-test noise MeshView hides from text lists: an empty text or `seq <n>`.
pub fn is_text_noise(text: &str) -> bool {
    let t = text.trim();
    t.is_empty()
        || t.strip_prefix("seq ")
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// Repeated fields of the messages shown, so a single element is still a list.
const REPEATED: [&str; 5] = [
    "route",
    "snr_towards",
    "route_back",
    "snr_back",
    "neighbors",
];
/// Bytes fields, shown as hex rather than as escaped text.
const BYTES: [&str; 2] = ["public_key", "macaddr"];

/// Turns MeshView's text format back into JSON (the formats carry the same tree; going
/// through the text keeps one field list per message, in the protocol crate).
pub fn text_format_to_json(text: &str) -> Value {
    let mut stack: Vec<(String, Map<String, Value>)> = vec![(String::new(), Map::new())];
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if line == "}" {
            if stack.len() > 1 {
                let (name, obj) = stack.pop().expect("checked length");
                let parent = &mut stack.last_mut().expect("root stays").1;
                insert(parent, &name, Value::Object(obj));
            }
            continue;
        }
        if let Some(name) = line.strip_suffix(" {") {
            stack.push((name.to_string(), Map::new()));
            continue;
        }
        let Some((name, value)) = line.split_once(": ") else {
            continue;
        };
        let value = if BYTES.contains(&name) {
            Value::String(hex::encode(unquote(value)))
        } else {
            scalar(value)
        };
        insert(&mut stack.last_mut().expect("root stays").1, name, value);
    }
    // Unbalanced input (cannot happen with our printer) still yields what was read.
    while stack.len() > 1 {
        let (name, obj) = stack.pop().expect("checked length");
        insert(
            &mut stack.last_mut().expect("root stays").1,
            &name,
            Value::Object(obj),
        );
    }
    Value::Object(stack.pop().expect("root").1)
}

fn insert(obj: &mut Map<String, Value>, name: &str, value: Value) {
    match obj.get_mut(name) {
        Some(Value::Array(a)) => a.push(value),
        Some(existing) => {
            let first = existing.take();
            *existing = Value::Array(vec![first, value]);
        }
        None if REPEATED.contains(&name) => {
            obj.insert(name.to_string(), Value::Array(vec![value]));
        }
        None => {
            obj.insert(name.to_string(), value);
        }
    }
}

fn scalar(v: &str) -> Value {
    if v.starts_with('"') {
        return Value::String(String::from_utf8_lossy(&unquote(v)).into_owned());
    }
    match v {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        // JSON has no NaN or infinities.
        "nan" | "inf" | "-inf" => return Value::Null,
        _ => {}
    }
    if let Ok(i) = v.parse::<i64>() {
        return json!(i);
    }
    if let Ok(u) = v.parse::<u64>() {
        return json!(u);
    }
    if let Ok(f) = v.parse::<f64>() {
        return json!(f);
    }
    // An enum name.
    Value::String(v.to_string())
}

/// Undoes the C escaping of a quoted text-format string into its bytes.
fn unquote(v: &str) -> Vec<u8> {
    let inner = v
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(v)
        .as_bytes();
    let mut out = Vec::with_capacity(inner.len());
    let mut i = 0;
    while i < inner.len() {
        let b = inner[i];
        if b != b'\\' || i + 1 >= inner.len() {
            out.push(b);
            i += 1;
            continue;
        }
        let e = inner[i + 1];
        match e {
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b'0'..=b'7' => {
                let digits = inner[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|d| (b'0'..=b'7').contains(d))
                    .count();
                let n = inner[i + 1..i + 1 + digits]
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                out.push(n as u8);
                i += 1 + digits;
                continue;
            }
            other => out.push(other),
        }
        i += 2;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stored(portnum: i32, to: u32, payload: Vec<u8>, reply_id: u32) -> Vec<u8> {
        pb::MeshPacket {
            from: 1,
            to,
            id: 7,
            payload_variant: Some(PayloadVariant::Decoded(pb::Data {
                portnum,
                payload,
                reply_id,
                ..Default::default()
            })),
            ..Default::default()
        }
        .encode_to_vec()
    }

    #[test]
    fn text_rules() {
        let b = stored(
            1,
            0xFFFF_FFFF,
            b"  <script>alert(1)</script> \n".to_vec(),
            9,
        );
        let p = present(1, BROADCAST, Some(&b));
        assert_eq!(p.payload, "<script>alert(1)</script>");
        assert_eq!(p.decoded, json!({"text": "<script>alert(1)</script>"}));
        assert_eq!(p.reply_id, 9);
        let dm = stored(1, 5, b"secret".to_vec(), 0);
        let p = present(1, 5, Some(&dm));
        assert_eq!(p.payload, REDACTED);
        assert_eq!(p.decoded, Value::Null);
        assert_eq!(
            present(66, 5, Some(&stored(66, 5, b"seq 1".to_vec(), 0))).payload,
            NOT_DECODED
        );
        assert_eq!(present(3, 5, Some(b"\xff\xff")).payload, NOT_DECODED);
        assert_eq!(present(3, 5, None).payload, NOT_DECODED);
        // The searches' shortcut shows exactly what `present` shows for text messages.
        for (to, raw) in [
            (BROADCAST, Some(b.as_slice())),
            (5, Some(dm.as_slice())),
            (BROADCAST, Some(b"\xff\xff".as_slice())),
            (BROADCAST, None),
        ] {
            assert_eq!(shown_text_message(to, raw), present(1, to, raw).payload);
        }
        assert!(is_text_noise("seq 12"));
        assert!(is_text_noise("  "));
        assert!(!is_text_noise("seq twelve"));
    }

    #[test]
    fn structured_payloads() {
        let rd = pb::RouteDiscovery {
            route: vec![0x10],
            snr_towards: vec![24, -8],
            ..Default::default()
        };
        let b = stored(70, 5, rd.encode_to_vec(), 0);
        let p = present(70, 5, Some(&b));
        assert_eq!(p.payload, "route: 16\nsnr_towards: 24\nsnr_towards: -8");
        assert_eq!(p.decoded, json!({"route": [16], "snr_towards": [24, -8]}));
        let user = pb::User {
            id: "!0000abcd".into(),
            long_name: "Caf\u{e9} \"q\"".into(),
            public_key: vec![0xab, 0x01],
            hw_model: pb::HardwareModel::HeltecV3 as i32,
            ..Default::default()
        };
        let b = stored(4, 5, user.encode_to_vec(), 0);
        let p = present(4, 5, Some(&b));
        assert_eq!(p.decoded["long_name"], json!("Caf\u{e9} \"q\""));
        assert_eq!(p.decoded["public_key"], json!("ab01"));
        assert_eq!(p.decoded["hw_model"], json!("HELTEC_V3"));
        let t = pb::Telemetry {
            variant: Some(pb::telemetry::Variant::EnvironmentMetrics(
                pb::EnvironmentMetrics {
                    temperature: Some(-3.5),
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        let b = stored(67, 5, t.encode_to_vec(), 0);
        let p = present(67, 5, Some(&b));
        assert_eq!(
            p.decoded,
            json!({"environment_metrics": {"temperature": -3.5}})
        );
    }
}
