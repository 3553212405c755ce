//! Ground truth: what a correct writer must have stored after ingesting every
//! message the simulator has yielded so far.
//!
//! Facts are applied when a message is *yielded*, not when it is generated, so a
//! consumer that stops early can still compare against [`GroundTruth`]. Packet
//! facts are applied with the packet's first reception; radio facts of a reception
//! (a zero-hop or relayed reception's last link) with each yielded reception.

use meshview_protocol::NodeId;
use serde::ser::SerializeSeq;
use serde::{Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

/// `!xxxxxxxx`, the form used for every node id in the truth.
pub fn hex(id: u32) -> String {
    NodeId(id).to_string()
}

/// What a writer can learn about one node.
///
/// Every packet sender and every gateway has an entry. Names, hardware and
/// role come only from decodable NODEINFO / MAP_REPORT packets (latest wins,
/// in yield order); positions only from decodable POSITION / MAP_REPORT packets.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct NodeTruth {
    pub long_name: Option<String>,
    pub short_name: Option<String>,
    /// Proto enum name, e.g. `HELTEC_V3`.
    pub hw_model: Option<String>,
    /// Proto enum name, e.g. `CLIENT`.
    pub role: Option<String>,
    /// From MAP_REPORT only.
    pub firmware_version: Option<String>,
    /// A position was seen in a POSITION or MAP_REPORT packet.
    pub has_position: bool,
    /// The last POSITION_APP coordinates as sent (`latitude_i`, `longitude_i`).
    pub last_position: Option<(i32, i32)>,
    /// The last MAP_REPORT coordinates as sent.
    pub last_map_position: Option<(i32, i32)>,
    /// The node uplinked at least one (non-junk) message.
    pub is_gateway: bool,
}

/// A packet key as `(!from, id)`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct PacketRef {
    pub from: String,
    pub id: u32,
}

impl PacketRef {
    pub fn new(from: u32, id: u32) -> PacketRef {
        PacketRef {
            from: hex(from),
            id,
        }
    }
}

/// One decodable traceroute request and, if one was yielded, its reply.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TracerouteTruth {
    pub request: PacketRef,
    pub target: String,
    /// `[requester, hops…, target]`.
    pub forward_path: Vec<String>,
    /// `[target, back hops…, requester]`, from the reply.
    pub return_path: Option<Vec<String>>,
    pub reply: Option<PacketRef>,
}

/// The deliberate packet-id collision: two senders, one id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CollisionTruth {
    pub id: u32,
    pub senders: [String; 2],
}

/// One directed radio link `from → to` ("`to` hears `from`") and the evidence for it the
/// yielded messages carry. Evidence is counted the way a writer sees it: payload facts
/// (traceroute hops, neighbour entries) once per decodable packet, with its first
/// reception; reception facts once per yielded reception.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct LinkTruth {
    /// The link's true SNR in dB (before noise); see [`crate::LINK_THRESHOLD_DB`] and
    /// [`crate::SNR_NOISE_DB`].
    pub snr_db: f32,
    /// Hops of decodable traceroutes naming this link, as
    /// `meshview_protocol::links::packet_links` reads them: a request's `requester +
    /// route` (its last `snr_towards` entry, towards the target, is not a hop of the path
    /// so far), a reply's forward `requester + route + target` and return
    /// `target + route_back + requester`; known SNR or not.
    pub traceroute: u32,
    /// Of [`LinkTruth::traceroute`], the hops whose SNR is −128 (unknown).
    pub traceroute_unknown_snr: u32,
    /// Entries of decodable NEIGHBORINFO packets (the reporter is `to`).
    pub neighbor: u32,
    /// Zero-hop receptions (`hop_start == hop_limit`, sender ≠ gateway) of any packet,
    /// decodable or not: the gateway `to` heard the sender `from` directly at `rx_snr`.
    pub reception: u32,
    /// Relayed receptions whose last hop was this link: `relay_node` is `from`'s low byte
    /// and the gateway `to` heard it at `rx_snr`.
    pub relay: u32,
}

/// Everything a correct writer must end up storing; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct GroundTruth {
    /// All messages yielded, junk included.
    pub messages: usize,
    /// Distinct `(from, id)` packets.
    pub packets: usize,
    /// Distinct packets per port number; 0 = undecryptable.
    pub packets_by_port: BTreeMap<u32, usize>,
    /// Distinct packets no key in `{default, secondary}` decrypts.
    pub undecryptable: usize,
    /// Distinct `(from, id, gateway, rx_time)` receptions.
    pub receptions: usize,
    /// Receptions per gateway (`!hex`).
    pub receptions_by_gateway: BTreeMap<String, usize>,
    pub nodes: BTreeMap<String, NodeTruth>,
    pub gateways: BTreeSet<String>,
    pub traceroutes: Vec<TracerouteTruth>,
    /// Decodable TEXT_MESSAGE_APP packets (all of them: broadcasts, DMs, replies, reactions).
    pub texts: usize,
    /// Texts addressed to a node rather than broadcast.
    pub direct_messages: usize,
    /// Texts with `reply_id` set and `emoji == 0`.
    pub replies: usize,
    /// Texts with `emoji != 0` (tapbacks; they also carry `reply_id`).
    pub reactions: usize,
    /// Public keys (hex) announced in decodable NODEINFO packets.
    pub public_keys: BTreeMap<String, BTreeSet<String>>,
    /// Junk messages by kind (see [`super::JunkKind`]).
    pub junk: BTreeMap<String, usize>,
    pub collisions: Vec<CollisionTruth>,
    /// Radio links evidenced by yielded messages, keyed by `(!from, !to)`. Serialised as a
    /// list of `{"from", "to", "snr_db", "traceroute", …}` objects (JSON keys are strings).
    /// Every link of the simulated mesh, evidenced or not, is in
    /// [`crate::Simulator::radio_links`].
    #[serde(serialize_with = "links_as_list")]
    pub links: BTreeMap<(String, String), LinkTruth>,

    #[serde(skip)]
    seen_packets: HashSet<(u32, u32)>,
    #[serde(skip)]
    seen_receptions: HashSet<(u32, u32, u32, u32)>,
    #[serde(skip)]
    trace_index: HashMap<(u32, u32), usize>,
    /// The keys of [`GroundTruth::links`] by node numbers: updating a link then needs
    /// no formatting or allocation (a reception updates one).
    #[serde(skip)]
    link_keys: HashMap<(u32, u32), (String, String)>,
}

fn links_as_list<S: Serializer>(
    links: &BTreeMap<(String, String), LinkTruth>,
    ser: S,
) -> Result<S::Ok, S::Error> {
    #[derive(Serialize)]
    struct Entry<'a> {
        from: &'a str,
        to: &'a str,
        #[serde(flatten)]
        link: &'a LinkTruth,
    }
    let mut seq = ser.serialize_seq(Some(links.len()))?;
    for ((from, to), link) in links {
        seq.serialize_element(&Entry { from, to, link })?;
    }
    seq.end()
}

/// Where a payload's link fact comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum LinkSource {
    Traceroute,
    Neighbor,
}

/// A link a decodable payload names (a traceroute hop or a neighbour entry).
#[derive(Clone, Copy, Debug)]
pub(crate) struct LinkFact {
    pub from: u32,
    pub to: u32,
    /// True SNR of the link.
    pub snr_db: f32,
    pub source: LinkSource,
    /// The payload carries −128 (unknown) for this hop's SNR.
    pub unknown_snr: bool,
}

/// The last radio hop of one reception: `to` (the gateway) heard `from`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeardLink {
    pub from: u32,
    pub to: u32,
    /// True SNR of the link.
    pub snr_db: f32,
    /// Heard from the sender itself (zero hops) rather than from a relay.
    pub direct: bool,
}

/// What the writer learns from one packet's payload. Built at generation time,
/// applied when the packet is first yielded.
#[derive(Clone, Debug)]
pub(crate) struct PacketFacts {
    pub from: u32,
    pub id: u32,
    /// 0 when undecryptable.
    pub port: u32,
    pub kind: FactKind,
    /// Set on the second packet of the deliberate id collision: the first sender.
    pub collides_with: Option<u32>,
    /// Links the payload names (empty when undecryptable).
    pub links: Vec<LinkFact>,
}

#[derive(Clone, Debug)]
pub(crate) enum FactKind {
    /// Nothing beyond the port (or undecryptable).
    Plain,
    NodeInfo {
        long_name: String,
        short_name: String,
        hw_model: String,
        role: String,
        public_key: Vec<u8>,
    },
    Position {
        lat_i: i32,
        lon_i: i32,
    },
    MapReport {
        long_name: String,
        short_name: String,
        hw_model: String,
        role: String,
        firmware: String,
        lat_i: i32,
        lon_i: i32,
    },
    Text {
        direct: bool,
        reply: bool,
        reaction: bool,
    },
    TraceRequest {
        target: u32,
        /// Intermediate hops.
        route: Vec<u32>,
    },
    TraceReply {
        /// The requester (the reply's destination).
        requester: u32,
        request_id: u32,
        route: Vec<u32>,
        route_back: Vec<u32>,
    },
}

impl GroundTruth {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("truth is plain data")
    }

    fn node(&mut self, id: u32) -> &mut NodeTruth {
        self.nodes.entry(hex(id)).or_default()
    }

    pub(crate) fn apply_junk(&mut self, kind: &str) {
        self.messages += 1;
        *self.junk.entry(kind.to_owned()).or_default() += 1;
    }

    /// Applies `update` to the link `from → to` (true SNR `snr_db`), adding it if new.
    fn bump_link(&mut self, from: u32, to: u32, snr_db: f32, update: impl FnOnce(&mut LinkTruth)) {
        let key = self
            .link_keys
            .entry((from, to))
            .or_insert_with(|| (hex(from), hex(to)));
        if let Some(l) = self.links.get_mut(key) {
            update(l);
            return;
        }
        let mut l = LinkTruth {
            snr_db,
            ..LinkTruth::default()
        };
        update(&mut l);
        self.links.insert(key.clone(), l);
    }

    /// One yielded reception; `facts` are applied if this is the packet's first.
    pub(crate) fn apply_reception(
        &mut self,
        facts: &PacketFacts,
        gateway: u32,
        rx_time: u32,
        heard: Option<HeardLink>,
    ) {
        self.messages += 1;
        if let Some(h) = heard {
            self.bump_link(h.from, h.to, h.snr_db, |l| {
                if h.direct {
                    l.reception += 1;
                } else {
                    l.relay += 1;
                }
            });
        }
        if self
            .seen_receptions
            .insert((facts.from, facts.id, gateway, rx_time))
        {
            self.receptions += 1;
            *self.receptions_by_gateway.entry(hex(gateway)).or_default() += 1;
        }
        self.gateways.insert(hex(gateway));
        self.node(gateway).is_gateway = true;
        if self.seen_packets.insert((facts.from, facts.id)) {
            self.apply_packet(facts);
        }
    }

    fn apply_packet(&mut self, f: &PacketFacts) {
        self.packets += 1;
        for l in &f.links {
            self.bump_link(l.from, l.to, l.snr_db, |t| match l.source {
                LinkSource::Traceroute => {
                    t.traceroute += 1;
                    t.traceroute_unknown_snr += u32::from(l.unknown_snr);
                }
                LinkSource::Neighbor => t.neighbor += 1,
            });
        }
        *self.packets_by_port.entry(f.port).or_default() += 1;
        if f.port == 0 {
            self.undecryptable += 1;
        }
        self.node(f.from);
        if let Some(other) = f.collides_with {
            self.collisions.push(CollisionTruth {
                id: f.id,
                senders: [hex(other), hex(f.from)],
            });
        }
        match &f.kind {
            FactKind::Plain => {}
            FactKind::NodeInfo {
                long_name,
                short_name,
                hw_model,
                role,
                public_key,
            } => {
                let n = self.node(f.from);
                n.long_name = Some(long_name.clone());
                n.short_name = Some(short_name.clone());
                n.hw_model = Some(hw_model.clone());
                n.role = Some(role.clone());
                if !public_key.is_empty() {
                    let key: String = public_key.iter().map(|b| format!("{b:02x}")).collect();
                    self.public_keys.entry(hex(f.from)).or_default().insert(key);
                }
            }
            FactKind::Position { lat_i, lon_i } => {
                let n = self.node(f.from);
                n.has_position = true;
                n.last_position = Some((*lat_i, *lon_i));
            }
            FactKind::MapReport {
                long_name,
                short_name,
                hw_model,
                role,
                firmware,
                lat_i,
                lon_i,
            } => {
                let n = self.node(f.from);
                n.long_name = Some(long_name.clone());
                n.short_name = Some(short_name.clone());
                n.hw_model = Some(hw_model.clone());
                n.role = Some(role.clone());
                n.firmware_version = Some(firmware.clone());
                n.has_position = true;
                n.last_map_position = Some((*lat_i, *lon_i));
            }
            FactKind::Text {
                direct,
                reply,
                reaction,
            } => {
                self.texts += 1;
                self.direct_messages += usize::from(*direct);
                self.replies += usize::from(*reply);
                self.reactions += usize::from(*reaction);
            }
            FactKind::TraceRequest { target, route } => {
                let mut forward = vec![hex(f.from)];
                forward.extend(route.iter().map(|&h| hex(h)));
                forward.push(hex(*target));
                self.trace_index
                    .insert((f.from, f.id), self.traceroutes.len());
                self.traceroutes.push(TracerouteTruth {
                    request: PacketRef::new(f.from, f.id),
                    target: hex(*target),
                    forward_path: forward,
                    return_path: None,
                    reply: None,
                });
            }
            FactKind::TraceReply {
                requester,
                request_id,
                route,
                route_back,
            } => {
                let mut back = vec![hex(f.from)];
                back.extend(route_back.iter().map(|&h| hex(h)));
                back.push(hex(*requester));
                let idx = match self.trace_index.get(&(*requester, *request_id)) {
                    Some(&i) => i,
                    // The request was never yielded (it cannot be, by construction,
                    // but the reply alone still tells the forward path).
                    None => {
                        let mut forward = vec![hex(*requester)];
                        forward.extend(route.iter().map(|&h| hex(h)));
                        forward.push(hex(f.from));
                        self.traceroutes.push(TracerouteTruth {
                            request: PacketRef::new(*requester, *request_id),
                            target: hex(f.from),
                            forward_path: forward,
                            return_path: None,
                            reply: None,
                        });
                        self.traceroutes.len() - 1
                    }
                };
                let t = &mut self.traceroutes[idx];
                t.return_path = Some(back);
                t.reply = Some(PacketRef::new(f.from, f.id));
            }
        }
    }
}
