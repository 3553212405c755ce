//! Facts about real captured traffic (see tests/fixtures/real-traffic/README.md) that the
//! decoder must reproduce exactly.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use meshview_protocol::pb::{self, PortNum};
use meshview_protocol::{
    Decryption, Keyring, Payload, RejectReason, decode_envelope, pb::mesh_packet::PayloadVariant,
};
use prost::Message;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::PathBuf;

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/real-traffic")
}

fn read(name: &str) -> String {
    let path = data_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The friendlydev lines carry their gateway in the envelope; build the topic
/// a broker would have delivered them on.
fn eu_topic(raw: &[u8]) -> String {
    let gw = pb::ServiceEnvelope::decode(raw)
        .map(|e| e.gateway_id)
        .unwrap_or_default();
    format!("msh/EU_868/2/e/LongFast/{gw}")
}

#[test]
fn friendlydev_messages_match_documented_facts() {
    let text = read("friendlydev_meshtastic-decode_messages.txt");
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 337);
    let ring = Keyring::new();

    let mut ok = Vec::new();
    let mut failed_lines = HashSet::new();
    let mut failures = 0;
    for line in &lines {
        let raw = STANDARD.decode(line.trim()).expect("base64");
        match decode_envelope(&eu_topic(&raw), &raw, &ring) {
            Ok(e) => ok.push(e),
            Err(reason) => {
                assert_eq!(reason, RejectReason::NotProtobuf);
                failed_lines.insert(line.trim());
                failures += 1;
            }
        }
    }
    assert_eq!(ok.len(), 323);
    assert_eq!(failures, 14);
    // The same malformed 136-character envelope, fourteen times. The README says
    // it is from !960f5998, but its `from` bytes (offset 3, fixed32 LE) are
    // 98 59 0f 97, i.e. !970f5998; the README is one bit off.
    assert_eq!(failed_lines.len(), 1);
    let bad = failed_lines.iter().next().unwrap();
    assert_eq!(bad.len(), 136);
    let bad_raw = STANDARD.decode(bad).unwrap();
    assert_eq!(&bad_raw[2..7], &[0x0d, 0x98, 0x59, 0x0f, 0x97]);
    assert!(pb::ServiceEnvelope::decode(bad_raw.as_slice()).is_err());

    let decrypted: Vec<_> = ok
        .iter()
        .filter(|e| e.decryption == Decryption::Decrypted { key_index: 0 })
        .collect();
    assert_eq!(decrypted.len(), 255);
    assert!(decrypted.iter().all(|e| e.packet.channel == 8));
    let plaintext = ok
        .iter()
        .filter(|e| e.decryption == Decryption::Plaintext)
        .count();
    assert_eq!(plaintext, 68);
    let undecryptable = ok
        .iter()
        .filter(|e| e.decryption == Decryption::Undecryptable)
        .count();
    assert_eq!(undecryptable, 0);
    assert!(ok.iter().all(|e| e.channel == "LongFast"));

    let mut copies: HashMap<(u32, u32), usize> = HashMap::new();
    for e in &ok {
        *copies.entry((e.from().as_u32(), e.id())).or_default() += 1;
    }
    assert_eq!(copies.len(), 261);
    assert_eq!(copies.values().filter(|&&n| n > 1).count(), 24);
    assert_eq!(copies.values().filter(|&&n| n == 14).count(), 2);

    let mut ports: BTreeMap<String, usize> = BTreeMap::new();
    for e in &ok {
        let name = e.port().map_or("?", |p| p.as_str_name());
        *ports.entry(name.to_owned()).or_default() += 1;
    }
    let expected: BTreeMap<String, usize> = [
        ("POSITION_APP", 115),
        ("NODEINFO_APP", 101),
        ("TELEMETRY_APP", 99),
        ("TRACEROUTE_APP", 4),
        ("TEXT_MESSAGE_APP", 2),
        ("ROUTING_APP", 2),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    assert_eq!(ports, expected);

    // The oddities the README calls out.
    assert_eq!(ok.iter().filter(|e| e.rx_time() == 0).count(), 41);
    assert_eq!(ok.iter().filter(|e| e.rx_snr() == 0.0).count(), 143);
    assert!(ok.iter().all(|e| e.hop_limit() == 0));
    assert!(ok.iter().all(|e| e.hop_start() <= 7));
    assert_eq!(ok.iter().filter(|e| e.relay_node() != 0).count(), 137);

    // Every decoded payload decodes per port and prints; emoji names survive.
    let mut long_names = HashSet::new();
    for e in &ok {
        let payload = e.payload().expect("decoded");
        assert!(
            !matches!(payload, Payload::Undecodable(..) | Payload::Other(..)),
            "{payload:?}"
        );
        assert!(payload.text_format().is_some());
        if let Some(info) = payload.node_info() {
            long_names.insert(info.long_name);
        }
        // Re-serialised packet round-trips with the decoded payload.
        let stored = pb::MeshPacket::decode(e.packet_bytes().as_slice()).unwrap();
        assert!(matches!(
            stored.payload_variant,
            Some(PayloadVariant::Decoded(_))
        ));
        assert_eq!(stored, e.packet);
    }
    assert!(long_names.contains("☠️🐮"), "{long_names:?}");
}

fn json_str<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let start = line.find(&format!("\"{key}\": \""))? + key.len() + 5;
    let len = line[start..].find('"')?;
    Some(&line[start..start + len])
}

#[test]
fn labelled_samples_decode_to_their_port() {
    let text = read("real_samples.jsonl");
    let ring = Keyring::new();
    let mut seen = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let label = json_str(line, "label").expect("label");
        let raw = STANDARD
            .decode(json_str(line, "payload_b64").expect("payload"))
            .expect("base64");
        seen += 1;
        if label == "JSON_TOPIC_NODEINFO" {
            let topic = "msh/EU_868/2/json/LongFast/!e2e52244";
            assert_eq!(
                decode_envelope(topic, &raw, &ring),
                Err(RejectReason::JsonTopic)
            );
            // JSON bytes on a protobuf topic are not mistaken for an envelope.
            let e_topic = "msh/EU_868/2/e/LongFast/!e2e52244";
            assert_eq!(
                decode_envelope(e_topic, &raw, &ring),
                Err(RejectReason::NotProtobuf)
            );
            continue;
        }
        let topic = if line.contains("dpup/meshstream") {
            "msh/US/bayarea/2/map/".to_owned()
        } else {
            eu_topic(&raw)
        };
        let e = decode_envelope(&topic, &raw, &ring).unwrap_or_else(|r| panic!("{label}: {r}"));
        assert_eq!(e.port().map(|p| p.as_str_name()), Some(label), "{topic}");
        let payload = e.payload().unwrap();
        if label == "MAP_REPORT_APP" {
            let m = payload.map_report().expect("map report");
            assert!(
                !m.long_name.is_empty() && !m.firmware_version.is_empty(),
                "{m:?}"
            );
        }
        if label == "TRACEROUTE_APP" {
            assert!(payload.traceroute().is_some());
        }
        if label == "NODEINFO_APP" {
            assert!(payload.node_info().is_some());
        }
    }
    assert_eq!(seen, 13);

    // Map reports arrive as plaintext MeshPackets.
    let map_line = text
        .lines()
        .find(|l| l.contains("dpup/meshstream"))
        .unwrap();
    let raw = STANDARD
        .decode(json_str(map_line, "payload_b64").unwrap())
        .unwrap();
    let e = decode_envelope("msh/US/bayarea/2/map/", &raw, &ring).unwrap();
    assert_eq!(e.decryption, Decryption::Plaintext);
    assert_eq!(e.portnum(), PortNum::MapReportApp as i32);
    assert_eq!(e.id(), 0);
}
