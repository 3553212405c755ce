//! Property tests of the decode path: whatever the topic and bytes, decoding returns a
//! value or a reject reason — it never panics — and what it accepts is consistent.

use meshview_protocol::json::decode_json_envelope;
use meshview_protocol::{Decryption, Keyring, Message, NodeId, decode_envelope, pb};
use proptest::prelude::*;

fn topics() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("msh/US/bayarea/2/e/LongFast/!a1b2c3d4".to_string()),
        Just("msh/EU_868/2/map/".to_string()),
        Just("msh/US/2/json/LongFast/!00000001".to_string()),
        Just("msh/US/2/stat/!00000001".to_string()),
        "[a-zA-Z0-9/!#$+ _-]{0,80}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(topic in topics(), bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let ring = Keyring::new();
        let _ = decode_envelope(&topic, &bytes, &ring);
        let _ = decode_json_envelope(&topic, &bytes);
    }

    #[test]
    fn arbitrary_json_never_panics(text in "\\{[ -~]{0,200}\\}") {
        let _ = decode_json_envelope("msh/US/2/json/LongFast/!00000001", text.as_bytes());
    }

    /// A well-formed plaintext envelope is accepted with its header intact, whatever the
    /// numbers and the (valid UTF-8) strings in it.
    #[test]
    fn plaintext_envelopes_round_trip(
        from in any::<u32>(), to in any::<u32>(), id in 1u32.., gateway in any::<u32>(),
        text in ".{0,100}", channel in "[A-Za-z0-9]{0,12}", rx_time in any::<u32>(),
        hop_start in 0u32..8, hops in 0u32..8,
    ) {
        let packet = pb::MeshPacket {
            from, to, id, rx_time, hop_start, hop_limit: hop_start.saturating_sub(hops),
            payload_variant: Some(pb::mesh_packet::PayloadVariant::Decoded(pb::Data {
                portnum: pb::PortNum::TextMessageApp as i32,
                payload: text.clone().into_bytes(),
                ..Default::default()
            })),
            ..Default::default()
        };
        let bytes = pb::ServiceEnvelope {
            packet: Some(packet),
            channel_id: channel.clone(),
            gateway_id: NodeId(gateway).to_string(),
        }
        .encode_to_vec();
        let env = decode_envelope("msh/US/2/e/LongFast/!00000001", &bytes, &Keyring::new()).unwrap();
        prop_assert_eq!(env.from(), NodeId(from));
        prop_assert_eq!(env.to(), NodeId(to));
        prop_assert_eq!(env.id(), id);
        prop_assert_eq!(env.gateway, NodeId(gateway));
        prop_assert_eq!(env.decryption, Decryption::Plaintext);
        prop_assert_eq!(env.portnum(), 1);
        prop_assert_eq!(env.rx_time(), rx_time);
        prop_assert_eq!(env.data().unwrap().payload.as_slice(), text.as_bytes());
    }
}
