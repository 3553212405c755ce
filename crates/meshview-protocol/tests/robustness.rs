//! Random, truncated and mutated inputs must never panic anywhere in the pipeline.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use meshview_protocol::{Keyring, Topic, decode_envelope, decode_payload};
use std::path::PathBuf;

/// xorshift64*: deterministic, dependency-free randomness.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }
}

fn corpus() -> Vec<Vec<u8>> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/real-traffic/friendlydev_meshtastic-decode_messages.txt");
    let text = std::fs::read_to_string(path).expect("test data");
    text.lines()
        .filter_map(|l| STANDARD.decode(l.trim()).ok())
        .collect()
}

fn exercise(topic: &str, bytes: &[u8], ring: &Keyring) {
    if let Ok(e) = decode_envelope(topic, bytes, ring) {
        let _ = e.packet_bytes();
        if let Some(p) = e.payload() {
            let _ = p.text_format();
        }
    }
}

#[test]
fn mutated_real_envelopes_never_panic() {
    let seeds = corpus();
    let mut ring = Keyring::with_secondary("AQ==, Ag==, AA==").unwrap();
    ring.push(meshview_protocol::ChannelKey::Aes256([7; 32]));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let topics = [
        "msh/EU_868/2/e/LongFast/!01020304",
        "msh/US/2/map/",
        "x",
        "",
    ];
    for i in 0..20_000 {
        let mut b = seeds[i % seeds.len()].clone();
        match rng.below(4) {
            0 => b.truncate(rng.below(b.len() + 1)),
            1 => {
                for _ in 0..=rng.below(4) {
                    let at = rng.below(b.len());
                    if let Some(x) = b.get_mut(at) {
                        *x ^= 1 << rng.below(8);
                    }
                }
            }
            2 => {
                let at = rng.below(b.len() + 1);
                let n = rng.below(8) + 1;
                let junk = rng.bytes(n);
                b.splice(at..at, junk);
            }
            _ => {
                let at = rng.below(b.len());
                if let Some(x) = b.get_mut(at) {
                    *x = rng.next() as u8;
                }
            }
        }
        exercise(topics[i % topics.len()], &b, &ring);
    }
}

#[test]
fn random_bytes_never_panic() {
    let ring = Keyring::new();
    let mut rng = Rng(0xdead_beef_cafe_f00d);
    for _ in 0..20_000 {
        let n = rng.below(300);
        let b = rng.bytes(n);
        exercise("msh/EU_868/2/e/LongFast/!01020304", &b, &ring);
        let _ = decode_payload(rng.below(300) as i32, &b).text_format();
        let topic = String::from_utf8_lossy(&b);
        let _ = Topic::parse(&topic);
        let _ = Topic::last_segment_node_id(&topic);
        let _ = topic.parse::<meshview_protocol::NodeId>();
    }
}
