//! Decoding one MQTT message (topic + payload) into a decrypted packet.

use crate::crypto::{DecryptOutcome, decrypt_packet};
use crate::keys::Keyring;
use crate::node_id::NodeId;
use crate::payload::{Payload, decode_payload};
use crate::pb;
use crate::pb::mesh_packet::PayloadVariant;
use crate::topic::{Topic, TopicKind};
use prost::Message;

/// Tunables for [`decode_envelope_with`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Larger payloads are rejected unparsed. A LoRa packet is under 256 bytes,
    /// so anything near this is junk or abuse.
    pub max_payload_len: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions {
            max_payload_len: 64 * 1024 - 1,
        }
    }
}

/// Why an MQTT message was not turned into a packet. Each is counted separately.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RejectReason {
    /// Payload longer than [`DecodeOptions::max_payload_len`].
    PayloadTooLarge,
    /// `…/2/stat/…`: gateway status, not a packet.
    StatTopic,
    /// `…/2/json/…`: JSON packets are not decoded here.
    JsonTopic,
    /// A JSON-topic message that is not Meshtastic JSON.
    NotJson,
    /// A Meshtastic JSON message of a type we do not decode.
    JsonUnsupported,
    /// Not a valid ServiceEnvelope (bad wire format, truncated, invalid UTF-8 in a string…).
    NotProtobuf,
    /// A valid envelope without a packet.
    NoPacket,
    /// A packet with neither `decoded` nor `encrypted`.
    NoPayload,
    /// No gateway id in the envelope and none in the topic.
    EmptyGatewayId,
    /// A gateway id that is not a node id, and none usable in the topic.
    BadGatewayId,
}

impl RejectReason {
    /// All reasons, for pre-registering metrics.
    pub const ALL: [RejectReason; 10] = [
        RejectReason::PayloadTooLarge,
        RejectReason::StatTopic,
        RejectReason::JsonTopic,
        RejectReason::NotJson,
        RejectReason::JsonUnsupported,
        RejectReason::NotProtobuf,
        RejectReason::NoPacket,
        RejectReason::NoPayload,
        RejectReason::EmptyGatewayId,
        RejectReason::BadGatewayId,
    ];

    /// A stable snake_case label for metrics and logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            RejectReason::PayloadTooLarge => "payload_too_large",
            RejectReason::StatTopic => "stat_topic",
            RejectReason::JsonTopic => "json_topic",
            RejectReason::NotJson => "not_json",
            RejectReason::JsonUnsupported => "json_unsupported",
            RejectReason::NotProtobuf => "not_protobuf",
            RejectReason::NoPacket => "no_packet",
            RejectReason::NoPayload => "no_payload",
            RejectReason::EmptyGatewayId => "empty_gateway_id",
            RejectReason::BadGatewayId => "bad_gateway_id",
        }
    }
}

impl std::fmt::Display for RejectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::error::Error for RejectReason {}

/// How the packet's payload was obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decryption {
    /// It arrived decoded (gateway decrypted it, or a map report).
    Plaintext,
    /// Decrypted with keyring entry `key_index` (0 = default key).
    Decrypted { key_index: usize },
    /// PKI-encrypted or no key fits; the packet keeps its ciphertext.
    Undecryptable,
}

impl Decryption {
    /// A stable label for metrics.
    pub const fn as_str(self) -> &'static str {
        match self {
            Decryption::Plaintext => "plaintext",
            Decryption::Decrypted { .. } => "decrypted",
            Decryption::Undecryptable => "undecryptable",
        }
    }
}

/// A successfully decoded MQTT message.
#[derive(Clone, Debug, PartialEq)]
pub struct DecodedEnvelope {
    /// The node that uplinked the packet.
    pub gateway: NodeId,
    /// The envelope's channel id, or the topic's channel segment when that is empty.
    pub channel: String,
    pub topic_kind: TopicKind,
    /// The packet, with `decoded` filled in when decryption succeeded.
    pub packet: pb::MeshPacket,
    pub decryption: Decryption,
}

impl DecodedEnvelope {
    /// The decoded `Data`, unless undecryptable.
    pub fn data(&self) -> Option<&pb::Data> {
        match &self.packet.payload_variant {
            Some(PayloadVariant::Decoded(d)) => Some(d),
            _ => None,
        }
    }

    /// The packet re-serialised after decryption (MeshView's `packet.payload`).
    pub fn packet_bytes(&self) -> Vec<u8> {
        self.packet.encode_to_vec()
    }

    /// The application payload decoded per port, unless undecryptable.
    pub fn payload(&self) -> Option<Payload> {
        self.data().map(|d| decode_payload(d.portnum, &d.payload))
    }

    pub fn from(&self) -> NodeId {
        NodeId(self.packet.from)
    }

    pub fn to(&self) -> NodeId {
        NodeId(self.packet.to)
    }

    pub fn id(&self) -> u32 {
        self.packet.id
    }

    /// The raw port number; 0 when undecryptable.
    pub fn portnum(&self) -> i32 {
        self.data().map_or(0, |d| d.portnum)
    }

    /// The port as an enum, when it is one this crate knows.
    pub fn port(&self) -> Option<pb::PortNum> {
        pb::PortNum::try_from(self.portnum()).ok()
    }

    /// Receive time as set by the gateway (0 if the gateway has no clock).
    pub fn rx_time(&self) -> u32 {
        self.packet.rx_time
    }

    pub fn rx_snr(&self) -> f32 {
        self.packet.rx_snr
    }

    pub fn rx_rssi(&self) -> i32 {
        self.packet.rx_rssi
    }

    pub fn hop_limit(&self) -> u32 {
        self.packet.hop_limit
    }

    pub fn hop_start(&self) -> u32 {
        self.packet.hop_start
    }

    /// Last byte of the relaying node's number (0 = unknown).
    pub fn relay_node(&self) -> u32 {
        self.packet.relay_node
    }

    pub fn via_mqtt(&self) -> bool {
        self.packet.via_mqtt
    }

    pub fn want_response(&self) -> bool {
        self.data().is_some_and(|d| d.want_response)
    }

    pub fn request_id(&self) -> u32 {
        self.data().map_or(0, |d| d.request_id)
    }

    pub fn reply_id(&self) -> u32 {
        self.data().map_or(0, |d| d.reply_id)
    }

    pub fn emoji(&self) -> u32 {
        self.data().map_or(0, |d| d.emoji)
    }
}

/// [`decode_envelope_with`] with default options.
pub fn decode_envelope(
    topic: &str,
    payload: &[u8],
    keyring: &Keyring,
) -> Result<DecodedEnvelope, RejectReason> {
    decode_envelope_with(topic, payload, keyring, &DecodeOptions::default())
}

/// Decodes a ServiceEnvelope received on `topic` and decrypts its packet.
/// Never panics, whatever the bytes.
pub fn decode_envelope_with(
    topic: &str,
    payload: &[u8],
    keyring: &Keyring,
    options: &DecodeOptions,
) -> Result<DecodedEnvelope, RejectReason> {
    if payload.len() > options.max_payload_len {
        return Err(RejectReason::PayloadTooLarge);
    }
    let topic = Topic::parse(topic);
    match topic.kind {
        TopicKind::Stat => return Err(RejectReason::StatTopic),
        TopicKind::Json => return Err(RejectReason::JsonTopic),
        TopicKind::Encrypted | TopicKind::MapReport | TopicKind::Other => {}
    }
    let envelope = pb::ServiceEnvelope::decode(payload).map_err(|_| RejectReason::NotProtobuf)?;
    let mut packet = envelope.packet.ok_or(RejectReason::NoPacket)?;
    if packet.payload_variant.is_none() {
        return Err(RejectReason::NoPayload);
    }
    let gateway = gateway_id(&envelope.gateway_id, &topic)?;
    let channel = if envelope.channel_id.is_empty() {
        topic.channel.unwrap_or_default().to_owned()
    } else {
        envelope.channel_id
    };

    let decryption = match decrypt_packet(&packet, &channel, keyring) {
        DecryptOutcome::AlreadyDecoded => Decryption::Plaintext,
        DecryptOutcome::Decrypted { key_index, data } => {
            packet.payload_variant = Some(PayloadVariant::Decoded(data));
            Decryption::Decrypted { key_index }
        }
        DecryptOutcome::Undecryptable => Decryption::Undecryptable,
    };
    Ok(DecodedEnvelope {
        gateway,
        channel,
        topic_kind: topic.kind,
        packet,
        decryption,
    })
}

/// The envelope's gateway id, falling back to the topic's gateway segment
/// (some clients leave `gateway_id` empty or garble it).
fn gateway_id(envelope_gateway: &str, topic: &Topic<'_>) -> Result<NodeId, RejectReason> {
    if let Ok(id) = envelope_gateway.parse::<NodeId>() {
        return Ok(id);
    }
    if let Some(id) = topic.gateway_node_id() {
        return Ok(id);
    }
    Err(if envelope_gateway.is_empty() {
        RejectReason::EmptyGatewayId
    } else {
        RejectReason::BadGatewayId
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::apply_channel_cipher;
    use crate::keys::ChannelKey;

    const TOPIC: &str = "msh/EU_868/2/e/LongFast/!0000beef";

    fn data() -> pb::Data {
        pb::Data {
            portnum: pb::PortNum::TextMessageApp as i32,
            payload: b"hi".to_vec(),
            request_id: 7,
            ..Default::default()
        }
    }

    fn envelope(gateway: &str, variant: PayloadVariant) -> Vec<u8> {
        pb::ServiceEnvelope {
            packet: Some(pb::MeshPacket {
                from: 0xa1b2_c3d4,
                to: 0xffff_ffff,
                id: 42,
                channel: 8,
                rx_snr: 6.25,
                hop_start: 3,
                payload_variant: Some(variant),
                ..Default::default()
            }),
            channel_id: "LongFast".into(),
            gateway_id: gateway.into(),
        }
        .encode_to_vec()
    }

    fn encrypted() -> PayloadVariant {
        let ct = apply_channel_cipher(
            &ChannelKey::default_psk(),
            42,
            0xa1b2_c3d4,
            &data().encode_to_vec(),
        );
        PayloadVariant::Encrypted(ct)
    }

    #[test]
    fn decrypts_default_channel() {
        let e =
            decode_envelope(TOPIC, &envelope("!12345678", encrypted()), &Keyring::new()).unwrap();
        assert_eq!(e.gateway, NodeId(0x1234_5678));
        assert_eq!(e.channel, "LongFast");
        assert_eq!(e.decryption, Decryption::Decrypted { key_index: 0 });
        assert_eq!(e.data(), Some(&data()));
        assert_eq!(
            (e.from(), e.to(), e.id()),
            (NodeId(0xa1b2_c3d4), NodeId::BROADCAST, 42)
        );
        assert_eq!((e.portnum(), e.request_id(), e.hop_start()), (1, 7, 3));
        assert_eq!(e.rx_snr(), 6.25);
        assert_eq!(e.payload(), Some(Payload::Text("hi".into())));
        // The stored bytes are the decrypted packet.
        let stored = pb::MeshPacket::decode(e.packet_bytes().as_slice()).unwrap();
        assert_eq!(
            stored.payload_variant,
            Some(PayloadVariant::Decoded(data()))
        );
    }

    #[test]
    fn plaintext_and_undecryptable() {
        let e = decode_envelope(
            TOPIC,
            &envelope("!1", PayloadVariant::Decoded(data())),
            &Keyring::new(),
        )
        .unwrap();
        assert_eq!(e.decryption, Decryption::Plaintext);
        let junk = PayloadVariant::Encrypted(vec![0x5a; 20]);
        let e = decode_envelope(TOPIC, &envelope("!1", junk.clone()), &Keyring::new()).unwrap();
        assert_eq!(e.decryption, Decryption::Undecryptable);
        assert_eq!((e.portnum(), e.payload()), (0, None));
        assert_eq!(e.packet.payload_variant, Some(junk));
    }

    #[test]
    fn gateway_fallbacks() {
        let ring = Keyring::new();
        let e = decode_envelope(TOPIC, &envelope("", encrypted()), &ring).unwrap();
        assert_eq!(e.gateway, NodeId(0xbeef));
        let e = decode_envelope(TOPIC, &envelope("garbage", encrypted()), &ring).unwrap();
        assert_eq!(e.gateway, NodeId(0xbeef));
        let no_gw = "msh/EU_868/2/e/LongFast";
        assert_eq!(
            decode_envelope(no_gw, &envelope("", encrypted()), &ring),
            Err(RejectReason::EmptyGatewayId)
        );
        assert_eq!(
            decode_envelope(no_gw, &envelope("!xyz", encrypted()), &ring),
            Err(RejectReason::BadGatewayId)
        );
    }

    #[test]
    fn rejects() {
        let ring = Keyring::new();
        let ok = envelope("!1", encrypted());
        let stat = "msh/EU_868/2/stat/!00000001";
        assert_eq!(
            decode_envelope(stat, &ok, &ring),
            Err(RejectReason::StatTopic)
        );
        let json = "msh/EU_868/2/json/LongFast/!00000001";
        assert_eq!(
            decode_envelope(json, &ok, &ring),
            Err(RejectReason::JsonTopic)
        );
        assert_eq!(
            decode_envelope(TOPIC, b"\xff\xff\xff", &ring),
            Err(RejectReason::NotProtobuf)
        );
        assert_eq!(
            decode_envelope(TOPIC, b"", &ring),
            Err(RejectReason::NoPacket)
        );
        let empty_packet = pb::ServiceEnvelope {
            packet: Some(pb::MeshPacket::default()),
            ..Default::default()
        };
        assert_eq!(
            decode_envelope(TOPIC, &empty_packet.encode_to_vec(), &ring),
            Err(RejectReason::NoPayload)
        );
        let opts = DecodeOptions {
            max_payload_len: 10,
        };
        assert_eq!(
            decode_envelope_with(TOPIC, &ok, &ring, &opts),
            Err(RejectReason::PayloadTooLarge)
        );
        // Invalid UTF-8 in the gateway_id string field (tag 3).
        let mut bad_utf8 = ok.clone();
        bad_utf8.extend_from_slice(&[0x1a, 0x02, 0xc3, 0x28]);
        assert_eq!(
            decode_envelope(TOPIC, &bad_utf8, &ring),
            Err(RejectReason::NotProtobuf)
        );
        for r in RejectReason::ALL {
            assert!(!r.as_str().is_empty());
        }
    }
}
