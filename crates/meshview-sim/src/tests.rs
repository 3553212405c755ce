//! End-to-end checks: every generated message is decoded with
//! `meshview_protocol` and the results are compared with the ground truth.

use super::*;
use meshview_protocol::{Decryption, Keyring, Payload, RejectReason, TopicKind, decode_envelope};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

fn consumer_keyring(cfg: &SimConfig) -> Keyring {
    let mut ring = Keyring::new();
    if let Some(b64) = &cfg.secondary_key_b64 {
        let key = ChannelKey::from_psk(&b64_decode(b64).unwrap()).unwrap();
        ring.push(key);
    }
    ring
}

fn run(cfg: SimConfig) -> (Vec<SimMessage>, GroundTruth) {
    let mut sim = Simulator::new(cfg.clone()).unwrap();
    let radio = sim.radio_links();
    let msgs: Vec<SimMessage> = sim.by_ref().collect();
    let truth = sim.truth().clone();
    assert_links(&cfg, &msgs, &truth, &radio);
    (msgs, truth)
}

fn key_hex(k: &[u8]) -> String {
    k.iter().map(|b| format!("{b:02x}")).collect()
}

/// What an independent, straightforward "writer" learns from the decoded stream.
#[derive(Default)]
struct Observed {
    packets: BTreeMap<(u32, u32), u32>,
    receptions: HashSet<(u32, u32, u32, u32)>,
    by_gateway: BTreeMap<String, usize>,
    rejects: BTreeMap<RejectReason, usize>,
    names: BTreeMap<String, (String, String)>,
    positions: BTreeMap<String, (i32, i32)>,
    keys: BTreeMap<String, BTreeSet<String>>,
    texts: usize,
    dms: usize,
    replies: usize,
    reactions: usize,
    text_bodies: Vec<String>,
    trace_requests: BTreeMap<(u32, u32), pb::RouteDiscovery>,
    trace_replies: Vec<(u32, u32, u32, pb::RouteDiscovery)>,
    senders_by_id: BTreeMap<u32, BTreeSet<u32>>,
    decryption: BTreeMap<&'static str, usize>,
    private_decrypts: usize,
    gateway_copies: HashMap<(u32, u32, u32), usize>,
    max_gateways: usize,
}

use meshview_protocol::pb;

fn observe(cfg: &SimConfig, msgs: &[SimMessage]) -> Observed {
    let ring = consumer_keyring(cfg);
    let mut o = Observed::default();
    let mut gateways_per_packet: HashMap<(u32, u32), HashSet<u32>> = HashMap::new();
    let mut last_at = 0.0;
    for m in msgs {
        assert!(m.at_s >= last_at, "time went backwards");
        last_at = m.at_s;
        // Capture lines round-trip every message exactly.
        let (t, p) = parse_capture_line(&capture_line(m)).unwrap();
        assert_eq!(
            (t.as_str(), p.as_slice()),
            (m.topic.as_str(), &m.payload[..])
        );

        let e = match decode_envelope(&m.topic, &m.payload, &ring) {
            Ok(e) => e,
            Err(r) => {
                *o.rejects.entry(r).or_default() += 1;
                continue;
            }
        };
        let (from, id, gw, rx) = (e.from().0, e.id(), e.gateway.0, e.rx_time());
        *o.decryption.entry(e.decryption.as_str()).or_default() += 1;
        if e.decryption == (Decryption::Decrypted { key_index: 1 }) {
            o.private_decrypts += 1;
        }
        // Radio fields stay in their documented ranges.
        if gw == from && e.topic_kind == TopicKind::Encrypted {
            assert_eq!((e.rx_snr(), e.rx_rssi()), (0.0, 0));
        } else if e.topic_kind == TopicKind::Encrypted {
            assert!((-20.0..=12.0).contains(&e.rx_snr()), "{}", e.rx_snr());
            assert!((-130..=-30).contains(&e.rx_rssi()), "{}", e.rx_rssi());
            assert_eq!(e.rx_snr() * 4.0, (e.rx_snr() * 4.0).round());
        }
        if e.topic_kind == TopicKind::Encrypted {
            assert!([3, 7].contains(&e.hop_start()));
            assert!(e.hop_limit() <= e.hop_start());
            assert!(m.topic.ends_with(&hex(gw)), "{}", m.topic);
            assert!(e.relay_node() <= 0xff);
        } else {
            assert_eq!(e.topic_kind, TopicKind::MapReport);
            assert_eq!(m.topic, format!("{}/2/map/", cfg.region_topic));
            assert_eq!(e.portnum(), pb::PortNum::MapReportApp as i32);
            assert_eq!(gw, from);
        }
        let rx_min = cfg.start_time_s as u32;
        assert!(rx >= rx_min && rx <= rx_min + 1 + m.at_s as u32);

        if o.receptions.insert((from, id, gw, rx)) {
            *o.by_gateway.entry(hex(gw)).or_default() += 1;
        }
        *o.gateway_copies.entry((from, id, gw)).or_default() += 1;
        let gws = gateways_per_packet.entry((from, id)).or_default();
        gws.insert(gw);
        o.max_gateways = o.max_gateways.max(gws.len());

        let port = e.portnum() as u32;
        if let Some(prev) = o.packets.insert((from, id), port) {
            assert_eq!(
                prev, port,
                "one packet decoded differently by two receptions"
            );
            continue;
        }
        // First sight of the packet: what a writer stores from its payload.
        o.senders_by_id.entry(id).or_default().insert(from);
        match e.payload() {
            Some(Payload::User(u)) => {
                assert_eq!(u.id, hex(from));
                o.names.insert(hex(from), (u.long_name, u.short_name));
                if !u.public_key.is_empty() {
                    assert_eq!(u.public_key.len(), 32);
                    o.keys
                        .entry(hex(from))
                        .or_default()
                        .insert(key_hex(&u.public_key));
                }
            }
            Some(Payload::MapReport(r)) => {
                o.names.insert(hex(from), (r.long_name, r.short_name));
            }
            Some(Payload::Position(p)) => {
                o.positions
                    .insert(hex(from), (p.latitude_i.unwrap(), p.longitude_i.unwrap()));
            }
            Some(Payload::Text(t)) => {
                o.texts += 1;
                o.dms += usize::from(!e.to().is_broadcast());
                if e.emoji() != 0 {
                    assert_ne!(e.reply_id(), 0);
                    assert!(!t.is_ascii(), "reactions are emoji");
                    o.reactions += 1;
                } else if e.reply_id() != 0 {
                    o.replies += 1;
                }
                o.text_bodies.push(t);
            }
            Some(Payload::RouteDiscovery(r)) => {
                if e.want_response() {
                    assert_eq!(r.snr_towards.len(), r.route.len() + 1);
                    o.trace_requests.insert((from, id), r);
                } else {
                    assert_ne!(e.request_id(), 0);
                    assert_eq!(r.snr_back.len(), r.route_back.len() + 1);
                    o.trace_replies.push((from, id, e.request_id(), r));
                }
            }
            Some(Payload::Routing(r)) => {
                assert_ne!(e.request_id(), 0);
                assert!(matches!(
                    r.variant,
                    Some(pb::routing::Variant::ErrorReason(_))
                ));
            }
            Some(Payload::Telemetry(t)) => assert!(t.variant.is_some()),
            Some(Payload::NeighborInfo(n)) => {
                assert_eq!(n.node_id, from);
                assert!(!n.neighbors.is_empty());
            }
            Some(other) => panic!("unexpected payload {other:?}"),
            None => assert_eq!(e.decryption, Decryption::Undecryptable),
        }
    }
    o
}

/// The checks that must hold exactly, for any configuration and seed.
fn assert_exact(cfg: &SimConfig, msgs: &[SimMessage], truth: &GroundTruth, o: &Observed) {
    assert_eq!(truth.messages, msgs.len());
    // Packets: distinct (from, id), exactly as many as configured.
    assert_eq!(truth.packets, cfg.packets);
    assert_eq!(o.packets.len(), truth.packets);
    let mut by_port: BTreeMap<u32, usize> = BTreeMap::new();
    for port in o.packets.values() {
        *by_port.entry(*port).or_default() += 1;
    }
    assert_eq!(by_port, truth.packets_by_port);
    assert_eq!(by_port.get(&0).copied().unwrap_or(0), truth.undecryptable);

    // Receptions.
    assert_eq!(o.receptions.len(), truth.receptions);
    assert_eq!(o.by_gateway, truth.receptions_by_gateway);
    for g in &truth.gateways {
        assert!(truth.nodes[g].is_gateway);
    }

    // Junk: each kind rejected with its documented reason, nothing else rejected.
    let mut want_rejects: BTreeMap<RejectReason, usize> = BTreeMap::new();
    for (kind, n) in &truth.junk {
        let k = JunkKind::from_str_name(kind).unwrap();
        *want_rejects.entry(k.expected_reject()).or_default() += n;
    }
    assert_eq!(o.rejects, want_rejects);

    // Texts.
    assert_eq!(
        (o.texts, o.dms, o.replies, o.reactions),
        (
            truth.texts,
            truth.direct_messages,
            truth.replies,
            truth.reactions
        )
    );

    // Nodes: names and positions as the decoded stream last stated them.
    for (id, (long, short)) in &o.names {
        let n = &truth.nodes[id];
        assert_eq!(
            (n.long_name.as_ref(), n.short_name.as_ref()),
            (Some(long), Some(short))
        );
    }
    let named = truth.nodes.values().filter(|n| n.long_name.is_some());
    assert_eq!(named.count(), o.names.len());
    for (id, pos) in &o.positions {
        assert_eq!(truth.nodes[id].last_position, Some(*pos));
        assert!(truth.nodes[id].has_position);
    }

    // Public keys; at most the impersonator announces two.
    assert_eq!(o.keys, truth.public_keys);
    assert!(truth.public_keys.values().filter(|k| k.len() == 2).count() <= 1);
    assert!(truth.public_keys.values().all(|k| k.len() <= 2));

    // The deliberate id collision, and no other.
    let collided: Vec<(u32, Vec<String>)> = o
        .senders_by_id
        .iter()
        .filter(|(_, s)| s.len() > 1)
        .map(|(id, s)| (*id, s.iter().map(|&f| hex(f)).collect()))
        .collect();
    let mut claimed: Vec<(u32, Vec<String>)> = truth
        .collisions
        .iter()
        .map(|c| {
            let mut s = c.senders.to_vec();
            s.sort();
            (c.id, s)
        })
        .collect();
    claimed.sort();
    assert_eq!(claimed, collided);
    assert!(truth.collisions.len() <= 1);

    // Traceroutes: every decoded request is in the truth, replies match theirs.
    assert_eq!(o.trace_requests.len(), truth.traceroutes.len());
    for t in &truth.traceroutes {
        let from = t.request.from.parse::<meshview_protocol::NodeId>().unwrap();
        let req = &o.trace_requests[&(from.0, t.request.id)];
        let mut fwd = vec![t.request.from.clone()];
        fwd.extend(req.route.iter().map(|&h| hex(h)));
        fwd.push(t.target.clone());
        assert_eq!(fwd, t.forward_path);
        let reply = o
            .trace_replies
            .iter()
            .find(|(_, _, rid, _)| *rid == t.request.id);
        match (&t.reply, reply) {
            (Some(r), Some((rf, rid, _, rd))) => {
                assert_eq!((r.from.clone(), r.id), (hex(*rf), *rid));
                assert_eq!(hex(*rf), t.target);
                assert_eq!(rd.route, req.route);
                let mut back = vec![t.target.clone()];
                back.extend(rd.route_back.iter().map(|&h| hex(h)));
                back.push(t.request.from.clone());
                assert_eq!(t.return_path.as_ref(), Some(&back));
            }
            (None, None) => assert!(t.return_path.is_none()),
            other => panic!("reply mismatch {other:?}"),
        }
    }
    let replied = truth.traceroutes.iter().filter(|t| t.reply.is_some());
    assert_eq!(o.trace_replies.len(), replied.count());
}

#[test]
fn decoded_stream_matches_ground_truth() {
    let cfg = SimConfig::default();
    let (msgs, truth) = run(cfg.clone());
    let o = observe(&cfg, &msgs);
    assert_exact(&cfg, &msgs, &truth, &o);

    // Every feature the truth describes actually occurs in the default run.
    assert!(truth.undecryptable > 0);
    assert_eq!(truth.gateways.len(), cfg.gateways);
    assert!(
        truth.receptions > truth.packets * 3 / 2,
        "most packets reach several gateways"
    );
    assert!(o.max_gateways >= 4);
    assert!(
        o.gateway_copies.values().any(|&n| n >= 2),
        "some rebroadcast is re-heard"
    );
    assert_eq!(
        truth.junk.len(),
        JunkKind::ALL.len(),
        "every junk kind appears"
    );
    let junk: usize = truth.junk.values().sum();
    let share = junk as f64 / msgs.len() as f64 * 100.0;
    assert!((1.0..3.5).contains(&share), "junk share {share}");
    assert!(msgs.iter().any(|m| m.payload.len() == 64 * 1024));
    assert!(o.decryption["plaintext"] > truth.packets_by_port[&73]);
    assert!(o.private_decrypts > 0);
    assert!(o.decryption["undecryptable"] > 0);
    assert!(msgs.iter().any(|m| m.topic.contains("/2/e/Private/")));
    assert!(msgs.iter().any(|m| m.topic.contains("/2/e/Hidden/")));
    assert!(truth.direct_messages > 0 && truth.replies > 0 && truth.reactions > 0);
    assert!(o.text_bodies.iter().any(|t| t == HOSTILE_TEXT));
    let hostile = truth.nodes.values().filter_map(|n| n.long_name.as_deref());
    assert_eq!(hostile.filter(|n| *n == HOSTILE_NAME).count(), 1);
    assert!(
        truth.nodes.values().any(|n| !n.has_position),
        "some node never reports a position"
    );
    let non_ascii = truth.nodes.values().filter_map(|n| n.long_name.as_ref());
    assert!(non_ascii.filter(|n| !n.is_ascii()).count() >= 3);
    let two_keys = truth.public_keys.values().filter(|k| k.len() == 2);
    assert_eq!(two_keys.count(), 1, "the impersonation case");
    assert_eq!(truth.collisions.len(), 1);
    assert!(truth.traceroutes.iter().any(|t| t.reply.is_some()));
    assert!(truth.traceroutes.iter().any(|t| t.reply.is_none()));

    // The port mix is roughly that of a real mesh.
    let share = |port: pb::PortNum| {
        let n = truth.packets_by_port.get(&(port as u32)).copied();
        n.unwrap_or(0) as f64 * 100.0 / truth.packets as f64
    };
    for (port, lo, hi) in [
        (pb::PortNum::TelemetryApp, 22.0, 38.0),
        (pb::PortNum::PositionApp, 18.0, 32.0),
        (pb::PortNum::NodeinfoApp, 14.0, 26.0),
        (pb::PortNum::TextMessageApp, 4.0, 12.0),
        (pb::PortNum::TracerouteApp, 1.5, 6.0),
        (pb::PortNum::NeighborinfoApp, 2.5, 8.0),
        (pb::PortNum::RoutingApp, 2.5, 9.0),
        (pb::PortNum::MapReportApp, 1.5, 5.0),
    ] {
        let s = share(port);
        assert!((lo..=hi).contains(&s), "{port:?} share {s}");
    }
    let undecryptable = truth.undecryptable as f64 * 100.0 / truth.packets as f64;
    assert!((0.8..4.0).contains(&undecryptable), "{undecryptable}");

    // The JSON form is complete enough to read back the headline numbers.
    let json: serde_json::Value = serde_json::from_str(&truth.to_json()).unwrap();
    assert_eq!(json["packets"], truth.packets);
    assert_eq!(json["collisions"][0]["id"], truth.collisions[0].id);
}

/// Link evidence recounted from the decoded stream, as a writer would see it.
#[derive(Default, Debug, PartialEq)]
struct LinkCounts {
    traceroute: u32,
    traceroute_unknown_snr: u32,
    neighbor: u32,
    reception: u32,
}

/// Shortest hop counts from `from` over `links` (any node may relay).
fn hops_from(links: &BTreeMap<(String, String), f32>, from: &str) -> HashMap<String, u32> {
    let mut out: HashMap<&str, Vec<&str>> = HashMap::new();
    for (a, b) in links.keys() {
        out.entry(a).or_default().push(b);
    }
    let mut dist = HashMap::from([(from.to_owned(), 0)]);
    let mut queue = std::collections::VecDeque::from([from.to_owned()]);
    while let Some(u) = queue.pop_front() {
        let d = dist[&u];
        for &v in out.get(u.as_str()).into_iter().flatten() {
            if !dist.contains_key(v) {
                dist.insert(v.to_owned(), d + 1);
                queue.push_back(v.to_owned());
            }
        }
    }
    dist
}

/// Every radio fact in the stream is an existing link at a plausible SNR, and
/// [`GroundTruth::links`] is exactly the evidence the stream carries. Returns the
/// numbers of zero-hop and relayed receptions.
fn assert_links(
    cfg: &SimConfig,
    msgs: &[SimMessage],
    truth: &GroundTruth,
    radio: &BTreeMap<(String, String), f32>,
) -> (usize, usize) {
    use meshview_protocol::links::{LinkSource, packet_links};
    // Quarter-dB quantisation on top of the noise.
    let bound = SNR_NOISE_DB + 0.125 + 1e-4;
    let ring = consumer_keyring(cfg);
    let mut counts: BTreeMap<(String, String), LinkCounts> = BTreeMap::new();
    let mut relays: BTreeMap<(u32, String), u32> = BTreeMap::new();
    let mut seen = HashSet::new();
    let mut hops_cache: HashMap<String, HashMap<String, u32>> = HashMap::new();
    let (mut direct, mut relayed) = (0, 0);
    for m in msgs {
        let Ok(e) = decode_envelope(&m.topic, &m.payload, &ring) else {
            continue;
        };
        let (from, gw) = (hex(e.from().0), hex(e.gateway.0));
        if e.topic_kind == TopicKind::Encrypted && from != gw {
            let hops = e.hop_start() - e.hop_limit();
            assert!(hops <= e.hop_start());
            let rssi_of = |snr: f32| -92.0 + 2.0 * snr;
            if hops == 0 {
                direct += 1;
                let key = (from.clone(), gw.clone());
                let snr = *radio
                    .get(&key)
                    .unwrap_or_else(|| panic!("{key:?} heard directly without a link"));
                assert!(
                    (e.rx_snr() - snr).abs() <= bound,
                    "{key:?}: rx_snr {} vs {snr}",
                    e.rx_snr()
                );
                assert!((e.rx_rssi() as f32 - rssi_of(snr)).abs() <= 3.5);
                assert_eq!(e.relay_node(), e.from().0 & 0xff);
                counts.entry(key).or_default().reception += 1;
            } else {
                relayed += 1;
                // Some node with this low byte that the gateway hears at this SNR, and that
                // the sender's packet reaches in `hops` links.
                let dist = hops_cache
                    .entry(from.clone())
                    .or_insert_with(|| hops_from(radio, &from));
                let byte = e.relay_node();
                let ok = radio.iter().any(|((a, b), &snr)| {
                    *b == gw
                        && a.parse::<meshview_protocol::NodeId>().unwrap().0 & 0xff == byte
                        && dist.get(a).is_some_and(|&d| d <= hops)
                        && (e.rx_snr() - snr).abs() <= bound
                        && (e.rx_rssi() as f32 - rssi_of(snr)).abs() <= 3.5
                });
                assert!(ok, "no relay {byte:02x} of {from} for {gw} in {hops} hops");
                *relays.entry((byte, gw.clone())).or_default() += 1;
            }
        }
        if !seen.insert((e.from().0, e.id())) {
            continue;
        }
        let (Some(data), Some(payload)) = (e.data(), e.payload()) else {
            continue;
        };
        for (l, source) in packet_links(e.from(), e.to(), data, &payload) {
            let key = (hex(l.from.0), hex(l.to.0));
            let snr = *radio
                .get(&key)
                .unwrap_or_else(|| panic!("{source:?} names {key:?}, not a link"));
            let c = counts.entry(key.clone()).or_default();
            match source {
                LinkSource::Traceroute => c.traceroute += 1,
                LinkSource::Neighbor => c.neighbor += 1,
            }
            match l.snr_db {
                Some(got) => assert!((got - snr).abs() <= bound, "{key:?}: {got} vs {snr}"),
                None => {
                    assert_eq!(source, LinkSource::Traceroute);
                    c.traceroute_unknown_snr += 1;
                }
            }
        }
        // Traceroute requests also carry the SNR of the hop into the target.
        if let Payload::RouteDiscovery(rd) = &payload
            && e.want_response()
        {
            let last = rd.route.last().copied().unwrap_or(e.from().0);
            let key = (hex(last), hex(e.to().0));
            let snr = radio[&key];
            let raw = *rd.snr_towards.last().unwrap();
            assert!(raw == -128 || (raw as f32 / 4.0 - snr).abs() <= bound);
        }
    }
    // The truth holds exactly this evidence, at the links' true SNRs.
    let mut want_relays: BTreeMap<(u32, String), u32> = BTreeMap::new();
    for ((a, b), t) in &truth.links {
        assert_eq!(
            radio.get(&(a.clone(), b.clone())),
            Some(&t.snr_db),
            "{a} -> {b}"
        );
        let c = counts.remove(&(a.clone(), b.clone())).unwrap_or_default();
        let got = LinkCounts {
            traceroute: t.traceroute,
            traceroute_unknown_snr: t.traceroute_unknown_snr,
            neighbor: t.neighbor,
            reception: t.reception,
        };
        assert_eq!(got, c, "{a} -> {b}");
        if t.relay > 0 {
            let byte = a.parse::<meshview_protocol::NodeId>().unwrap().0 & 0xff;
            *want_relays.entry((byte, b.clone())).or_default() += t.relay;
        }
        assert!(t.traceroute + t.neighbor + t.reception + t.relay > 0);
    }
    assert!(
        counts.is_empty(),
        "evidence missing from the truth: {counts:?}"
    );
    assert_eq!(relays, want_relays);
    (direct, relayed)
}

#[test]
fn radio_facts_use_links_and_link_truth_is_exact() {
    let configs = [
        SimConfig::default(),
        SimConfig {
            nodes: 300,
            gateways: 20,
            packets: 3000,
            seed: 5,
            ..SimConfig::default()
        },
        SimConfig {
            nodes: 25,
            gateways: 1,
            packets: 600,
            seed: 9,
            ..SimConfig::default()
        },
    ];
    for cfg in configs {
        let mut sim = Simulator::new(cfg.clone()).unwrap();
        let radio = sim.radio_links();
        let msgs: Vec<SimMessage> = sim.by_ref().collect();
        let truth = sim.truth().clone();
        let (direct, relayed) = assert_links(&cfg, &msgs, &truth, &radio);
        assert!(
            direct > 0 && relayed > 0,
            "{direct} direct, {relayed} relayed"
        );
        assert_eq!(radio, sim.radio_links(), "the link set is fixed");
        // Every source of evidence occurs.
        let sum = |f: fn(&LinkTruth) -> u32| truth.links.values().map(f).sum::<u32>();
        assert!(sum(|l| l.traceroute) > 0 && sum(|l| l.neighbor) > 0);
        assert!(sum(|l| l.reception) > 0 && sum(|l| l.relay) > 0);
        if cfg == SimConfig::default() {
            assert!(sum(|l| l.traceroute_unknown_snr) > 0);
            // Most links a writer could know of are evidenced in a full default run.
            assert!(
                truth.links.len() * 2 > radio.len(),
                "{} of {}",
                truth.links.len(),
                radio.len()
            );
            let json: serde_json::Value = serde_json::from_str(&truth.to_json()).unwrap();
            let first = &json["links"][0];
            let (key, link) = truth.links.iter().next().unwrap();
            assert_eq!(
                (first["from"].as_str(), first["to"].as_str()),
                (Some(key.0.as_str()), Some(key.1.as_str()))
            );
            assert_eq!(first["reception"], link.reception);
        }
    }
}

/// Exactness must not depend on a lucky seed.
#[test]
fn truth_is_exact_for_many_seeds() {
    for seed in 100..116 {
        let cfg = SimConfig {
            seed,
            packets: 400,
            nodes: 20 + seed as usize % 30,
            gateways: 1 + seed as usize % 8,
            junk_percent: (seed % 5) as f64,
            ..SimConfig::default()
        };
        let (msgs, truth) = run(cfg.clone());
        let o = observe(&cfg, &msgs);
        assert_exact(&cfg, &msgs, &truth, &o);
        assert_eq!(truth.collisions.len(), 1, "seed {seed}");
    }
}

#[test]
fn same_config_same_bytes() {
    let cfg = SimConfig {
        packets: 400,
        ..SimConfig::default()
    };
    let (a, ta) = run(cfg.clone());
    let (b, tb) = run(cfg.clone());
    assert_eq!(a, b);
    assert_eq!(ta.to_json(), tb.to_json());
    let (c, _) = run(SimConfig { seed: 2, ..cfg });
    assert_ne!(a, c);
}

#[test]
fn truth_tracks_what_was_yielded() {
    let mut sim = Simulator::new(SimConfig {
        packets: 50,
        ..SimConfig::default()
    })
    .unwrap();
    let first: Vec<_> = sim.by_ref().take(10).collect();
    assert_eq!(sim.truth().messages, first.len());
    let rest = sim.by_ref().count();
    assert_eq!(sim.truth().messages, first.len() + rest);
    assert_eq!(sim.truth().packets, 50);
    assert!(sim.next().is_none());
}

#[test]
fn small_and_odd_configs_work() {
    let configs = [
        SimConfig {
            nodes: 2,
            gateways: 1,
            packets: 30,
            junk_percent: 0.0,
            secondary_key_b64: None,
            ..SimConfig::default()
        },
        SimConfig {
            nodes: 5,
            gateways: 5,
            packets: 200,
            junk_percent: 50.0,
            ..SimConfig::default()
        },
        SimConfig {
            packets: 0,
            ..SimConfig::default()
        },
        SimConfig {
            nodes: 12,
            gateways: 3,
            packets: 300,
            bbox: (-33.7, 150.9, -34.1, 151.4),
            region_topic: "msh/ANZ".into(),
            channel: "MediumFast".into(),
            secondary_key_b64: Some(b64_encode(&[7u8; 32])),
            ..SimConfig::default()
        },
    ];
    for cfg in configs {
        let (msgs, truth) = run(cfg.clone());
        let o = observe(&cfg, &msgs);
        assert_exact(&cfg, &msgs, &truth, &o);
        let junk: usize = truth.junk.values().sum();
        assert_eq!(o.rejects.values().sum::<usize>(), junk);
        if cfg.junk_percent == 0.0 {
            assert_eq!(junk, 0);
        }
        if cfg.secondary_key_b64.is_none() {
            assert!(!msgs.iter().any(|m| m.topic.contains("/Private/")));
        }
        assert!(msgs.iter().all(|m| m.topic.starts_with(&cfg.region_topic)));
    }
}

#[test]
fn invalid_configs_are_rejected() {
    let bad = [
        SimConfig {
            nodes: 1,
            gateways: 1,
            ..SimConfig::default()
        },
        SimConfig {
            gateways: 0,
            ..SimConfig::default()
        },
        SimConfig {
            gateways: 61,
            ..SimConfig::default()
        },
        SimConfig {
            bbox: (37.0, -122.6, 38.0, -121.7),
            ..SimConfig::default()
        },
        SimConfig {
            junk_percent: 80.0,
            ..SimConfig::default()
        },
        SimConfig {
            channel: "Long/Fast".into(),
            ..SimConfig::default()
        },
        SimConfig {
            secondary_key_b64: Some("AQ==".into()),
            ..SimConfig::default()
        },
        SimConfig {
            secondary_key_b64: Some("1PG7OiApB1nwvP+rz05pAQ==".into()),
            ..SimConfig::default()
        },
        SimConfig {
            secondary_key_b64: Some("not base64!".into()),
            ..SimConfig::default()
        },
    ];
    for cfg in bad {
        assert!(Simulator::new(cfg.clone()).is_err(), "{cfg:?}");
    }
}

/// The simulator's message kinds, encoded with prost, as the decoders see them.
mod prost_round_trip {
    use meshview_protocol::pb::mesh_packet::PayloadVariant;
    use meshview_protocol::{Keyring, Message, Payload, decode_envelope, decode_payload, pb};

    /// Every field the simulator sets survives `encode_to_vec` and the
    /// `meshview_protocol` decoders unchanged.
    #[test]
    fn packet_and_envelope_round_trip() {
        let data = pb::Data {
            portnum: pb::PortNum::TextMessageApp as i32,
            payload: "héllo 👋".as_bytes().to_vec(),
            want_response: true,
            dest: 5,
            source: 6,
            request_id: 0xdead_beef,
            reply_id: 7,
            emoji: 1,
            bitfield: Some(0),
        };
        let packet = pb::MeshPacket {
            from: 0xa1b2_c3d4,
            to: 0xffff_ffff,
            channel: 8,
            id: 0x1234_5678,
            rx_time: 1_767_225_600,
            rx_snr: -13.25,
            hop_limit: 2,
            want_ack: true,
            priority: pb::mesh_packet::Priority::Reliable as i32,
            rx_rssi: -117,
            via_mqtt: true,
            hop_start: 7,
            public_key: vec![1, 2, 3],
            next_hop: 9,
            relay_node: 0xd4,
            tx_after: 3,
            transport_mechanism: 1,
            payload_variant: Some(PayloadVariant::Decoded(data)),
            ..Default::default()
        };
        let env = pb::ServiceEnvelope {
            packet: Some(packet.clone()),
            channel_id: "LongFast".into(),
            gateway_id: "!0000beef".into(),
        };
        let topic = "msh/US/2/e/LongFast/!0000beef";
        let got = decode_envelope(topic, &env.encode_to_vec(), &Keyring::new()).unwrap();
        assert_eq!(got.packet, packet);
        assert_eq!(got.channel, "LongFast");
        assert_eq!(got.gateway.0, 0xbeef);
    }

    #[test]
    fn payload_messages_round_trip() {
        use pb::telemetry::Variant as T;
        let check = |port: pb::PortNum, bytes: Vec<u8>, want: Payload| {
            assert_eq!(decode_payload(port as i32, &bytes), want);
        };
        let user = pb::User {
            id: "!a1b2c3d4".into(),
            long_name: "Café 🐙".into(),
            short_name: "🐙".into(),
            hw_model: pb::HardwareModel::HeltecV3 as i32,
            is_licensed: true,
            role: 11,
            public_key: vec![9; 32],
            is_unmessagable: Some(false),
            ..Default::default()
        };
        check(
            pb::PortNum::NodeinfoApp,
            user.encode_to_vec(),
            Payload::User(user),
        );
        let pos = pb::Position {
            latitude_i: Some(377_749_000),
            longitude_i: Some(-1_224_194_000),
            altitude: Some(-12),
            time: 5,
            location_source: 1,
            altitude_source: 1,
            timestamp: 6,
            pdop: 7,
            hdop: 8,
            ground_speed: Some(0),
            ground_track: Some(90),
            sats_in_view: 9,
            seq_number: 10,
            precision_bits: 32,
            ..Default::default()
        };
        check(
            pb::PortNum::PositionApp,
            pos.encode_to_vec(),
            Payload::Position(pos),
        );
        for variant in [
            T::DeviceMetrics(pb::DeviceMetrics {
                battery_level: Some(0),
                voltage: Some(3.7),
                channel_utilization: Some(12.5),
                air_util_tx: Some(1.25),
                uptime_seconds: Some(99),
            }),
            T::EnvironmentMetrics(pb::EnvironmentMetrics {
                temperature: Some(-7.5),
                relative_humidity: Some(40.0),
                barometric_pressure: Some(1013.2),
                gas_resistance: Some(1.0),
                voltage: Some(5.0),
                current: Some(0.5),
                iaq: Some(20),
                lux: Some(300.0),
                ..Default::default()
            }),
        ] {
            let t = pb::Telemetry {
                time: 42,
                variant: Some(variant),
            };
            check(
                pb::PortNum::TelemetryApp,
                t.encode_to_vec(),
                Payload::Telemetry(t),
            );
        }
        let rd = pb::RouteDiscovery {
            route: vec![1, 0xffff_fffe],
            snr_towards: vec![-40, 12, 48],
            route_back: vec![3],
            snr_back: vec![-80, 0],
        };
        check(
            pb::PortNum::TracerouteApp,
            rd.encode_to_vec(),
            Payload::RouteDiscovery(rd.clone()),
        );
        for variant in [
            pb::routing::Variant::ErrorReason(0),
            pb::routing::Variant::ErrorReason(5),
            pb::routing::Variant::RouteReply(rd),
        ] {
            let r = pb::Routing {
                variant: Some(variant),
            };
            check(
                pb::PortNum::RoutingApp,
                r.encode_to_vec(),
                Payload::Routing(r),
            );
        }
        let ni = pb::NeighborInfo {
            node_id: 1,
            last_sent_by_id: 2,
            node_broadcast_interval_secs: 900,
            neighbors: vec![
                pb::Neighbor {
                    node_id: 3,
                    snr: -2.5,
                    last_rx_time: 4,
                    node_broadcast_interval_secs: 5,
                },
                pb::Neighbor::default(),
            ],
        };
        check(
            pb::PortNum::NeighborinfoApp,
            ni.encode_to_vec(),
            Payload::NeighborInfo(ni),
        );
        let mr = pb::MapReport {
            long_name: "Ñandú".into(),
            short_name: "Ñ1".into(),
            role: 2,
            hw_model: 9,
            firmware_version: "2.6.11.60ec05e".into(),
            region: 1,
            modem_preset: 0,
            has_default_channel: true,
            latitude_i: 377_000_000,
            longitude_i: -1_220_000_000,
            altitude: 30,
            position_precision: 14,
            num_online_local_nodes: 17,
            has_opted_report_location: true,
        };
        check(
            pb::PortNum::MapReportApp,
            mr.encode_to_vec(),
            Payload::MapReport(mr),
        );
    }
}

/// Generation speed of a benchmark-sized mesh (release: `cargo test -p meshview-sim
/// --release -- --ignored --nocapture simulator_speed`).
#[test]
#[ignore]
fn simulator_speed() {
    let cfg = SimConfig {
        nodes: 2000,
        gateways: 100,
        packets: 200_000,
        ..SimConfig::default()
    };
    let started = std::time::Instant::now();
    let mut sim = Simulator::new(cfg).unwrap();
    let setup = started.elapsed().as_secs_f64();
    let n = sim.by_ref().count();
    let secs = started.elapsed().as_secs_f64();
    let t = sim.truth();
    println!(
        "{n} messages in {secs:.2} s (setup {setup:.3} s): {:.0} messages/s; \
         {:.2} receptions per packet, {} of {} links evidenced",
        n as f64 / secs,
        t.receptions as f64 / t.packets as f64,
        t.links.len(),
        sim.radio_links().len()
    );
}
