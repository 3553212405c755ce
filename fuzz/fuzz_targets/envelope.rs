//! One MQTT message (topic + payload) through envelope decoding, decryption and the
//! writer's step function. Input: `topic NUL payload`; without a NUL the whole input is
//! the payload of a `…/2/e/LongFast/!0000beef` message.
//!
//! Properties: nothing panics (the writer must never exit because of a packet); a decoded
//! envelope's gateway id round-trips through `!hex`; its packet re-encodes, decodes and
//! encodes to the same bytes; its payload's text format and JSON are consistent.
#![no_main]

use std::sync::{Arc, OnceLock};

use libfuzzer_sys::fuzz_target;
use meshview::config::Config;
use meshview::ingest::pipeline::Pipeline;
use meshview::ingest::stats::IngestStats;
use meshview_protocol::json::decode_json_envelope;
use meshview_protocol::{
    ChannelKey, DecodeOptions, Keyring, Message, NodeId, decode_envelope_with, pb,
};

const DEFAULT_TOPIC: &str = "msh/EU_868/2/e/LongFast/!0000beef";
/// The simulator's secondary key (`meshview_sim::DEFAULT_SECONDARY_KEY_B64`).
const SECONDARY_KEY_B64: &str = "q83vEjRWeJCrze8SNFZ4kA==";

fn keyring() -> &'static Keyring {
    static K: OnceLock<Keyring> = OnceLock::new();
    K.get_or_init(|| Keyring::with_secondary(SECONDARY_KEY_B64).expect("valid key"))
}

fn config() -> &'static Config {
    static C: OnceLock<Config> = OnceLock::new();
    C.get_or_init(|| {
        let mut c = Config::defaults();
        c.mqtt.secondary_keys = vec![SECONDARY_KEY_B64.to_string()];
        c.mqtt.decode_json = true;
        c
    })
}

fn check_envelope(topic: &str, payload: &[u8]) {
    let options = DecodeOptions::default();
    let decoded = decode_envelope_with(topic, payload, keyring(), &options)
        .or_else(|_| decode_json_envelope(topic, payload));
    let Ok(env) = decoded else {
        return;
    };
    let gw = env.gateway;
    let back: NodeId = gw.to_string().parse().expect("a gateway id prints as !hex");
    assert_eq!(back, gw);
    let from: NodeId = env
        .from()
        .to_string()
        .parse()
        .expect("`from` prints as !hex");
    assert_eq!(from, env.from());
    let bytes = env.packet_bytes();
    let again = pb::MeshPacket::decode(bytes.as_slice()).expect("an encoded packet decodes");
    // Compared as bytes: an SNR may be NaN, which is not equal to itself.
    assert_eq!(
        again.encode_to_vec(),
        bytes,
        "the packet does not re-encode the same"
    );
    let _ = (
        env.to(),
        env.id(),
        env.port(),
        env.rx_time(),
        env.rx_snr(),
        env.rx_rssi(),
    );
    let _ = (
        env.hop_limit(),
        env.hop_start(),
        env.relay_node(),
        env.via_mqtt(),
    );
    let _ = (
        env.want_response(),
        env.request_id(),
        env.reply_id(),
        env.emoji(),
    );
    if let Some(data) = env.data() {
        let _ = meshview_protocol::payload::message_text(data);
        let _ = meshview_protocol::payload::searchable_text(data.portnum, env.to(), data);
    }
    if let (Some(data), Some(payload)) = (env.data(), env.payload()) {
        let _ = meshview_protocol::links::packet_links(env.from(), env.to(), data, &payload);
    }
    if let Some(payload) = env.payload() {
        assert_eq!(payload.portnum(), env.portnum());
        let text = payload.text_format();
        if let Some((t, json)) = payload.text_and_json() {
            assert_eq!(Some(&t), text.as_ref());
            let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
            assert!(v.is_object());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let (topic, payload) = match data.iter().position(|&b| b == 0) {
        Some(i) => (
            String::from_utf8_lossy(&data[..i]).into_owned(),
            &data[i + 1..],
        ),
        None => (DEFAULT_TOPIC.to_string(), data),
    };
    let _ = meshview_protocol::Topic::parse(&topic).gateway_node_id();
    let _ = meshview_protocol::Topic::last_segment_node_id(&topic);
    check_envelope(&topic, payload);
    let mut pipeline = Pipeline::from_config(config(), Arc::new(IngestStats::default()))
        .expect("the fuzz configuration is valid");
    let _ = pipeline.handle(&topic, payload, 1_700_000_000_000_000);
    let _ = ChannelKey::from_psk(payload.get(..32).unwrap_or(payload));
});
