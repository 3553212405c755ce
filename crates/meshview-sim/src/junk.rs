//! Junk MQTT messages: things a public broker really carries that must never
//! become packets. Each kind maps to exactly one decoder reject reason.

use meshview_protocol::pb;
use meshview_protocol::pb::mesh_packet::PayloadVariant;
use meshview_protocol::{Keyring, Message, RejectReason, decode_envelope};
use rand::Rng;
use rand::rngs::StdRng;

/// The kinds of junk, emitted round-robin so every kind shows up.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum JunkKind {
    /// Random bytes on a normal `/2/e/` topic.
    RandomBytes,
    /// A real envelope cut short in the middle of its packet.
    Truncated,
    /// 64 KiB of noise: over the decoder's size limit.
    Oversized,
    /// An envelope with empty `gateway_id` on a topic whose last segment is not a node.
    EmptyGateway,
    /// An envelope whose `channel_id` string holds invalid UTF-8.
    InvalidUtf8,
    /// Gateway status text on `/2/stat/`.
    StatTopic,
    /// A JSON packet on `/2/json/`.
    JsonTopic,
    /// A well-formed envelope without a packet.
    NoPacket,
    /// A well-formed envelope whose packet has neither `decoded` nor `encrypted`.
    NoPayload,
}

impl JunkKind {
    pub const ALL: [JunkKind; 9] = [
        JunkKind::RandomBytes,
        JunkKind::Truncated,
        JunkKind::Oversized,
        JunkKind::EmptyGateway,
        JunkKind::InvalidUtf8,
        JunkKind::StatTopic,
        JunkKind::JsonTopic,
        JunkKind::NoPacket,
        JunkKind::NoPayload,
    ];

    /// The key used in [`super::GroundTruth::junk`].
    pub const fn as_str(self) -> &'static str {
        match self {
            JunkKind::RandomBytes => "random_bytes",
            JunkKind::Truncated => "truncated_envelope",
            JunkKind::Oversized => "oversized_payload",
            JunkKind::EmptyGateway => "empty_gateway_id",
            JunkKind::InvalidUtf8 => "invalid_utf8",
            JunkKind::StatTopic => "stat_topic",
            JunkKind::JsonTopic => "json_topic",
            JunkKind::NoPacket => "no_packet",
            JunkKind::NoPayload => "no_payload",
        }
    }

    pub fn from_str_name(s: &str) -> Option<JunkKind> {
        JunkKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// What `meshview_protocol::decode_envelope` answers for this kind.
    pub const fn expected_reject(self) -> RejectReason {
        match self {
            JunkKind::RandomBytes | JunkKind::Truncated | JunkKind::InvalidUtf8 => {
                RejectReason::NotProtobuf
            }
            JunkKind::Oversized => RejectReason::PayloadTooLarge,
            JunkKind::EmptyGateway => RejectReason::EmptyGatewayId,
            JunkKind::StatTopic => RejectReason::StatTopic,
            JunkKind::JsonTopic => RejectReason::JsonTopic,
            JunkKind::NoPacket => RejectReason::NoPacket,
            JunkKind::NoPayload => RejectReason::NoPayload,
        }
    }
}

/// Where junk is published.
pub(crate) struct JunkContext<'a> {
    pub region_topic: &'a str,
    pub channel: &'a str,
    /// A gateway to attribute topic-borne junk to.
    pub gateway: u32,
    /// A node to appear as the sender of junk packets.
    pub sender: u32,
}

fn random_bytes(rng: &mut StdRng, len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    rng.fill(&mut v[..]);
    v
}

fn rejected_as(topic: &str, payload: &[u8], want: RejectReason) -> bool {
    decode_envelope(topic, payload, &Keyring::new()) == Err(want)
}

/// Builds one junk message `(topic, payload)` of `kind`.
pub(crate) fn make_junk(
    kind: JunkKind,
    ctx: &JunkContext<'_>,
    rng: &mut StdRng,
) -> (String, Vec<u8>) {
    let gw = format!("!{:08x}", ctx.gateway);
    let e_topic = format!("{}/2/e/{}/{gw}", ctx.region_topic, ctx.channel);
    let envelope = |rng: &mut StdRng, gateway_id: &str| {
        let len = rng.random_range(20..90);
        pb::ServiceEnvelope {
            packet: Some(pb::MeshPacket {
                from: ctx.sender,
                to: u32::MAX,
                channel: 8,
                id: rng.random_range(1..=u32::MAX),
                hop_limit: 3,
                hop_start: 3,
                payload_variant: Some(PayloadVariant::Encrypted(random_bytes(rng, len))),
                ..Default::default()
            }),
            channel_id: ctx.channel.to_owned(),
            gateway_id: gateway_id.to_owned(),
        }
    };
    match kind {
        JunkKind::RandomBytes => loop {
            // Random bytes are occasionally a valid (empty-ish) envelope; keep
            // only ones the decoder rejects as not protobuf.
            let len = rng.random_range(4..200);
            let b = random_bytes(rng, len);
            if rejected_as(&e_topic, &b, kind.expected_reject()) {
                return (e_topic, b);
            }
        },
        JunkKind::Truncated => loop {
            // Deliberate junk: a valid prost encoding cut short by hand. The
            // packet is the first field (prost writes fields in tag order), so
            // any cut before its end breaks it.
            let full = envelope(rng, &gw).encode_to_vec();
            let cut = rng.random_range(3..full.len() - 20);
            let b = full[..cut].to_vec();
            if rejected_as(&e_topic, &b, kind.expected_reject()) {
                return (e_topic, b);
            }
        },
        JunkKind::Oversized => (e_topic, random_bytes(rng, 64 * 1024)),
        JunkKind::EmptyGateway => {
            let topic = format!(
                "{}/2/e/{}/mqttx_{:04x}",
                ctx.region_topic,
                ctx.channel,
                rng.random::<u16>()
            );
            (topic, envelope(rng, "").encode_to_vec())
        }
        JunkKind::InvalidUtf8 => {
            let mut b = envelope(rng, &gw).encode_to_vec();
            // Deliberate junk, hand-crafted because prost cannot encode a
            // `String` that is not UTF-8: field 2 (channel_id, tag 0x12) again,
            // length 4, with a lone continuation sequence. The last occurrence
            // of a string field wins, and it is not UTF-8.
            b.extend_from_slice(&[0x12, 0x04, b'L', 0xc3, 0x28, b'F']);
            (e_topic, b)
        }
        JunkKind::StatTopic => {
            let text: &[u8] = if rng.random_bool(0.7) {
                b"online"
            } else {
                b"offline"
            };
            (format!("{}/2/stat/{gw}", ctx.region_topic), text.to_vec())
        }
        JunkKind::JsonTopic => {
            let json = format!(
                r#"{{"channel":0,"from":{},"id":{},"payload":{{"text":"hello from json"}},"sender":"{gw}","timestamp":1767225600,"to":4294967295,"type":"text"}}"#,
                ctx.sender,
                rng.random_range(1..=u32::MAX),
            );
            (
                format!("{}/2/json/{}/{gw}", ctx.region_topic, ctx.channel),
                json.into_bytes(),
            )
        }
        JunkKind::NoPacket => {
            let e = pb::ServiceEnvelope {
                packet: None,
                channel_id: ctx.channel.to_owned(),
                gateway_id: gw.clone(),
            };
            (e_topic, e.encode_to_vec())
        }
        JunkKind::NoPayload => {
            let mut e = envelope(rng, &gw);
            if let Some(p) = e.packet.as_mut() {
                p.payload_variant = None;
            }
            (e_topic, e.encode_to_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn every_kind_is_rejected_as_documented() {
        let mut rng = StdRng::seed_from_u64(1);
        let ctx = JunkContext {
            region_topic: "msh/US/bayarea",
            channel: "LongFast",
            gateway: 0x1234_5678,
            sender: 0xa1b2_c3d4,
        };
        for _ in 0..20 {
            for kind in JunkKind::ALL {
                let (topic, payload) = make_junk(kind, &ctx, &mut rng);
                assert_eq!(
                    decode_envelope(&topic, &payload, &Keyring::new()),
                    Err(kind.expected_reject()),
                    "{kind:?}"
                );
                assert_eq!(JunkKind::from_str_name(kind.as_str()), Some(kind));
            }
        }
    }
}
