//! The simulated mesh: nodes, their identities and configuration, gateways, and
//! their radio links (see `radio.rs`).

use super::SimConfig;
use super::radio::Radio;
use meshview_protocol::pb::HardwareModel;
use meshview_protocol::pb::config::device_config::Role;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use std::collections::HashSet;

/// The long name of the node whose name is an HTML injection attempt.
pub const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)>";

/// One simulated radio.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub id: u32,
    pub long_name: String,
    pub short_name: String,
    pub hw_model: HardwareModel,
    pub role: Role,
    pub firmware: &'static str,
    /// The node's true location, used for propagation even when it never reports it.
    pub lat: f64,
    pub lon: f64,
    pub altitude_m: i32,
    /// Whether the node sends POSITION packets (and, for gateways, map reports).
    pub reports_position: bool,
    /// Mobile nodes wander further from their home location between reports.
    pub mobile: bool,
    /// The node's configured hop limit: what it puts in `hop_start`.
    pub hop_start: u32,
    pub public_key: [u8; 32],
    /// A second key announced later under the same node number (impersonation).
    pub alt_public_key: Option<[u8; 32]>,
    /// Base temperature (°C) of nodes with an environment sensor.
    pub env_base_temp: Option<f32>,
    /// Uptime at simulation start, so uptime values look like long-running nodes.
    pub boot_uptime_s: u32,
    /// Member of the "Private" channel (secondary key).
    pub private: bool,
    pub is_gateway: bool,
    /// Hears at least one other node (has something to put in a NeighborInfo).
    pub hears_others: bool,
}

impl Node {
    /// Firmware 2.5 introduced `Data.bitfield` (ok-to-MQTT flag).
    pub fn sends_bitfield(&self) -> bool {
        !self.firmware.starts_with("2.3") && !self.firmware.starts_with("2.4")
    }

    /// The relay byte other nodes see when this node retransmits.
    pub fn relay_byte(&self) -> u32 {
        self.id & 0xff
    }
}

/// All nodes. Gateways are `nodes[..gateways]`.
pub(crate) struct Mesh {
    pub nodes: Vec<Node>,
    pub gateways: usize,
    /// Index of the node with [`HOSTILE_NAME`].
    pub hostile: usize,
    /// Index of the node that announces two public keys.
    pub impersonator: usize,
    /// Who hears whom.
    pub radio: Radio,
}

const PLACES: [&str; 24] = [
    "Mission Peak",
    "Twin Peaks",
    "Bernal Hill",
    "Mt Diablo",
    "Sutro",
    "Oakland Hills",
    "Palo Alto",
    "Sunnyvale",
    "Fremont",
    "Berkeley",
    "Half Moon Bay",
    "San Mateo",
    "Los Gatos",
    "Skyline",
    "Marin",
    "Alameda",
    "Richmond",
    "Hayward",
    "Livermore",
    "Cupertino",
    "Pacifica",
    "Milpitas",
    "Daly City",
    "Redwood City",
];
const KINDS: [&str; 9] = [
    "Router", "Base", "Mobile", "Solar", "Relay", "Home", "Car", "Hiker", "Node",
];
/// Names real users pick: emoji, accents, other scripts.
const SPECIAL_NAMES: [(&str, &str); 8] = [
    ("Café Zürich 🚲", "CZ🚲"),
    ("Ñandú Base", "Ñ1"),
    ("東京タワー node", "東京"),
    ("Кузница", "Куз"),
    ("🐙 Octo Relay", "🐙"),
    ("Ünïcödé Tëst", "Ü2"),
    ("Señora's 📡", "📡"),
    ("Straße 12 ☀️", "Str"),
];
const HW_MODELS: [HardwareModel; 14] = [
    HardwareModel::HeltecV3,
    HardwareModel::HeltecV3,
    HardwareModel::Rak4631,
    HardwareModel::Rak4631,
    HardwareModel::Tbeam,
    HardwareModel::TEcho,
    HardwareModel::TloraT3S3,
    HardwareModel::StationG2,
    HardwareModel::HeltecWirelessTracker,
    HardwareModel::TrackerT1000E,
    HardwareModel::HeltecMeshNodeT114,
    HardwareModel::SeeedXiaoS3,
    HardwareModel::TDeck,
    HardwareModel::NanoG2Ultra,
];
const FIRMWARE: [&str; 6] = [
    "2.4.2.5b45303",
    "2.5.15.79da236",
    "2.5.20.4c97351",
    "2.6.11.60ec05e",
    "2.6.11.60ec05e",
    "2.7.4.a4b4a7b",
];

fn pick_role(rng: &mut StdRng) -> Role {
    match rng.random_range(0..100) {
        0..70 => Role::Client,
        70..82 => Role::ClientMute,
        82..92 => Role::Router,
        _ => Role::RouterLate,
    }
}

/// A node number that is not 0, not broadcast, not in the firmware's reserved
/// low range, and not already taken.
fn fresh_node_id(rng: &mut StdRng, taken: &mut HashSet<u32>) -> u32 {
    loop {
        let id: u32 = rng.random();
        if id > 0xff && id != u32::MAX && taken.insert(id) {
            return id;
        }
    }
}

impl Mesh {
    pub fn generate(cfg: &SimConfig, rng: &mut StdRng, private_channel: bool) -> Mesh {
        let (north, west, south, east) = cfg.bbox;
        let n = cfg.nodes;
        let mut taken = HashSet::new();
        let mut names: Vec<(String, String)> = Vec::with_capacity(n);
        let mut used_names = HashSet::new();
        for i in 0..n {
            // A handful of "special" names mixed in, the rest place + kind.
            let name = if i % 7 == 3 && i / 7 < SPECIAL_NAMES.len() {
                let (l, s) = SPECIAL_NAMES[i / 7];
                (l.to_owned(), s.to_owned())
            } else {
                let mut long;
                loop {
                    let p = PLACES[rng.random_range(0..PLACES.len())];
                    let k = KINDS[rng.random_range(0..KINDS.len())];
                    long = format!("{p} {k}");
                    if used_names.insert(long.clone()) || used_names.len() > 150 {
                        break;
                    }
                }
                let initials: String = long
                    .split(' ')
                    .filter_map(|w| w.chars().next())
                    .take(3)
                    .collect();
                (long, format!("{initials}{}", i % 10))
            };
            names.push(name);
        }

        let mut nodes: Vec<Node> = names
            .into_iter()
            .map(|(long_name, short_name)| {
                let id = fresh_node_id(rng, &mut taken);
                let mut public_key = [0u8; 32];
                rng.fill(&mut public_key);
                let role = pick_role(rng);
                let mobile = role == Role::Client && rng.random_bool(0.2);
                Node {
                    id,
                    long_name,
                    short_name,
                    hw_model: HW_MODELS[rng.random_range(0..HW_MODELS.len())],
                    role,
                    firmware: FIRMWARE[rng.random_range(0..FIRMWARE.len())],
                    lat: rng.random_range(south..north),
                    lon: rng.random_range(west..east),
                    altitude_m: rng.random_range(0..900),
                    reports_position: rng.random_bool(0.88),
                    mobile,
                    hop_start: if rng.random_bool(0.85) { 3 } else { 7 },
                    public_key,
                    alt_public_key: None,
                    env_base_temp: rng.random_bool(0.25).then(|| {
                        // Some sensors sit on cold peaks or in freezers.
                        if rng.random_bool(0.3) {
                            rng.random_range(-18.0f32..-2.0)
                        } else {
                            rng.random_range(8.0f32..26.0)
                        }
                    }),
                    boot_uptime_s: rng.random_range(60..3_000_000),
                    private: false,
                    is_gateway: false,
                    hears_others: false,
                }
            })
            .collect();
        nodes.shuffle(rng);

        let gateways = cfg.gateways.min(n);
        for g in &mut nodes[..gateways] {
            // Gateways are fixed installations that know where they are.
            g.is_gateway = true;
            g.reports_position = true;
            g.mobile = false;
        }
        // The special cases live outside the gateway set when there is room.
        let hostile = n - 1;
        let impersonator = n.saturating_sub(2);
        nodes[hostile].long_name = HOSTILE_NAME.to_owned();
        nodes[hostile].short_name = "<b>".to_owned();
        let mut alt = [0u8; 32];
        rng.fill(&mut alt);
        nodes[impersonator].alt_public_key = Some(alt);
        // Public keys need firmware 2.5+.
        nodes[impersonator].firmware = "2.6.11.60ec05e";

        if private_channel {
            // About one node in ten (at least two) also uses the Private channel.
            let mut candidates: Vec<usize> = (0..n).collect();
            candidates.shuffle(rng);
            let count = (n / 10).max(2).min(n);
            for &i in &candidates[..count] {
                nodes[i].private = true;
            }
        }

        let radio = Radio::build(&nodes, gateways, cfg.bbox, cfg.seed);
        for (i, node) in nodes.iter_mut().enumerate() {
            node.hears_others = !radio.in_links(i).is_empty();
        }
        Mesh {
            nodes,
            gateways,
            hostile,
            impersonator,
            radio,
        }
    }

    /// The gateways that hear a packet from `sender`: 1–5 of those its packets reach
    /// within its hop limit, nearer (fewer links) ones more likely. A gateway always
    /// hears (and uplinks) its own packets.
    pub fn hearing_gateways(&mut self, sender: usize, rng: &mut StdRng) -> Vec<usize> {
        let wanted = match rng.random_range(0..100) {
            0..30 => 1,
            30..60 => 2,
            60..80 => 3,
            80..92 => 4,
            _ => 5,
        };
        let mut chosen = Vec::with_capacity(wanted);
        if self.nodes[sender].is_gateway {
            chosen.push(sender);
        }
        self.radio.ensure(sender);
        let mut pool: Vec<(usize, f64)> = self
            .radio
            .reachable_gateways(sender)
            .into_iter()
            .map(|(g, links)| (g, 1.0 / f64::from(links * links)))
            .collect();
        while chosen.len() < wanted && !pool.is_empty() {
            let total: f64 = pool.iter().map(|(_, w)| w).sum();
            let mut x = rng.random_range(0.0..total);
            let mut pick = pool.len() - 1;
            for (i, (_, w)) in pool.iter().enumerate() {
                if x < *w {
                    pick = i;
                    break;
                }
                x -= w;
            }
            chosen.push(pool.swap_remove(pick).0);
        }
        assert!(
            !chosen.is_empty(),
            "radio model: a node reaches no gateway (hilltops should prevent it)"
        );
        chosen
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn nodes_are_distinct_and_inside_the_box() {
        let cfg = SimConfig::default();
        let mut rng = StdRng::seed_from_u64(7);
        let mut mesh = Mesh::generate(&cfg, &mut rng, true);
        assert_eq!(mesh.nodes.len(), cfg.nodes);
        let ids: HashSet<u32> = mesh.nodes.iter().map(|n| n.id).collect();
        assert_eq!(ids.len(), cfg.nodes);
        assert!(ids.iter().all(|&id| id > 0xff && id != u32::MAX));
        let (north, west, south, east) = cfg.bbox;
        for n in &mesh.nodes {
            assert!(n.lat < north && n.lat >= south && n.lon >= west && n.lon < east);
            assert!(n.short_name.chars().count() <= 4, "{}", n.short_name);
            assert!(n.long_name.len() <= 39, "{}", n.long_name);
        }
        assert_eq!(
            mesh.nodes.iter().filter(|n| n.is_gateway).count(),
            cfg.gateways
        );
        assert!(mesh.nodes.iter().filter(|n| n.private).count() >= 2);
        assert_eq!(mesh.nodes[mesh.hostile].long_name, HOSTILE_NAME);
        assert!(mesh.nodes[mesh.impersonator].alt_public_key.is_some());
        for s in 0..mesh.nodes.len() {
            let g = mesh.hearing_gateways(s, &mut rng);
            assert!((1..=5).contains(&g.len()));
            assert!(g.iter().all(|&i| mesh.nodes[i].is_gateway));
            let uniq: HashSet<_> = g.iter().collect();
            assert_eq!(uniq.len(), g.len());
        }
    }
}
