//! The protobuf text-format printer (MeshView's text of a decoded packet) on every message
//! type it prints. Input: 1 byte choosing the type, then the message's wire bytes.
//!
//! Properties: nothing panics; `to_text_and_json` prints the same text as
//! `to_text_format`; its JSON is a valid object; the text's braces balance.
#![no_main]

use libfuzzer_sys::fuzz_target;
use meshview_protocol::{Message, TextFormat, pb};

fn check<M: Message + Default + TextFormat>(bytes: &[u8]) {
    let Ok(m) = M::decode(bytes) else {
        return;
    };
    let text = m.to_text_format();
    let (t, json) = m.to_text_and_json();
    assert_eq!(t, text, "to_text_and_json's text differs");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert!(v.is_object(), "JSON is not an object: {json}");
    // Strings are quoted and escaped, so only nesting puts braces outside them.
    let mut depth = 0i64;
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_string => escaped = true,
            '"' => in_string = !in_string,
            '{' if !in_string => depth += 1,
            '}' if !in_string => {
                depth -= 1;
                assert!(depth >= 0, "unbalanced braces in {text:?}");
            }
            _ => {}
        }
    }
    assert!(!in_string, "unterminated string in {text:?}");
    assert_eq!(depth, 0, "unbalanced braces in {text:?}");
}

fuzz_target!(|data: &[u8]| {
    let Some((&which, bytes)) = data.split_first() else {
        return;
    };
    match which % 17 {
        0 => check::<pb::Position>(bytes),
        1 => check::<pb::User>(bytes),
        2 => check::<pb::Routing>(bytes),
        3 => check::<pb::RouteDiscovery>(bytes),
        4 => check::<pb::Telemetry>(bytes),
        5 => check::<pb::DeviceMetrics>(bytes),
        6 => check::<pb::EnvironmentMetrics>(bytes),
        7 => check::<pb::PowerMetrics>(bytes),
        8 => check::<pb::AirQualityMetrics>(bytes),
        9 => check::<pb::LocalStats>(bytes),
        10 => check::<pb::HealthMetrics>(bytes),
        11 => check::<pb::HostMetrics>(bytes),
        12 => check::<pb::TrafficManagementStats>(bytes),
        13 => check::<pb::NeighborInfo>(bytes),
        14 => check::<pb::Neighbor>(bytes),
        15 => check::<pb::MapReport>(bytes),
        _ => check::<pb::Waypoint>(bytes),
    }
});
