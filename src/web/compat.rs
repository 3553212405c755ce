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
//!
//! Lists carry up to 1,000 items, so items are typed ([`PacketItem`], written as JSON by
//! hand) and `decoded` is JSON text written by the same walk over the message that prints the text format
//! (`meshview_protocol::text_format`): no `serde_json::Value` tree per packet, and no
//! reading the text back (both showed in perf profiles of the mixed load).

use meshview_protocol::pb::mesh_packet::PayloadVariant;
use meshview_protocol::{Payload, decode_payload, pb};
use prost::Message;
use serde::Serialize;

pub use meshview_protocol::payload::is_text_noise;
use meshview_protocol::payload::message_text;
use meshview_protocol::pb::PortNum;

pub const BROADCAST: i64 = 0xFFFF_FFFF;
pub const PORT_TEXT: i32 = PortNum::TextMessageApp as i32;
pub const REDACTED: &str = "<redacted>";
pub const NOT_DECODED: &str = "Did not decode";
/// The ports whose payload MeshView printed in text format.
const TEXT_FORMAT_PORTS: [i32; 7] = [
    PortNum::PositionApp as i32,
    PortNum::NodeinfoApp as i32,
    PortNum::RoutingApp as i32,
    PortNum::TelemetryApp as i32,
    PortNum::TracerouteApp as i32,
    PortNum::NeighborinfoApp as i32,
    PortNum::MapReportApp as i32,
];

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
#[derive(Debug)]
pub struct Presented {
    pub payload: String,
    /// JSON text (`null` when not decoded or redacted), written by our printer or by
    /// serde_json, so valid as it stands (debug builds check).
    pub decoded: String,
    pub reply_id: u32,
}

fn json_null() -> String {
    "null".to_string()
}

/// One `/api/packets` item (and `/api/stream` event), borrowed from its row and its
/// presentation (a list of 1,000 would otherwise copy every name and text once more).
/// Written as JSON by [`PacketItem::write_json`]; the schema describes that.
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = Packet)]
pub struct PacketItem<'a> {
    #[schema(value_type = Option<String>, required = true)]
    pub channel: Option<&'a str>,
    /// The decoded payload as JSON (proto field names, enums by name, bytes as hex); null
    /// when not decoded or redacted.
    #[schema(value_type = Option<Object>, required = true)]
    pub decoded: &'a str,
    pub from_node_id: i64,
    /// Stored id; its low 32 bits are the Meshtastic id.
    pub id: i64,
    pub import_time_us: i64,
    /// The sender's long name, "" if unknown.
    #[schema(value_type = String)]
    pub long_name: &'a str,
    /// MeshView's text: protobuf text format, text, <redacted> or Did not decode.
    #[schema(value_type = String)]
    pub payload: &'a str,
    pub portnum: i32,
    /// Present when non-zero.
    pub reply_id: Option<u32>,
    #[schema(value_type = String)]
    pub to_long_name: &'a str,
    pub to_node_id: i64,
}

impl PacketItem<'_> {
    /// Appends the item as a JSON object. Written by hand because `decoded` is already
    /// JSON text: serde would only take it as a `RawValue`, which parses it once more
    /// (5 % of the reader's instructions on the mixed load). Fields are in alphabetical
    /// order, the order the items had when they were JSON maps.
    pub fn write_json(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"channel\":");
        match self.channel {
            Some(c) => json_string(out, c),
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"decoded\":");
        out.extend_from_slice(self.decoded.as_bytes());
        json_int(out, b",\"from_node_id\":", self.from_node_id);
        json_int(out, b",\"id\":", self.id);
        json_int(out, b",\"import_time_us\":", self.import_time_us);
        out.extend_from_slice(b",\"long_name\":");
        json_string(out, self.long_name);
        out.extend_from_slice(b",\"payload\":");
        json_string(out, self.payload);
        json_int(out, b",\"portnum\":", self.portnum.into());
        if let Some(r) = self.reply_id {
            json_int(out, b",\"reply_id\":", r.into());
        }
        out.extend_from_slice(b",\"to_long_name\":");
        json_string(out, self.to_long_name);
        json_int(out, b",\"to_node_id\":", self.to_node_id);
        out.push(b'}');
    }
}

fn json_string(out: &mut Vec<u8>, s: &str) {
    // serde_json's escaping; writing to a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, s);
}

fn json_int(out: &mut Vec<u8>, key: &[u8], v: i64) {
    out.extend_from_slice(key);
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// The decoded `Data` of a stored MeshPacket, if it was decrypted.
fn data_of(stored: Option<&[u8]>) -> Option<pb::Data> {
    let packet = pb::MeshPacket::decode(stored?).ok()?;
    match packet.payload_variant {
        Some(PayloadVariant::Decoded(d)) => Some(d),
        _ => None,
    }
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
        decoded: json_null(),
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
                decoded: json_null(),
                reply_id,
            };
        }
        let text = message_text(&data);
        let decoded = text_json(&text, data.emoji);
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
    let Some((text, json)) = payload.text_and_json() else {
        return not_decoded(reply_id);
    };
    // Valid by construction (crates/meshview-protocol/tests/text_and_json.rs); items
    // embed it as it stands.
    debug_assert!(
        serde_json::from_str::<serde::de::IgnoredAny>(&json).is_ok(),
        "{json}"
    );
    let decoded = json;
    Presented {
        // Waypoints decode (for `decoded`) but MeshView never printed them.
        payload: if TEXT_FORMAT_PORTS.contains(&portnum) {
            trimmed(text)
        } else {
            NOT_DECODED.to_string()
        },
        decoded,
        reply_id,
    }
}

/// `s` without surrounding whitespace, reusing its buffer (the printer's text ends in a
/// newline; copying every payload to drop it showed in profiles).
fn trimmed(mut s: String) -> String {
    let end = s.trim_end().len();
    s.truncate(end);
    let start = s.len() - s.trim_start().len();
    if start > 0 {
        s.drain(..start);
    }
    s
}

/// The `/api/packets` item of a packet and its presentation.
pub fn packet_item<'a>(p: &PacketIn<'a>, shown: &'a Presented) -> PacketItem<'a> {
    PacketItem {
        channel: p.channel,
        decoded: &shown.decoded,
        from_node_id: p.from,
        id: p.id,
        import_time_us: p.import_time_us,
        long_name: p.long_name.unwrap_or(""),
        payload: &shown.payload,
        portnum: p.portnum,
        reply_id: (shown.reply_id != 0).then_some(shown.reply_id),
        to_long_name: p.to_long_name.unwrap_or(""),
        to_node_id: p.to,
    }
}

/// A packet's item as JSON text (the stream's events).
pub fn packet_json(p: &PacketIn<'_>) -> String {
    let shown = present(p.portnum, p.to, p.payload);
    let mut out = Vec::with_capacity(512);
    packet_item(p, &shown).write_json(&mut out);
    // Only `str`s and serde_json's output were written.
    String::from_utf8(out).unwrap_or_default()
}

/// A text message's `decoded`: `{"text": …}`, with `emoji` when set.
fn text_json(text: &str, emoji: u32) -> String {
    #[derive(Serialize)]
    struct TextMessage<'a> {
        #[serde(skip_serializing_if = "Option::is_none")]
        emoji: Option<u32>,
        text: &'a str,
    }
    serde_json::to_string(&TextMessage {
        emoji: (emoji != 0).then_some(emoji),
        text,
    })
    .unwrap_or_else(|_| json_null())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn decoded(p: &Presented) -> Value {
        serde_json::from_str(&p.decoded).expect("decoded is JSON")
    }

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

    /// The hand-written item JSON (see [`PacketItem::write_json`]) is byte for byte what
    /// serde writes for the same fields, on every kind of packet the simulator sends.
    #[test]
    fn hand_written_items_equal_the_serde_form() {
        #[derive(serde::Serialize)]
        struct Item<'a> {
            channel: Option<&'a str>,
            decoded: &'a serde_json::value::RawValue,
            from_node_id: i64,
            id: i64,
            import_time_us: i64,
            long_name: &'a str,
            payload: &'a str,
            portnum: i32,
            #[serde(skip_serializing_if = "Option::is_none")]
            reply_id: Option<u32>,
            to_long_name: &'a str,
            to_node_id: i64,
        }
        let ring =
            meshview_protocol::Keyring::with_secondary(meshview_sim::DEFAULT_SECONDARY_KEY_B64)
                .expect("key");
        let sim = meshview_sim::Simulator::new(meshview_sim::SimConfig {
            packets: 400,
            ..meshview_sim::SimConfig::default()
        })
        .expect("simulator");
        let (mut items, mut ports) = (0, std::collections::BTreeSet::new());
        for msg in sim {
            let Ok(env) = meshview_protocol::decode_envelope(&msg.topic, &msg.payload, &ring)
            else {
                continue;
            };
            let stored = env.packet_bytes();
            let shown = present(env.portnum(), env.to().0 as i64, Some(&stored));
            let p = PacketIn {
                id: env.id() as i64,
                portnum: env.portnum(),
                from: env.from().0 as i64,
                to: env.to().0 as i64,
                payload: Some(&stored),
                import_time_us: (msg.at_s * 1e6) as i64,
                channel: Some(&env.channel),
                // Names with what JSON must escape.
                long_name: Some("Ω \"quoted\" \\ <tag>\n"),
                to_long_name: None,
            };
            let item = packet_item(&p, &shown);
            let mut hand = Vec::new();
            item.write_json(&mut hand);
            let raw = serde_json::value::RawValue::from_string(item.decoded.to_string())
                .expect("decoded is JSON");
            let serde = serde_json::to_vec(&Item {
                channel: item.channel,
                decoded: &raw,
                from_node_id: item.from_node_id,
                id: item.id,
                import_time_us: item.import_time_us,
                long_name: item.long_name,
                payload: item.payload,
                portnum: item.portnum,
                reply_id: item.reply_id,
                to_long_name: item.to_long_name,
                to_node_id: item.to_node_id,
            })
            .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&hand),
                String::from_utf8_lossy(&serde),
                "port {}",
                p.portnum
            );
            items += 1;
            ports.insert(p.portnum);
        }
        assert!(items > 500, "{items} items");
        assert!(ports.len() >= 8, "{ports:?}");
    }

    #[test]
    fn trims_in_place() {
        for s in ["", " ", "a", "a\n", " a b \n", "\n\ta", "é \u{a0}"] {
            assert_eq!(trimmed(s.to_string()), s.trim(), "{s:?}");
        }
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
        assert_eq!(decoded(&p), json!({"text": "<script>alert(1)</script>"}));
        assert_eq!(p.reply_id, 9);
        let dm = stored(1, 5, b"secret".to_vec(), 0);
        let p = present(1, 5, Some(&dm));
        assert_eq!(p.payload, REDACTED);
        assert_eq!(decoded(&p), Value::Null);
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
        assert_eq!(decoded(&p), json!({"route": [16], "snr_towards": [24, -8]}));
        let user = pb::User {
            id: "!0000abcd".into(),
            long_name: "Caf\u{e9} \"q\"".into(),
            public_key: vec![0xab, 0x01],
            hw_model: pb::HardwareModel::HeltecV3 as i32,
            ..Default::default()
        };
        let b = stored(4, 5, user.encode_to_vec(), 0);
        let p = present(4, 5, Some(&b));
        assert_eq!(decoded(&p)["long_name"], json!("Caf\u{e9} \"q\""));
        assert_eq!(decoded(&p)["public_key"], json!("ab01"));
        assert_eq!(decoded(&p)["hw_model"], json!("HELTEC_V3"));
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
            decoded(&p),
            json!({"environment_metrics": {"temperature": -3.5}})
        );
    }

    #[test]
    fn items_keep_their_field_order() {
        let b = stored(1, 0xFFFF_FFFF, b"hi".to_vec(), 3);
        let json = packet_json(&PacketIn {
            id: 5,
            portnum: 1,
            from: 10,
            to: BROADCAST,
            payload: Some(&b),
            import_time_us: 99,
            channel: Some("LongFast"),
            long_name: Some("<b>x</b>"),
            to_long_name: None,
        });
        assert_eq!(
            json,
            r#"{"channel":"LongFast","decoded":{"text":"hi"},"from_node_id":10,"id":5,"import_time_us":99,"long_name":"<b>x</b>","payload":"hi","portnum":1,"reply_id":3,"to_long_name":"","to_node_id":4294967295}"#
        );
    }
}
