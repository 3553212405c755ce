//! Capture files: one JSON object per line, `{"topic": …, "payload_b64": …}`,
//! the payload in standard padded base64 (the `base64` crate).

use super::SimMessage;
use base64::Engine;
use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::{Deserialize, Serialize};

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

/// Standard base64 (RFC 4648 alphabet): writes `=` padding, accepts input with
/// or without it.
const B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Standard base64 with `=` padding.
pub fn b64_encode(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// Standard base64; padding optional, whitespace and other characters rejected.
pub fn b64_decode(text: &str) -> Result<Vec<u8>, String> {
    B64.decode(text).map_err(|e| format!("bad base64: {e}"))
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

    /// Lenient where it is harmless (as the hand-written decoder was), strict
    /// about stray padding.
    #[test]
    fn base64_leniency() {
        // Non-zero bits after the last whole byte are ignored.
        assert_eq!(b64_decode("Zh==").unwrap(), b"f");
        assert_eq!(b64_decode("Zm9=").unwrap(), b"fo");
        assert!(b64_decode("Zm9v=").is_err());
        assert!(b64_decode("Zm8==").is_err());
        assert!(b64_decode("Zm 9v").is_err());
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
