//! Capture files: one JSON object per line, `{"topic": …, "payload_b64": …}`.
//!
//! Base64 is done by hand (standard alphabet, padded) because the main crate
//! has no base64 dependency; swapping in the `base64` crate changes nothing
//! on the wire.

use super::SimMessage;
use serde::{Deserialize, Serialize};

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

#[derive(Serialize)]
struct LineOut<'a> {
    topic: &'a str,
    payload_b64: String,
}

#[derive(Deserialize)]
struct LineIn {
    topic: String,
    payload_b64: String,
}

/// One capture line (no trailing newline) for `msg`.
pub fn capture_line(msg: &SimMessage) -> String {
    serde_json::to_string(&LineOut {
        topic: &msg.topic,
        payload_b64: b64_encode(&msg.payload),
    })
    .expect("two strings always serialise")
}

/// Parses a capture line back into `(topic, payload)`. Unknown extra fields
/// are ignored so captures can be annotated.
pub fn parse_capture_line(line: &str) -> Result<(String, Vec<u8>), String> {
    let parsed: LineIn =
        serde_json::from_str(line.trim()).map_err(|e| format!("bad capture line: {e}"))?;
    let payload = b64_decode(&parsed.payload_b64)?;
    Ok((parsed.topic, payload))
}

/// Standard base64 with `=` padding.
pub fn b64_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Standard base64; padding optional, whitespace and other characters rejected.
pub fn b64_decode(text: &str) -> Result<Vec<u8>, String> {
    let trimmed = text.trim_end_matches('=');
    if text.len() - trimmed.len() > 2 {
        return Err("too much base64 padding".into());
    }
    let mut out = Vec::with_capacity(trimmed.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in trimmed.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return Err(format!("invalid base64 character {:?}", c as char)),
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // Six leftover bits cannot come from whole bytes.
    if bits >= 6 {
        return Err("truncated base64".into());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_known_vectors() {
        let cases: [(&[u8], &str); 7] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (b"foob", "Zm9vYg=="),
            (b"fooba", "Zm9vYmE="),
            (b"foobar", "Zm9vYmFy"),
        ];
        for (raw, enc) in cases {
            assert_eq!(b64_encode(raw), enc);
            assert_eq!(b64_decode(enc).unwrap(), raw);
            assert_eq!(b64_decode(enc.trim_end_matches('=')).unwrap(), raw);
        }
        // The firmware default PSK.
        assert_eq!(
            b64_decode("1PG7OiApB1nwvP+rz05pAQ==").unwrap(),
            meshview_protocol::keys::DEFAULT_PSK
        );
        assert!(b64_decode("Zm9v!").is_err());
        assert!(b64_decode("Z").is_err());
        assert!(b64_decode("Zg===").is_err());
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(b64_decode(&b64_encode(&all)).unwrap(), all);
    }

    #[test]
    fn capture_round_trip() {
        let msg = SimMessage {
            topic: "msh/US/bayarea/2/e/LongFast/!0000beef".into(),
            payload: vec![0, 1, 2, 255, b'"', b'\n'],
            at_s: 1.5,
        };
        let line = capture_line(&msg);
        assert!(!line.contains('\n'));
        assert!(line.starts_with("{\"topic\":"));
        let (topic, payload) = parse_capture_line(&line).unwrap();
        assert_eq!(
            (topic.as_str(), payload.as_slice()),
            (msg.topic.as_str(), &msg.payload[..])
        );
        assert!(parse_capture_line("{}").is_err());
        assert!(parse_capture_line("not json").is_err());
        assert!(parse_capture_line(r#"{"topic":"t","payload_b64":"@@"}"#).is_err());
        let extra = r#"{"topic":"t","payload_b64":"Zm9v","at_s":3}"#;
        assert_eq!(
            parse_capture_line(extra).unwrap(),
            ("t".into(), b"foo".to_vec())
        );
    }
}
