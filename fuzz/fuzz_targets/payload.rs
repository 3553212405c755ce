//! `decode_payload` for every port number. Input: 2 bytes of port (little-endian `i16`, so
//! negative, unknown and every Meshtastic port 0..=511 are reachable) then the payload.
//!
//! Properties: nothing panics; the payload keeps its port; the text format and the JSON
//! agree and the JSON is a valid object; the fields the writer extracts are computable.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshview_protocol::{NodeId, decode_payload, pb};

fuzz_target!(|data: &[u8]| {
    let Some((port, bytes)) = data.split_first_chunk::<2>() else {
        return;
    };
    let port = i32::from(i16::from_le_bytes(*port));
    let payload = decode_payload(port, bytes);
    assert_eq!(payload.portnum(), port);
    let text = payload.text_format();
    if let Some((t, json)) = payload.text_and_json() {
        assert_eq!(Some(&t), text.as_ref(), "text_and_json's text differs");
        let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
        assert!(v.is_object(), "JSON is not an object: {json}");
    } else {
        assert!(text.is_none());
    }
    let _ = (
        payload.node_info(),
        payload.map_report(),
        payload.traceroute(),
        payload.position(),
    );
    let _ = meshview_protocol::payload::port_name(port);
    let _ = meshview_protocol::payload::hw_model_name(port);
    let _ = meshview_protocol::payload::role_name(port);
    let data = pb::Data {
        portnum: port,
        payload: bytes.to_vec(),
        ..Default::default()
    };
    let _ = meshview_protocol::payload::message_text(&data);
    let _ = meshview_protocol::payload::searchable_text(port, NodeId(0x0000_beef), &data);
    let _ = meshview_protocol::links::packet_links(NodeId(1000), NodeId(2000), &data, &payload);
});
