//! The JSON written alongside the text format says the same as the text: checked by
//! reading the text back into JSON independently (the way a client regex-parsing
//! `payload` would), over real captured payloads and random mutations of them.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use meshview_protocol::{Keyring, Payload, decode_envelope, decode_payload};
use serde_json::{Map, Value};
use std::path::PathBuf;

/// Fields declared repeated in the printed messages (a single element is still a list).
const REPEATED: [&str; 5] = [
    "route",
    "snr_towards",
    "route_back",
    "snr_back",
    "neighbors",
];
/// Bytes fields, shown as hex.
const BYTES: [&str; 2] = ["public_key", "macaddr"];

/// Reads the text format back into JSON.
fn read_text_format(text: &str) -> Value {
    let mut stack: Vec<(String, Map<String, Value>)> = vec![(String::new(), Map::new())];
    for line in text.lines() {
        let line = line.trim();
        if line == "}" {
            let (name, obj) = stack.pop().expect("balanced");
            insert(
                &mut stack.last_mut().expect("root").1,
                &name,
                Value::Object(obj),
            );
        } else if let Some(name) = line.strip_suffix(" {") {
            stack.push((name.to_string(), Map::new()));
        } else {
            let (name, v) = line.split_once(": ").expect("a field line");
            let value = if BYTES.contains(&name) {
                Value::String(hex(&unquote(v)))
            } else {
                scalar(v)
            };
            insert(&mut stack.last_mut().expect("root").1, name, value);
        }
    }
    assert_eq!(stack.len(), 1, "unbalanced text: {text}");
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
        "nan" | "inf" | "-inf" => return Value::Null,
        _ => {}
    }
    // A number as JSON reads it (serde_json's float parsing can differ from std's in
    // the last bit, so both sides go through it).
    match serde_json::from_str::<Value>(v) {
        Ok(n @ Value::Number(_)) => n,
        _ => Value::String(v.to_string()),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Undoes the C escaping of a quoted string.
fn unquote(v: &str) -> Vec<u8> {
    let inner = &v.as_bytes()[1..v.len() - 1];
    let mut out = Vec::new();
    let mut i = 0;
    while i < inner.len() {
        if inner[i] != b'\\' {
            out.push(inner[i]);
            i += 1;
            continue;
        }
        match inner[i + 1] {
            b't' => out.push(b'\t'),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            d @ b'0'..=b'7' => {
                let n = inner[i + 1..i + 4]
                    .iter()
                    .fold(0u32, |acc, d| acc * 8 + u32::from(d - b'0'));
                assert!(d <= b'3', "octal escape out of range");
                out.push(n as u8);
                i += 4;
                continue;
            }
            other => out.push(other),
        }
        i += 2;
    }
    out
}

/// Checks one payload; returns whether it was a printed message.
fn check(payload: &Payload) -> bool {
    let Some((text, json)) = payload.text_and_json() else {
        assert!(payload.text_format().is_none());
        return false;
    };
    assert_eq!(Some(&text), payload.text_format().as_ref());
    let parsed: Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    if let Payload::Text(s) = payload {
        assert_eq!(parsed, serde_json::json!({ "text": s }));
    } else {
        assert_eq!(
            parsed,
            read_text_format(&text),
            "text:\n{text}\njson: {json}"
        );
    }
    true
}

/// (port, payload bytes) of every decrypted packet in the captured traffic.
fn real_payloads() -> Vec<(i32, Vec<u8>)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/real-traffic/friendlydev_meshtastic-decode_messages.txt");
    let text = std::fs::read_to_string(path).expect("test data");
    let ring = Keyring::new();
    text.lines()
        .filter_map(|l| STANDARD.decode(l.trim()).ok())
        .filter_map(|b| decode_envelope("msh/EU_868/2/e/LongFast/!01020304", &b, &ring).ok())
        .filter_map(|e| e.data().map(|d| (d.portnum, d.payload.clone())))
        .collect()
}

#[test]
fn real_payloads_agree() {
    let payloads = real_payloads();
    let printed = payloads
        .iter()
        .filter(|(port, b)| check(&decode_payload(*port, b)))
        .count();
    // Positions, node infos, telemetry, neighbours, traceroutes, routing, texts.
    assert!(printed >= 250, "{printed} of {}", payloads.len());
}

#[test]
fn mutated_payloads_agree() {
    let seeds = real_payloads();
    // xorshift64*: deterministic randomness.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut next = move || {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    };
    let mut printed = 0;
    for i in 0..30_000 {
        let (port, mut b) = seeds[i % seeds.len()].clone();
        for _ in 0..=next() % 4 {
            if b.is_empty() {
                break;
            }
            let at = (next() % b.len() as u64) as usize;
            b[at] = next() as u8;
        }
        // Also every message type of the printed ports.
        let port = if i % 3 == 0 {
            [3, 4, 5, 8, 67, 70, 71, 73][(next() % 8) as usize]
        } else {
            port
        };
        if check(&decode_payload(port, &b)) {
            printed += 1;
        }
    }
    assert!(printed > 5_000, "{printed}");
}
