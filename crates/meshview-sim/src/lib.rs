//! Simulated Meshtastic MQTT traffic with ground truth.
//!
//! A [`Simulator`] is a deterministic iterator of [`SimMessage`]s (MQTT topic +
//! payload + simulated time) that look like what a regional Meshtastic broker
//! carries, together with a [`GroundTruth`] saying exactly what a correct
//! writer must store after ingesting them. Generation is pure: no network, no
//! database, no clock. The same [`SimConfig`] (seed included) always produces
//! byte-identical messages.
//!
//! ```no_run
//! use meshview_sim::{SimConfig, Simulator, capture_line};
//! let mut sim = Simulator::new(SimConfig::default()).unwrap();
//! for msg in sim.by_ref() {
//!     println!("{}", capture_line(&msg)); // or publish msg.topic / msg.payload at msg.at_s
//! }
//! println!("{}", sim.truth().to_json());
//! ```
//!
//! # The model
//!
//! **Mesh** (`mesh.rs`). `nodes` radios with random node numbers (never 0,
//! broadcast, or ≤ 0xff) placed uniformly in `bbox`. Each has long/short names
//! (some with emoji and other scripts; one is `<img src=x onerror=alert(1)>`),
//! a hardware model, a role (mostly CLIENT, some CLIENT_MUTE, ROUTER,
//! ROUTER_LATE), a firmware version (< 2.5 means no public key and no
//! `Data.bitfield`), a hop limit (3, sometimes 7) and a 32-byte public key. About
//! one node in eight never reports a position. The first `gateways` nodes are
//! MQTT gateways: fixed, positioned, and the only map-report publishers. One node
//! announces a second public key later in the run (impersonation). About one
//! node in ten is also on the "Private" channel when a secondary key is set.
//!
//! **Radio** (`radio.rs`). One model decides who hears whom: every ordered pair
//! `(a, b)` has a fixed true SNR from distance (scaled by node density, so any
//! configuration gets an average degree of about 8), a per-pair and a per-direction
//! offset and a bonus for routers and gateways; the directed link `a→b` exists iff
//! that SNR is at least [`LINK_THRESHOLD_DB`]. Nodes that would reach no gateway
//! within their hop limit get a "hilltop" link to the nearest node that does.
//! CLIENT_MUTE nodes never relay. Every radio fact of the traffic uses existing
//! links only, at observed SNRs (true ± [`SNR_NOISE_DB`], quarter-dB quantised):
//! receptions, relays, traceroute routes and NeighborInfo entries.
//! [`Simulator::radio_links`] lists every link.
//!
//! **Traffic** (`traffic.rs`). Packets start at exponentially distributed
//! intervals (mean 5 s) from `start_time_s`. The port mix is roughly TELEMETRY
//! 30 % (device metrics; environment metrics with sub-zero temperatures on
//! some sensors), POSITION 25 % (some with reduced precision), NODEINFO 20 %,
//! TEXT 8 % (broadcasts, direct messages with `want_ack` and a routing ACK
//! follow-up, replies with `reply_id`, emoji reactions with `emoji = 1`, one
//! `<script>` text), NEIGHBORINFO 5 %, ROUTING 5 % (ACKs with `request_id`,
//! a few MAX_RETRANSMIT), TRACEROUTE 3 % (requests with `want_response`, 3 in 4
//! answered by a reply carrying `request_id`, `route`/`snr_towards` and
//! `route_back`/`snr_back`; SNRs are int8 quarter-dB, about 3 % of them −128,
//! unknown), MAP_REPORT 3 %. A traceroute targets a node within the requester's hop
//! limit; both routes are shortest paths of the link graph (routers preferred, random
//! among equals); a target that cannot reach the requester back never replies. A
//! NeighborInfo lists up to 6 of the nodes its reporter hears, best first.
//!
//! **Channels and keys.** Most packets are on `channel` with the default key:
//! `MeshPacket.channel` is the channel hash, `encrypted` is AES-CTR of the
//! serialized `Data`. About 5 % are on channel [`PRIVATE_CHANNEL`] with the
//! secondary key, about 2 % on [`HIDDEN_CHANNEL`] with a key nobody has
//! (undecryptable). Each reception is, with 2 % probability, uplinked already
//! decoded (`decoded` set, `channel` = channel index), as gateways with MQTT
//! encryption off do. Every packet is checked at generation with
//! `meshview_protocol::crypto::decrypt_packet` against the keyring
//! {default, secondary}, so the truth's "undecryptable" is exact.
//!
//! **Receptions.** Each packet is heard by 1–5 of the gateways it reaches within
//! `hop_start + 1` links, nearer (fewer links) ones more likely; a gateway always
//! uplinks its own packets (SNR/RSSI 0, no hops: no radio link). A gateway hears the
//! packet over a random shortest path of links: its last transmitter `r` is the
//! sender itself (zero hops) or a relay. Each reception is its own ServiceEnvelope on
//! `{region_topic}/2/e/{channel}/!gw` with the same `from`/`to`/`id`/ciphertext but its
//! own `rx_time` (within ~3 s), `rx_snr` (the observed SNR of `r→gw`), `rx_rssi`
//! (from the same link, −130..−30), `hop_limit` = `hop_start` − hops, and `relay_node`
//! (`r`'s last byte). About 4 % of receptions are followed by the same gateway hearing
//! a rebroadcast 3–25 s later through another relay it hears (when there is one
//! within the hop limit). Map reports are published once by their gateway, decoded,
//! on `{region_topic}/2/map/`.
//!
//! **Oddities.** Exactly one packet id is reused by a second sender (both must be
//! stored: packets are keyed by `(from, id)`). About `junk_percent` % of all
//! messages are junk of the kinds in [`JunkKind`], emitted round-robin; each is
//! rejected by `meshview_protocol::decode_envelope` with
//! [`JunkKind::expected_reject`] and never counts as a packet.
//!
//! **Ground truth** (`truth.rs`) is updated as messages are *yielded*, so it is
//! always consistent with what a consumer has seen and complete once the
//! iterator is exhausted. [`GroundTruth::links`] holds the radio links the yielded
//! messages evidence, with their true SNR and evidence counts per source. It assumes the consumer's keyring is the default key
//! plus [`SimConfig::secondary_key_b64`].
//!
//! **Capture files** (`capture.rs`): [`capture_line`] / [`parse_capture_line`]
//! write and read one JSON object per line, `{"topic", "payload_b64"}`
//! (standard base64 via the `base64` crate).
//!
//! Messages are built as the `meshview_protocol::pb` (meshtastic, prost)
//! structs and serialised with `prost::Message::encode_to_vec`; only junk that
//! must be malformed on purpose is touched byte by byte (`junk.rs`).

#![forbid(unsafe_code)]

mod capture;
mod junk;
mod mesh;
pub mod meshview_db;
mod radio;
mod traffic;
mod truth;

#[cfg(test)]
mod tests;

pub use capture::{b64_decode, b64_encode, capture_line, parse_capture_line};
pub use junk::JunkKind;
pub use mesh::HOSTILE_NAME;
pub use radio::{
    ASYMMETRIC_SPREAD_DB, ELEVATION_BONUS_DB, LINK_THRESHOLD_DB, MAX_TRUE_SNR_DB, SNR_NOISE_DB,
    SYMMETRIC_SPREAD_DB,
};
pub use traffic::{HIDDEN_CHANNEL, HOSTILE_TEXT, PRIVATE_CHANNEL};
pub use truth::{
    CollisionTruth, GroundTruth, LinkTruth, NodeTruth, PacketRef, TracerouteTruth, hex,
};

use anyhow::{Context, bail, ensure};
use meshview_protocol::ChannelKey;
use std::cmp::Ordering;
use std::collections::BinaryHeap;
use traffic::{Effect, Outgoing, Traffic};

/// What to simulate. [`Default`] gives a Bay Area mesh of 60 nodes.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    /// Number of radios (≥ 2).
    pub nodes: usize,
    /// How many of the nodes are MQTT gateways (1..=nodes).
    pub gateways: usize,
    /// `(north, west, south, east)` in degrees.
    pub bbox: (f64, f64, f64, f64),
    /// Distinct packets to generate (junk not included).
    pub packets: usize,
    pub seed: u64,
    /// Topic root, e.g. `msh/US/bayarea`.
    pub region_topic: String,
    /// The primary channel name (default key).
    pub channel: String,
    /// Base64 of a 16- or 32-byte key used on channel "Private"; `None`
    /// disables Private traffic.
    pub secondary_key_b64: Option<String>,
    /// Percentage of all messages that are junk (0..=50).
    pub junk_percent: f64,
    /// Epoch seconds of the first packet.
    pub start_time_s: i64,
}

/// The secondary key used by [`SimConfig::default`] (16 arbitrary bytes).
pub const DEFAULT_SECONDARY_KEY_B64: &str = "q83vEjRWeJCrze8SNFZ4kA==";

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            nodes: 60,
            gateways: 8,
            bbox: (38.0, -122.6, 37.2, -121.7),
            packets: 2000,
            seed: 1,
            region_topic: "msh/US/bayarea".into(),
            channel: "LongFast".into(),
            secondary_key_b64: Some(DEFAULT_SECONDARY_KEY_B64.into()),
            junk_percent: 2.0,
            // 2026-01-01T00:00:00Z, fixed so output does not depend on the clock.
            start_time_s: 1_767_225_600,
        }
    }
}

impl SimConfig {
    /// Checks the configuration and decodes the secondary key.
    fn validate(&self) -> anyhow::Result<Option<ChannelKey>> {
        ensure!(self.nodes >= 2, "simulate: need at least 2 nodes");
        ensure!(
            (1..=self.nodes).contains(&self.gateways),
            "simulate: gateways must be between 1 and the number of nodes"
        );
        let (north, west, south, east) = self.bbox;
        ensure!(
            (-90.0..=90.0).contains(&south) && (-90.0..=90.0).contains(&north) && north > south,
            "simulate: bbox needs -90 <= south < north <= 90"
        );
        ensure!(
            (-180.0..=180.0).contains(&west) && (-180.0..=180.0).contains(&east) && east > west,
            "simulate: bbox needs -180 <= west < east <= 180"
        );
        ensure!(
            (0.0..=50.0).contains(&self.junk_percent),
            "simulate: junk_percent must be within 0..=50"
        );
        let bad_segment = |s: &str| s.is_empty() || s.contains(['/', '+', '#']);
        ensure!(
            !self.region_topic.is_empty() && !self.region_topic.contains(['+', '#']),
            "simulate: region_topic must be a non-empty topic without wildcards"
        );
        ensure!(
            !bad_segment(&self.channel),
            "simulate: channel must be one topic segment"
        );
        ensure!(
            self.start_time_s > 0 && self.start_time_s < i64::from(u32::MAX) - 10_000_000,
            "simulate: start_time_s must fit a u32 rx_time"
        );
        let Some(b64) = &self.secondary_key_b64 else {
            return Ok(None);
        };
        let bytes = b64_decode(b64.trim())
            .map_err(anyhow::Error::msg)
            .context("simulate: secondary key")?;
        // Shorthand PSKs (1 byte) are refused: index 1 *is* the default key,
        // which would make "Private" traffic indistinguishable from LongFast.
        let key = match bytes.len() {
            16 | 32 => ChannelKey::from_psk(&bytes),
            _ => None,
        };
        match key {
            Some(k) if k != ChannelKey::default_psk() => Ok(Some(k)),
            Some(_) => bail!("simulate: secondary key must differ from the default key"),
            None => bail!(
                "simulate: secondary key must be 16 or 32 bytes, got {}",
                bytes.len()
            ),
        }
    }
}

/// The radio fields of one gateway's reception ([`Simulator::reception_facts`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ReceptionFacts {
    /// `hop_start` minus the relays before the gateway.
    pub hop_limit: u32,
    /// The low byte of the node the gateway heard (the sender on a zero-hop reception).
    pub relay_node: u32,
    /// Observed SNR of that link, quarter dB.
    pub rx_snr: f32,
    pub rx_rssi: i32,
}

/// One MQTT message to publish.
#[derive(Clone, Debug, PartialEq)]
pub struct SimMessage {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Simulated seconds since the first packet; non-decreasing along the iterator.
    pub at_s: f64,
}

/// A queued message, ordered by time then by generation order (for determinism).
struct Queued {
    at_us: i64,
    seq: u64,
    out: Outgoing,
}

impl PartialEq for Queued {
    fn eq(&self, other: &Self) -> bool {
        (self.at_us, self.seq) == (other.at_us, other.seq)
    }
}
impl Eq for Queued {}
impl PartialOrd for Queued {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Queued {
    // Reversed: BinaryHeap is a max-heap and we want the earliest first.
    fn cmp(&self, other: &Self) -> Ordering {
        (other.at_us, other.seq).cmp(&(self.at_us, self.seq))
    }
}

/// The traffic generator; iterate it for messages, then read [`Simulator::truth`].
pub struct Simulator {
    traffic: Traffic,
    queue: BinaryHeap<Queued>,
    seq: u64,
    truth: GroundTruth,
    /// Node number → index.
    index: std::collections::HashMap<u32, usize>,
}

impl Simulator {
    pub fn new(config: SimConfig) -> anyhow::Result<Simulator> {
        let secondary = config.validate()?;
        let traffic = Traffic::new(&config, secondary);
        let index = traffic
            .node_ids()
            .enumerate()
            .map(|(i, id)| (id, i))
            .collect();
        Ok(Simulator {
            traffic,
            index,
            queue: BinaryHeap::new(),
            seq: 0,
            truth: GroundTruth::default(),
        })
    }

    /// The truth for everything yielded so far; complete once the iterator is exhausted.
    pub fn truth(&self) -> &GroundTruth {
        &self.truth
    }

    /// Every directed radio link of the simulated mesh, evidenced by a message or not:
    /// `(!from, !to)` ("`to` hears `from`") → the link's true SNR in dB. Fixed for a
    /// configuration; [`GroundTruth::links`] is the part the yielded messages evidence.
    pub fn radio_links(&self) -> std::collections::BTreeMap<(String, String), f32> {
        self.traffic.radio_links()
    }

    /// The gateways (node numbers) other than `from` that `from`'s packets reach within
    /// its hop limit: those that could hear them.
    pub fn reachable_gateways(&mut self, from: u32) -> Vec<u32> {
        match self.index.get(&from) {
            Some(&s) => self.traffic.reachable_gateways(s),
            None => Vec::new(),
        }
    }

    /// Radio facts for one more gateway hearing a packet of `from`, consistent with the
    /// radio model (a random shortest path of links, its last transmitter, the observed
    /// SNR and RSSI of that link), drawn from `rng` so the message stream is unchanged.
    /// `None` when `from`'s packets do not reach `gateway` or either is unknown. For
    /// tools that model a denser gateway network (`meshview-bench seed`); the ground
    /// truth does not count such receptions.
    pub fn reception_facts(
        &mut self,
        from: u32,
        gateway: u32,
        rng: &mut rand::rngs::StdRng,
    ) -> Option<ReceptionFacts> {
        let (&s, &g) = (self.index.get(&from)?, self.index.get(&gateway)?);
        self.traffic.reception_facts(s, g, rng)
    }

    fn generate_next_packet(&mut self) {
        let mut out = Vec::new();
        self.traffic.step(&mut out);
        for o in out {
            self.seq += 1;
            self.queue.push(Queued {
                at_us: o.at_us,
                seq: self.seq,
                out: o,
            });
        }
    }
}

impl Iterator for Simulator {
    type Item = SimMessage;

    fn next(&mut self) -> Option<SimMessage> {
        // Every message of a packet is at or after the packet's start, so the
        // queue head is safe to yield once it is no later than the next start.
        while self.traffic.has_more()
            && self
                .queue
                .peek()
                .is_none_or(|q| q.at_us > self.traffic.next_at_us())
        {
            self.generate_next_packet();
        }
        let q = self.queue.pop()?;
        match q.out.effect {
            Effect::Reception {
                facts,
                gateway,
                rx_time,
                heard,
            } => self
                .truth
                .apply_reception(&self.traffic.facts[facts], gateway, rx_time, heard),
            Effect::Junk(kind) => self.truth.apply_junk(kind.as_str()),
        }
        Some(SimMessage {
            topic: q.out.topic,
            payload: q.out.payload,
            at_s: q.at_us as f64 / 1e6,
        })
    }
}
