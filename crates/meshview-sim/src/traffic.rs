//! Packet generation: what each node sends, how it is encrypted, which
//! gateways hear it, and the MQTT messages that result.

use super::SimConfig;
use super::junk::{JunkContext, JunkKind, make_junk};
use super::mesh::{Mesh, Node};
use super::radio;
use super::truth::{FactKind, HeardLink, LinkFact, LinkSource, PacketFacts, hex};
use meshview_protocol::crypto::{DecryptOutcome, apply_channel_cipher, decrypt_packet};
use meshview_protocol::payload::{hw_model_name, role_name};
use meshview_protocol::pb;
use meshview_protocol::pb::PortNum;
use meshview_protocol::pb::mesh_packet::{PayloadVariant, Priority};
use meshview_protocol::{ChannelKey, Keyring, Message};
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use std::collections::{HashSet, VecDeque};

/// Channel name used by packets encrypted with a key no consumer has.
pub const HIDDEN_CHANNEL: &str = "Hidden";
/// Channel name used with the secondary key.
pub const PRIVATE_CHANNEL: &str = "Private";
/// The hostile text message sent once.
pub const HOSTILE_TEXT: &str = "<script>alert(1)</script>";
const BROADCAST: u32 = u32::MAX;
/// Mean gap between packets on the whole mesh (µs): a busy ~60-node mesh
/// produces a packet every few seconds.
const MEAN_GAP_US: f64 = 5_000_000.0;
/// The firmware's "SNR unknown" in RouteDiscovery.
const UNKNOWN_SNR: i32 = -128;
/// How often a traceroute hop carries [`UNKNOWN_SNR`].
const UNKNOWN_SNR_SHARE: f64 = 0.03;

/// How a packet's payload travels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Mode {
    /// Primary channel, default key.
    Default,
    /// "Private" channel, secondary key.
    Private,
    /// A key nobody consuming the feed has: undecryptable.
    Unknown,
}

/// An application payload before encoding.
#[derive(Clone, Debug)]
enum Body {
    Text(String),
    Position(pb::Position),
    User(pb::User),
    Routing(pb::Routing),
    Telemetry(pb::Telemetry),
    Trace(pb::RouteDiscovery),
    Neighbors(pb::NeighborInfo),
}

impl Body {
    fn port(&self) -> PortNum {
        match self {
            Body::Text(_) => PortNum::TextMessageApp,
            Body::Position(_) => PortNum::PositionApp,
            Body::User(_) => PortNum::NodeinfoApp,
            Body::Routing(_) => PortNum::RoutingApp,
            Body::Telemetry(_) => PortNum::TelemetryApp,
            Body::Trace(_) => PortNum::TracerouteApp,
            Body::Neighbors(_) => PortNum::NeighborinfoApp,
        }
    }

    fn encode(&self) -> Vec<u8> {
        match self {
            Body::Text(t) => t.as_bytes().to_vec(),
            Body::Position(p) => p.encode_to_vec(),
            Body::User(u) => u.encode_to_vec(),
            Body::Routing(r) => r.encode_to_vec(),
            Body::Telemetry(t) => t.encode_to_vec(),
            Body::Trace(r) => r.encode_to_vec(),
            Body::Neighbors(n) => n.encode_to_vec(),
        }
    }
}

/// A packet decided on but not yet encrypted or heard.
struct Plan {
    from: usize,
    to: u32,
    body: Body,
    mode: Mode,
    want_ack: bool,
    want_response: bool,
    request_id: u32,
    reply_id: u32,
    emoji: u32,
    priority: Priority,
    /// Forced packet id (the deliberate collision).
    fixed_id: Option<u32>,
    /// What the writer learns, if the packet is decodable.
    kind: FactKind,
    collides_with: Option<u32>,
    /// Links the payload names, if decodable.
    links: Vec<LinkFact>,
}

impl Plan {
    fn new(from: usize, to: u32, body: Body, mode: Mode, kind: FactKind) -> Plan {
        Plan {
            from,
            to,
            body,
            mode,
            want_ack: false,
            want_response: false,
            request_id: 0,
            reply_id: 0,
            emoji: 0,
            priority: Priority::Unset,
            fixed_id: None,
            kind,
            collides_with: None,
            links: Vec::new(),
        }
    }
}

/// Packets that follow an earlier one.
#[derive(Clone, Debug)]
enum Followup {
    /// A routing ACK for a direct message.
    Ack {
        acker: usize,
        to: u32,
        request_id: u32,
        mode: Mode,
    },
    /// The traceroute reply from `target` to `requester`.
    TraceReply {
        target: usize,
        requester: usize,
        request_id: u32,
        /// The request's intermediate hops and their SNRs (`route.len() + 1` of them).
        route: Vec<usize>,
        snr_towards: Vec<i32>,
        /// The reply's intermediate hops (target → requester).
        back: Vec<usize>,
        mode: Mode,
    },
}

/// Scripted one-off packets, placed at fixed fractions of the run.
#[derive(Clone, Copy, Debug)]
enum Forced {
    HostileNodeInfo,
    HostileText,
    ImpersonatorKey(bool),
    Collision,
}

/// What a queued message does to the ground truth when yielded.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Effect {
    Reception {
        /// Index into [`Traffic::facts`].
        facts: usize,
        gateway: u32,
        rx_time: u32,
        /// The last radio hop, if the gateway heard the packet over the air.
        heard: Option<HeardLink>,
    },
    Junk(JunkKind),
}

/// A generated message waiting for its time.
pub(crate) struct Outgoing {
    pub at_us: i64,
    pub topic: String,
    pub payload: Vec<u8>,
    pub effect: Effect,
}

/// The keys in play.
struct Keys {
    default: ChannelKey,
    secondary: Option<ChannelKey>,
    unknown: ChannelKey,
    /// What a correctly configured consumer holds: default + secondary.
    ring: Keyring,
}

/// The generator state.
pub(crate) struct Traffic {
    cfg: SimConfig,
    mesh: Mesh,
    rng: StdRng,
    keys: Keys,
    /// Facts per generated packet, referenced by [`Effect::Reception`].
    pub facts: Vec<PacketFacts>,
    used_ids: HashSet<u32>,
    followups: Vec<(i64, Followup)>,
    forced: VecDeque<(usize, Forced)>,
    /// Recent decodable text ids, for replies and reactions.
    recent_texts: VecDeque<u32>,
    /// Recent decodable default-channel packets `(sender index, id)`.
    recent_packets: VecDeque<(usize, u32)>,
    generated: usize,
    next_at_us: i64,
    junk_counter: usize,
}

const TEXTS: [&str; 16] = [
    "Hello mesh!",
    "Anyone on Mt Diablo tonight?",
    "Testing 1 2 3",
    "Good morning ☀️",
    "¿Alguien me escucha?",
    "Nice signal from here 📶",
    "QSL, 73",
    "Checking in from the ridge #BayMeshNet",
    "Ça marche très bien",
    "Battery low, going offline",
    "ping",
    "Who runs the router on Sutro?",
    "multi\nline\nmessage",
    "Grüße aus Köln 🍺",
    "Привет всем",
    "New node up in the hills, say hi",
];
const DIRECT_TEXTS: [&str; 6] = [
    "Hey, got your message",
    "Can you see my position?",
    "Test DM",
    "Meet at the trailhead at 9?",
    "Are you the one on Skyline?",
    "👍 received",
];
const REPLIES: [&str; 5] = [
    "Loud and clear",
    "Yes!",
    "Copy that",
    "Same here",
    "Not yet",
];
const REACTIONS: [&str; 6] = ["👍", "❤️", "😂", "🎉", "👀", "🔥"];

/// `snr` in dB → the firmware's RouteDiscovery encoding (int8, quarter dB).
fn snr_q4(db: f64) -> i32 {
    (db.clamp(-20.0, 12.0) * 4.0).round() as i32
}

/// SNR values come out of the radio in quarter-dB steps.
fn quarter_db(x: f64) -> f32 {
    ((x.clamp(-20.0, 12.0) * 4.0).round() / 4.0) as f32
}

fn round2(x: f64) -> f32 {
    ((x * 100.0).round() / 100.0) as f32
}

/// Coordinates reduced to `bits` of precision, centred in the cell, the way
/// firmware obscures positions.
fn reduce_precision(v: i32, bits: u32) -> i32 {
    if bits == 0 || bits >= 32 {
        return v;
    }
    let mask = u32::MAX << (32 - bits);
    ((v as u32 & mask) | (1u32 << (31 - bits))) as i32
}

impl Traffic {
    pub fn new(cfg: &SimConfig, secondary: Option<ChannelKey>) -> Traffic {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let mesh = Mesh::generate(cfg, &mut rng, secondary.is_some());
        let default = ChannelKey::default_psk();
        let unknown = loop {
            let mut k = [0u8; 16];
            rng.fill(&mut k);
            let key = ChannelKey::Aes128(k);
            if key != default && Some(&key) != secondary.as_ref() {
                break key;
            }
        };
        let mut ring = Keyring::new();
        if let Some(s) = &secondary {
            ring.push(s.clone());
        }
        let n = cfg.packets;
        let mut forced: Vec<(usize, Forced)> = vec![
            (n / 5, Forced::HostileNodeInfo),
            (n / 4, Forced::HostileText),
            (n / 3, Forced::ImpersonatorKey(false)),
            (n / 2, Forced::Collision),
            (2 * n / 3, Forced::ImpersonatorKey(true)),
        ];
        forced.sort_by_key(|f| f.0);
        Traffic {
            cfg: cfg.clone(),
            mesh,
            rng,
            keys: Keys {
                default,
                secondary,
                unknown,
                ring,
            },
            facts: Vec::new(),
            used_ids: HashSet::new(),
            followups: Vec::new(),
            forced: forced.into(),
            recent_texts: VecDeque::new(),
            recent_packets: VecDeque::new(),
            generated: 0,
            next_at_us: 0,
            junk_counter: 0,
        }
    }

    pub fn has_more(&self) -> bool {
        self.generated < self.cfg.packets
    }

    /// When the next packet will be generated.
    pub fn next_at_us(&self) -> i64 {
        self.next_at_us
    }

    /// Generates the next packet (and any junk around it) into `out`.
    pub fn step(&mut self, out: &mut Vec<Outgoing>) {
        let now = self.next_at_us;
        let idx = self.generated;
        self.generated += 1;
        let u: f64 = self.rng.random();
        let gap = (-(1.0 - u).ln() * MEAN_GAP_US).max(50_000.0);
        self.next_at_us = now + gap as i64;

        if self.forced.front().is_some_and(|&(at, _)| at <= idx) {
            let (_, f) = self.forced.pop_front().expect("checked");
            if let Some(plan) = self.forced_plan(f) {
                self.emit(plan, now, out);
                return;
            }
        }
        if let Some(pos) = self.followups.iter().position(|(due, _)| *due <= now) {
            let (_, f) = self.followups.remove(pos);
            let plan = self.followup_plan(f);
            self.emit(plan, now, out);
            return;
        }
        // Weights in percent of packets. Traceroute replies and DM ACKs arrive
        // as follow-ups, so their ports get less here than their target share.
        match self.rng.random_range(0..97) {
            0..30 => self.telemetry(now, out),
            30..55 => self.position(now, out),
            55..75 => self.nodeinfo(now, out),
            75..83 => self.text(now, out),
            83..85 => self.traceroute(now, out),
            85..90 => self.neighborinfo(now, out),
            90..94 => self.routing(now, out),
            _ => self.map_report(now, out),
        }
    }

    fn node(&self, i: usize) -> &Node {
        &self.mesh.nodes[i]
    }

    /// Node numbers, by index.
    pub fn node_ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.mesh.nodes.iter().map(|n| n.id)
    }

    /// The gateways (node numbers) other than node `s` that its packets reach within its
    /// hop limit.
    pub fn reachable_gateways(&mut self, s: usize) -> Vec<u32> {
        self.mesh.radio.ensure(s);
        self.mesh
            .radio
            .reachable_gateways(s)
            .into_iter()
            .map(|(g, _)| self.node(g).id)
            .collect()
    }

    /// The radio facts of gateway `g` hearing node `s`'s packet over a random shortest
    /// path of links, as [`Traffic::reception`] makes them, drawn from `rng` (not the
    /// generator's own stream); `None` when the packet does not reach `g`.
    pub fn reception_facts(
        &mut self,
        s: usize,
        g: usize,
        rng: &mut StdRng,
    ) -> Option<crate::ReceptionFacts> {
        if s == g {
            return None;
        }
        self.mesh.radio.ensure(s);
        let radio = &self.mesh.radio;
        if !radio.reaches(s, g) {
            return None;
        }
        let r = radio.last_relayer(s, g, rng);
        let hops = u32::from(radio.dist(s)[r]);
        let true_snr = radio.snr(r, g)?;
        Some(crate::ReceptionFacts {
            hop_limit: self.node(s).hop_start - hops,
            relay_node: self.node(r).relay_byte(),
            rx_snr: quarter_db(radio::observe(true_snr, rng)),
            rx_rssi: radio::rssi(true_snr, rng),
        })
    }

    /// Every radio link of the mesh: `(!from, !to)` → true SNR (dB).
    pub fn radio_links(&self) -> std::collections::BTreeMap<(String, String), f32> {
        self.mesh
            .radio
            .links()
            .map(|(a, b, snr)| ((hex(self.node(a).id), hex(self.node(b).id)), snr))
            .collect()
    }

    fn pick_mode(&mut self) -> Mode {
        match self.rng.random_range(0..100) {
            0..5 if self.keys.secondary.is_some() => Mode::Private,
            5..7 => Mode::Unknown,
            _ => Mode::Default,
        }
    }

    /// A sender suitable for `mode`, optionally restricted by `ok`, uniformly among those.
    fn pick_sender(&mut self, mode: Mode, ok: impl Fn(&Node) -> bool) -> Option<usize> {
        let fits = |n: &Node| ok(n) && (mode != Mode::Private || n.private);
        let count = self.mesh.nodes.len();
        // Rejection sampling: most nodes fit, and listing them all per packet was the
        // simulator's main cost on big meshes.
        for _ in 0..32 {
            let i = self.rng.random_range(0..count);
            if fits(&self.mesh.nodes[i]) {
                return Some(i);
            }
        }
        let cands: Vec<usize> = (0..count).filter(|&i| fits(&self.mesh.nodes[i])).collect();
        (!cands.is_empty()).then(|| cands[self.rng.random_range(0..cands.len())])
    }

    fn other_node(&mut self, not: usize) -> usize {
        let n = self.mesh.nodes.len();
        let i = self.rng.random_range(0..n - 1);
        if i >= not { i + 1 } else { i }
    }

    fn elapsed_s(now_us: i64) -> u32 {
        (now_us / 1_000_000) as u32
    }

    fn epoch(&self, at_us: i64) -> u32 {
        (self.cfg.start_time_s + at_us / 1_000_000) as u32
    }

    // ---- payload builders ----

    fn telemetry(&mut self, now: i64, out: &mut Vec<Outgoing>) {
        let mode = self.pick_mode();
        let Some(from) = self.pick_sender(mode, |_| true) else {
            return self.telemetry_fallback(now, out);
        };
        let node = self.node(from).clone();
        let time = self.epoch(now);
        let r = &mut self.rng;
        let variant = match node.env_base_temp {
            Some(base) if r.random_bool(0.4) => {
                pb::telemetry::Variant::EnvironmentMetrics(pb::EnvironmentMetrics {
                    temperature: Some(round2(f64::from(base) + r.random_range(-3.0..3.0))),
                    relative_humidity: Some(round2(r.random_range(15.0..95.0))),
                    barometric_pressure: Some(round2(r.random_range(985.0..1032.0))),
                    ..Default::default()
                })
            }
            _ => {
                // Routers usually run on mains or solar: level 101 = powered.
                let powered = node.is_gateway || r.random_bool(0.15);
                let battery = if powered {
                    101
                } else {
                    r.random_range(3..=100)
                };
                let voltage = if powered {
                    r.random_range(4.15..4.3)
                } else {
                    3.3 + f64::from(battery) * 0.009
                };
                pb::telemetry::Variant::DeviceMetrics(pb::DeviceMetrics {
                    battery_level: Some(battery),
                    voltage: Some(round2(voltage)),
                    channel_utilization: Some(round2(r.random_range(0.0..38.0))),
                    air_util_tx: Some(round2(r.random_range(0.0..7.5))),
                    uptime_seconds: Some(node.boot_uptime_s + Self::elapsed_s(now)),
                })
            }
        };
        let body = Body::Telemetry(pb::Telemetry {
            time,
            variant: Some(variant),
        });
        self.emit(
            Plan::new(from, BROADCAST, body, mode, FactKind::Plain),
            now,
            out,
        );
    }

    /// Used when a mode has no eligible sender (cannot happen with sane configs).
    fn telemetry_fallback(&mut self, now: i64, out: &mut Vec<Outgoing>) {
        let from = self.rng.random_range(0..self.mesh.nodes.len());
        let body = Body::Telemetry(pb::Telemetry {
            time: self.epoch(now),
            variant: Some(pb::telemetry::Variant::DeviceMetrics(pb::DeviceMetrics {
                battery_level: Some(101),
                ..Default::default()
            })),
        });
        self.emit(
            Plan::new(from, BROADCAST, body, Mode::Default, FactKind::Plain),
            now,
            out,
        );
    }

    fn position(&mut self, now: i64, out: &mut Vec<Outgoing>) {
        let mode = self.pick_mode();
        let Some(from) = self.pick_sender(mode, |n| n.reports_position) else {
            return self.telemetry_fallback(now, out);
        };
        let node = self.node(from).clone();
        let time = self.epoch(now);
        let r = &mut self.rng;
        let spread = if node.mobile { 0.02 } else { 0.00005 };
        let lat = node.lat + r.random_range(-spread..spread);
        let lon = node.lon + r.random_range(-spread..spread);
        // Many users share a reduced-precision position.
        let bits = [32u32, 32, 32, 16, 13][r.random_range(0..5)];
        let lat_i = reduce_precision((lat * 1e7).round() as i32, bits);
        let lon_i = reduce_precision((lon * 1e7).round() as i32, bits);
        let pos = pb::Position {
            latitude_i: Some(lat_i),
            longitude_i: Some(lon_i),
            altitude: Some(node.altitude_m + r.random_range(-5..5)),
            time,
            location_source: pb::position::LocSource::LocInternal as i32,
            ground_speed: node.mobile.then(|| r.random_range(0..30)),
            ground_track: node.mobile.then(|| r.random_range(0..360)),
            sats_in_view: r.random_range(4..15),
            precision_bits: bits,
            ..Default::default()
        };
        let kind = FactKind::Position { lat_i, lon_i };
        self.emit(
            Plan::new(from, BROADCAST, Body::Position(pos), mode, kind),
            now,
            out,
        );
    }

    fn user_plan(&mut self, from: usize, mode: Mode, second_key: bool) -> Plan {
        let node = self.node(from);
        let key: Vec<u8> = if !node.sends_bitfield() {
            // Firmware before 2.5 has no PKI key.
            Vec::new()
        } else if second_key {
            node.alt_public_key.unwrap_or(node.public_key).to_vec()
        } else {
            node.public_key.to_vec()
        };
        let user = pb::User {
            id: format!("!{:08x}", node.id),
            long_name: node.long_name.clone(),
            short_name: node.short_name.clone(),
            hw_model: node.hw_model as i32,
            role: node.role as i32,
            public_key: key.clone(),
            ..Default::default()
        };
        let kind = FactKind::NodeInfo {
            long_name: user.long_name.clone(),
            short_name: user.short_name.clone(),
            hw_model: hw_model_name(user.hw_model),
            role: role_name(user.role),
            public_key: key,
        };
        Plan::new(from, BROADCAST, Body::User(user), mode, kind)
    }

    fn nodeinfo(&mut self, now: i64, out: &mut Vec<Outgoing>) {
        let mode = self.pick_mode();
        let Some(from) = self.pick_sender(mode, |_| true) else {
            return self.telemetry_fallback(now, out);
        };
        // The impersonator's second key takes over in the second half of the run.
        let second = self.generated > self.cfg.packets / 2;
        let plan = self.user_plan(from, mode, second);
        self.emit(plan, now, out);
    }

    fn text(&mut self, now: i64, out: &mut Vec<Outgoing>) {
        let mode = self.pick_mode();
        let Some(from) = self.pick_sender(mode, |_| true) else {
            return self.telemetry_fallback(now, out);
        };
        let roll = self.rng.random_range(0..100);
        let earlier = (!self.recent_texts.is_empty())
            .then(|| self.recent_texts[self.rng.random_range(0..self.recent_texts.len())]);
        let (text, reply_id, emoji) = match (roll, earlier) {
            (0..10, Some(id)) => (REACTIONS[self.rng.random_range(0..REACTIONS.len())], id, 1),
            (10..25, Some(id)) => (REPLIES[self.rng.random_range(0..REPLIES.len())], id, 0),
            _ => ("", 0, 0),
        };
        let direct = self.rng.random_bool(0.2);
        let to = if direct {
            let t = self.other_node(from);
            self.node(t).id
        } else {
            BROADCAST
        };
        let text = match (text, direct) {
            ("", true) => DIRECT_TEXTS[self.rng.random_range(0..DIRECT_TEXTS.len())],
            ("", false) => TEXTS[self.rng.random_range(0..TEXTS.len())],
            (t, _) => t,
        };
        let kind = FactKind::Text {
            direct,
            reply: reply_id != 0 && emoji == 0,
            reaction: emoji != 0,
        };
        let mut plan = Plan::new(from, to, Body::Text(text.to_owned()), mode, kind);
        plan.reply_id = reply_id;
        plan.emoji = emoji;
        plan.want_ack = direct;
        plan.priority = if direct {
            Priority::Reliable
        } else {
            Priority::Unset
        };
        let id = self.emit(plan, now, out);
        if mode == Mode::Unknown {
            return;
        }
        self.recent_texts.push_back(id);
        if self.recent_texts.len() > 20 {
            self.recent_texts.pop_front();
        }
        if direct && self.rng.random_bool(0.8) {
            let acker = self
                .mesh
                .nodes
                .iter()
                .position(|n| n.id == to)
                .expect("DM to a mesh node");
            let due = now + self.rng.random_range(2_000_000..12_000_000);
            let f = Followup::Ack {
                acker,
                to: self.node(from).id,
                request_id: id,
                mode,
            };
            self.followups.push((due, f));
        }
    }

    /// The RouteDiscovery SNRs of each link of `path` (node indices): the observed SNR,
    /// or now and then −128 (unknown).
    fn path_snrs(&mut self, path: &[usize]) -> Vec<i32> {
        path.windows(2)
            .map(|w| {
                let snr = self.mesh.radio.snr(w[0], w[1]).expect("paths use links");
                if self.rng.random_bool(UNKNOWN_SNR_SHARE) {
                    UNKNOWN_SNR
                } else {
                    snr_q4(radio::observe(snr, &mut self.rng))
                }
            })
            .collect()
    }

    /// Traceroute link facts of the hops of `path` with the SNRs `snrs` as sent.
    fn path_facts(&self, path: &[usize], snrs: &[i32]) -> Vec<LinkFact> {
        path.windows(2)
            .zip(snrs)
            .map(|(w, &raw)| LinkFact {
                from: self.node(w[0]).id,
                to: self.node(w[1]).id,
                snr_db: self.mesh.radio.snr(w[0], w[1]).expect("paths use links"),
                source: LinkSource::Traceroute,
                unknown_snr: raw == UNKNOWN_SNR,
            })
            .collect()
    }

    fn traceroute(&mut self, now: i64, out: &mut Vec<Outgoing>) {
        let mode = self.pick_mode();
        let Some(from) = self.pick_sender(mode, |_| true) else {
            return self.telemetry_fallback(now, out);
        };
        // The target is a node the request can reach (within the requester's hop limit),
        // on the Private channel one of its members when there is one.
        self.mesh.radio.ensure(from);
        let reachable = self.mesh.radio.reachable(from);
        let private: Vec<usize> = reachable
            .iter()
            .copied()
            .filter(|&t| self.node(t).private)
            .collect();
        let pool = if mode == Mode::Private && !private.is_empty() {
            &private
        } else {
            &reachable
        };
        let target = pool[self.rng.random_range(0..pool.len())];
        let fwd = self
            .mesh
            .radio
            .route(from, target, &mut self.rng)
            .expect("target is reachable");
        let mut path = vec![from];
        path.extend(&fwd);
        path.push(target);
        let snr_towards = self.path_snrs(&path);
        let route: Vec<u32> = fwd.iter().map(|&i| self.node(i).id).collect();
        let body = Body::Trace(pb::RouteDiscovery {
            route: route.clone(),
            snr_towards: snr_towards.clone(),
            ..Default::default()
        });
        let kind = FactKind::TraceRequest {
            target: self.node(target).id,
            route,
        };
        let mut plan = Plan::new(from, self.node(target).id, body, mode, kind);
        plan.want_response = true;
        // A request in flight proves the path so far: requester + route.
        plan.links = self.path_facts(&path[..path.len() - 1], &snr_towards);
        let id = self.emit(plan, now, out);
        if mode != Mode::Unknown && self.rng.random_bool(0.75) {
            // The reply goes back on a shortest path of its own; a requester beyond the
            // target's hop limit gets no reply.
            self.mesh.radio.ensure(target);
            let Some(back) = self.mesh.radio.route(target, from, &mut self.rng) else {
                return;
            };
            let due = now + self.rng.random_range(5_000_000..40_000_000);
            let f = Followup::TraceReply {
                target,
                requester: from,
                request_id: id,
                route: fwd,
                snr_towards,
                back,
                mode,
            };
            self.followups.push((due, f));
        }
    }

    fn neighborinfo(&mut self, now: i64, out: &mut Vec<Outgoing>) {
        let mode = self.pick_mode();
        let Some(from) = self.pick_sender(mode, |n| n.hears_others) else {
            return self.telemetry_fallback(now, out);
        };
        // Some of the nodes the reporter hears, best first.
        let heard = self.mesh.radio.in_links(from);
        let count = self.rng.random_range(1..=6).min(heard.len());
        let mut picked: Vec<(u32, f32)> = heard
            .choose_multiple(&mut self.rng, count)
            .copied()
            .collect();
        picked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut neighbors = Vec::with_capacity(count);
        let mut links = Vec::with_capacity(count);
        let reporter = self.node(from).id;
        for (i, snr) in picked {
            let node_id = self.node(i as usize).id;
            neighbors.push(pb::Neighbor {
                node_id,
                snr: quarter_db(radio::observe(snr, &mut self.rng)),
                ..Default::default()
            });
            links.push(LinkFact {
                from: node_id,
                to: reporter,
                snr_db: snr,
                source: LinkSource::Neighbor,
                unknown_snr: false,
            });
        }
        let interval = [900, 1800, 3600, 10800][self.rng.random_range(0..4)];
        let body = Body::Neighbors(pb::NeighborInfo {
            node_id: reporter,
            last_sent_by_id: reporter,
            node_broadcast_interval_secs: interval,
            neighbors,
        });
        let mut plan = Plan::new(from, BROADCAST, body, mode, FactKind::Plain);
        plan.links = links;
        self.emit(plan, now, out);
    }

    fn routing(&mut self, now: i64, out: &mut Vec<Outgoing>) {
        let Some(&(orig, request_id)) = self
            .recent_packets
            .get(self.rng.random_range(0..self.recent_packets.len().max(1)))
        else {
            return self.telemetry_fallback(now, out);
        };
        let acker = self.other_node(orig);
        // Mostly ACKs; sometimes a delivery failure report.
        let error = if self.rng.random_bool(0.9) {
            pb::routing::Error::None
        } else {
            pb::routing::Error::MaxRetransmit
        };
        let f = Followup::Ack {
            acker,
            to: self.node(orig).id,
            request_id,
            mode: Mode::Default,
        };
        let mut plan = self.followup_plan(f);
        plan.body = Body::Routing(pb::Routing {
            variant: Some(pb::routing::Variant::ErrorReason(error as i32)),
        });
        self.emit(plan, now, out);
    }

    fn followup_plan(&mut self, f: Followup) -> Plan {
        match f {
            Followup::Ack {
                acker,
                to,
                request_id,
                mode,
            } => {
                let body = Body::Routing(pb::Routing {
                    variant: Some(pb::routing::Variant::ErrorReason(
                        pb::routing::Error::None as i32,
                    )),
                });
                let mut plan = Plan::new(acker, to, body, mode, FactKind::Plain);
                plan.request_id = request_id;
                plan.priority = Priority::Ack;
                plan
            }
            Followup::TraceReply {
                target,
                requester,
                request_id,
                route,
                snr_towards,
                back,
                mode,
            } => {
                let mut back_path = vec![target];
                back_path.extend(&back);
                back_path.push(requester);
                let snr_back = self.path_snrs(&back_path);
                let mut fwd_path = vec![requester];
                fwd_path.extend(&route);
                fwd_path.push(target);
                let mut links = self.path_facts(&fwd_path, &snr_towards);
                links.extend(self.path_facts(&back_path, &snr_back));
                let ids = |v: &[usize]| v.iter().map(|&i| self.node(i).id).collect::<Vec<u32>>();
                let (route, back) = (ids(&route), ids(&back));
                let body = Body::Trace(pb::RouteDiscovery {
                    route: route.clone(),
                    snr_towards,
                    route_back: back.clone(),
                    snr_back,
                });
                let kind = FactKind::TraceReply {
                    requester: self.node(requester).id,
                    request_id,
                    route,
                    route_back: back,
                };
                let mut plan = Plan::new(target, self.node(requester).id, body, mode, kind);
                plan.request_id = request_id;
                plan.links = links;
                plan
            }
        }
    }

    fn forced_plan(&mut self, f: Forced) -> Option<Plan> {
        match f {
            Forced::HostileNodeInfo => {
                Some(self.user_plan(self.mesh.hostile, Mode::Default, false))
            }
            Forced::ImpersonatorKey(second) => {
                Some(self.user_plan(self.mesh.impersonator, Mode::Default, second))
            }
            Forced::HostileText => {
                let from = self.rng.random_range(0..self.mesh.nodes.len());
                let kind = FactKind::Text {
                    direct: false,
                    reply: false,
                    reaction: false,
                };
                let body = Body::Text(HOSTILE_TEXT.to_owned());
                Some(Plan::new(from, BROADCAST, body, Mode::Default, kind))
            }
            Forced::Collision => {
                let &(orig, id) = self.recent_packets.front()?;
                let from = self.other_node(orig);
                let body = Body::Telemetry(pb::Telemetry {
                    time: 0,
                    variant: Some(pb::telemetry::Variant::DeviceMetrics(pb::DeviceMetrics {
                        battery_level: Some(101),
                        voltage: Some(4.2),
                        ..Default::default()
                    })),
                });
                let mut plan = Plan::new(from, BROADCAST, body, Mode::Default, FactKind::Plain);
                plan.fixed_id = Some(id);
                plan.collides_with = Some(self.node(orig).id);
                Some(plan)
            }
        }
    }

    fn map_report(&mut self, now: i64, out: &mut Vec<Outgoing>) {
        let g = self.rng.random_range(0..self.mesh.gateways);
        let node = self.node(g).clone();
        let bits = [13u32, 14, 16, 32][self.rng.random_range(0..4)];
        let lat_i = reduce_precision((node.lat * 1e7).round() as i32, bits);
        let lon_i = reduce_precision((node.lon * 1e7).round() as i32, bits);
        let online = (self.mesh.nodes.len() as u32 * self.rng.random_range(40..90) / 100).max(1);
        let report = pb::MapReport {
            long_name: node.long_name.clone(),
            short_name: node.short_name.clone(),
            role: node.role as i32,
            hw_model: node.hw_model as i32,
            firmware_version: node.firmware.to_owned(),
            region: pb::config::lo_ra_config::RegionCode::Us as i32,
            modem_preset: pb::config::lo_ra_config::ModemPreset::LongFast as i32,
            has_default_channel: true,
            latitude_i: lat_i,
            longitude_i: lon_i,
            altitude: node.altitude_m,
            position_precision: bits,
            num_online_local_nodes: online,
            has_opted_report_location: true,
        };
        let id = self.fresh_id();
        let at = now + self.rng.random_range(10_000..200_000);
        let data = pb::Data {
            portnum: PortNum::MapReportApp as i32,
            payload: report.encode_to_vec(),
            ..Default::default()
        };
        // Map reports are built and published by the gateway itself, never
        // relayed over LoRa, so there is exactly one copy.
        let packet = pb::MeshPacket {
            from: node.id,
            to: BROADCAST,
            id,
            rx_time: self.epoch(at),
            payload_variant: Some(PayloadVariant::Decoded(data)),
            ..Default::default()
        };
        let envelope = pb::ServiceEnvelope {
            packet: Some(packet),
            channel_id: self.cfg.channel.clone(),
            gateway_id: format!("!{:08x}", node.id),
        };
        self.facts.push(PacketFacts {
            from: node.id,
            id,
            port: PortNum::MapReportApp as u32,
            kind: FactKind::MapReport {
                long_name: report.long_name.clone(),
                short_name: report.short_name.clone(),
                hw_model: hw_model_name(report.hw_model),
                role: role_name(report.role),
                firmware: report.firmware_version.clone(),
                lat_i,
                lon_i,
            },
            collides_with: None,
            links: Vec::new(),
        });
        out.push(Outgoing {
            at_us: at,
            topic: format!("{}/2/map/", self.cfg.region_topic),
            payload: envelope.encode_to_vec(),
            effect: Effect::Reception {
                facts: self.facts.len() - 1,
                gateway: node.id,
                rx_time: self.epoch(at),
                heard: None,
            },
        });
        self.maybe_junk(at, out);
    }

    // ---- encryption, reception, MQTT ----

    fn fresh_id(&mut self) -> u32 {
        loop {
            let id: u32 = self.rng.random();
            if id != 0 && self.used_ids.insert(id) {
                return id;
            }
        }
    }

    /// Encrypts `plan`, has gateways hear it, and queues the resulting
    /// messages. Returns the packet id.
    fn emit(&mut self, plan: Plan, now: i64, out: &mut Vec<Outgoing>) -> u32 {
        let sender = self.node(plan.from).clone();
        let port = plan.body.port();
        let data = pb::Data {
            portnum: port as i32,
            payload: plan.body.encode(),
            want_response: plan.want_response,
            request_id: plan.request_id,
            reply_id: plan.reply_id,
            emoji: plan.emoji,
            bitfield: sender.sends_bitfield().then_some(1),
            ..Default::default()
        };
        let plain = data.encode_to_vec();
        let (key, channel_name, channel_index) = match plan.mode {
            Mode::Default => (&self.keys.default, self.cfg.channel.as_str(), 0),
            Mode::Private => (
                self.keys.secondary.as_ref().unwrap_or(&self.keys.default),
                PRIVATE_CHANNEL,
                1,
            ),
            Mode::Unknown => (&self.keys.unknown, HIDDEN_CHANNEL, 0),
        };
        let key = key.clone();
        let channel_name = channel_name.to_owned();
        let hash = u32::from(key.channel_hash(&channel_name));

        // Choose the id, then check the packet decrypts (or not) exactly as the
        // truth claims. A wrong key very rarely yields a plausible `Data`; a
        // new id (new nonce) avoids that case instead of mis-stating the truth.
        let mut fixed = plan.fixed_id;
        let mut collides_with = plan.collides_with;
        let mut attempts = 0;
        let (id, ciphertext) = loop {
            let id = fixed.take().unwrap_or_else(|| self.fresh_id());
            let ct = apply_channel_cipher(&key, id, sender.id, &plain);
            let probe = pb::MeshPacket {
                from: sender.id,
                to: plan.to,
                channel: hash,
                id,
                payload_variant: Some(PayloadVariant::Encrypted(ct.clone())),
                ..Default::default()
            };
            let ok = match decrypt_packet(&probe, &channel_name, &self.keys.ring) {
                DecryptOutcome::Decrypted { data: d, .. } => {
                    plan.mode != Mode::Unknown && d == data
                }
                DecryptOutcome::Undecryptable => plan.mode == Mode::Unknown,
                DecryptOutcome::AlreadyDecoded => false,
            };
            if ok {
                break (id, ct);
            }
            attempts += 1;
            collides_with = None;
            assert!(
                attempts < 32,
                "simulated packet never decrypts as intended: encoder bug"
            );
        };

        let decodable = plan.mode != Mode::Unknown;
        self.facts.push(PacketFacts {
            from: sender.id,
            id,
            port: if decodable { port as u32 } else { 0 },
            kind: if decodable {
                plan.kind
            } else {
                FactKind::Plain
            },
            collides_with,
            links: if decodable { plan.links } else { Vec::new() },
        });
        let facts = self.facts.len() - 1;
        if plan.mode == Mode::Default {
            self.recent_packets.push_back((plan.from, id));
            if self.recent_packets.len() > 30 {
                self.recent_packets.pop_front();
            }
        }

        let topic_base = format!("{}/2/e/{channel_name}", self.cfg.region_topic);
        let base_packet = pb::MeshPacket {
            from: sender.id,
            to: plan.to,
            channel: hash,
            id,
            want_ack: plan.want_ack,
            priority: plan.priority as i32,
            hop_start: sender.hop_start,
            payload_variant: Some(PayloadVariant::Encrypted(ciphertext)),
            ..Default::default()
        };
        for g in self.mesh.hearing_gateways(plan.from, &mut self.rng) {
            let first = self.reception(plan.from, g, None, now);
            let mut copies = vec![first];
            let again = g != plan.from && self.rng.random_bool(0.04);
            let other = if again {
                let radio = &self.mesh.radio;
                radio.alternative_relayer(plan.from, g, first.relayer, &mut self.rng)
            } else {
                None
            };
            if let Some(relayer) = other {
                // Heard again later through another relay (a rebroadcast on another path).
                let later = first.at_us + self.rng.random_range(3_000_000..25_000_000);
                copies.push(self.reception(plan.from, g, Some(relayer), later));
            }
            for rx in copies {
                let mut p = base_packet.clone();
                p.rx_time = self.epoch(rx.at_us);
                p.rx_snr = rx.snr;
                p.rx_rssi = rx.rssi;
                p.hop_limit = rx.hop_limit;
                p.relay_node = rx.relay;
                // Some gateways uplink what they decrypted (MQTT encryption off):
                // the packet then carries `decoded` and the channel index.
                if decodable && self.rng.random_bool(0.02) {
                    p.channel = channel_index;
                    p.payload_variant = Some(PayloadVariant::Decoded(data.clone()));
                }
                let gw_id = self.node(g).id;
                let envelope = pb::ServiceEnvelope {
                    packet: Some(p),
                    channel_id: channel_name.clone(),
                    gateway_id: format!("!{gw_id:08x}"),
                };
                out.push(Outgoing {
                    at_us: rx.at_us,
                    topic: format!("{topic_base}/!{gw_id:08x}"),
                    payload: envelope.encode_to_vec(),
                    effect: Effect::Reception {
                        facts,
                        gateway: gw_id,
                        rx_time: self.epoch(rx.at_us),
                        heard: rx.heard,
                    },
                });
                self.maybe_junk(rx.at_us, out);
            }
        }
        id
    }

    /// Radio details of `gateway` hearing `sender`'s packet, sent at `sent_us`, last
    /// transmitted by `relayer` (a random last hop of a shortest path when `None`).
    /// `Radio::ensure(sender)` must have been called.
    fn reception(
        &mut self,
        sender: usize,
        gateway: usize,
        relayer: Option<usize>,
        sent_us: i64,
    ) -> Reception {
        let hop_start = self.node(sender).hop_start;
        if sender == gateway {
            // A gateway's own packet: no radio reception, so no SNR/RSSI.
            return Reception {
                at_us: sent_us + self.rng.random_range(20_000..150_000),
                snr: 0.0,
                rssi: 0,
                hop_limit: hop_start,
                relay: self.node(sender).relay_byte(),
                relayer: sender,
                heard: None,
            };
        }
        let radio = &self.mesh.radio;
        let r = relayer.unwrap_or_else(|| radio.last_relayer(sender, gateway, &mut self.rng));
        // Relays before the gateway: the links from the sender to `r`.
        let hops = u32::from(radio.dist(sender)[r]);
        let true_snr = radio.snr(r, gateway).expect("receptions use links");
        let snr = quarter_db(radio::observe(true_snr, &mut self.rng));
        let rssi = radio::rssi(true_snr, &mut self.rng);
        let delay = self.rng.random_range(80_000..500_000)
            + i64::from(hops.min(4)) * self.rng.random_range(200_000..450_000);
        Reception {
            at_us: sent_us + delay,
            snr,
            rssi,
            hop_limit: hop_start - hops,
            relay: self.node(r).relay_byte(),
            relayer: r,
            heard: Some(HeardLink {
                from: self.node(r).id,
                to: self.node(gateway).id,
                snr_db: true_snr,
                direct: hops == 0,
            }),
        }
    }

    /// Adds junk so that about `junk_percent` of all messages are junk.
    fn maybe_junk(&mut self, at_us: i64, out: &mut Vec<Outgoing>) {
        let p = self.cfg.junk_percent / 100.0;
        if p <= 0.0 || !self.rng.random_bool((p / (1.0 - p)).min(1.0)) {
            return;
        }
        let kind = JunkKind::ALL[self.junk_counter % JunkKind::ALL.len()];
        self.junk_counter += 1;
        let g = self.rng.random_range(0..self.mesh.gateways);
        let s = self.rng.random_range(0..self.mesh.nodes.len());
        let ctx = JunkContext {
            region_topic: &self.cfg.region_topic,
            channel: &self.cfg.channel,
            gateway: self.mesh.nodes[g].id,
            sender: self.mesh.nodes[s].id,
        };
        let (topic, payload) = make_junk(kind, &ctx, &mut self.rng);
        out.push(Outgoing {
            at_us: at_us + self.rng.random_range(0..1_000_000),
            topic,
            payload,
            effect: Effect::Junk(kind),
        });
    }
}

/// One gateway's reception of a packet.
#[derive(Clone, Copy)]
struct Reception {
    at_us: i64,
    snr: f32,
    rssi: i32,
    hop_limit: u32,
    /// `relay_node`: the low byte of `relayer`.
    relay: u32,
    /// The node the gateway heard (the sender itself on a zero-hop reception).
    relayer: usize,
    heard: Option<HeardLink>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precision_reduction_centres_in_cell() {
        assert_eq!(reduce_precision(377_749_123, 32), 377_749_123);
        let r = reduce_precision(377_749_123, 13);
        assert_eq!(r & ((1 << 19) - 1), 1 << 18);
        assert!((r - 377_749_123).abs() < 1 << 19);
        let neg = reduce_precision(-1_224_194_000, 16);
        assert!(neg < 0 && (neg - -1_224_194_000).abs() < 1 << 16);
    }

    #[test]
    fn snr_encodings() {
        assert_eq!(snr_q4(-7.3), -29);
        assert_eq!(snr_q4(40.0), 48);
        assert_eq!(quarter_db(-7.3), -7.25);
        assert_eq!(quarter_db(-99.0), -20.0);
    }
}
