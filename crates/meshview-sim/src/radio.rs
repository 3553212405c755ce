//! The radio model: who hears whom, and how well.
//!
//! Every ordered pair of nodes `(a, b)` has a deterministic *true SNR* in dB at which `b`
//! receives `a`'s transmissions:
//!
//! ```text
//! snr(a→b) = min(MAX, 10 − SLOPE · d_eff(a, b) + sym(a, b) + asym(a→b) + elevation(a, b))
//! ```
//!
//! - `d_eff` is the ground distance in km scaled by the mesh's density:
//!   `d_km · REFERENCE_SPACING_KM / spacing`, where `spacing = √(bbox area / nodes)` is the
//!   mean distance between neighbouring nodes. A 60-node mesh in the default 90 × 80 km box
//!   has a spacing of ≈ 10.8 km (so `d_eff ≈ d_km`); 2,000 nodes in the same box have
//!   ≈ 1.9 km and correspondingly shorter links (a dense, cluttered urban mesh). Any
//!   configuration thus gets a graph of the same shape: mostly connected, average
//!   degree ≈ 8 (see the `degree_and_reach` test).
//! - `sym` is a fixed ±[`SYMMETRIC_SPREAD_DB`] offset per unordered pair (terrain between
//!   the two), `asym` a fixed ±[`ASYMMETRIC_SPREAD_DB`] per ordered pair (antennas, local
//!   noise), both uniform from a hash of the node numbers and the seed.
//! - `elevation` adds [`ELEVATION_BONUS_DB`] per end that is a router or a gateway
//!   (hilltops, masts).
//!
//! A directed link `a→b` **exists** iff `snr(a→b) ≥ LINK_THRESHOLD_DB`.
//!
//! **Hilltops.** A node that cannot reach any gateway within its hop limit (`hop_start + 1`
//! links, every intermediate a relaying node, see below) gets a link in both directions to
//! the nearest node from which a gateway is near enough, with a true SNR a little above the
//! threshold (a well-placed antenna): every packet reaches at least one gateway.
//!
//! **Relays.** CLIENT_MUTE nodes never rebroadcast, so they are never an intermediate hop
//! of a path (they still send and receive).
//!
//! **Observations** are the true SNR plus uniform noise within ±[`SNR_NOISE_DB`], then
//! quantised by the field that carries them (quarter dB everywhere). RSSI is derived from
//! the same link's true SNR: `−92 + 2·snr ± 3` dBm.

use super::mesh::Node;
use meshview_protocol::pb::config::device_config::Role;
use rand::Rng;
use rand::rngs::StdRng;
use std::collections::VecDeque;

/// A transmission is decoded iff its true SNR is at least this (dB). LongFast (SF11,
/// 250 kHz) demodulates down to about −17.5 dB; −15 dB leaves a margin for fading.
pub const LINK_THRESHOLD_DB: f32 = -15.0;
/// Observed SNRs (`rx_snr`, `Neighbor.snr`, traceroute `snr_towards` / `snr_back`) are the
/// true SNR plus uniform noise within ± this (dB), before quantisation to quarter dB.
pub const SNR_NOISE_DB: f32 = 1.5;
/// The true SNR never exceeds this (dB): LoRa SNR readings saturate around +10.
pub const MAX_TRUE_SNR_DB: f32 = 10.0;
/// The spread of the per-pair (symmetric) offset, dB.
pub const SYMMETRIC_SPREAD_DB: f64 = 3.0;
/// The spread of the per-direction (asymmetric) offset, dB.
pub const ASYMMETRIC_SPREAD_DB: f64 = 1.0;
/// Added per end of a link that is a router or a gateway, dB.
pub const ELEVATION_BONUS_DB: f64 = 1.5;
/// SNR at zero distance before offsets, dB.
const SNR_AT_ZERO_DB: f64 = 10.0;
/// Loss per effective km, dB.
const SLOPE_DB_PER_KM: f64 = 1.3;
/// The node spacing at which effective km are real km (the default mesh's, ≈ 10.8 km).
const REFERENCE_SPACING_KM: f64 = 10.8;
/// Unreachable in a distance table.
const FAR: u8 = u8::MAX;

/// Approximate ground distance in km (equirectangular; fine at mesh scale).
pub(crate) fn distance_km(a: &Node, b: &Node) -> f64 {
    let mean_lat = ((a.lat + b.lat) / 2.0).to_radians();
    let dy = (a.lat - b.lat) * 111.32;
    let dx = (a.lon - b.lon) * 111.32 * mean_lat.cos();
    (dx * dx + dy * dy).sqrt()
}

/// splitmix64: a fixed, well-mixed hash (the per-pair offsets must not depend on the RNG
/// stream, only on the seed and the node numbers).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// A uniform value in [−1, 1] from the seed, a tag and two node numbers.
fn unit(seed: u64, tag: u64, a: u32, b: u32) -> f64 {
    let h =
        mix(mix(seed ^ tag.wrapping_mul(0x1000_0000_01b3)) ^ (u64::from(a) << 32 | u64::from(b)));
    (h >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
}

/// The observed value of a link whose true SNR is `snr_db` (noise added, not quantised).
pub(crate) fn observe(snr_db: f32, rng: &mut StdRng) -> f64 {
    let n = f64::from(SNR_NOISE_DB);
    f64::from(snr_db) + rng.random_range(-n..=n)
}

/// The RSSI (dBm) a receiver reports for a link of true SNR `snr_db`.
pub(crate) fn rssi(snr_db: f32, rng: &mut StdRng) -> i32 {
    (-92.0 + 2.0 * f64::from(snr_db) + rng.random_range(-3.0..=3.0))
        .clamp(-130.0, -30.0)
        .round() as i32
}

/// The link graph of a mesh and the hop distances over it.
pub(crate) struct Radio {
    /// Per node `a`: every link `a→b` as `(b, true SNR)`, `b` ascending.
    out: Vec<Vec<(u32, f32)>>,
    /// Per node `b`: every link `a→b` as `(a, true SNR)`, `a` ascending.
    inn: Vec<Vec<(u32, f32)>>,
    /// Rebroadcasts others' packets (every role but CLIENT_MUTE).
    relays: Vec<bool>,
    /// Preferred hop of traceroute paths.
    router: Vec<bool>,
    /// Links a packet can travel: `hop_start + 1`.
    max_links: Vec<u32>,
    gateways: usize,
    /// Per source, lazily: hop distance (links) to every node, [`FAR`] if unreachable.
    dist: Vec<Option<Box<[u8]>>>,
    /// Nodes that needed a hilltop link.
    pub hilltops: usize,
}

impl Radio {
    /// Builds the link graph for `nodes` (gateways first) in `bbox` = (north, west, south, east).
    pub fn build(nodes: &[Node], gateways: usize, bbox: (f64, f64, f64, f64), seed: u64) -> Radio {
        let n = nodes.len();
        let (north, west, south, east) = bbox;
        let mid_lat = ((north + south) / 2.0).to_radians();
        let area = ((north - south) * 111.32) * ((east - west) * 111.32 * mid_lat.cos());
        let spacing = (area / n as f64).sqrt().max(1e-3);
        let km_scale = REFERENCE_SPACING_KM / spacing;
        let relays: Vec<bool> = nodes.iter().map(|x| x.role != Role::ClientMute).collect();
        let router: Vec<bool> = nodes
            .iter()
            .map(|x| matches!(x.role, Role::Router | Role::RouterLate))
            .collect();
        let elevated: Vec<bool> = (0..n).map(|i| router[i] || nodes[i].is_gateway).collect();

        // Longest possible link (effective km, then real km): the best offsets and bonuses.
        let best =
            SNR_AT_ZERO_DB + SYMMETRIC_SPREAD_DB + ASYMMETRIC_SPREAD_DB + 2.0 * ELEVATION_BONUS_DB
                - f64::from(LINK_THRESHOLD_DB);
        let max_km = best / SLOPE_DB_PER_KM / km_scale;
        // Sweep by latitude: only pairs within `max_km` north-south can be linked.
        let mut by_lat: Vec<usize> = (0..n).collect();
        by_lat.sort_by(|&a, &b| nodes[a].lat.total_cmp(&nodes[b].lat).then(a.cmp(&b)));
        let max_dlat = max_km / 111.32;
        let mut out: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
        let snr = |a: usize, b: usize, d_km: f64| -> f32 {
            let (ia, ib) = (nodes[a].id, nodes[b].id);
            let sym = unit(seed, 1, ia.min(ib), ia.max(ib)) * SYMMETRIC_SPREAD_DB;
            let asym = unit(seed, 2, ia, ib) * ASYMMETRIC_SPREAD_DB;
            let bonus =
                ELEVATION_BONUS_DB * f64::from(u8::from(elevated[a]) + u8::from(elevated[b]));
            let v = SNR_AT_ZERO_DB - SLOPE_DB_PER_KM * d_km * km_scale + sym + asym + bonus;
            (v as f32).min(MAX_TRUE_SNR_DB)
        };
        for (k, &a) in by_lat.iter().enumerate() {
            for &b in &by_lat[k + 1..] {
                if nodes[b].lat - nodes[a].lat > max_dlat {
                    break;
                }
                let d = distance_km(&nodes[a], &nodes[b]);
                if d > max_km {
                    continue;
                }
                for (x, y) in [(a, b), (b, a)] {
                    let s = snr(x, y, d);
                    if s >= LINK_THRESHOLD_DB {
                        out[x].push((y as u32, s));
                    }
                }
            }
        }
        let mut radio = Radio {
            out,
            inn: Vec::new(),
            relays,
            router,
            max_links: nodes.iter().map(|x| x.hop_start + 1).collect(),
            gateways,
            dist: vec![None; n],
            hilltops: 0,
        };
        radio.add_hilltops(nodes, seed);
        for v in &mut radio.out {
            v.sort_by_key(|e| e.0);
        }
        let mut inn: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
        for (a, links) in radio.out.iter().enumerate() {
            for &(b, s) in links {
                inn[b as usize].push((a as u32, s));
            }
        }
        radio.inn = inn;
        radio
    }

    /// Links nodes that reach no gateway within their hop limit to the nearest node that does.
    fn add_hilltops(&mut self, nodes: &[Node], seed: u64) {
        let n = nodes.len();
        // Links from each node to its nearest gateway: a BFS from all gateways backwards.
        let mut inn: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (a, links) in self.out.iter().enumerate() {
            for &(b, _) in links {
                inn[b as usize].push(a);
            }
        }
        let mut gdist: Vec<u32> = (0..n)
            .map(|i| if i < self.gateways { 0 } else { u32::MAX })
            .collect();
        let mut queue: VecDeque<usize> = (0..self.gateways).collect();
        while let Some(u) = queue.pop_front() {
            // A packet travels v→u→…: u must rebroadcast unless it is the gateway itself.
            if gdist[u] > 0 && !self.relays[u] {
                continue;
            }
            for &v in &inn[u] {
                if gdist[v] == u32::MAX {
                    gdist[v] = gdist[u] + 1;
                    queue.push_back(v);
                }
            }
        }
        for v in 0..n {
            let budget = self.max_links[v];
            if gdist[v] <= budget {
                continue;
            }
            // The nearest node m with v→m→…→gateway within budget (ties: lower index).
            let m = (0..n)
                .filter(|&m| m != v && (m < self.gateways || (self.relays[m] && gdist[m] < budget)))
                .min_by(|&x, &y| {
                    distance_km(&nodes[v], &nodes[x])
                        .total_cmp(&distance_km(&nodes[v], &nodes[y]))
                        .then(x.cmp(&y))
                })
                .expect("there is a gateway");
            self.hilltops += 1;
            for (a, b) in [(v, m), (m, v)] {
                let margin = 1.0 + 1.5 * (unit(seed, 3, nodes[a].id, nodes[b].id) + 1.0);
                let s = LINK_THRESHOLD_DB + margin as f32;
                match self.out[a].iter_mut().find(|e| e.0 == b as u32) {
                    Some(e) => e.1 = e.1.max(s),
                    None => self.out[a].push((b as u32, s)),
                }
            }
        }
    }

    pub fn len(&self) -> usize {
        self.out.len()
    }

    /// Every link `a→b` as `(a, b, true SNR)`, ordered by `a` then `b`.
    pub fn links(&self) -> impl Iterator<Item = (usize, usize, f32)> + '_ {
        self.out
            .iter()
            .enumerate()
            .flat_map(|(a, v)| v.iter().map(move |&(b, s)| (a, b as usize, s)))
    }

    /// Nodes that `b` hears (links `a→b`).
    pub fn in_links(&self, b: usize) -> &[(u32, f32)] {
        &self.inn[b]
    }

    /// The true SNR of `a→b`, if that link exists.
    pub fn snr(&self, a: usize, b: usize) -> Option<f32> {
        let v = &self.out[a];
        v.binary_search_by_key(&(b as u32), |e| e.0)
            .ok()
            .map(|i| v[i].1)
    }

    /// Computes the distance table of `s` if not done yet.
    pub fn ensure(&mut self, s: usize) {
        if self.dist[s].is_some() {
            return;
        }
        let mut d = vec![FAR; self.len()].into_boxed_slice();
        d[s] = 0;
        let mut queue = VecDeque::from([s]);
        while let Some(u) = queue.pop_front() {
            if (u != s && !self.relays[u]) || d[u] >= FAR - 1 {
                continue;
            }
            for &(v, _) in &self.out[u] {
                if d[v as usize] == FAR {
                    d[v as usize] = d[u] + 1;
                    queue.push_back(v as usize);
                }
            }
        }
        self.dist[s] = Some(d);
    }

    /// Hop distances (links) from `s`; [`Radio::ensure`] must have been called.
    pub fn dist(&self, s: usize) -> &[u8] {
        self.dist[s].as_deref().expect("Radio::ensure first")
    }

    /// Whether a packet from `s` reaches `t` within `s`'s hop limit.
    pub fn reaches(&self, s: usize, t: usize) -> bool {
        u32::from(self.dist(s)[t]) <= self.max_links[s]
    }

    /// The gateways other than `s` that `s`'s packets reach, with the links needed.
    pub fn reachable_gateways(&self, s: usize) -> Vec<(usize, u32)> {
        let d = self.dist(s);
        (0..self.gateways)
            .filter(|&g| g != s && u32::from(d[g]) <= self.max_links[s])
            .map(|g| (g, u32::from(d[g])))
            .collect()
    }

    /// Every node other than `s` that `s`'s packets reach.
    pub fn reachable(&self, s: usize) -> Vec<usize> {
        (0..self.len())
            .filter(|&t| t != s && self.reaches(s, t))
            .collect()
    }

    /// Nodes `u` that can hand a packet from `s` to `t` on a shortest path (`u→t` exists,
    /// `u` is `s` or a relay at one link less from `s`).
    fn predecessors(&self, s: usize, t: usize) -> impl Iterator<Item = usize> + '_ {
        let d = self.dist(s);
        let want = d[t].wrapping_sub(1);
        self.inn[t]
            .iter()
            .map(|e| e.0 as usize)
            .filter(move |&u| d[u] == want && (u == s || self.relays[u]))
    }

    /// The node whose transmission `t` heard last on a random shortest path from `s`.
    pub fn last_relayer(&self, s: usize, t: usize, rng: &mut StdRng) -> usize {
        let p: Vec<usize> = self.predecessors(s, t).collect();
        p[rng.random_range(0..p.len())]
    }

    /// Another relay than `not` that `t` hears and that `s`'s packet reaches with hops to
    /// spare: a second, later copy through another path.
    pub fn alternative_relayer(
        &self,
        s: usize,
        t: usize,
        not: usize,
        rng: &mut StdRng,
    ) -> Option<usize> {
        let d = self.dist(s);
        let p: Vec<usize> = self.inn[t]
            .iter()
            .map(|e| e.0 as usize)
            .filter(|&u| {
                u != s && u != not && self.relays[u] && u32::from(d[u]) < self.max_links[s]
            })
            .collect();
        (!p.is_empty()).then(|| p[rng.random_range(0..p.len())])
    }

    /// The intermediate hops of a shortest path `s → t` (routers preferred at each step,
    /// random among equals), or `None` when `t` is beyond `s`'s hop limit.
    pub fn route(&self, s: usize, t: usize, rng: &mut StdRng) -> Option<Vec<usize>> {
        if !self.reaches(s, t) {
            return None;
        }
        let mut hops = Vec::new();
        let mut cur = t;
        while self.dist(s)[cur] > 1 {
            let p: Vec<usize> = self.predecessors(s, cur).collect();
            let routers: Vec<usize> = p.iter().copied().filter(|&u| self.router[u]).collect();
            let pool = if routers.is_empty() { &p } else { &routers };
            cur = pool[rng.random_range(0..pool.len())];
            hops.push(cur);
        }
        hops.reverse();
        Some(hops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SimConfig;
    use crate::mesh::Mesh;
    use rand::SeedableRng;

    /// Degree and reach statistics of a generated mesh.
    struct Stats {
        nodes: usize,
        links: usize,
        mean_out: f64,
        min_out: usize,
        max_out: usize,
        isolated: usize,
        hilltops: usize,
        /// Nodes reaching at least 2 gateways.
        multi_gateway: usize,
        /// Share of links whose reverse also exists.
        symmetric: f64,
    }

    fn stats(cfg: &SimConfig) -> (Mesh, Stats) {
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let mut mesh = Mesh::generate(cfg, &mut rng, true);
        let n = mesh.nodes.len();
        let r = &mut mesh.radio;
        let outs: Vec<usize> = (0..n).map(|a| r.out[a].len()).collect();
        let links: usize = outs.iter().sum();
        let sym = r.links().filter(|&(a, b, _)| r.snr(b, a).is_some()).count();
        let mut multi = 0;
        for s in 0..n {
            r.ensure(s);
            let own = usize::from(s < r.gateways);
            let g = r.reachable_gateways(s).len() + own;
            assert!(g >= 1, "node {s} reaches no gateway");
            multi += usize::from(g >= 2);
        }
        let st = Stats {
            nodes: n,
            links,
            mean_out: links as f64 / n as f64,
            min_out: *outs.iter().min().unwrap(),
            max_out: *outs.iter().max().unwrap(),
            isolated: (0..n)
                .filter(|&i| r.out[i].is_empty() && r.inn[i].is_empty())
                .count(),
            hilltops: r.hilltops,
            multi_gateway: multi,
            symmetric: sym as f64 / links.max(1) as f64,
        };
        println!(
            "{} nodes / {} gateways: {} links, degree mean {:.1} (min {}, max {}), \
             {} isolated, {} hilltops, {} reach ≥ 2 gateways, {:.0} % symmetric",
            st.nodes,
            cfg.gateways,
            st.links,
            st.mean_out,
            st.min_out,
            st.max_out,
            st.isolated,
            st.hilltops,
            st.multi_gateway,
            st.symmetric * 100.0
        );
        (mesh, st)
    }

    #[test]
    fn degree_and_reach() {
        for cfg in [
            SimConfig::default(),
            SimConfig {
                nodes: 2000,
                gateways: 100,
                ..SimConfig::default()
            },
            SimConfig {
                nodes: 40,
                gateways: 6,
                seed: 7,
                ..SimConfig::default()
            },
        ] {
            let (_, st) = stats(&cfg);
            assert!(
                (4.0..=12.0).contains(&st.mean_out),
                "mean degree {}",
                st.mean_out
            );
            assert_eq!(st.isolated, 0);
            assert!(st.hilltops * 10 <= st.nodes, "{} hilltops", st.hilltops);
            assert!(st.multi_gateway * 10 >= st.nodes * 8);
            assert!(st.symmetric > 0.8);
        }
    }

    #[test]
    fn links_exist_iff_above_threshold_and_are_deterministic() {
        let cfg = SimConfig::default();
        let (a, _) = stats(&cfg);
        let (b, _) = stats(&cfg);
        let la: Vec<_> = a.radio.links().collect();
        assert_eq!(la, b.radio.links().collect::<Vec<_>>());
        for &(x, y, snr) in &la {
            assert!(x != y);
            assert!((LINK_THRESHOLD_DB..=MAX_TRUE_SNR_DB).contains(&snr));
        }
        let (c, _) = stats(&SimConfig { seed: 2, ..cfg });
        assert_ne!(la, c.radio.links().collect::<Vec<_>>());
    }
}
